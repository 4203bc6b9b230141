import MCPHTTP
/// What ``OAuthStorage/rotateRefreshToken(digest:)`` found.
public enum TokenLookup: Sendable, Equatable {
    /// Valid and now marked used.
    case fresh(RefreshTokenRecord)
    /// It was used (rotated) before: a sign of theft.
    case reused(RefreshTokenRecord)
    /// Unknown, expired or revoked.
    case unknown
}
