import Synchronization
import Testing

@testable import MCPHandlers

@Suite struct StatelessSubscriptionTests {
    /// Waits until `condition` holds (up to 2 s).
    private func eventually(_ condition: () -> Bool) async throws {
        for _ in 0..<200 {
            if condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    @Test func listenAcknowledgesThenRoutesMatchingNotifications() async throws {
        let server = Stateless.server()
        let outbound = ScriptedOutbound()
        let request = Stateless.request(
            "subscriptions/listen",
            ["notifications": ["toolsListChanged": true, "resourceSubscriptions": ["test://doc"]]], id: .string("sub-1"))
        let task = Task { await server.handleStateless(request, headers: nil, outbound: outbound, user: nil) }
        try await eventually { server.subscriptionHub.count == 1 && !outbound.notifications.isEmpty }
        server.registerTool(Tool(name: "new_tool")) { _, _ in .text("") }
        server.registerPrompt(name: "new_prompt") { _, _ in [] }  // not opted in
        await server.notifyResourceUpdated(uri: "test://other")  // not opted in
        await server.notifyResourceUpdated(uri: "test://doc")
        try await eventually { outbound.notifications.count == 3 }
        let sent = outbound.notifications
        #expect(sent.map(\.method) == [
            "notifications/subscriptions/acknowledged", "notifications/tools/list_changed",
            "notifications/resources/updated",
        ])
        #expect(sent[0].params?["notifications"] == ["toolsListChanged": true, "resourceSubscriptions": ["test://doc"]])
        for notification in sent {
            #expect(notification.params?["_meta"]?[StatelessRequestMeta.subscriptionIDKey] == "sub-1")
        }
        #expect(sent[2].params?["uri"] == "test://doc")
        task.cancel()
        let outcome = await task.value
        #expect(outcome.isCancelled)
        #expect(server.subscriptionHub.count == 0)
    }

    @Test func closeAllEndsStreamsWithAResult() async throws {
        let server = Stateless.server()
        let outbound = ScriptedOutbound()
        let task = Task {
            await server.handleStateless(
                Stateless.request("subscriptions/listen", ["notifications": ["promptsListChanged": true]], id: .number(7)),
                headers: nil, outbound: outbound, user: nil)
        }
        try await eventually { server.subscriptionHub.count == 1 }
        server.notifyPromptListChanged()
        try await eventually { outbound.notifications.count == 2 }
        server.subscriptionHub.closeAll()
        let outcome = await task.value
        let result = try Stateless.value(outcome)
        #expect(result["_meta"]?[StatelessRequestMeta.subscriptionIDKey] == 7)
        #expect(result["resultType"] == "complete")
        #expect(outbound.notifications.last?.method == "notifications/prompts/list_changed")
    }

    @Test func listenValidatesItsFilter() async {
        let server = Stateless.server()
        let outcome = await server.handleStateless(
            Stateless.request("subscriptions/listen", ["notifications": ["toolsListChanged": "yes"]]), headers: nil,
            user: nil)
        #expect(Stateless.error(outcome)?.code == MCPError.Code.invalidParams)
        #expect(MCPServer.statelessMethodNeedsStream("subscriptions/listen"))
    }

    @Test func hubStampsAndFilters() {
        let hub = SubscriptionHub()
        let got = Mutex<[JSONRPCNotification]>([])
        let registration = hub.register(
            subscriptionID: .number(3), filter: SubscriptionFilter(resourcesListChanged: true),
            deliver: { n in got.withLock { $0.append(n) } })
        #expect(hub.publish(JSONRPCNotification(method: "notifications/tools/list_changed")) == 0)
        #expect(hub.publish(JSONRPCNotification(method: "notifications/resources/list_changed")) == 1)
        hub.unregister(registration)
        #expect(hub.publish(JSONRPCNotification(method: "notifications/resources/list_changed")) == 0)
        #expect(got.withLock { $0.first?.params?["_meta"]?[StatelessRequestMeta.subscriptionIDKey] } == 3)
    }
}
