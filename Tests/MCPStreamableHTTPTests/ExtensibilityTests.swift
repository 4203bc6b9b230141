import Foundation
import HTTPTypes
import Logging
import MCPHandlers
import Synchronization
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

/// Records the order in which middleware ran.
final class Trace: Sendable {
    private let steps = Mutex<[String]>([])
    func add(_ step: String) { steps.withLock { $0.append(step) } }
    var all: [String] { steps.withLock { $0 } }
}

struct Tag: HTTPMiddleware {
    let name: String
    let trace: Trace
    func handle(_ request: HTTPServerRequest, next: HTTPMiddlewareNext) async throws -> HTTPServerResponse {
        trace.add(name)
        var response = await next(request)
        response.head.headerFields[HTTPField.Name("X-\(name)")!] = "1"
        return response
    }
}

func tenantServer(_ name: String) -> MCPServer {
    let server = MCPServer(
        configuration: .init(serverInfo: .init(name: name, version: "1"), sessionIDGenerator: SessionIDGenerator(nodeID: "t1")))
    server.registerTool(Tool(name: "whoami")) { _, context in .text("\(name):\(context.user ?? "anonymous")") }
    return server
}

@Suite struct MiddlewareTests {
    @Test func runInOrderAndCanAddHeaders() async {
        let trace = Trace()
        let app = MCPApplication(
            server: tenantServer("main"),
            configuration: .init(endpoint: .inProcessTests, middleware: [Tag(name: "First", trace: trace), Tag(name: "Second", trace: trace)]),
            logger: Logger(label: "t"))
        let response = await app.respond(to: request(.get, "/health"))
        #expect(response.head.status == .ok)
        #expect(trace.all == ["First", "Second"])
        #expect(response.head.headerFields[HTTPField.Name("X-First")!] == "1")
        #expect(response.head.headerFields[HTTPField.Name("X-Second")!] == "1")
        #expect(response.head.headerFields[HTTPField.Name("X-Frame-Options")!] == "DENY")
    }

    @Test func canShortCircuitWith429() async throws {
        let limiter = ClosureMiddleware { request, next in
            guard request.remoteAddress == "10.0.0.9" else { return await next(request) }
            var response = HTTPServerResponse.error(.tooManyRequests, code: "rate_limited", message: "Rate limit exceeded")
            response.head.headerFields[.retryAfter] = "1"
            return response
        }
        let app = MCPApplication(
            server: tenantServer("main"), configuration: .init(endpoint: .inProcessTests, middleware: [limiter]), logger: Logger(label: "t"))
        var limited = request(.post, "/mcp", headers: jsonHeaders, body: initializeBody)
        limited.remoteAddress = "10.0.0.9"
        let refused = await app.respond(to: limited)
        #expect(refused.head.status == .tooManyRequests)
        #expect(refused.head.headerFields[.retryAfter] == "1")
        #expect(try json(refused)["error"] == "rate_limited")
        #expect(try await app.activeSessionCount == 0)
        let allowed = await app.respond(to: request(.post, "/mcp", headers: jsonHeaders, body: initializeBody))
        #expect(allowed.head.status == .ok)
    }

    @Test func throwingMiddlewareIs500WithoutDetails() async throws {
        struct Secret: Error { let detail = "db password is hunter2" }
        let app = MCPApplication(
            server: tenantServer("main"),
            configuration: .init(endpoint: .inProcessTests, middleware: [ClosureMiddleware { _, _ in throw Secret() }]), logger: Logger(label: "t"))
        let response = await app.respond(to: request(.get, "/health"))
        #expect(response.head.status == .internalServerError)
        #expect(try json(response) == ["error": "internal_error", "message": "Internal server error"])
        #expect(!String(decoding: response.body, as: UTF8.self).contains("hunter2"))
    }
}

@Suite struct CustomRouteTests {
    @Test func exactAndPrefixRoutesWithTheirOwnMiddleware() async throws {
        let trace = Trace()
        var app = MCPApplication(
            server: tenantServer("main"), configuration: .init(endpoint: .inProcessTests), logger: Logger(label: "t"))
        app.addRoute(.get, "/metrics") { _ in HTTPServerResponse(status: .ok, body: Array("up 1\n".utf8)) }
        let adminOnly = ClosureMiddleware { request, next in
            trace.add("admin")
            guard request.head.headerFields[.authorization] == "Bearer admin" else {
                return .error(.forbidden, code: "forbidden", message: "Admin access required")
            }
            return await next(request)
        }
        app.addRoute(.get, "/admin/", prefix: true, middleware: [adminOnly]) { request in
            .json(.ok, ["path": .string(String(request.path))])
        }
        #expect(String(decoding: await app.respond(to: request(.get, "/metrics")).body, as: UTF8.self) == "up 1\n")
        #expect(await app.respond(to: request(.get, "/admin/users")).head.status == .forbidden)
        let ok = await app.respond(to: request(.get, "/admin/users?x=1", headers: [("Authorization", "Bearer admin")]))
        #expect(try json(ok)["path"] == "/admin/users")
        #expect(trace.all == ["admin", "admin"])
        #expect(await app.respond(to: request(.post, "/admin/users")).head.status == .methodNotAllowed)
        #expect(await app.respond(to: request(.get, "/adminx")).head.status == .notFound)
    }

    @Test func throwingRouteMiddlewareIs500() async {
        var app = MCPApplication(
            server: tenantServer("main"), configuration: .init(endpoint: .inProcessTests), logger: Logger(label: "t"))
        struct Boom: Error {}
        app.addRoute(.get, "/x", middleware: [ClosureMiddleware { _, _ in throw Boom() }]) { _ in
            HTTPServerResponse(status: .ok)
        }
        #expect(await app.respond(to: request(.get, "/x")).head.status == .internalServerError)
    }
}

@Suite struct MultiTenantTests {
    @Test func tenantsHaveSeparateServersAndSessions() async throws {
        var app = MCPApplication(
            server: tenantServer("main"), configuration: .init(endpoint: .inProcessTests), logger: Logger(label: "t"))
        let a = try app.mount(tenantServer("tenant-a"), at: "/tenant-a/mcp")
        try app.mount(tenantServer("tenant-b"), at: "/tenant-b/mcp")
        #expect(app.mountedEndpoints.keys.sorted() == ["/tenant-a/mcp", "/tenant-b/mcp"])
        let initA = await app.respond(to: request(.post, "/tenant-a/mcp", headers: jsonHeaders, body: initializeBody))
        #expect(try json(initA)["result"]?["serverInfo"]?["name"] == "tenant-a")
        let session = try #require(initA.head.headerFields[HTTPField.Name("Mcp-Session-Id")!])
        #expect(try await a.activeSessionCount == 1)
        #expect(try await app.activeSessionCount == 0)
        let call = #"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami"}}"#
        let onA = await app.respond(
            to: request(.post, "/tenant-a/mcp", headers: jsonHeaders + [("Mcp-Session-Id", session)], body: call))
        #expect(try json(onA)["result"]?["content"]?.arrayValue?.first?["text"] == "tenant-a:anonymous")
        let onB = await app.respond(
            to: request(.post, "/tenant-b/mcp", headers: jsonHeaders + [("Mcp-Session-Id", session)], body: call))
        #expect(onB.head.status == .notFound)
        let onMain = await app.respond(
            to: request(.post, "/mcp", headers: jsonHeaders + [("Mcp-Session-Id", session)], body: call))
        #expect(onMain.head.status == .notFound)
        #expect(await app.respond(to: request(.put, "/tenant-b/mcp")).head.headerFields[.allow] == "DELETE, GET, POST")
    }

    @Test func resolveUserIDBindsOrRefuses() async throws {
        var settings = MCPEndpoint.Configuration.inProcessTests
        settings.resolveUserID = { context in
            guard context.path.hasPrefix("/tenant-a/") else { return nil }
            guard let auth = context.headers[.authorization], auth.hasPrefix("Bearer a-") else { return nil }
            return String(auth.dropFirst("Bearer ".count))
        }
        var app = MCPApplication(
            server: tenantServer("main"), configuration: .init(endpoint: .inProcessTests), logger: Logger(label: "t"))
        try app.mount(tenantServer("tenant-a"), at: "/tenant-a/mcp", endpoint: settings)
        let refused = await app.respond(to: request(.post, "/tenant-a/mcp", headers: jsonHeaders, body: initializeBody))
        #expect(refused.head.status == .forbidden)
        let alice = [("Authorization", "Bearer a-alice")]
        let created = await app.respond(
            to: request(.post, "/tenant-a/mcp", headers: jsonHeaders + alice, body: initializeBody))
        let session = try #require(created.head.headerFields[HTTPField.Name("Mcp-Session-Id")!])
        let call = #"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami"}}"#
        let own = await app.respond(
            to: request(.post, "/tenant-a/mcp", headers: jsonHeaders + alice + [("Mcp-Session-Id", session)], body: call))
        #expect(try json(own)["result"]?["content"]?.arrayValue?.first?["text"] == "tenant-a:a-alice")
        let bob = await app.respond(
            to: request(
                .post, "/tenant-a/mcp",
                headers: jsonHeaders + [("Authorization", "Bearer a-bob"), ("Mcp-Session-Id", session)], body: call))
        #expect(bob.head.status == .forbidden)
        let get = await app.respond(
            to: request(.get, "/tenant-a/mcp", headers: [("Accept", "text/event-stream"), ("Mcp-Session-Id", session)]))
        #expect(get.head.status == .forbidden)
        let delete = await app.respond(to: request(.delete, "/tenant-a/mcp", headers: [("Mcp-Session-Id", session)]))
        #expect(delete.head.status == .forbidden)
    }

    @Test func resolveUserIDRunsOncePerRequest() async throws {
        let calls = Mutex(0)
        var settings = MCPEndpoint.Configuration.inProcessTests
        settings.resolveUserID = { _ in
            calls.withLock { $0 += 1 }
            return "alice"
        }
        var app = MCPApplication(
            server: tenantServer("main"), configuration: .init(endpoint: .inProcessTests), logger: Logger(label: "t"))
        try app.mount(tenantServer("tenant-a"), at: "/tenant-a/mcp", endpoint: settings)
        let created = await app.respond(to: request(.post, "/tenant-a/mcp", headers: jsonHeaders, body: initializeBody))
        let session = try #require(created.head.headerFields[HTTPField.Name("Mcp-Session-Id")!])
        #expect(calls.withLock { $0 } == 1)
        let call = #"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami"}}"#
        let answer = await app.respond(
            to: request(.post, "/tenant-a/mcp", headers: jsonHeaders + [("Mcp-Session-Id", session)], body: call))
        #expect(try json(answer)["result"]?["content"]?.arrayValue?.first?["text"] == "tenant-a:alice")
        #expect(calls.withLock { $0 } == 2)  // the refusal check and the owner check share one resolution
        let delete = await app.respond(to: request(.delete, "/tenant-a/mcp", headers: [("Mcp-Session-Id", session)]))
        #expect(delete.head.status == .ok)
        #expect(calls.withLock { $0 } == 3)
    }
}
