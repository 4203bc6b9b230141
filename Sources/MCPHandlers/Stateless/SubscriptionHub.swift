import Synchronization

/// The open `subscriptions/listen` streams of this process, and the fan-out of change notifications to them.
///
/// ``MCPServer`` owns one (``MCPServer/subscriptionHub``) and publishes every `notifications/…/list_changed`
/// and `notifications/resources/updated` to it; ``MCPServer/handleStateless(_:headers:outbound:user:)``
/// registers a listener for each `subscriptions/listen` request. Each delivered notification carries the
/// listen request's id in `params._meta["io.modelcontextprotocol/subscriptionId"]`, and only the kinds the
/// listener's ``SubscriptionFilter`` admits reach it.
///
/// Multi-worker deployments: a hub only sees its own process's changes; publish changes made elsewhere
/// with ``publish(_:)`` (for example from a pub/sub subscriber).
public final class SubscriptionHub: Sendable {
    /// A registered listener, for ``unregister(_:)``.
    public struct Registration: Sendable, Hashable {
        let serial: UInt64
        /// The listen request's id: the subscription id.
        public let subscriptionID: RequestID
    }

    private struct Listener {
        var subscriptionID: RequestID
        var filter: SubscriptionFilter
        var deliver: @Sendable (JSONRPCNotification) -> Void
        var close: @Sendable () -> Void
    }

    private struct State {
        var next: UInt64 = 0
        var listeners: [UInt64: Listener] = [:]
    }

    private let state = Mutex(State())

    /// Creates an empty hub.
    public init() {}

    /// Registers a listener.
    /// - Parameters:
    ///   - subscriptionID: the `subscriptions/listen` request's id.
    ///   - filter: what it opted in to.
    ///   - deliver: called with each admitted notification, already stamped with the subscription id; it is
    ///     called on the publishing thread and must not block.
    ///   - close: called by ``closeAll()`` to end the stream gracefully.
    /// - Returns: the registration, for ``unregister(_:)``.
    public func register(
        subscriptionID: RequestID, filter: SubscriptionFilter,
        deliver: @escaping @Sendable (JSONRPCNotification) -> Void, close: @escaping @Sendable () -> Void = {}
    ) -> Registration {
        state.withLock { state in
            state.next += 1
            state.listeners[state.next] = Listener(
                subscriptionID: subscriptionID, filter: filter, deliver: deliver, close: close)
            return Registration(serial: state.next, subscriptionID: subscriptionID)
        }
    }

    /// Removes a listener; removing it twice does nothing.
    /// - Parameter registration: what ``register(subscriptionID:filter:deliver:close:)`` returned.
    public func unregister(_ registration: Registration) {
        _ = state.withLock { $0.listeners.removeValue(forKey: registration.serial) }
    }

    /// Delivers a change notification to every listener whose filter admits it.
    /// - Parameter notification: `notifications/tools|prompts|resources/list_changed` or
    ///   `notifications/resources/updated {uri}`.
    /// - Returns: how many listeners it was delivered to.
    @discardableResult public func publish(_ notification: JSONRPCNotification) -> Int {
        let targets = state.withLock { state in
            state.listeners.sorted { $0.key < $1.key }.map(\.value).filter { $0.filter.admits(notification) }
        }
        for target in targets { target.deliver(Self.stamp(notification, subscriptionID: target.subscriptionID)) }
        return targets.count
    }

    /// Ends every open stream gracefully (at shutdown): each listen request then answers its result.
    public func closeAll() {
        let listeners = state.withLock { state in
            defer { state.listeners.removeAll() }
            return Array(state.listeners.values)
        }
        for listener in listeners { listener.close() }
    }

    /// The number of open listeners.
    public var count: Int { state.withLock { $0.listeners.count } }

    /// `notification` with `params._meta["io.modelcontextprotocol/subscriptionId"]` set.
    /// - Parameters:
    ///   - notification: the notification.
    ///   - subscriptionID: the subscription's id.
    public static func stamp(_ notification: JSONRPCNotification, subscriptionID: RequestID) -> JSONRPCNotification {
        var params = notification.params?.objectValue ?? [:]
        var meta = params["_meta"]?.objectValue ?? [:]
        meta[StatelessRequestMeta.subscriptionIDKey] = subscriptionID.value
        params["_meta"] = .object(meta)
        return JSONRPCNotification(method: notification.method, params: .object(params))
    }
}
