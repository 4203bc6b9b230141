import Foundation

/// Where the built-in authorization server keeps clients, codes, refresh tokens and revocations.
///
/// Implementations must be thread-safe and make ``consumeAuthorizationCode(digest:)`` and
/// ``rotateRefreshToken(digest:)`` atomic. Several workers share state only through a shared implementation; the
/// default ``InMemoryOAuthStorage`` is per process.
public protocol OAuthStorage: Sendable {
    /// The client with this id.
    func client(id: String) -> OAuthClient?
    /// Saves (or replaces) a client.
    func saveClient(_ client: OAuthClient)

    /// Saves a new authorization code.
    func saveAuthorizationCode(_ record: AuthorizationCodeRecord)
    /// Marks a code used and returns what it was: ``CodeLookup/fresh(_:)`` the first time,
    /// ``CodeLookup/replayed(_:)`` afterwards (until the record expires), ``CodeLookup/unknown`` otherwise.
    func consumeAuthorizationCode(digest: String) -> CodeLookup

    /// Saves a new refresh token.
    func saveRefreshToken(_ record: RefreshTokenRecord)
    /// Marks a refresh token used (rotation) and returns it; ``TokenLookup/reused(_:)`` when it was used
    /// before, ``TokenLookup/unknown`` when it never existed, expired or was revoked.
    func rotateRefreshToken(digest: String) -> TokenLookup
    /// The refresh token with this digest, if it is still valid (not used, revoked or expired).
    func refreshToken(digest: String) -> RefreshTokenRecord?
    /// Revokes one refresh token.
    func revokeRefreshToken(digest: String)

    /// Records an issued access token's `jti` in its family (to revoke it with the family).
    func recordAccessToken(jti: String, familyID: String?, expiresAt: Date)
    /// Revokes one access token.
    func revokeAccessToken(jti: String)
    /// Revokes a whole grant family: its refresh tokens and access tokens.
    func revokeFamily(_ familyID: String)
    /// Whether the access token with this `jti` was revoked (itself or its family).
    func isAccessTokenRevoked(jti: String) -> Bool

    /// Drops everything expired before `date`.
    func removeExpired(before date: Date)
}
