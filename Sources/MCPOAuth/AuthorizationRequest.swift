import MCPHTTP
/// A validated authorization request (RFC 6749 §4.1.1 with PKCE, RFC 8707 resource).
struct AuthorizationRequest: Sendable {
    /// The parameters that define the request, in a fixed order; the consent form carries them and its CSRF token
    /// covers them.
    static let parameterNames = [
        "response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method",
        "resource",
    ]

    var client: OAuthClient
    var redirectURI: String
    var state: String?
    var codeChallenge: String
    var scopes: [String]
    var resource: String?
    /// The request's parameters as received (present ones only, in ``parameterNames`` order).
    var parameters: [(String, String)]
}
