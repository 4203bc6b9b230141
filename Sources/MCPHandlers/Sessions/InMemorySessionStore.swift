import Synchronization

/// The default ``SessionStore``: a dictionary behind a `Mutex`, O(1) lookups, bounded in size.
public final class InMemorySessionStore: SessionStore {
    private let sessions = Mutex<[String: Session]>([:])
    /// The most live sessions accepted; ``insert(_:)`` refuses more. Default 10,000.
    public let capacity: Int

    /// Creates an empty store.
    /// - Parameter capacity: the most live sessions accepted (default 10,000).
    public init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    /// Adds a session unless its id is taken or the store is full.
    public func insert(_ session: Session) -> Bool {
        sessions.withLock { all in
            guard all.count < capacity, all[session.id] == nil else { return false }
            all[session.id] = session
            return true
        }
    }

    /// The session with that id, if live.
    public func session(id: String) -> Session? { sessions.withLock { $0[id] } }

    /// Whether a session with that id is live.
    public func contains(id: String) -> Bool { sessions.withLock { $0[id] != nil } }

    /// Removes a session.
    @discardableResult public func remove(id: String) -> Session? { sessions.withLock { $0.removeValue(forKey: id) } }

    /// The number of live sessions.
    public var count: Int { sessions.withLock { $0.count } }

    /// Whether the store has room for one more session.
    public var isFull: Bool { sessions.withLock { $0.count >= capacity } }

    /// Removes every session idle for at least `seconds`; sessions with work in flight stay.
    /// - Parameters:
    ///   - seconds: the inactivity threshold.
    ///   - now: the current time on the store's clock.
    /// - Returns: the removed sessions.
    @discardableResult public func removeIdle(olderThan seconds: Double, now: Double) -> [Session] {
        sessions.withLock { all in
            let stale = all.values.filter { $0.isIdle(forAtLeast: seconds, now: now) }
            for session in stale { all.removeValue(forKey: session.id) }
            return stale
        }
    }
}
