import MCPHTTP
/// Checks a bearer token and says whose it is. The built-in server's verifier checks its own JWTs; other
/// implementations can check external tokens.
public protocol AccessTokenVerifier: Sendable {
    /// Verifies an access token.
    /// - Parameter token: the token from `Authorization: Bearer`.
    /// - Returns: the token's user.
    /// - Throws: ``BearerAuthenticationError`` of kind `.invalidToken` or `.unavailable`.
    func verify(accessToken token: String) async throws(BearerAuthenticationError) -> AuthenticatedUser
}
