import Foundation
import HTTPTypes
import MCPHandlers
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

@Suite struct ManagementOwnershipTests {
    @Test func sessionsAreBoundToTheirUser() async throws {
        let app = makeManagedApp()
        let session = try await openUserSession(app, user: "alice")
        #expect(try await app.endpoint.server.sessions.session(id: session)?.owner == "alice")

        let own = await callTool(app, session: session, user: "alice")
        #expect(own.head.status == .ok)
        #expect(try json(own)["result"]?["content"]?.arrayValue?.first?["text"] == "pong")

        let other = await callTool(app, session: session, user: "bob", id: 9)
        #expect(other.head.status == .forbidden)
        #expect(other.head.headerFields[.cacheControl] == "no-store")
        let forbidden = try json(other)
        #expect(forbidden["jsonrpc"] == "2.0")
        #expect(forbidden["id"] == 9)
        #expect(forbidden["error"]?["code"] == .int(MCPError.Code.connectionClosed))

        let anonymous = await callTool(app, session: session, user: nil)
        #expect(anonymous.head.status == .unauthorized)
        #expect(try json(anonymous)["error"]?["code"] == .int(MCPError.Code.connectionClosed))
    }

    @Test func getAndDeleteCheckTheOwnerToo() async throws {
        let app = makeManagedApp()
        let session = try await openUserSession(app, user: "alice")
        let get = await app.respond(
            to: userRequest(
                .get, "/mcp", headers: [("Accept", "text/event-stream"), ("Mcp-Session-Id", session)], user: "bob"))
        #expect(get.head.status == .forbidden)
        #expect(get.stream == nil)

        let deleteByOther = await app.respond(
            to: userRequest(.delete, "/mcp", headers: [("Mcp-Session-Id", session)], user: "bob"))
        #expect(deleteByOther.head.status == .forbidden)
        let deleteAnonymous = await app.respond(to: request(.delete, "/mcp", headers: [("Mcp-Session-Id", session)]))
        #expect(deleteAnonymous.head.status == .unauthorized)
        #expect(try await app.activeSessionCount == 1)

        let deleteByOwner = await app.respond(
            to: userRequest(.delete, "/mcp", headers: [("Mcp-Session-Id", session)], user: "alice"))
        #expect(deleteByOwner.head.status == .ok)
        #expect(try await app.activeSessionCount == 0)
    }

    @Test func anonymousSessionsHaveNoOwner() async throws {
        let app = makeManagedApp()
        let session = try await openUserSession(app, user: nil)
        #expect(try await app.endpoint.server.sessions.session(id: session)?.owner == nil)
        #expect(await callTool(app, session: session, user: nil).head.status == .ok)
        #expect(await callTool(app, session: session, user: "bob").head.status == .ok)
    }

    @Test func unknownSessionIsStill404ForAnyUser() async throws {
        let app = makeManagedApp()
        #expect(await callTool(app, session: "w1.nope", user: "alice").head.status == .notFound)
    }

    @Test func customUserResolver() async throws {
        let user = HTTPField.Name("X-Test-User")!
        let app = makeManagedApp(endpoint: .init(resolveUser: { $0.head.headerFields[user] }))
        let initialize = await app.respond(
            to: request(.post, "/mcp", headers: jsonHeaders + [("X-Test-User", "carol")], body: initializeBody))
        let session = try #require(initialize.head.headerFields[.mcpSessionID])
        #expect(try await app.endpoint.server.sessions.session(id: session)?.owner == "carol")
        // remoteUser is ignored by this resolver.
        let asAlice = await callTool(app, session: session, user: "alice")
        #expect(asAlice.head.status == .unauthorized)
        let asCarol = await app.respond(
            to: request(
                .post, "/mcp",
                headers: jsonHeaders + [("Mcp-Session-Id", session), ("X-Test-User", "carol")],
                body: #"{"jsonrpc":"2.0","id":3,"method":"ping"}"#))
        #expect(asCarol.head.status == .ok)
    }

    @Test func batchesCheckTheOwner() async throws {
        let app = makeManagedApp()
        let initialize = await app.respond(
            to: userRequest(
                .post, "/mcp", headers: jsonHeaders,
                body: initializeBody.replacingOccurrences(of: "2025-11-25", with: "2025-03-26"),
                user: "alice"))
        let session = try #require(initialize.head.headerFields[.mcpSessionID])
        let batch = #"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#
        let byBob = await app.respond(
            to: userRequest(.post, "/mcp", headers: jsonHeaders + [("Mcp-Session-Id", session)], body: batch, user: "bob"))
        #expect(byBob.head.status == .forbidden)
        let byAlice = await app.respond(
            to: userRequest(
                .post, "/mcp", headers: jsonHeaders + [("Mcp-Session-Id", session)], body: batch, user: "alice"))
        #expect(byAlice.head.status == .ok)
    }
}
