import MCPHandlers
import MCPHTTP

/// Who an `/mcp` request acts for, from its verified access token.
public struct AuthenticatedUser: Sendable, Equatable {
    /// `sub`: the resource owner (the client id for client credentials).
    public var subject: String
    /// `client_id`: the OAuth client.
    public var clientID: String?
    /// Granted scopes.
    public var scopes: [String]
    /// All claims of the token (or the introspection answer).
    public var claims: [String: Value]

    /// Creates a user.
    public init(subject: String, clientID: String?, scopes: [String], claims: [String: Value] = [:]) {
        self.subject = subject
        self.clientID = clientID
        self.scopes = scopes
        self.claims = claims
    }

    /// The user of an unauthenticated deployment (`AuthConfiguration.anonymous`).
    public static let anonymous = AuthenticatedUser(subject: "anonymous", clientID: nil, scopes: [])
}
