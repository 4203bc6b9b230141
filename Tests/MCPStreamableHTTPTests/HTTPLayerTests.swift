import HTTPTypes
import Logging
import MCPHandlers
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

@Suite struct RoutingTests {
    @Test func health() async throws {
        let app = makeApp()
        let response = await app.respond(to: request(.get, "/health"))
        #expect(response.head.status == .ok)
        let body = try json(response)
        #expect(body["status"] == "healthy")
        #expect(body["node"] == "t1")
        let timestamp = body["timestamp"]?.stringValue ?? ""
        #expect(timestamp.count == 24 && timestamp.hasSuffix("Z") && timestamp.contains("T"))
        #expect(response.head.headerFields[.contentType] == "application/json")
    }

    @Test func headIsServedByGet() async {
        let response = await makeApp().respond(to: request(.head, "/health"))
        #expect(response.head.status == .ok)
        #expect(response.body.isEmpty)
    }

    @Test func unknownPathIs404JSON() async throws {
        let response = await makeApp().respond(to: request(.get, "/nope?x=1"))
        #expect(response.head.status == .notFound)
        #expect(try json(response)["error"] == "not_found")
    }

    @Test func wrongMethodIs405WithAllow() async throws {
        let app = makeApp()
        let onMCP = await app.respond(to: request(.put, "/mcp"))
        #expect(onMCP.head.status == .methodNotAllowed)
        #expect(onMCP.head.headerFields[.allow] == "DELETE, GET, POST")
        let onHealth = await app.respond(to: request(.post, "/health"))
        #expect(onHealth.head.status == .methodNotAllowed)
        #expect(onHealth.head.headerFields[.allow] == "GET")
        #expect(try json(onHealth)["error"] == "method_not_allowed")
    }

    @Test func securityHeaders() async {
        let plain = await makeApp().respond(to: request(.get, "/health"))
        #expect(plain.head.headerFields[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
        #expect(plain.head.headerFields[HTTPField.Name("X-Frame-Options")!] == "DENY")
        #expect(plain.head.headerFields[HTTPField.Name("Referrer-Policy")!] == "no-referrer")
        #expect(plain.head.headerFields[.strictTransportSecurity] == nil)
        let tls = await makeApp(publicURL: "https://mcp.example.com").respond(to: request(.get, "/health"))
        #expect(tls.head.headerFields[.strictTransportSecurity] == "max-age=31536000; includeSubDomains")
        var fields = HTTPFields()
        SecurityHeaders.none.apply(to: &fields, isHTTPS: true)
        #expect(fields.isEmpty)
    }

    @Test func routerBasics() async {
        var router = Router()
        router.add(.get, "/a") { _ in HTTPServerResponse(status: .ok) }
        struct Teapot: HTTPResponder {
            func respond(to request: HTTPServerRequest) async -> HTTPServerResponse {
                HTTPServerResponse(status: .init(code: 418))
            }
        }
        router.add(.post, "/a", responder: Teapot())
        #expect(router.hasRoute(at: "/a"))
        #expect(!router.hasRoute(at: "/b"))
        #expect(router.allowedMethods(at: "/a") == [.get, .post])
        #expect(router.allowedMethods(at: "/b") == [])
        #expect(await router.respond(to: request(.post, "/a")).head.status.code == 418)
    }

    @Test func requestPathAndQuery() {
        let r = request(.get, "/mcp?a=1&b=2")
        #expect(r.path == "/mcp")
        #expect(r.query == "a=1&b=2")
        #expect(request(.get, "/mcp").query == nil)
        #expect(HTTPServerRequest.makeRequestID().count == 12)
    }
}

@Suite struct MCPEndpointTests {
    @Test func initializeMintsASession() async throws {
        let app = makeApp()
        let response = await app.respond(to: request(.post, "/mcp", headers: jsonHeaders, body: initializeBody))
        #expect(response.head.status == .ok)
        let id = try #require(response.head.headerFields[HTTPField.Name("Mcp-Session-Id")!])
        #expect(id.hasPrefix("t1."))
        #expect(SessionIDGenerator.isValid(id))
        #expect(response.head.headerFields[.cacheControl] == "no-store")
        let body = try json(response)
        #expect(body["id"] == 1)
        #expect(body["result"]?["protocolVersion"] == "2025-11-25")
        #expect(body["result"]?["serverInfo"]?["name"] == "test")
        #expect(try await app.activeSessionCount == 1)
    }

    @Test func fullExchange() async throws {
        let app = makeApp()
        let session = try await openSession(app)
        var headers = jsonHeaders + [("Mcp-Session-Id", session), ("MCP-Protocol-Version", "2025-11-25")]
        let initialized = await app.respond(
            to: request(.post, "/mcp", headers: headers, body: #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#))
        #expect(initialized.head.status == .accepted)
        #expect(initialized.body.isEmpty)
        let ping = await app.respond(
            to: request(.post, "/mcp", headers: headers, body: #"{"jsonrpc":"2.0","id":"p","method":"ping"}"#))
        #expect(try json(ping) == ["jsonrpc": "2.0", "id": "p", "result": [:]])
        let list = await app.respond(
            to: request(.post, "/mcp", headers: headers, body: #"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#))
        #expect(try json(list)["result"]?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["echo", "slow", "log3", "ask", "reconnect", "forever"])
        headers.removeLast()  // a missing MCP-Protocol-Version is allowed (assumed 2025-03-26)
        let call = await app.respond(
            to: request(
                .post, "/mcp", headers: headers,
                body: #"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#))
        #expect(try json(call)["result"]?["content"] == [["type": "text", "text": "hi"]])
        let reply = await app.respond(
            to: request(.post, "/mcp", headers: headers, body: #"{"jsonrpc":"2.0","id":9,"result":{}}"#))
        #expect(reply.head.status == .accepted)
        let deleted = await app.respond(to: request(.delete, "/mcp", headers: [("Mcp-Session-Id", session)]))
        #expect(deleted.head.status == .ok)
        let after = await app.respond(
            to: request(.post, "/mcp", headers: headers, body: #"{"jsonrpc":"2.0","id":4,"method":"ping"}"#))
        #expect(after.head.status == .notFound)
        let again = await app.respond(to: request(.delete, "/mcp", headers: [("Mcp-Session-Id", session)]))
        #expect(again.head.status == .notFound)
        #expect(try await app.activeSessionCount == 0)
    }

    @Test(arguments: [
        ("{not json", 400, -32700),
        ("", 400, -32700),
        ("[]", 400, -32600),
        (#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#, 400, -32600),
        ("42", 400, -32600),
        (#"{"jsonrpc":"2.0","id":1}"#, 400, -32600),
        (#"{"jsonrpc":"1.0","id":1,"method":"initialize"}"#, 400, -32600),
    ])
    func malformedBodies(_ body: String, _ status: Int, _ code: Int) async throws {
        let response = await makeApp().respond(to: request(.post, "/mcp", headers: jsonHeaders, body: body))
        #expect(response.head.status.code == status)
        #expect(try json(response)["error"]?["code"] == .int(code))
    }

    @Test func errorsCarryTheRequestID() async throws {
        let app = makeApp()
        let session = try await openSession(app)
        let headers = jsonHeaders + [("Mcp-Session-Id", session)]
        let unknown = await app.respond(
            to: request(.post, "/mcp", headers: headers, body: #"{"jsonrpc":"2.0","id":5,"method":"nope"}"#))
        #expect(unknown.head.status == .ok)
        #expect(try json(unknown)["error"]?["code"] == -32601)
        #expect(try json(unknown)["id"] == 5)
        let badTool = await app.respond(
            to: request(
                .post, "/mcp", headers: headers,
                body: #"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"missing"}}"#))
        #expect(try json(badTool)["error"]?["code"] == -32602)
        let badArgs = await app.respond(
            to: request(
                .post, "/mcp", headers: headers,
                body: #"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{}}}"#))
        #expect(try json(badArgs)["error"]?["code"] == -32602)
        let badMethod = await app.respond(
            to: request(.post, "/mcp", headers: headers, body: #"{"jsonrpc":"2.0","id":8,"method":7}"#))
        #expect(badMethod.head.status == .badRequest)
        #expect(try json(badMethod)["id"] == 8)
    }

    @Test func sessionRules() async throws {
        let app = makeApp()
        let ping = #"{"jsonrpc":"2.0","id":1,"method":"ping"}"#
        let missing = await app.respond(to: request(.post, "/mcp", headers: jsonHeaders, body: ping))
        #expect(missing.head.status == .badRequest)
        let unknown = await app.respond(
            to: request(.post, "/mcp", headers: jsonHeaders + [("Mcp-Session-Id", "t1.nope")], body: ping))
        #expect(unknown.head.status == .notFound)
        let session = try await openSession(app)
        let badVersion = await app.respond(
            to: request(
                .post, "/mcp",
                headers: jsonHeaders + [("Mcp-Session-Id", session), ("MCP-Protocol-Version", "1999-01-01")],
                body: ping))
        #expect(badVersion.head.status == .badRequest)
        let deleteWithout = await app.respond(to: request(.delete, "/mcp"))
        #expect(deleteWithout.head.status == .badRequest)
    }

    @Test(arguments: [
        ([("Content-Type", "text/plain")], 415),
        ([], 415),
        ([("Content-Type", "application/json; charset=utf-8"), ("Accept", "text/html")], 406),
        ([("Content-Type", "application/json; charset=utf-8"), ("Accept", "application/json")], 200),
        ([("Content-Type", "Application/JSON"), ("Accept", "text/event-stream")], 200),
        ([("Content-Type", "application/json"), ("Accept", "*/*")], 200),
        ([("Content-Type", "application/json")], 200),
    ])
    func contentNegotiation(_ headers: [(String, String)], _ status: Int) async {
        let response = await makeApp().respond(to: request(.post, "/mcp", headers: headers, body: initializeBody))
        #expect(response.head.status.code == status)
    }

    @Test(arguments: [
        ("http://evil.example", 403),
        ("http://127.0.0.1.evil.example", 403),
        ("http://localhost:abc", 403),
        ("null", 403),
        ("https://mcp.example.com", 200),
        ("https://MCP.example.com/", 200),
        ("http://localhost:3000", 200),
        ("http://127.0.0.1", 200),
        ("http://[::1]:9", 200),
    ])
    func originCheck(_ origin: String, _ status: Int) async {
        let app = makeApp(publicURL: "https://mcp.example.com/base")
        let response = await app.respond(
            to: request(.post, "/mcp", headers: jsonHeaders + [("Origin", origin)], body: initializeBody))
        #expect(response.head.status.code == status)
        let delete = await app.respond(to: request(.delete, "/mcp", headers: [("Origin", origin)]))
        #expect(delete.head.status.code == (status == 403 ? 403 : 400))
    }

    @Test func fullStoreAnswers503() async throws {
        let app = makeApp(capacity: 1)
        _ = try await openSession(app)
        let response = await app.respond(to: request(.post, "/mcp", headers: jsonHeaders, body: initializeBody))
        #expect(response.head.status == .serviceUnavailable)
        #expect(response.head.headerFields[.retryAfter] == "5")
        #expect(try json(response)["id"] == 1)
    }

    @Test func originHelpers() {
        #expect(OriginPolicy.origin(ofURL: "https://Example.com:8443/mcp?x") == "https://example.com:8443")
        #expect(OriginPolicy.origin(ofURL: "nonsense") == "nonsense")
        #expect(!OriginPolicy(allowLoopback: false).allows("http://localhost"))
        #expect(OriginPolicy().allows(nil))
        #expect(!OriginPolicy.isLoopback("ftp://localhost"))
    }
}
