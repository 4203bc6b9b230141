import MCPHTTP
/// What ``OAuthStorage/consumeAuthorizationCode(digest:)`` found.
public enum CodeLookup: Sendable, Equatable {
    /// First use.
    case fresh(AuthorizationCodeRecord)
    /// The code was used before.
    case replayed(AuthorizationCodeRecord)
    /// No such code.
    case unknown
}
