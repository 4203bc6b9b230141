import Synchronization

/// The default ``SessionStore``: dictionaries behind 16 `Mutex`es (a session's shard follows from its id), O(1)
/// lookups, bounded in size, with per-address and per-user quotas and eviction of the least recently used
/// idle session when full (see ``SessionLimits``).
///
/// Every request looks its session up, from all of the worker's accept threads at once: with one lock for all
/// sessions they queue behind each other (and spin); with shards, two requests contend only when their
/// sessions share a shard. Each shard also keeps its idle sessions in a linked list, least recently active
/// first: a session leaves it when its first request or stream begins and goes to its end when the last one
/// ends (the store observes its sessions, ``SessionActivityObserver``). The least recently used idle session
/// of the whole store is the oldest of the 16 list heads, so eviction and expiry never scan the sessions.
///
/// Locks: insertions and removals are serialised by one admission lock (quota counters, live count) and take
/// one shard lock at a time inside it; a session's activity takes its own lock, then its shard's; lookups
/// take the shard's lock alone.
public final class InMemorySessionStore: SessionStore, SessionActivityObserver {
    private static let shardCount = 16

    /// A shard's sessions, and its idle ones in a doubly linked list (by id), least recently active first.
    private struct ShardState {
        struct Entry {
            let session: Session
            /// When the session became idle; nil while it is busy (then it is not in the list).
            var idleSince: Double?
            var previous: String?
            var next: String?
        }
        var entries: [String: Entry] = [:]
        var head: String?
        var tail: String?

        /// Appends a busy or new session to the idle list, idle since `time`.
        mutating func markIdle(_ id: String, since time: Double) {
            guard entries[id] != nil else { return }
            unlink(id)
            entries[id]!.idleSince = time
            entries[id]!.previous = tail
            entries[id]!.next = nil
            if let tail { entries[tail]!.next = id } else { head = id }
            tail = id
        }

        /// Takes a session out of the idle list (it is busy, or leaves the shard).
        mutating func unlink(_ id: String) {
            guard let entry = entries[id], entry.idleSince != nil else { return }
            if let previous = entry.previous { entries[previous]!.next = entry.next } else { head = entry.next }
            if let next = entry.next { entries[next]!.previous = entry.previous } else { tail = entry.previous }
            entries[id]!.idleSince = nil
            entries[id]!.previous = nil
            entries[id]!.next = nil
        }

        mutating func remove(_ id: String) -> Session? {
            unlink(id)
            return entries.removeValue(forKey: id)?.session
        }

        /// The least recently active idle session and since when it is idle.
        var oldestIdle: (id: String, since: Double)? {
            guard let head, let since = entries[head]?.idleSince else { return nil }
            return (head, since)
        }
    }
    private final class Shard: Sendable {
        let state = Mutex(ShardState())
    }
    /// Live sessions per client address and per owner (only keys with at least one).
    private struct Admission {
        var perAddress: [String: Int] = [:]
        var perUser: [String: Int] = [:]

        mutating func count(_ session: Session, _ delta: Int) {
            if let address = session.clientAddress { Self.adjust(&perAddress, address, delta) }
            if let owner = session.owner { Self.adjust(&perUser, owner, delta) }
        }

        private static func adjust(_ counts: inout [String: Int], _ key: String, _ delta: Int) {
            let value = counts[key, default: 0] + delta
            if value > 0 { counts[key] = value } else { counts.removeValue(forKey: key) }
        }
    }
    private let shards: [Shard]
    private let admission = Mutex(Admission())
    /// Live sessions over all shards; changed only under the admission lock, read without it.
    private let live = Atomic<Int>(0)
    /// The most live sessions accepted; ``insert(_:)`` refuses more. Default 10,000.
    public let capacity: Int

    /// Creates an empty store.
    /// - Parameter capacity: the most live sessions accepted (default 10,000).
    public init(capacity: Int = 10_000) {
        self.capacity = capacity
        shards = (0..<Self.shardCount).map { _ in Shard() }
    }

    /// The shard of an id: FNV-1a over its bytes (ids end in random characters).
    private func shard(_ id: String) -> Shard {
        var hash: UInt32 = 2_166_136_261
        for byte in id.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return shards[Int(hash % UInt32(Self.shardCount))]
    }

    /// Adds a session unless its id is taken or the store is full (no quota, no eviction).
    public func insert(_ session: Session) -> Bool {
        if case .inserted = insert(session, limits: .noQuotas, now: session.createdAt) { return true }
        return false
    }

    /// Adds a session under `limits`: refused when its address or owner holds its quota; when the store is
    /// full, the least recently used session idle at least ``SessionLimits/minimumIdleBeforeEviction`` is
    /// evicted first, or the session is refused when there is none. The new session counts as idle since its
    /// creation (never evicted before the minimum idle time).
    /// - Parameters:
    ///   - session: the new session, with no activity yet.
    ///   - limits: the quotas and the eviction threshold.
    ///   - now: the current time on the sessions' clock.
    /// - Returns: what happened, with the evicted session when one was.
    public func insert(_ session: Session, limits: SessionLimits, now: Double) -> SessionInsertion {
        // Before the session is visible: the store sees every later transition between busy and idle.
        session.setActivityObserver(self)
        let home = shard(session.id)
        return admission.withLock { admission in
            if home.state.withLock({ $0.entries[session.id] != nil }) { return .duplicateID }
            if let limit = limits.maxSessionsPerAddress, let address = session.clientAddress,
                admission.perAddress[address, default: 0] >= limit
            {
                return .addressQuotaReached(limit: limit)
            }
            if let limit = limits.maxSessionsPerUser, let owner = session.owner,
                admission.perUser[owner, default: 0] >= limit
            {
                return .userQuotaReached(limit: limit)
            }
            var evicted: [Session] = []
            if live.load(ordering: .relaxed) >= capacity {
                guard let minimum = limits.minimumIdleSecondsBeforeEviction,
                    let victim = evictLeastRecentlyUsed(idleFor: minimum, now: now)
                else { return .full }
                admission.count(victim, -1)
                evicted.append(victim)
            }
            home.state.withLock { shard in
                shard.entries[session.id] = ShardState.Entry(session: session)
                shard.markIdle(session.id, since: session.createdAt)
            }
            admission.count(session, 1)
            live.add(1, ordering: .relaxed)
            return .inserted(evicted: evicted)
        }
    }

    /// Removes the least recently used idle session when it has been idle at least `minimum`; called under the
    /// admission lock (the caller adjusts the quota counters).
    private func evictLeastRecentlyUsed(idleFor minimum: Double, now: Double) -> Session? {
        // A head can turn busy between the look and the removal: look again a few times, then give up.
        for _ in 0..<4 {
            var oldest: (shard: Shard, id: String, since: Double)? = nil
            for shard in shards {
                guard let head = shard.state.withLock({ $0.oldestIdle }) else { continue }
                if oldest == nil || head.since < oldest!.since { oldest = (shard, head.id, head.since) }
            }
            // The oldest head is the least recently used idle session of the store: if it is too fresh, all are.
            guard let oldest, now - oldest.since >= minimum else { return nil }
            let removed = oldest.shard.state.withLock { shard -> Session? in
                guard let head = shard.oldestIdle, head.id == oldest.id, now - head.since >= minimum else { return nil }
                return shard.remove(head.id)
            }
            if let removed {
                live.subtract(1, ordering: .relaxed)
                return removed
            }
        }
        return nil
    }

    /// The session with that id, if live.
    public func session(id: String) -> Session? { shard(id).state.withLock { $0.entries[id]?.session } }

    /// Whether a session with that id is live.
    public func contains(id: String) -> Bool { shard(id).state.withLock { $0.entries[id] != nil } }

    /// Removes a session.
    @discardableResult public func remove(id: String) -> Session? {
        admission.withLock { admission in
            guard let removed = shard(id).state.withLock({ $0.remove(id) }) else { return nil }
            admission.count(removed, -1)
            live.subtract(1, ordering: .relaxed)
            return removed
        }
    }

    /// The number of live sessions.
    public var count: Int { live.load(ordering: .relaxed) }

    /// Whether the store has room for one more session without evicting one.
    public var isFull: Bool { live.load(ordering: .relaxed) >= capacity }

    /// The live sessions created from a client address (``Session/clientAddress``).
    /// - Parameter address: the address key.
    public func sessionCount(clientAddress address: String) -> Int {
        admission.withLock { $0.perAddress[address, default: 0] }
    }

    /// The live sessions bound to a user (``Session/owner``).
    /// - Parameter user: the user.
    public func sessionCount(user: String) -> Int { admission.withLock { $0.perUser[user, default: 0] } }

    /// Removes every session idle for at least `seconds`; sessions with work in flight stay. Walks each
    /// shard's idle list from its least recently active end and stops at the first session too recent.
    /// - Parameters:
    ///   - seconds: the inactivity threshold.
    ///   - now: the current time on the store's clock.
    /// - Returns: the removed sessions.
    @discardableResult public func removeIdle(olderThan seconds: Double, now: Double) -> [Session] {
        admission.withLock { admission in
            var removed: [Session] = []
            for shard in shards {
                let stale = shard.state.withLock { shard in
                    var stale: [Session] = []
                    while let head = shard.oldestIdle, now - head.since >= seconds, let session = shard.remove(head.id) {
                        stale.append(session)
                    }
                    return stale
                }
                for session in stale { admission.count(session, -1) }
                live.subtract(stale.count, ordering: .relaxed)
                removed.append(contentsOf: stale)
            }
            return removed
        }
    }

    /// Takes the session out of its shard's idle list (``SessionActivityObserver``).
    /// - Parameter session: the session that turned busy.
    public func sessionBecameBusy(_ session: Session) {
        shard(session.id).state.withLock { shard in
            guard shard.entries[session.id]?.session === session else { return }
            shard.unlink(session.id)
        }
    }

    /// Puts the session at the end of its shard's idle list (``SessionActivityObserver``).
    /// - Parameters:
    ///   - session: the session that turned idle.
    ///   - time: when.
    public func sessionBecameIdle(_ session: Session, at time: Double) {
        shard(session.id).state.withLock { shard in
            guard shard.entries[session.id]?.session === session else { return }
            shard.markIdle(session.id, since: time)
        }
    }
}
