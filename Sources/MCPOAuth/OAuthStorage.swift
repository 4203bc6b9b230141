import Foundation
import MCPHTTP

/// Where the built-in authorization server keeps clients, codes, refresh tokens and revocations.
///
/// Every operation is `async throws`, so an implementation may wait for a network store (a database) without
/// blocking a thread; a thrown error means the store could not be reached and is answered as a server error
/// (`server_error` at the OAuth endpoints, `503` at a protected resource), never as the client's mistake.
/// Implementations must be safe to call concurrently and make ``consumeAuthorizationCode(digest:)`` and
/// ``rotateRefreshToken(digest:)`` atomic. Several workers share state only through a shared implementation; the
/// default ``InMemoryOAuthStorage`` is per process.
public protocol OAuthStorage: Sendable {
    /// The client with this id.
    func client(id: String) async throws -> OAuthClient?
    /// Saves (or replaces) a client, outside the registration cap (Client ID Metadata Document clients).
    func saveClient(_ client: OAuthClient) async throws
    /// Saves a newly registered client (or replaces one registered before, such as a refreshed Client ID Metadata
    /// Document) unless `maximumClients` registered clients are stored already. When full, it first removes the
    /// oldest registered client never used (``OAuthClient/firstUsedAt`` nil) registered before `evictableBefore`,
    /// else the least recently used one last used before `evictableBefore`; atomic with the count. Clients saved
    /// with ``saveClient(_:)`` do not count.
    /// - Returns: false when the store is full and no client could be evicted (the client is not saved).
    func registerClient(_ client: OAuthClient, maximumClients: Int, evictableBefore: Date) async throws -> Bool
    /// Records that a client got a code or a token: sets ``OAuthClient/firstUsedAt`` once and
    /// ``OAuthClient/lastUsedAt`` every time.
    func markClientUsed(id: String, at date: Date) async throws
    /// Removes registered clients never used and registered before `unusedRegisteredBefore`, and those last used
    /// before `lastUsedBefore`.
    func removeIdleClients(unusedRegisteredBefore: Date, lastUsedBefore: Date) async throws

    /// Saves a new authorization code.
    func saveAuthorizationCode(_ record: AuthorizationCodeRecord) async throws
    /// Marks a code used and returns what it was: ``CodeLookup/fresh(_:)`` the first time,
    /// ``CodeLookup/replayed(_:)`` afterwards (until the record expires), ``CodeLookup/unknown`` otherwise.
    func consumeAuthorizationCode(digest: String) async throws -> CodeLookup

    /// Saves a new refresh token.
    func saveRefreshToken(_ record: RefreshTokenRecord) async throws
    /// Marks a refresh token used (rotation) and returns it; ``TokenLookup/reused(_:)`` when it was used
    /// before, ``TokenLookup/unknown`` when it never existed, expired or was revoked.
    func rotateRefreshToken(digest: String) async throws -> TokenLookup
    /// The refresh token with this digest, if it is still valid (not used, revoked or expired).
    func refreshToken(digest: String) async throws -> RefreshTokenRecord?
    /// Revokes one refresh token.
    func revokeRefreshToken(digest: String) async throws

    /// Records an issued access token's `jti` in its family (to revoke it with the family).
    func recordAccessToken(jti: String, familyID: String?, expiresAt: Date) async throws
    /// Revokes one access token.
    func revokeAccessToken(jti: String) async throws
    /// Revokes one access token whose expiry is known (from its claims): the revocation is kept until then also
    /// when the token was never recorded (``recordAccessToken(jti:familyID:expiresAt:)``). The default calls
    /// ``revokeAccessToken(jti:)``.
    func revokeAccessToken(jti: String, expiresAt: Date) async throws
    /// Revokes a whole grant family: its refresh tokens and access tokens.
    func revokeFamily(_ familyID: String) async throws
    /// Whether the access token with this `jti` was revoked (itself or its family).
    func isAccessTokenRevoked(jti: String) async throws -> Bool

    /// Records access-token revocations that another worker of the deployment made and pushed here
    /// (``PeerSyncedOAuthStorage``). Unlike ``revokeAccessToken(jti:)`` it must never push them on again: the
    /// default revokes each token in this store.
    func applyPeerRevocations(_ jtis: [String]) async throws

    /// Drops everything expired before `date`.
    func removeExpired(before date: Date) async throws
}

extension OAuthStorage {
    /// Calls ``revokeAccessToken(jti:)`` (the expiry is not used).
    public func revokeAccessToken(jti: String, expiresAt: Date) async throws {
        try await revokeAccessToken(jti: jti)
    }

    /// Revokes each token with ``revokeAccessToken(jti:)``.
    public func applyPeerRevocations(_ jtis: [String]) async throws {
        for jti in jtis { try await revokeAccessToken(jti: jti) }
    }
}
