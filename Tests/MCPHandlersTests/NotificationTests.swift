import Testing

@testable import MCPHandlers

@Suite struct NotificationTests {
    @Test func nothingIsSentBeforeTheSinkIsInstalled() async throws {
        let server = makeResourceServer()
        let session = try await initialize(server)
        session.setSubscribed("test://static-text", true)
        server.subscriptions.withLock { $0.add(uri: "test://static-text", sessionID: session.id) }
        #expect(await server.notifyResourceUpdated(uri: "test://static-text") == 0)
        server.registerTool(Tool(name: "late")) { _, _ in .text("") }  // must not crash without a sink
    }

    @Test func runtimeRegistrationsAnnounceListChanges() {
        let server = MCPServer(name: "t", version: "1")
        let sink = RecordingSink()
        sink.install(on: server)
        server.registerTool(Tool(name: "a")) { _, _ in .text("") }
        server.registerTool(name: "typed") { (_: [String: Int], _) in .text("") }
        #expect(server.removeTool(named: "a"))
        #expect(!server.removeTool(named: "a"))
        server.registerResource(uri: "x://1", name: "one") { uri, _ in [.text("", uri: uri)] }
        server.registerResourceTemplate(uriTemplate: "x://t/{id}", name: "t") { uri, _, _ in [.text("", uri: uri)] }
        #expect(server.removeResource(uri: "x://1"))
        #expect(server.removeResourceTemplate(uriTemplate: "x://t/{id}"))
        #expect(!server.removeResourceTemplate(uriTemplate: "x://t/{id}"))
        server.registerPrompt(name: "p") { _, _ in [] }
        #expect(server.removePrompt(named: "p"))
        #expect(!server.removePrompt(named: "p"))
        #expect(
            sink.methods == [
                "notifications/tools/list_changed", "notifications/tools/list_changed",
                "notifications/tools/list_changed",
                "notifications/resources/list_changed", "notifications/resources/list_changed",
                "notifications/resources/list_changed", "notifications/resources/list_changed",
                "notifications/prompts/list_changed", "notifications/prompts/list_changed",
            ])
        #expect(sink.all.allSatisfy { $0.sessionID == nil && $0.notification.params == nil })
        // Completion handlers do not change any list.
        sink.clear()
        server.registerCompletion(prompt: "p", argument: "a") { _, _ in .empty }
        #expect(sink.all.isEmpty)
    }

    @Test func updatedReachesExactlySubscribedSessions() async throws {
        let server = makeResourceServer()
        let sink = RecordingSink()
        sink.install(on: server)
        let a = try await initialize(server)
        let b = try await initialize(server)
        let c = try await initialize(server)
        for session in [a, b] {
            let ok = await call(server, "resources/subscribe", ["uri": "test://static-text"], session: session)
            #expect(ok == .success([:]))
        }
        _ = await call(server, "resources/subscribe", ["uri": "test://static-binary"], session: c)

        #expect(await server.notifyResourceUpdated(uri: "test://static-text") == 2)
        let expected = JSONRPCNotification(method: "notifications/resources/updated", params: ["uri": "test://static-text"])
        #expect(Set(sink.all.compactMap(\.sessionID)) == [a.id, b.id])
        #expect(sink.all.allSatisfy { $0.notification == expected })

        sink.clear()
        _ = await call(server, "resources/unsubscribe", ["uri": "test://static-text"], session: a)
        #expect(await server.notifyResourceUpdated(uri: "test://static-text") == 1)
        #expect(sink.all.map(\.sessionID) == [b.id])

        sink.clear()
        #expect(await server.notifyResourceUpdated(uri: "test://static-binary") == 1)
        #expect(sink.all.map(\.sessionID) == [c.id])
        #expect(await server.notifyResourceUpdated(uri: "test://nobody") == 0)
    }

    @Test func endedSessionsAreNotNotified() async throws {
        let server = makeResourceServer()
        let sink = RecordingSink()
        sink.install(on: server)
        let a = try await initialize(server)
        let b = try await initialize(server)
        for session in [a, b] {
            _ = await call(server, "resources/subscribe", ["uri": "test://static-text"], session: session)
        }
        try await server.sessions.remove(id: a.id)  // removed without telling the server: pruned on the next notify
        #expect(await server.notifyResourceUpdated(uri: "test://static-text") == 1)
        #expect(sink.all.map(\.sessionID) == [b.id])
        #expect(server.subscriptions.withLock { $0.sessions(subscribedTo: "test://static-text") } == [b.id])
        server.sessionEnded(b)
        #expect(server.subscriptions.withLock { $0.sessions(subscribedTo: "test://static-text") }.isEmpty)
        sink.clear()
        #expect(await server.notifyResourceUpdated(uri: "test://static-text") == 0)
        #expect(sink.all.isEmpty)
    }

    @Test func laterSinkReplacesEarlier() {
        let server = MCPServer(name: "t", version: "1")
        let first = RecordingSink()
        let second = RecordingSink()
        first.install(on: server)
        second.install(on: server)
        server.registerPrompt(name: "p") { _, _ in [] }
        #expect(first.all.isEmpty)
        #expect(second.methods == ["notifications/prompts/list_changed"])
    }
}
