/// Where sessions live. The default, ``InMemorySessionStore``, keeps them in this process's memory.
///
/// Every operation is `async throws`, so an implementation may wait for a network store (a database) without
/// blocking a thread; a thrown error means the store could not be reached, and the transport answers `503` with
/// `Retry-After` (never `404`: the session may well exist). Implementations must be safe to call from every
/// worker thread at once.
///
/// Admission is one atomic operation of the store, ``insert(_:limits:now:)``: the session carries its owner
/// (``Session/owner``) and client address (``Session/clientAddress``), and the store checks the quotas of
/// ``SessionLimits`` and, when full, evicts its least recently used idle session in the same step, so that
/// concurrent `initialize` requests (on several threads or several hosts sharing a database) cannot overshoot.
/// A store keeps recency without scanning by observing its sessions (``SessionActivityObserver``); a database
/// store can keep an indexed last-activity column instead.
///
/// ## The store and a session's phases
///
/// A store holds the live sessions, those in phase `created` or `initialized` (``Session/phase``,
/// ``SessionLifecycle``). Leaving the store is the first half of a session's end; the second half,
/// ``MCPServer/end(_:reason:)``, moves the removed session to `ended(reason)` and cleans up once:
///
/// ```text
///   insert ─▶ [in the store: created ─▶ initialized] ─▶ remove(id:) / removeIdle / eviction ─▶ end(reason) ─▶ ended
///             (a lookup finds it: requests are served)   (one of racing removers gets it)       (cleans up once)
/// ```
///
/// A removal returns the sessions it removed, so the caller ends exactly those
/// (``MCPServer/endSession(id:reason:)``, ``MCPServer/endIdleSessions(olderThan:reason:)``; evicted sessions
/// come back in ``SessionInsertion/inserted(evicted:)``). Two removals racing for one session should hand it to
/// one of them; should a store hand it to both, the phase still lets only one clean up. A store never ends a
/// session itself and never sees an ended one again.
public protocol SessionStore: Sendable {
    /// Adds a session with no quota and no eviction.
    /// - Returns: false when a session with that id already exists or the store is full.
    func insert(_ session: Session) async throws -> Bool
    /// Adds a session under `limits`, atomically: refuses it when its client address or its owner holds its
    /// quota already; when the store is full, evicts the least recently used session that has been idle at
    /// least ``SessionLimits/minimumIdleBeforeEviction`` (a session with anything in flight is never evicted),
    /// or refuses it when there is none. ``MCPServer`` creates sessions through this method.
    ///
    /// The default implementation calls ``insert(_:)``: no quota, no eviction. Stores should implement it.
    /// - Parameters:
    ///   - session: the new session (with its owner and client address).
    ///   - limits: the quotas and the eviction threshold.
    ///   - now: the current time on the store's clock (see ``Session/isIdle(forAtLeast:now:)``).
    /// - Returns: what happened, with the evicted sessions when it was inserted.
    func insert(_ session: Session, limits: SessionLimits, now: Double) async throws -> SessionInsertion
    /// The session with that id, if live.
    func session(id: String) async throws -> Session?
    /// Whether a session with that id is live.
    func contains(id: String) async throws -> Bool
    /// Removes a session; returns it when it was live (and only to one of several racing callers). The caller
    /// ends it: ``MCPServer/endSession(id:reason:)`` does both.
    @discardableResult func remove(id: String) async throws -> Session?
    /// The number of live sessions.
    var count: Int { get async throws }
    /// Removes every session idle for at least `seconds` (see ``Session/isIdle(forAtLeast:now:)``: a session
    /// with a request or stream in flight is never removed); returns the removed sessions.
    ///
    /// The caller ends the removed sessions (requests, subscriptions, streams):
    /// ``MCPServer/endIdleSessions(olderThan:reason:)`` does both, for `SessionSweeper`.
    /// - Parameters:
    ///   - seconds: the inactivity threshold.
    ///   - now: the current time on the store's clock.
    @discardableResult func removeIdle(olderThan seconds: Double, now: Double) async throws -> [Session]
    /// Whether the store is shared by several processes (a database): then ``count`` and ``removeIdle(olderThan:now:)``
    /// cover every worker of every deployment on it, and the management API asks the store instead of each worker.
    /// Default false.
    var isShared: Bool { get }
    /// Tells a shared store what to do when it loads a session created elsewhere and when a session it holds in
    /// memory was removed elsewhere (``SharedSessionEvents``). The transport sets them (replacing earlier ones); a
    /// store that is not shared ignores them (the default).
    /// - Parameter events: the handlers.
    func setSharedSessionEvents(_ events: SharedSessionEvents)
}

/// What a shared ``SessionStore`` reports about changes made elsewhere (another worker or machine), so that this
/// process keeps its own view (subscription index, requests in flight, streams) consistent.
public struct SharedSessionEvents: Sendable {
    /// A session created elsewhere was loaded into this process (a request named it): it is about to be served here.
    public var loaded: @Sendable (Session) -> Void
    /// A session this process holds was removed from the store elsewhere (deleted, expired, cleaned up, evicted):
    /// end what this process holds for it. It is out of the store already; the remover counted its end.
    public var removedElsewhere: @Sendable (Session, SessionEndReason) -> Void

    /// Creates the handlers.
    /// - Parameters:
    ///   - loaded: called for a session loaded from the shared store.
    ///   - removedElsewhere: called for a session held here that was removed elsewhere.
    public init(
        loaded: @escaping @Sendable (Session) -> Void,
        removedElsewhere: @escaping @Sendable (Session, SessionEndReason) -> Void
    ) {
        self.loaded = loaded
        self.removedElsewhere = removedElsewhere
    }
}

extension SessionStore {
    /// False: the store lives in this process.
    public var isShared: Bool { false }

    /// Ignores the handlers: nothing changes behind this process's back.
    /// - Parameter events: ignored.
    public func setSharedSessionEvents(_ events: SharedSessionEvents) {}

    /// ``insert(_:)``, then ``contains(id:)`` to tell a duplicate id from a full store: no quota, no eviction.
    /// - Parameters:
    ///   - session: the new session.
    ///   - limits: ignored.
    ///   - now: ignored.
    /// - Returns: `.inserted(evicted: [])`, `.duplicateID` or `.full`.
    public func insert(_ session: Session, limits: SessionLimits, now: Double) async throws -> SessionInsertion {
        if try await insert(session) { return .inserted(evicted: []) }
        return try await contains(id: session.id) ? .duplicateID : .full
    }
}
