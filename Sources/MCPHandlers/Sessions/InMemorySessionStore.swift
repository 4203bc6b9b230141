import Synchronization

/// The default ``SessionStore``: dictionaries behind 16 `Mutex`es (a session's shard follows from its id), O(1)
/// lookups, bounded in size.
///
/// Every request looks its session up, from all of the worker's accept threads at once: with one lock for all
/// sessions they queue behind each other (and spin); with shards, two requests contend only when their
/// sessions share a shard.
public final class InMemorySessionStore: SessionStore {
    private static let shardCount = 16
    private final class Shard: Sendable {
        let sessions = Mutex<[String: Session]>([:])
    }
    private let shards: [Shard]
    /// Live sessions over all shards; changed only under the lock of the shard that gains or loses one.
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

    /// Adds a session unless its id is taken or the store is full.
    public func insert(_ session: Session) -> Bool {
        shard(session.id).sessions.withLock { all in
            guard all[session.id] == nil else { return false }
            // Reserve a place under the shard's lock: the count never exceeds the capacity.
            var count = live.load(ordering: .relaxed)
            while true {
                guard count < capacity else { return false }
                let (exchanged, original) = live.compareExchange(
                    expected: count, desired: count + 1, ordering: .relaxed)
                if exchanged { break }
                count = original
            }
            all[session.id] = session
            return true
        }
    }

    /// The session with that id, if live.
    public func session(id: String) -> Session? { shard(id).sessions.withLock { $0[id] } }

    /// Whether a session with that id is live.
    public func contains(id: String) -> Bool { shard(id).sessions.withLock { $0[id] != nil } }

    /// Removes a session.
    @discardableResult public func remove(id: String) -> Session? {
        shard(id).sessions.withLock { all in
            let removed = all.removeValue(forKey: id)
            if removed != nil { live.subtract(1, ordering: .relaxed) }
            return removed
        }
    }

    /// The number of live sessions.
    public var count: Int { live.load(ordering: .relaxed) }

    /// Whether the store has room for one more session.
    public var isFull: Bool { live.load(ordering: .relaxed) >= capacity }

    /// Removes every session idle for at least `seconds`; sessions with work in flight stay.
    /// - Parameters:
    ///   - seconds: the inactivity threshold.
    ///   - now: the current time on the store's clock.
    /// - Returns: the removed sessions.
    @discardableResult public func removeIdle(olderThan seconds: Double, now: Double) -> [Session] {
        var removed: [Session] = []
        for shard in shards {
            let stale = shard.sessions.withLock { all in
                let stale = all.values.filter { $0.isIdle(forAtLeast: seconds, now: now) }
                for session in stale { all.removeValue(forKey: session.id) }
                live.subtract(stale.count, ordering: .relaxed)
                return stale
            }
            removed.append(contentsOf: stale)
        }
        return removed
    }
}
