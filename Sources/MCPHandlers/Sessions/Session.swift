import Synchronization

/// One MCP session of the session era (2025-11-25 and older): what the server negotiated with one client,
/// and what it needs to continue serving it.
///
/// Immutable facts are plain properties; what changes (phase, log level, activity) sits behind a `Mutex`, so
/// a session can be shared by every worker thread of its process.
///
/// ## Phases
///
/// A session's phase (``phase``) is a ``SessionLifecycle``: `created` when ``MCPServer`` stores it (answering
/// `initialize`), `initialized` after `notifications/initialized`, `ended(reason)` once it left the store
/// (``SessionEndReason``: DELETE, idle expiry, management cleanup, eviction). Every end goes through one step,
/// ``MCPServer/endSession(id:reason:)`` (or ``MCPServer/end(_:reason:)`` for a session already out of the
/// store): the first caller cleans up, a racing second one does nothing. A request that still holds an
/// ended session is answered as for an unknown one (404) by the transport; one that was past that check
/// when the session ended completes (its handler is cancelled).
///
/// ```text
/// created ──notifications/initialized──▶ initialized
///    │                                        │
///    └──────────── end(reason) ───────────────┴──▶ ended(reason)   (terminal; a second end is a no-op)
/// ```
public final class Session: Sendable {
    /// The session id, sent by the client as `Mcp-Session-Id`.
    public let id: String
    /// The negotiated protocol revision.
    public let protocolVersion: ProtocolVersion
    /// What the client said about itself.
    public let clientInfo: Implementation?
    /// The client's declared capabilities (`sampling`, `elicitation`, `roots`, …).
    public let clientCapabilities: Value
    /// The user the session is bound to, when it was created by an authenticated request.
    public let owner: String?
    /// The client address the session counts against (``SessionLimits/maxSessionsPerAddress``), when known:
    /// the transport's key for the address of the `initialize` request.
    public let clientAddress: String?
    /// When it was created, in seconds of the store's clock.
    public let createdAt: Double

    private struct State {
        var lifecycle = SessionLifecycle()
        var logLevel: LoggingLevel? = nil
        var lastActivity: Double
        var inFlight = 0
        var subscriptions: Set<String> = []
        weak var observer: (any SessionActivityObserver)?
    }
    private let state: Mutex<State>

    /// Creates a session.
    /// - Parameters:
    ///   - id: the session id.
    ///   - protocolVersion: the negotiated revision.
    ///   - clientInfo: the client's `clientInfo`.
    ///   - clientCapabilities: the client's `capabilities`.
    ///   - owner: the authenticated user, if any.
    ///   - clientAddress: the key of the client's address, if known (see ``clientAddress``).
    ///   - now: the current time on the store's clock.
    public init(
        id: String, protocolVersion: ProtocolVersion, clientInfo: Implementation?, clientCapabilities: Value,
        owner: String?, clientAddress: String? = nil, now: Double
    ) {
        self.id = id
        self.protocolVersion = protocolVersion
        self.clientInfo = clientInfo
        self.clientCapabilities = clientCapabilities
        self.owner = owner
        self.clientAddress = clientAddress
        self.createdAt = now
        self.state = Mutex(State(lastActivity: now))
    }

    /// Where the session is in its life: created, initialized (the client sent `notifications/initialized`) or
    /// ended (and why). See ``SessionLifecycle``.
    public var phase: SessionLifecycle.State { state.withLock { $0.lifecycle.state } }

    /// Whether the session has ended (it is out of the store; a request naming it gets 404).
    public var isEnded: Bool { state.withLock { $0.lifecycle.isEnded } }

    /// Whether a request naming this session is served (``SessionLifecycle/request()``): refused once it ended.
    public var requestAction: SessionLifecycle.RequestAction { state.withLock { $0.lifecycle.request() } }

    /// Records `notifications/initialized` (ignored once the session has ended).
    /// - Returns: what changed.
    @discardableResult public func markInitialized() -> SessionLifecycle.InitializedAction {
        let (action, observer) = state.withLock { s in (s.lifecycle.initialized(), s.observer) }
        if action == .markedInitialized { observer?.sessionStateChanged(self) }
        return action
    }

    /// Restores what a shared store recorded about a session created elsewhere (another worker or machine):
    /// its phase, log level and subscriptions. A store calls it once, before the session becomes visible.
    /// - Parameters:
    ///   - initialized: whether the client had sent `notifications/initialized`.
    ///   - logLevel: the level of `logging/setLevel`, if any.
    ///   - subscriptions: the resource URIs the client subscribed to.
    public func restore(initialized: Bool, logLevel: LoggingLevel?, subscriptions: Set<String>) {
        state.withLock { s in
            if initialized { _ = s.lifecycle.initialized() }
            s.logLevel = logLevel
            s.subscriptions = subscriptions
        }
    }

    /// Moves the session to `ended(reason)`; only the first call returns ``SessionLifecycle/EndAction/cleanUp(_:)``,
    /// and only its caller cleans up. Called by ``MCPServer/end(_:reason:)`` alone.
    /// - Parameter reason: why it ends.
    func end(reason: SessionEndReason) -> SessionLifecycle.EndAction {
        state.withLock { $0.lifecycle.end(reason: reason) }
    }

    /// The minimum level of `notifications/message` the client asked for; nil until `logging/setLevel`.
    public var logLevel: LoggingLevel? {
        get { state.withLock { $0.logLevel } }
        set {
            let observer = state.withLock { s in
                s.logLevel = newValue
                return s.observer
            }
            observer?.sessionStateChanged(self)
        }
    }

    /// The resource URIs the client subscribed to.
    public var subscriptions: Set<String> { state.withLock { $0.subscriptions } }

    /// Adds or removes a resource subscription.
    /// - Parameters:
    ///   - uri: the resource.
    ///   - subscribed: add when true, remove when false.
    public func setSubscribed(_ uri: String, _ subscribed: Bool) {
        let (changed, observer) = state.withLock { s in
            let changed = subscribed ? s.subscriptions.insert(uri).inserted : s.subscriptions.remove(uri) != nil
            return (changed, s.observer)
        }
        if changed { observer?.sessionStateChanged(self) }
    }

    /// Adds a resource subscription unless the session holds `limit` subscriptions already (one it holds is
    /// always accepted again).
    /// - Parameters:
    ///   - uri: the resource.
    ///   - limit: the most subscriptions the session may hold.
    /// - Returns: false when the subscription would exceed `limit` (nothing is added).
    public func subscribe(_ uri: String, limit: Int) -> Bool {
        let (accepted, changed, observer) = state.withLock { s -> (Bool, Bool, (any SessionActivityObserver)?) in
            guard s.subscriptions.contains(uri) || s.subscriptions.count < limit else { return (false, false, nil) }
            return (true, s.subscriptions.insert(uri).inserted, s.observer)
        }
        if changed { observer?.sessionStateChanged(self) }
        return accepted
    }

    /// Tells `observer` (a session store) each time the session turns busy or idle, from now on; it is held
    /// weakly. A store sets it before the session becomes visible, so it sees every transition.
    /// - Parameter observer: the store that keeps the session's recency.
    public func setActivityObserver(_ observer: any SessionActivityObserver) {
        state.withLock { $0.observer = observer }
    }

    /// Marks the start of a request on this session (the session is busy, not idle).
    public func beginActivity() {
        state.withLock { s in
            s.inFlight += 1
            // Under the session's lock, so the observer sees transitions in the order they happen. An ended
            // session is out of its store: nothing to tell.
            if s.inFlight == 1, !s.lifecycle.isEnded { s.observer?.sessionBecameBusy(self) }
        }
    }

    /// Marks the end of a request; idle time is measured from here.
    /// - Parameter now: the current time on the store's clock.
    public func endActivity(now: Double) {
        state.withLock { s in
            s.inFlight = max(0, s.inFlight - 1)
            s.lastActivity = now
            if s.inFlight == 0, !s.lifecycle.isEnded { s.observer?.sessionBecameIdle(self, at: now) }
        }
    }

    /// The number of requests and streams in flight on this session.
    public var activityCount: Int { state.withLock { $0.inFlight } }

    /// Whether the session has had no activity for at least `seconds`: nothing in flight, and the last
    /// activity (or the creation) ended at least `seconds` ago. A busy session is never idle, even for 0.
    /// - Parameters:
    ///   - seconds: the inactivity threshold.
    ///   - now: the current time on the store's clock.
    public func isIdle(forAtLeast seconds: Double, now: Double) -> Bool {
        state.withLock { s in s.inFlight == 0 && now - s.lastActivity >= seconds }
    }

    /// Seconds since the last activity ended, or 0 while a request or stream is in flight.
    /// - Parameter now: the current time on the store's clock.
    public func idleTime(now: Double) -> Double {
        state.withLock { s in s.inFlight > 0 ? 0 : max(0, now - s.lastActivity) }
    }

    /// Whether the client declared a capability (`"sampling"`, `"elicitation"`, `"roots"`).
    public func clientSupports(_ capability: String) -> Bool {
        clientCapabilities[capability] != nil
    }
}
