import Synchronization

extension MCPServer {
    /// Serves one `subscriptions/listen` request until its stream ends (see
    /// ``handleStateless(_:headers:outbound:user:)``).
    func listen(_ request: JSONRPCRequest, outbound: any ServerOutbound) async -> StatelessOutcome {
        let id = request.id
        let filter: SubscriptionFilter
        do {
            filter = try SubscriptionFilter(request.params?["notifications"])
            for uri in filter.resourceSubscriptions {
                try configuration.identifierLimits.checkURI(uri, "A URI of \"notifications.resourceSubscriptions\"")
            }
        } catch {
            return StatelessOutcome(id: id, result: .failure(error))
        }
        let (stream, continuation) = AsyncStream.makeStream(
            of: JSONRPCNotification.self, bufferingPolicy: .bufferingNewest(1024))
        let closedByServer = Atomic<Bool>(false)
        // Registered before the acknowledgement, so nothing published meanwhile is lost; the
        // acknowledgement is still first because only this task writes to the stream.
        let registration = subscriptionHub.register(
            subscriptionID: id, filter: filter,
            deliver: { continuation.yield($0) },
            close: {
                closedByServer.store(true, ordering: .relaxed)
                continuation.finish()
            })
        let hub = subscriptionHub
        continuation.onTermination = { _ in hub.unregister(registration) }
        let acknowledged = JSONRPCNotification(
            method: "notifications/subscriptions/acknowledged", params: ["notifications": filter.value])
        await outbound.send(SubscriptionHub.stamp(acknowledged, subscriptionID: id))
        for await notification in stream {
            await outbound.send(notification)
        }
        hub.unregister(registration)
        if Task.isCancelled && !closedByServer.load(ordering: .relaxed) {
            return StatelessOutcome(id: id, result: .failure(.requestCancelled("listen stream closed")))
        }
        let result: Value = ["_meta": [StatelessRequestMeta.subscriptionIDKey: id.value]]
        return StatelessOutcome(id: id, result: .success(completeResult(result, method: request.method)))
    }
}
