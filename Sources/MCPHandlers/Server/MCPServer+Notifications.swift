/// Delivers a notification that no request caused: `sessionID` names the session it is for, nil means
/// every live session. Installed by the transport with ``MCPServer/setNotificationSink(_:)``.
public typealias NotificationSink = @Sendable (_ sessionID: String?, _ notification: JSONRPCNotification) -> Void

extension MCPServer {
    /// Installs where notifications that no request caused go: `notifications/…/list_changed` when a tool,
    /// resource, template or prompt is registered or removed (sessionID nil: every live session), and
    /// `notifications/resources/updated` (for each subscribed session).
    ///
    /// The transport installs it once, at start; until then such notifications are dropped. The sink is
    /// called synchronously on the thread that caused the notification and must not block: queue the
    /// notification on the session's stream and return.
    /// - Parameter sink: the delivery function; it replaces any earlier one.
    public func setNotificationSink(_ sink: @escaping NotificationSink) {
        notificationSink.withLock { $0 = sink }
    }

    /// Sends `notifications/resources/updated {uri}` to every live session subscribed to `uri`, and to every
    /// `subscriptions/listen` stream whose filter lists `uri` (see ``subscriptionHub``).
    /// - Parameter uri: the resource that changed.
    /// - Returns: how many sessions and listen streams it was sent to (sessions count 0 when no sink is
    ///   installed).
    @discardableResult public func notifyResourceUpdated(uri: String) async -> Int {
        let notification = JSONRPCNotification(
            method: "notifications/resources/updated", params: ["uri": .string(uri)])
        let listeners = subscriptionHub.publish(notification)
        let subscribers = subscriptions.withLock { $0.sessions(subscribedTo: uri) }
        guard !subscribers.isEmpty else { return listeners }
        var sent = listeners
        var stale: [String] = []
        for id in subscribers.sorted() {
            do {
                guard let session = try await sessions.session(id: id), session.subscriptions.contains(uri) else {
                    stale.append(id)
                    continue
                }
            } catch {
                // The store cannot say: the index stands, the notification goes out.
            }
            if emit(notification, to: id) { sent += 1 }
        }
        if !stale.isEmpty {
            subscriptions.withLock { index in for id in stale { index.remove(uri: uri, sessionID: id) } }
        }
        return sent
    }

    /// Sends `notifications/tools/list_changed` to every session and listen stream that opted in, for tool
    /// lists that change without ``registerTool(_:handler:)`` / ``removeTool(named:)`` (per-user lists, …).
    public func notifyToolListChanged() { listChanged("tools") }

    /// Sends `notifications/prompts/list_changed`; see ``notifyToolListChanged()``.
    public func notifyPromptListChanged() { listChanged("prompts") }

    /// Sends `notifications/resources/list_changed`; see ``notifyToolListChanged()``.
    public func notifyResourceListChanged() { listChanged("resources") }

    /// Hands a notification to the sink; false when none is installed.
    @discardableResult func emit(_ notification: JSONRPCNotification, to sessionID: String?) -> Bool {
        guard let sink = notificationSink.withLock({ $0 }) else { return false }
        sink(sessionID, notification)
        return true
    }

    /// Sends `notifications/<kind>/list_changed` to every session and to the listen streams that opted in.
    func listChanged(_ kind: String) {
        let notification = JSONRPCNotification(method: "notifications/\(kind)/list_changed")
        subscriptionHub.publish(notification)
        emit(notification, to: nil)
    }
}
