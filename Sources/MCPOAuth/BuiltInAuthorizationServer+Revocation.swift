import Foundation
import HTTPTypes
import MCPHandlers
import MCPHTTP

extension BuiltInAuthorizationServer {
    /// `POST /oauth/revoke` (RFC 7009): client-authenticated; 200 for unknown tokens too. Revoking a refresh token
    /// revokes its whole grant (its access tokens too).
    /// - Throws: the ``OAuthError`` to answer with (rendered by ``respond(to:)``'s error boundary).
    func revoke(_ request: HTTPServerRequest) async throws(OAuthError) -> HTTPServerResponse {
        try await answerAuthenticatedClient(request, endpoint: .revoke) { (client, params) throws(OAuthError) in
            guard let token = params.nonEmpty("token") else { throw OAuthError.invalidRequest("token is required") }
            if let record = try await stored({ try await storage.refreshToken(digest: OAuthCrypto.digest(token)) }) {
                if record.clientID == client.clientID {
                    try await stored { try await storage.revokeFamily(record.familyID) }
                    metrics.revoked()
                }
            } else if let claims = try? await key.verify(token), claims.clientID == client.clientID {
                let expiry = Date(timeIntervalSince1970: TimeInterval(claims.expiresAt))
                try await stored { try await storage.revokeAccessToken(jti: claims.tokenID, expiresAt: expiry) }
                metrics.revoked()
            }
            return HTTPServerResponse(status: .ok, headerFields: .noStore)
        }
    }

    /// `POST /oauth/introspect` (RFC 7662): for authenticated confidential clients; `{"active": false}` for anything
    /// not valid, and for another client's token unless the caller ``OAuthClient/mayIntrospectAnyToken``.
    /// - Throws: the ``OAuthError`` to answer with (rendered by ``respond(to:)``'s error boundary).
    func introspect(_ request: HTTPServerRequest) async throws(OAuthError) -> HTTPServerResponse {
        try await answerAuthenticatedClient(request, endpoint: .introspect) { (client, params) throws(OAuthError) in
            guard client.isConfidential else {
                throw OAuthError.invalidClient("Introspection is for confidential clients")
            }
            guard let token = params.nonEmpty("token") else { throw OAuthError.invalidRequest("token is required") }
            var body: [String: Value] = ["active": false]
            if let user = try? await anyResourceTokenVerifier.verify(accessToken: token) {
                body = user.claims
                body["active"] = true
                body["token_type"] = "Bearer"
            } else if let record = try await stored({ try await storage.refreshToken(digest: OAuthCrypto.digest(token)) }) {
                body = [
                    "active": true, "token_type": "refresh_token", "client_id": .string(record.clientID),
                    "sub": .string(record.subject), "scope": .string(record.scopes.joined(separator: " ")),
                    "exp": .int(Int(record.expiresAt.timeIntervalSince1970)), "iss": .string(issuer),
                ]
            }
            // Only a client trusted to introspect (a resource server) learns about other clients' tokens; any other
            // confidential client sees its own tokens only (RFC 7662 §4: inactive for what it may not know).
            if !client.mayIntrospectAnyToken, body["client_id"]?.stringValue != client.clientID {
                body = ["active": false]
            }
            return .json(.ok, .object(body), headerFields: .noStore)
        }
    }

    /// The frame of the client-authenticated endpoints (revoke, introspect): the rate limit by address, a form body,
    /// the client's credentials, the rate limit by client, then `answer`. A refusal is counted at `endpoint` (a rate
    /// limit, the one error with Retry-After here, is counted where it is charged) and carries the Basic challenge
    /// when the client authenticated with HTTP Basic.
    private func answerAuthenticatedClient(
        _ request: HTTPServerRequest, endpoint: OAuthMetrics.Endpoint,
        _ answer: (OAuthClient, FormParameters) async throws(OAuthError) -> HTTPServerResponse
    ) async throws(OAuthError) -> HTTPServerResponse {
        if let limited = rateLimited(endpoint.rawValue, request) { throw limited }
        let params = FormParameters(body: request.body)
        var usedBasic = false
        do throws(OAuthError) {
            try requireForm(request)
            let credentials = try ClientCredentials(request, params)
            usedBasic = credentials.method == .clientSecretBasic
            let client = try await credentials.authenticate(with: self)
            if let limited = rateLimited(endpoint.rawValue, request, authenticated: client) { throw limited }
            return try await answer(client, params)
        } catch {
            if error.retryAfter == nil { metrics.refused(endpoint, error.code) }
            throw error.clientUsedBasic(usedBasic)
        }
    }
}
