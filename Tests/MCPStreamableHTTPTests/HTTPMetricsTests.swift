import HTTPTypes
import InMemoryTracing
import Logging
import MCPHandlers
import MetricsTestKit
import Testing
import MCPFCGITesting
import Tracing

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

/// An MCP server with the tools the metrics tests call.
func meteredServer() -> MCPServer {
    let server = MCPServer(
        configuration: .init(
            serverInfo: .init(name: "test", version: "1"), sessionStore: InMemorySessionStore(capacity: 100),
            sessionIDGenerator: SessionIDGenerator(nodeID: "t1")))
    server.registerTool(Tool(name: "log3")) { _, context in
        for i in 1...3 { await context.log(.info, .string("step \(i)")) }
        return .text("logged")
    }
    return server
}

/// An application whose HTTP layer records into `metrics`.
func meteredApp(_ metrics: TestMetrics) -> MCPApplication {
    MCPApplication(
        server: meteredServer(),
        configuration: .init(nodeID: "t1", endpoint: .inProcessTests, metricsFactory: metrics),
        logger: Logger(label: "test"))
}

/// The `mcpfcgi_http_requests_total` count of one label set.
func httpRequests(_ metrics: TestMetrics, route: String, method: String, statusClass: String) throws -> Int64 {
    try metrics.expectCounter(
        "mcpfcgi_http_requests_total", [("route", route), ("method", method), ("status_class", statusClass)]
    ).totalValue
}

@Suite struct HTTPMetricsTests {
    @Test func postToMCPIsCountedByRouteMethodAndStatusClass() async throws {
        let metrics = TestMetrics()
        let app = meteredApp(metrics)
        _ = try await openSession(app)
        #expect(try httpRequests(metrics, route: "/mcp", method: "POST", statusClass: "2xx") == 1)
        let durations = try metrics.expectTimer("mcpfcgi_http_request_duration_seconds", [("route", "/mcp")]).values
        #expect(durations.count == 1)
        #expect(durations.allSatisfy { $0 > 0 })
        // The label names are the same on every series (swift-prometheus requires it).
        #expect(metrics.counters(label: "mcpfcgi_http_requests_total").allSatisfy {
            $0.dimensions.map(\.0) == ["route", "method", "status_class"]
        })
    }

    @Test func peerRequestsAreNeitherCountedNorTraced() async throws {
        let metrics = TestMetrics()
        let app = meteredApp(metrics)
        let tracer = InMemoryTracer()
        var peer = request(.get, "/health")
        peer.isPeerRequest = true
        let response = await withTracer(tracer) { await app.respond(to: peer) }
        #expect(response.head.status == .ok)
        #expect(metrics.counters(label: "mcpfcgi_http_requests_total").isEmpty)
        #expect(tracer.finishedSpans.isEmpty)
        // The same request from a client is.
        _ = await withTracer(tracer) { await app.respond(to: request(.get, "/health")) }
        #expect(try httpRequests(metrics, route: "/health", method: "GET", statusClass: "2xx") == 1)
        #expect(tracer.finishedSpans.map(\.operationName) == ["GET /health"])
    }

    @Test func anUnmatchedPathIsCountedAsUnmatchedNeverByItsPath() async throws {
        let metrics = TestMetrics()
        let app = meteredApp(metrics)
        let response = await app.respond(to: request(.get, "/no/such/path-12345"))
        #expect(response.head.status == .notFound)
        #expect(try httpRequests(metrics, route: "unmatched", method: "GET", statusClass: "4xx") == 1)
        #expect(try metrics.expectTimer("mcpfcgi_http_request_duration_seconds", [("route", "unmatched")]).values.count == 1)
        let routes = metrics.counters(label: "mcpfcgi_http_requests_total").flatMap(\.dimensions).filter { $0.0 == "route" }
        #expect(routes.map(\.1) == ["unmatched"])
    }

    @Test func aMisdirectedRequestIsCounted() async throws {
        let metrics = TestMetrics()
        let app = meteredApp(metrics)
        let foreign = HTTPServerRequest(
            head: HTTPRequest(method: .get, scheme: "http", authority: "evil.example", path: "/health", headerFields: [:]))
        let response = await app.respond(to: foreign)
        #expect(response.head.status.code == 421)
        #expect(try httpRequests(metrics, route: "/health", method: "GET", statusClass: "4xx") == 1)
    }

    @Test func optionsAndOtherMethodsAreCounted() async throws {
        let metrics = TestMetrics()
        let app = meteredApp(metrics)
        let options = await app.respond(to: request(.options, "/mcp"))
        #expect(options.head.status == .noContent)
        #expect(try httpRequests(metrics, route: "/mcp", method: "OPTIONS", statusClass: "2xx") == 1)
        let propfind = await app.respond(to: request(HTTPRequest.Method("PROPFIND")!, "/health"))
        #expect(propfind.head.status == .methodNotAllowed)
        #expect(try httpRequests(metrics, route: "/health", method: "other", statusClass: "4xx") == 1)
    }

    @Test func mountsAndCustomRoutesAreCountedUnderTheirRegisteredPath() async throws {
        let metrics = TestMetrics()
        var app = meteredApp(metrics)
        try app.mount(meteredServer(), at: "/tenant-a/mcp")
        app.addRoute(.get, "/admin/", prefix: true) { _ in .error(.internalServerError, code: "boom", message: "Boom") }
        let initialized = await app.respond(
            to: request(.post, "/tenant-a/mcp", headers: jsonHeaders, body: initializeBody))
        #expect(initialized.head.status == .ok)
        #expect(try httpRequests(metrics, route: "/tenant-a/mcp", method: "POST", statusClass: "2xx") == 1)
        _ = await app.respond(to: request(.get, "/admin/users/42"))
        _ = await app.respond(to: request(.get, "/admin/other"))
        #expect(try httpRequests(metrics, route: "/admin/", method: "GET", statusClass: "5xx") == 2)
        #expect(try metrics.expectTimer("mcpfcgi_http_request_duration_seconds", [("route", "/admin/")]).values.count == 2)
    }

    @Test func oauthRoutesAreCountedUnderTheirPath() async throws {
        let metrics = TestMetrics()
        let app = MCPApplication(
            server: meteredServer(),
            configuration: .init(
                nodeID: "t1", endpoint: .inProcessTests, authorization: OAuthFixture().auth,
                metricsFactory: metrics),
            logger: Logger(label: "test"))
        let response = await app.respond(to: request(.get, "/.well-known/oauth-authorization-server"))
        #expect(response.head.status == .ok)
        #expect(
            try httpRequests(metrics, route: "/.well-known/oauth-authorization-server", method: "GET", statusClass: "2xx")
                == 1)
    }

    @Test func theEndpointGetsTheApplicationsFactory() async throws {
        let metrics = TestMetrics()
        let app = meteredApp(metrics)
        #expect(app.endpoint.configuration.metricsFactory as? TestMetrics === metrics)
    }
}

@Suite struct HTTPTracingTests {
    @Test func eachRequestIsAServerSpanNamedByMethodAndRoute() async throws {
        let tracer = InMemoryTracer()
        let app = meteredApp(TestMetrics())
        let incoming = request(.post, "/mcp", headers: jsonHeaders, body: initializeBody)
        let response = await withTracer(tracer) { await app.respond(to: incoming) }
        #expect(response.head.status == .ok)
        let span = try #require(tracer.finishedSpans.first { $0.operationName == "POST /mcp" })
        #expect(span.kind == .server)
        #expect(span.attributes.get("http.request.method") == .string("POST"))
        #expect(span.attributes.get("url.path") == .string("/mcp"))
        #expect(span.attributes.get("http.route") == .string("/mcp"))
        #expect(span.attributes.get("http.response.status_code") == .int64(200))
        #expect(span.attributes.get("http.request.id") == .string(incoming.requestID))
        #expect(span.status == nil)
        #expect(span.parentSpanID == nil)
    }

    @Test func unmatchedPathsAreNamedUnmatchedAndKeepTheirPathAsAnAttribute() async throws {
        let tracer = InMemoryTracer()
        let app = meteredApp(TestMetrics())
        _ = await withTracer(tracer) { await app.respond(to: request(.get, "/nope?x=1")) }
        let span = try #require(tracer.finishedSpans.first)
        #expect(span.operationName == "GET unmatched")
        #expect(span.attributes.get("http.route") == .string("unmatched"))
        #expect(span.attributes.get("url.path") == .string("/nope"))
        #expect(span.attributes.get("http.response.status_code") == .int64(404))
    }

    @Test func aServerErrorMarksTheSpan() async throws {
        let tracer = InMemoryTracer()
        var app = meteredApp(TestMetrics())
        app.addRoute(.get, "/fail") { _ in .error(.internalServerError, code: "boom", message: "Boom") }
        _ = await withTracer(tracer) { await app.respond(to: request(.get, "/fail")) }
        let span = try #require(tracer.finishedSpans.first)
        #expect(span.operationName == "GET /fail")
        #expect(span.status?.code == .error)
    }

    @Test func theParentIsTakenFromTheRequestHeadersAndHandlersRunInTheSpan() async throws {
        let tracer = InMemoryTracer()
        var app = meteredApp(TestMetrics())
        app.addRoute(.get, "/work") { _ in
            InstrumentationSystem.tracer.withSpan("inner") { _ in }
            return .json(.ok, [:])
        }
        let incoming = request(
            .get, "/work",
            headers: [("In-Memory-Trace-ID", "trace-from-nginx"), (InMemoryTracer.spanIDKey, "client-span")])
        _ = await withTracer(tracer) { await app.respond(to: incoming) }
        let http = try #require(tracer.finishedSpans.first { $0.operationName == "GET /work" })
        #expect(http.traceID == "trace-from-nginx")
        #expect(http.parentSpanID == "client-span")
        let inner = try #require(tracer.finishedSpans.first { $0.operationName == "inner" })
        #expect(inner.traceID == "trace-from-nginx")
        #expect(inner.parentSpanID == http.spanID)
    }
}
