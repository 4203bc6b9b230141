/// Where sessions live. The default, ``InMemorySessionStore``, keeps them in this process's memory.
///
/// Implementations must be safe to call from every worker thread at once.
public protocol SessionStore: Sendable {
    /// Adds a session.
    /// - Returns: false when a session with that id already exists or the store is full.
    func insert(_ session: Session) -> Bool
    /// The session with that id, if live.
    func session(id: String) -> Session?
    /// Whether a session with that id is live.
    func contains(id: String) -> Bool
    /// Removes a session; returns it when it was live.
    @discardableResult func remove(id: String) -> Session?
    /// The number of live sessions.
    var count: Int { get }
    /// Removes every session idle for at least `seconds` (see ``Session/isIdle(forAtLeast:now:)``: a session
    /// with a request or stream in flight is never removed); returns the removed sessions.
    ///
    /// The caller ends what else the sessions held (requests, subscriptions, streams): `MCPFCGI`'s
    /// `SessionSweeper` does.
    /// - Parameters:
    ///   - seconds: the inactivity threshold.
    ///   - now: the current time on the store's clock.
    @discardableResult func removeIdle(olderThan seconds: Double, now: Double) -> [Session]
}
