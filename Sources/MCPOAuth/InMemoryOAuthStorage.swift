import Foundation
import Synchronization
import MCPHTTP

/// ``OAuthStorage`` in process memory behind a `Mutex`. State dies with the process and is not shared between
/// workers.
public final class InMemoryOAuthStorage: OAuthStorage {
    private struct State {
        var clients: [String: OAuthClient] = [:]
        /// Ids of registered (capped) clients.
        var registered: Set<String> = []
        /// Registered clients in registration order, oldest first, possibly with ids since used or removed
        /// (skipped lazily): the eviction and expiry queue of unused clients.
        var unusedQueue: [String] = []
        var unusedQueueStart = 0
        var codes: [String: (record: AuthorizationCodeRecord, used: Bool)] = [:]
        var refreshTokens: [String: (record: RefreshTokenRecord, used: Bool)] = [:]
        var accessTokens: [String: (familyID: String?, expiresAt: Date)] = [:]
        var revokedAccessTokens: [String: Date] = [:]
        var revokedFamilies: Set<String> = []

        /// The oldest registered client still unused, dropping stale queue entries on the way.
        mutating func oldestUnusedClient() -> OAuthClient? {
            while unusedQueueStart < unusedQueue.count {
                let id = unusedQueue[unusedQueueStart]
                if registered.contains(id), let client = clients[id], client.firstUsedAt == nil { return client }
                unusedQueueStart += 1
                compactQueue()
            }
            return nil
        }

        /// The registered client used least recently, if it was last used before `cutoff` (a scan).
        func leastRecentlyUsedClient(lastUsedBefore cutoff: Int) -> String? {
            var oldest: (id: String, at: Int)?
            for id in registered {
                guard let at = clients[id]?.lastUsedAt, at < cutoff else { continue }
                if oldest == nil || at < oldest!.at { oldest = (id, at) }
            }
            return oldest?.id
        }

        mutating func removeRegistered(_ id: String) {
            registered.remove(id)
            clients[id] = nil
        }

        /// Drops the consumed head of the queue once it is half of it.
        private mutating func compactQueue() {
            if unusedQueueStart > 1024 && unusedQueueStart * 2 > unusedQueue.count {
                unusedQueue.removeFirst(unusedQueueStart)
                unusedQueueStart = 0
            }
        }
    }

    private let state = Mutex(State())
    private let now: @Sendable () -> Date

    /// Creates an empty store.
    /// - Parameter now: the clock deciding expiry. Default the system clock.
    public init(now: @escaping @Sendable () -> Date = { Date() }) {
        self.now = now
    }

    /// See ``OAuthStorage/client(id:)``.
    public func client(id: String) -> OAuthClient? { state.withLock { $0.clients[id] } }

    /// See ``OAuthStorage/saveClient(_:)``.
    public func saveClient(_ client: OAuthClient) { state.withLock { $0.clients[client.clientID] = client } }

    /// See ``OAuthStorage/registerClient(_:maximumClients:evictableBefore:)``. Amortised O(1) while an unused client
    /// can make room; a scan of the registered clients when only a used one can (a full store of used clients).
    public func registerClient(_ client: OAuthClient, maximumClients: Int, evictableBefore: Date) -> Bool {
        let cutoff = Int(evictableBefore.timeIntervalSince1970)
        return state.withLock { state in
            if state.registered.count >= maximumClients && !state.registered.contains(client.clientID) {
                if let oldest = state.oldestUnusedClient(), oldest.issuedAt < cutoff {
                    state.removeRegistered(oldest.clientID)
                } else if let idle = state.leastRecentlyUsedClient(lastUsedBefore: cutoff) {
                    state.removeRegistered(idle)
                } else {
                    return false
                }
            }
            state.clients[client.clientID] = client
            state.registered.insert(client.clientID)
            if client.firstUsedAt == nil { state.unusedQueue.append(client.clientID) }
            return true
        }
    }

    /// See ``OAuthStorage/markClientUsed(id:at:)``.
    public func markClientUsed(id: String, at date: Date) {
        let seconds = Int(date.timeIntervalSince1970)
        state.withLock { state in
            guard state.clients[id] != nil else { return }
            if state.clients[id]?.firstUsedAt == nil { state.clients[id]?.firstUsedAt = seconds }
            state.clients[id]?.lastUsedAt = seconds
        }
    }

    /// See ``OAuthStorage/removeIdleClients(unusedRegisteredBefore:lastUsedBefore:)``. O(removed) amortised for
    /// unused clients; one pass over the registered clients for inactive ones (the sweep runs once a minute).
    public func removeIdleClients(unusedRegisteredBefore: Date, lastUsedBefore: Date) {
        let unusedCutoff = Int(unusedRegisteredBefore.timeIntervalSince1970)
        let usedCutoff = Int(lastUsedBefore.timeIntervalSince1970)
        state.withLock { state in
            while let oldest = state.oldestUnusedClient(), oldest.issuedAt < unusedCutoff {
                state.removeRegistered(oldest.clientID)
            }
            let inactive = state.registered.filter { id in
                guard let used = state.clients[id]?.lastUsedAt else { return false }
                return used < usedCutoff
            }
            for id in inactive { state.removeRegistered(id) }
        }
    }

    /// The number of registered (capped) clients.
    public var registeredClientCount: Int { state.withLock { $0.registered.count } }

    /// See ``OAuthStorage/saveAuthorizationCode(_:)``.
    public func saveAuthorizationCode(_ record: AuthorizationCodeRecord) {
        state.withLock { $0.codes[record.codeDigest] = (record, false) }
    }

    /// See ``OAuthStorage/consumeAuthorizationCode(digest:)``.
    public func consumeAuthorizationCode(digest: String) -> CodeLookup {
        let now = now()
        return state.withLock { state in
            guard let entry = state.codes[digest] else { return .unknown }
            if entry.used { return .replayed(entry.record) }
            guard entry.record.expiresAt > now else { return .unknown }
            state.codes[digest]?.used = true
            return .fresh(entry.record)
        }
    }

    /// See ``OAuthStorage/saveRefreshToken(_:)``.
    public func saveRefreshToken(_ record: RefreshTokenRecord) {
        state.withLock { $0.refreshTokens[record.tokenDigest] = (record, false) }
    }

    /// See ``OAuthStorage/rotateRefreshToken(digest:)``.
    public func rotateRefreshToken(digest: String) -> TokenLookup {
        let now = now()
        return state.withLock { state in
            guard let entry = state.refreshTokens[digest] else { return .unknown }
            if entry.used { return .reused(entry.record) }
            guard entry.record.expiresAt > now, !state.revokedFamilies.contains(entry.record.familyID) else {
                return .unknown
            }
            state.refreshTokens[digest]?.used = true
            return .fresh(entry.record)
        }
    }

    /// See ``OAuthStorage/refreshToken(digest:)``.
    public func refreshToken(digest: String) -> RefreshTokenRecord? {
        let now = now()
        return state.withLock { state in
            guard let entry = state.refreshTokens[digest], !entry.used, entry.record.expiresAt > now,
                !state.revokedFamilies.contains(entry.record.familyID)
            else { return nil }
            return entry.record
        }
    }

    /// See ``OAuthStorage/revokeRefreshToken(digest:)``.
    public func revokeRefreshToken(digest: String) {
        state.withLock { _ = $0.refreshTokens.removeValue(forKey: digest) }
    }

    /// See ``OAuthStorage/recordAccessToken(jti:familyID:expiresAt:)``.
    public func recordAccessToken(jti: String, familyID: String?, expiresAt: Date) {
        state.withLock { $0.accessTokens[jti] = (familyID, expiresAt) }
    }

    /// See ``OAuthStorage/revokeAccessToken(jti:)``: kept until the recorded expiry (forever for a token never
    /// recorded).
    public func revokeAccessToken(jti: String) {
        state.withLock { state in
            state.revokedAccessTokens[jti] = state.accessTokens[jti]?.expiresAt ?? .distantFuture
        }
    }

    /// See ``OAuthStorage/revokeAccessToken(jti:expiresAt:)``: kept until the recorded expiry, else `expiresAt`.
    public func revokeAccessToken(jti: String, expiresAt: Date) {
        state.withLock { state in
            state.revokedAccessTokens[jti] = state.accessTokens[jti]?.expiresAt ?? expiresAt
        }
    }

    /// See ``OAuthStorage/revokeFamily(_:)``.
    public func revokeFamily(_ familyID: String) {
        state.withLock { state in
            state.revokedFamilies.insert(familyID)
            for (digest, entry) in state.refreshTokens where entry.record.familyID == familyID {
                state.refreshTokens[digest]?.used = true
            }
        }
    }

    /// The `jti`s of the access tokens recorded in a grant family (to tell other workers what a family
    /// revocation revoked).
    public func accessTokenIDs(inFamily familyID: String) -> [String] {
        state.withLock { state in state.accessTokens.filter { $0.value.familyID == familyID }.map(\.key) }
    }

    /// See ``OAuthStorage/isAccessTokenRevoked(jti:)``.
    public func isAccessTokenRevoked(jti: String) -> Bool {
        state.withLock { state in
            if state.revokedAccessTokens[jti] != nil { return true }
            if let family = state.accessTokens[jti]?.familyID { return state.revokedFamilies.contains(family) }
            return false
        }
    }

    /// See ``OAuthStorage/removeExpired(before:)``. Revoked families are kept as long as any of their tokens.
    public func removeExpired(before date: Date) {
        state.withLock { state in
            // Used codes are kept an hour longer so that a late replay still revokes what they issued.
            state.codes = state.codes.filter { $0.value.record.expiresAt.addingTimeInterval(3600) >= date }
            state.refreshTokens = state.refreshTokens.filter { $0.value.record.expiresAt >= date }
            state.accessTokens = state.accessTokens.filter { $0.value.expiresAt >= date }
            state.revokedAccessTokens = state.revokedAccessTokens.filter { $0.value >= date }
            let live = Set(state.refreshTokens.values.map(\.record.familyID))
                .union(state.accessTokens.values.compactMap(\.familyID))
                .union(state.codes.values.map(\.record.familyID))
            state.revokedFamilies = state.revokedFamilies.intersection(live)
        }
    }
}
