import Foundation
import MCPHandlers
import Synchronization
import MCPHTTP

/// Verifies the built-in server's access tokens: ES256 signature with its key, `typ` at+jwt, issuer, audience
/// (one of the resource URLs it accepts), `exp`/`nbf`, and revocation (the token or its grant family).
///
/// The signature check (an ECDSA verification) and the claims' decoding are done once per token: a token that
/// passed every check is kept in a bounded cache (`VerifiedTokenCache`) until its `exp`, and a later request
/// that presents the same bytes reuses its decoded claims. Issuer, audience, `exp`/`nbf`/`iat` and revocation
/// are still checked on every request, against the cached claims.
public struct BuiltInTokenVerifier: AccessTokenVerifier {
    let key: SigningKey
    let issuer: String
    /// The resource URLs a token's `aud` must name one of (one for an MCP endpoint; every resource the server
    /// issues tokens for at its introspection endpoint).
    let audiences: [String]
    let storage: any OAuthStorage
    let now: @Sendable () -> Date
    /// Seconds of clock skew tolerated on `exp`, `nbf` and `iat`.
    let leeway = 5
    /// Tokens whose signature was verified, with their claims (shared by the copies of this verifier).
    let cache = VerifiedTokenCache()

    /// See ``AccessTokenVerifier/verify(accessToken:)``.
    public func verify(accessToken token: String) async throws(BearerAuthenticationError) -> AuthenticatedUser {
        let now = Int(self.now().timeIntervalSince1970)
        if let cached = cache.lookup(token, now: now) {
            try await check(cached.claims, now: now)
            return cached.user
        }
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
        try await check(claims, now: now)
        let user = Self.user(claims)
        cache.insert(token, claims: claims, user: user, now: now)
        return user
    }

    /// The checks that depend on this verifier's configuration, the clock and the storage: run on every request.
    private func check(_ claims: AccessTokenClaims, now: Int) async throws(BearerAuthenticationError) {
        guard claims.issuer == issuer else { throw BearerAuthenticationError(.invalidToken, "Wrong issuer") }
        guard audiences.contains(where: claims.audience.contains) else {
            throw BearerAuthenticationError(.invalidToken, "The access token is not meant for this resource")
        }
        guard claims.expiresAt + leeway > now else {
            throw BearerAuthenticationError(.invalidToken, "The access token expired")
        }
        guard (claims.notBefore ?? 0) <= now + leeway, claims.issuedAt <= now + leeway else {
            throw BearerAuthenticationError(.invalidToken, "The access token is not valid yet")
        }
        let revoked: Bool
        do { revoked = try await storage.isAccessTokenRevoked(jti: claims.tokenID) } catch {
            throw BearerAuthenticationError(.unavailable, "The token's revocation status cannot be checked; retry later")
        }
        guard !revoked else { throw BearerAuthenticationError(.invalidToken, "The access token was revoked") }
    }

    private static func user(_ claims: AccessTokenClaims) -> AuthenticatedUser {
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

/// A bounded cache of access tokens whose header and signature were verified: the token's exact bytes → its
/// decoded claims and the user built from them. An entry lives until the token's `exp` (a later request then
/// verifies the signature again); when the cache is full, expired entries are dropped first, then arbitrary ones
/// down to 90% of the capacity.
///
/// The cache only saves the signature verification and the decoding: the caller still checks the claims on
/// every hit.
final class VerifiedTokenCache: Sendable {
    /// A cached token's claims and user.
    struct Entry: Sendable {
        let claims: AccessTokenClaims
        let user: AuthenticatedUser
    }

    /// A token as a dictionary key: equal only to the same UTF-8 bytes (`String`'s own `==` would also match a
    /// canonically equivalent but different string), hashed over its bytes in one call.
    struct Key: Hashable, Sendable {
        let token: String

        static func == (lhs: Key, rhs: Key) -> Bool {
            var a = lhs.token
            var b = rhs.token
            return a.withUTF8 { x in
                b.withUTF8 { y in x.count == y.count && (x.isEmpty || memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0) }
            }
        }

        func hash(into hasher: inout Hasher) {
            var bytes = token
            bytes.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        }
    }

    /// The most tokens kept.
    let capacity: Int
    private let entries = Mutex<[Key: Entry]>([:])

    /// Creates an empty cache.
    /// - Parameter capacity: the most tokens kept (default 10,000).
    init(capacity: Int = 10_000) {
        self.capacity = max(1, capacity)
    }

    /// The entry of exactly this token, unless it is missing or its `exp` has passed (then it is dropped).
    /// - Parameters:
    ///   - token: the token as presented.
    ///   - now: seconds since 1970.
    func lookup(_ token: String, now: Int) -> Entry? {
        let key = Key(token: token)
        return entries.withLock { all in
            guard let entry = all[key] else { return nil }
            guard entry.claims.expiresAt > now else {
                all.removeValue(forKey: key)
                return nil
            }
            return entry
        }
    }

    /// Keeps a verified token until its `exp` (not at all when that has passed).
    /// - Parameters:
    ///   - token: the token as presented.
    ///   - claims: its verified claims.
    ///   - user: the user built from them.
    ///   - now: seconds since 1970.
    func insert(_ token: String, claims: AccessTokenClaims, user: AuthenticatedUser, now: Int) {
        guard claims.expiresAt > now else { return }
        let key = Key(token: token)
        entries.withLock { all in
            if all[key] == nil, all.count >= capacity {
                // Full: drop the expired entries, then arbitrary ones down to 90% of the capacity, so that
                // this scan runs at most once per tenth of the capacity of new tokens.
                all = all.filter { $0.value.claims.expiresAt > now }
                let target = capacity - max(1, capacity / 10)
                while all.count > target { all.remove(at: all.startIndex) }
            }
            all[key] = Entry(claims: claims, user: user)
        }
    }

    /// The number of tokens kept.
    var count: Int { entries.withLock { $0.count } }
}
