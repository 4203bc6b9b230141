import Foundation
import MCPHandlers

/// Verifies the built-in server's access tokens: ES256 signature with its key, `typ` at+jwt, issuer, audience
/// (the resource URL), `exp`/`nbf`, and revocation (the token or its grant family).
public struct BuiltInTokenVerifier: AccessTokenVerifier {
    let key: SigningKey
    let issuer: String
    let audience: String
    let storage: any OAuthStorage
    let now: @Sendable () -> Date
    /// Seconds of clock skew tolerated on `exp`, `nbf` and `iat`.
    let leeway = 5

    /// See ``AccessTokenVerifier/verify(accessToken:)``.
    public func verify(accessToken token: String) async throws(BearerAuthenticationError) -> AuthenticatedUser {
        let claims: AccessTokenClaims
        do { claims = try await key.verify(token) } catch {
            switch error {
            case .malformed: throw BearerAuthenticationError(.invalidToken, "The access token is malformed")
            case .wrongHeader:
                throw BearerAuthenticationError(.invalidToken, "The access token's header is not accepted")
            case .badSignature:
                throw BearerAuthenticationError(.invalidToken, "The access token's signature is invalid")
            }
        }
        let now = Int(self.now().timeIntervalSince1970)
        guard claims.issuer == issuer else { throw BearerAuthenticationError(.invalidToken, "Wrong issuer") }
        guard claims.audience.contains(audience) else {
            throw BearerAuthenticationError(.invalidToken, "The access token is not meant for this resource")
        }
        guard claims.expiresAt + leeway > now else {
            throw BearerAuthenticationError(.invalidToken, "The access token expired")
        }
        guard (claims.notBefore ?? 0) <= now + leeway, claims.issuedAt <= now + leeway else {
            throw BearerAuthenticationError(.invalidToken, "The access token is not valid yet")
        }
        guard !storage.isAccessTokenRevoked(jti: claims.tokenID) else {
            throw BearerAuthenticationError(.invalidToken, "The access token was revoked")
        }
        var all: [String: Value] = [
            "iss": .string(claims.issuer), "sub": .string(claims.subject),
            "aud": .array(claims.audience.map(Value.string)), "client_id": .string(claims.clientID),
            "scope": .string(claims.scope), "exp": .int(claims.expiresAt), "iat": .int(claims.issuedAt),
            "jti": .string(claims.tokenID),
        ]
        if let nbf = claims.notBefore { all["nbf"] = .int(nbf) }
        return AuthenticatedUser(subject: claims.subject, clientID: claims.clientID, scopes: claims.scopes, claims: all)
    }
}
