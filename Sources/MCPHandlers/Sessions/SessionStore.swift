/// Where sessions live. The default, ``InMemorySessionStore``, keeps them in this process's memory.
///
/// Every operation is `async throws`, so an implementation may wait for a network store (a database) without
/// blocking a thread; a thrown error means the store could not be reached, and the transport answers `503` with
/// `Retry-After` (never `404`: the session may well exist). Implementations must be safe to call from every
/// worker thread at once.
public protocol SessionStore: Sendable {
    /// Adds a session.
    /// - Returns: false when a session with that id already exists or the store is full.
    func insert(_ session: Session) async throws -> Bool
    /// The session with that id, if live.
    func session(id: String) async throws -> Session?
    /// Whether a session with that id is live.
    func contains(id: String) async throws -> Bool
    /// Removes a session; returns it when it was live.
    @discardableResult func remove(id: String) async throws -> Session?
    /// The number of live sessions.
    var count: Int { get async throws }
    /// Removes every session idle for at least `seconds` (see ``Session/isIdle(forAtLeast:now:)``: a session
    /// with a request or stream in flight is never removed); returns the removed sessions.
    ///
    /// The caller ends what else the sessions held (requests, subscriptions, streams): `MCPFCGI`'s
    /// `SessionSweeper` does.
    /// - Parameters:
    ///   - seconds: the inactivity threshold.
    ///   - now: the current time on the store's clock.
    @discardableResult func removeIdle(olderThan seconds: Double, now: Double) async throws -> [Session]
}
