import MCPFCGITesting
import MCPHandlers
import Testing

@testable import MCPStreamableHTTP

/// A session the server ended while its record is still in the store (`MCPServer.end` called directly, or an end
/// racing the lookup) is refused like one that is gone: 404, never served with every request cancelled.
@Suite struct EndedSessionTests {
    @Test func anEndedSessionStillInTheStoreIs404() async throws {
        let app = makeApp()
        let session = try await openSession(app)
        let record = try #require(try await app.endpoint.server.configuration.sessionStore.session(id: session))
        #expect(app.endpoint.server.end(record, reason: .cleanedUp))
        let response = await post(app, session: session, callBody("echo", arguments: #"{"text":"x"}"#))
        #expect(response.head.status == .notFound)
        #expect(try json(response)["error"]?["message"] == "Session not found")
        let stream = await app.respond(
            to: request(.get, "/mcp", headers: [("Accept", "text/event-stream"), ("Mcp-Session-Id", session)]))
        #expect(stream.head.status == .notFound)
    }
}
