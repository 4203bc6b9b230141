/// The phase of one ``Session``, as a state machine: events change the state and return the action the
/// caller must take. It holds no lock and starts nothing; ``Session`` keeps it under its own lock.
///
/// ```text
///                 notifications/initialized
///   ┌─────────┐ ─────────────────────────────▶ ┌─────────────┐
///   │ created │                                │ initialized │
///   └─────────┘                                └─────────────┘
///        │ end(reason)                                │ end(reason)
///        │   → cleanUp(reason)                        │   → cleanUp(reason)
///        ▼                                            ▼
///   ┌──────────────────────────────────────────────────────────┐
///   │ ended(reason)   reason: deleted | expired | cleaned_up | │
///   │                         evicted                          │
///   └──────────────────────────────────────────────────────────┘
///     end(reason) again → alreadyEnded (no second clean-up, no second count)
///     a request        → refuse (answered as for an unknown session: 404)
/// ```
///
/// `created`: stored, `initialize` answered. `initialized`: the client sent `notifications/initialized`
/// (requests are served in both phases, as before). `ended`: out of the store; the first
/// ``end(reason:)`` returns ``EndAction/cleanUp(_:)`` and only that caller cancels the session's requests,
/// closes its streams, forgets its subscriptions and counts `mcpfcgi_sessions_ended_total{reason}`.
public struct SessionLifecycle: Sendable, Equatable {
    /// Where a session is in its life.
    public enum State: Sendable, Equatable {
        /// Stored and answered `initialize`; the client has not sent `notifications/initialized` yet.
        case created
        /// The client sent `notifications/initialized`.
        case initialized
        /// Ended (and out of the store) for `reason`; terminal.
        case ended(SessionEndReason)
    }

    /// What to do after `notifications/initialized`.
    public enum InitializedAction: Sendable, Equatable {
        /// The session is initialized from now on.
        case markedInitialized
        /// It was initialized already: nothing changes.
        case alreadyInitialized
        /// The session has ended: the notification is ignored.
        case ignoredBecauseEnded
    }

    /// What to do after ``SessionLifecycle/end(reason:)``.
    public enum EndAction: Sendable, Equatable {
        /// This call ended the session: run its clean-up once (cancel its requests, close its streams, forget
        /// its subscriptions, count the end for `reason`).
        case cleanUp(SessionEndReason)
        /// It had ended already (for the reason given): do nothing, the first caller cleans up.
        case alreadyEnded(SessionEndReason)
    }

    /// What to do with a request that names the session.
    public enum RequestAction: Sendable, Equatable {
        /// Serve it.
        case serve
        /// Refuse it as for an unknown session (404): the session has ended.
        case refuse
    }

    /// The current state.
    public private(set) var state: State

    /// A new session's lifecycle, in ``State/created``.
    public init() { state = .created }

    /// The client sent `notifications/initialized`: created → initialized.
    public mutating func initialized() -> InitializedAction {
        switch state {
        case .created:
            state = .initialized
            return .markedInitialized
        case .initialized:
            return .alreadyInitialized
        case .ended:
            return .ignoredBecauseEnded
        }
    }

    /// The session ends (DELETE, idle expiry, management cleanup or eviction): created or initialized →
    /// ended(reason). Only the first call returns ``EndAction/cleanUp(_:)``.
    /// - Parameter reason: why it ends.
    public mutating func end(reason: SessionEndReason) -> EndAction {
        switch state {
        case .created, .initialized:
            state = .ended(reason)
            return .cleanUp(reason)
        case .ended(let first):
            return .alreadyEnded(first)
        }
    }

    /// A request names the session: served unless it has ended. The state does not change.
    public func request() -> RequestAction {
        switch state {
        case .created, .initialized: .serve
        case .ended: .refuse
        }
    }

    /// Whether the session has ended.
    public var isEnded: Bool {
        if case .ended = state { return true }
        return false
    }
}
