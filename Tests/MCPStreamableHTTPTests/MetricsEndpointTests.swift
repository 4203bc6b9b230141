import Foundation
import HTTPTypes
import Logging
import MCPHandlers
import Metrics
import Prometheus
import Synchronization
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

@Suite struct MetricsEndpointTests {
    static let token = "metrics-s3cret"

    /// An application whose metrics go to `registry` (never the global MetricsSystem), with `/metrics` on when
    /// `token` is set.
    static func makeApp(
        registry: PrometheusCollectorRegistry, token: String? = token, nodeID: String? = "w1", peers: [ManagementPeer] = [],
        logger: Logger = Logger(label: "test.metrics")
    ) -> MCPApplication {
        let factory = PrometheusMetricsFactory(registry: registry)
        let server = MCPServer(
            configuration: .init(
                serverInfo: .init(name: "test", version: "1"), sessionIDGenerator: SessionIDGenerator(nodeID: nodeID),
                metricsFactory: factory))
        server.registerTool(Tool(name: "ping")) { _, _ in .text("pong") }
        return MCPApplication(
            server: server,
            configuration: .init(
                nodeID: nodeID, endpoint: .inProcessTests, peers: peers, metricsFactory: factory,
                metrics: token.map { .init(token: $0, registry: registry, peerTimeout: .milliseconds(500)) }),
            logger: logger)
    }

    static func scrape(_ app: MCPApplication, token: String? = token, peer: Bool = false) async -> HTTPServerResponse {
        var headers: [(String, String)] = []
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        var r = userRequest(.get, "/metrics", headers: headers, remoteAddress: "198.51.100.9")
        r.isPeerRequest = peer
        return await app.respond(to: r)
    }

    static func text(_ response: HTTPServerResponse) -> String { String(decoding: response.body, as: UTF8.self) }

    /// The value of the sample written exactly as `series` (name and labels), if the page has it.
    static func value(_ page: String, _ series: String) -> Double? {
        for line in page.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    /// Checks the page is a valid exposition as Prometheus reads it: every `# TYPE` once, before its samples, and
    /// each family's samples contiguous. Returns the family of each TYPE line in order.
    static func checkStructure(_ page: String) -> [String] {
        var typed: [String] = []
        var current: String?
        var closed = Set<String>()
        for line in page.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let name = String(line.split(separator: " ")[2])
                #expect(!typed.contains(name), "TYPE \(name) twice")
                if let current { closed.insert(current) }
                typed.append(name)
                current = name
                continue
            }
            if line.hasPrefix("#") { continue }
            let name = String(line.prefix { $0 != "{" && $0 != " " })
            let family = typed.last { PrometheusExposition.sample(name, belongsTo: $0) }
            #expect(family != nil && family == current, "sample \(name) outside its family's block")
            #expect(!closed.contains(family ?? ""), "family \(family ?? "") split")
        }
        return typed
    }

    // MARK: Configuration and token

    @Test func offWithoutAConfigurationOrWithAnEmptyToken() async throws {
        for token in [nil, ""] as [String?] {
            let app = Self.makeApp(registry: PrometheusCollectorRegistry(), token: token)
            #expect(app.metricsEndpoint == nil)
            let response = await Self.scrape(app)
            #expect(response.head.status == .notFound)
        }
    }

    @Test(arguments: [
        nil, "Bearer wrong", "Bearer metrics-s3cre", "Bearer metrics-s3cret2", "Basic bWV0cmljcy1zM2NyZXQ=",
        "metrics-s3cret", "Bearer",
    ] as [String?])
    func refusesAMissingOrWrongToken(_ authorization: String?) async throws {
        let recorder = ManagementLogRecorder()
        let app = Self.makeApp(registry: PrometheusCollectorRegistry(), logger: recorder.logger)
        var headers: [(String, String)] = []
        if let authorization { headers.append(("Authorization", authorization)) }
        for peer in [false, true] {
            var r = userRequest(.get, "/metrics", headers: headers, remoteAddress: "198.51.100.4")
            r.isPeerRequest = peer
            let response = await app.respond(to: r)
            #expect(response.head.status == .unauthorized)
            #expect(response.head.headerFields[.wwwAuthenticate] == "Bearer")
            #expect(response.head.headerFields[.cacheControl] == "no-store")
            #expect(try json(response) == ["error": "unauthorized", "message": "Invalid or missing metrics token"])
        }
        let warnings = recorder.all.filter { $0.level == .warning && $0.message.contains("metrics request refused") }
        #expect(warnings.count == 2)
        #expect(warnings.allSatisfy { $0.metadata["http.remote.address"] == "198.51.100.4" })
    }

    @Test func answersThePageWithTheRightHeaders() async throws {
        let app = Self.makeApp(registry: PrometheusCollectorRegistry())
        let response = await Self.scrape(app)
        #expect(response.head.status == .ok)
        #expect(response.head.headerFields[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
        #expect(response.head.headerFields[.cacheControl] == "no-store")
        #expect(Self.value(Self.text(response), #"mcpfcgi_scrape_peer_up{worker="w1"}"#) == 1)
    }

    // MARK: Scrape-time gauges

    @Test func setsTheScrapeTimeGauges() async throws {
        let registry = PrometheusCollectorRegistry()
        var app = Self.makeApp(registry: registry)
        let tenant = MCPServer(configuration: .init(serverInfo: .init(name: "tenant", version: "1")))
        try app.mount(tenant, at: "/tenant-a/mcp")
        _ = try await openUserSession(app, user: nil)
        _ = try await openUserSession(app, user: nil)
        let tenantSession = await app.respond(
            to: userRequest(.post, "/tenant-a/mcp", headers: jsonHeaders, body: initializeBody))
        #expect(tenantSession.head.status == .ok)

        let before = Date().timeIntervalSince1970
        let page = Self.text(await Self.scrape(app))
        #expect(Self.value(page, #"mcpfcgi_sessions_active{worker="w1",endpoint="/mcp"}"#) == 2)
        #expect(Self.value(page, #"mcpfcgi_sessions_active{worker="w1",endpoint="/tenant-a/mcp"}"#) == 1)
        let resident = try #require(Self.value(page, #"process_resident_memory_bytes{worker="w1"}"#))
        #expect(resident > 1_000_000 && resident < 1e11)
        let started = try #require(Self.value(page, #"process_start_time_seconds{worker="w1"}"#))
        // This test process started before this test, and not days ago.
        #expect(started <= before && started > before - 86_400)
        #expect(page.contains("# TYPE mcpfcgi_sessions_active gauge\n"))

        // The count follows the sessions at every scrape.
        let second = try await openUserSession(app, user: nil)
        _ = await app.respond(
            to: userRequest(.delete, "/mcp", headers: [("Mcp-Session-Id", second)] + jsonHeaders))
        _ = try await openUserSession(app, user: nil)
        let later = Self.text(await Self.scrape(app))
        #expect(Self.value(later, #"mcpfcgi_sessions_active{worker="w1",endpoint="/mcp"}"#) == 3)
    }

    @Test func countsTheTrafficOfTheApplication() async throws {
        let registry = PrometheusCollectorRegistry()
        let app = Self.makeApp(registry: registry)
        let session = try await openUserSession(app, user: nil)
        #expect(await callTool(app, session: session).head.status == .ok)
        let page = Self.text(await Self.scrape(app))
        _ = Self.checkStructure(page)
        #expect(page.contains(#"worker="w1""#))
        // Every sample of the page carries the worker label.
        for line in page.split(separator: "\n") where !line.hasPrefix("#") {
            #expect(line.contains(#"{worker="w1""#), "\(line)")
        }
        // The traffic itself: initialize and the tool call, through the HTTP layer and the MCP server.
        #expect(
            Self.value(page, #"mcpfcgi_http_requests_total{worker="w1",route="/mcp",method="POST",status_class="2xx"}"#)
                == 2)
        #expect(Self.value(page, #"mcpfcgi_jsonrpc_requests_total{worker="w1",method="tools/call",outcome="result"}"#) == 1)
        #expect(Self.value(page, #"mcpfcgi_tool_calls_total{worker="w1",tool="ping",outcome="success"}"#) == 1)
        #expect(Self.value(page, #"mcpfcgi_sessions_created_total{worker="w1"}"#) == 1)
    }

    // MARK: Merging with peers

    /// A worker's `MetricsEndpoint` with its own registry holding a counter and a histogram.
    static func worker(_ node: String, requests: Int, peers: [ManagementPeer] = []) -> MetricsEndpoint {
        let registry = PrometheusCollectorRegistry()
        let factory = PrometheusMetricsFactory(registry: registry)
        let counter = Counter(label: "mcpfcgi_http_requests_total", dimensions: [("route", "/mcp")], factory: factory)
        counter.increment(by: requests)
        let timer = Metrics.Timer(label: "mcpfcgi_http_request_duration_seconds", dimensions: [("route", "/mcp")], factory: factory)
        timer.recordMilliseconds(3)
        Counter(label: "only_on_\(node)_total", factory: factory).increment()
        return MetricsEndpoint(
            configuration: .init(token: token, registry: registry), nodeID: node, peers: peers,
            logger: Logger(label: "test.metrics"))
    }

    /// How many requests a peer received.
    final class Asked: Sendable {
        let count = Mutex(0)
    }

    static func asPeer(_ endpoint: MetricsEndpoint, name: String, asked: Asked? = nil) -> ManagementPeer {
        ManagementPeer(name: name) { request, _ in
            asked?.count.withLock { $0 += 1 }
            #expect(request.isPeerRequest)
            #expect(request.head.headerFields[.authorization] == "Bearer \(token)")
            return await endpoint.respond(to: request)
        }
    }

    static func metricsRequest(peer: Bool = false) -> HTTPServerRequest {
        var r = request(.get, "/metrics", headers: [("Authorization", "Bearer \(token)")])
        r.isPeerRequest = peer
        return r
    }

    @Test func mergesTheWorkersIntoOneValidPage() async throws {
        let w2 = Self.worker("w2", requests: 5)
        let w3 = Self.worker("w3", requests: 7)
        let w1 = Self.worker(
            "w1", requests: 3, peers: [Self.asPeer(w2, name: "w2"), Self.asPeer(w3, name: "w3")])
        let response = await w1.respond(to: Self.metricsRequest())
        #expect(response.head.status == .ok)
        let page = Self.text(response)
        let families = Self.checkStructure(page)
        for family in ["mcpfcgi_http_requests_total", "mcpfcgi_http_request_duration_seconds", "mcpfcgi_scrape_peer_up"] {
            #expect(families.filter { $0 == family }.count == 1, "\(family)")
        }
        #expect(page.contains("# TYPE mcpfcgi_http_request_duration_seconds histogram\n"))
        for (node, count) in [("w1", 3.0), ("w2", 5), ("w3", 7)] {
            #expect(Self.value(page, #"mcpfcgi_http_requests_total{worker="\#(node)",route="/mcp"}"#) == count)
            #expect(
                Self.value(page, #"mcpfcgi_http_request_duration_seconds_count{worker="\#(node)",route="/mcp"}"#) == 1)
            #expect(Self.value(page, #"only_on_\#(node)_total{worker="\#(node)"}"#) == 1)
            #expect(Self.value(page, #"mcpfcgi_scrape_peer_up{worker="\#(node)"}"#) == 1)
        }
        // The histogram's buckets of each worker stay together under the one TYPE line.
        let buckets = page.split(separator: "\n").filter { $0.hasPrefix("mcpfcgi_http_request_duration_seconds_bucket") }
        #expect(buckets.count >= 6)
    }

    @Test func aPeerRequestIsAnsweredWithThisWorkersPartOnly() async throws {
        let asked = Asked()
        let w2 = Self.worker("w2", requests: 5)
        let w1 = Self.worker("w1", requests: 3, peers: [Self.asPeer(w2, name: "w2", asked: asked)])
        let page = Self.text(await w1.respond(to: Self.metricsRequest(peer: true)))
        #expect(asked.count.withLock { $0 } == 0)
        #expect(Self.value(page, #"mcpfcgi_http_requests_total{worker="w1",route="/mcp"}"#) == 3)
        #expect(!page.contains(#"worker="w2""#))
        #expect(!page.contains("mcpfcgi_scrape_peer_up"))
    }

    @Test func anUnreachablePeerIsReportedDownAndNeverFailsTheScrape() async throws {
        struct Refused: Error {}
        let w2 = Self.worker("w2", requests: 5)
        let w1 = Self.worker(
            "w1", requests: 3,
            peers: [
                ManagementPeer(name: "w3") { _, _ in throw Refused() },
                ManagementPeer(name: "w4") { _, _ in .error(.internalServerError, code: "x", message: "broken") },
                Self.asPeer(w2, name: "w2"),
            ])
        let response = await w1.respond(to: Self.metricsRequest())
        #expect(response.head.status == .ok)
        let page = Self.text(response)
        _ = Self.checkStructure(page)
        #expect(Self.value(page, #"mcpfcgi_scrape_peer_up{worker="w1"}"#) == 1)
        #expect(Self.value(page, #"mcpfcgi_scrape_peer_up{worker="w2"}"#) == 1)
        #expect(Self.value(page, #"mcpfcgi_scrape_peer_up{worker="w3"}"#) == 0)
        #expect(Self.value(page, #"mcpfcgi_scrape_peer_up{worker="w4"}"#) == 0)
        #expect(Self.value(page, #"mcpfcgi_http_requests_total{worker="w2",route="/mcp"}"#) == 5)
    }

    @Test func aPeerListThatNamesThisWorkerDoesNotCountItTwice() async throws {
        let w1Twin = Self.worker("w1", requests: 3)
        let w1 = Self.worker("w1", requests: 3, peers: [Self.asPeer(w1Twin, name: "w1-again")])
        let page = Self.text(await w1.respond(to: Self.metricsRequest()))
        let lines = page.split(separator: "\n").filter { $0.hasPrefix(#"mcpfcgi_http_requests_total{worker="w1""#) }
        #expect(lines.count == 1)
        // The twin's page is left out, and said: it did not count as reporting.
        #expect(Self.value(page, #"mcpfcgi_scrape_peer_up{worker="w1-again"}"#) == 0)
    }

    @Test func twoPeersWithOneNodeIDDoNotGiveDuplicateSeries() async throws {
        let first = Self.worker("w2", requests: 4)
        let second = Self.worker("w2", requests: 5)
        let w1 = Self.worker(
            "w1", requests: 3, peers: [Self.asPeer(first, name: "w2"), Self.asPeer(second, name: "w3")])
        let page = Self.text(await w1.respond(to: Self.metricsRequest()))
        _ = Self.checkStructure(page)
        #expect(Self.value(page, #"mcpfcgi_http_requests_total{worker="w2",route="/mcp"}"#) == 4)
        let lines = page.split(separator: "\n").filter { $0.hasPrefix(#"mcpfcgi_http_requests_total{worker="w2""#) }
        #expect(lines.count == 1)
        #expect(Self.value(page, #"mcpfcgi_scrape_peer_up{worker="w2"}"#) == 1)
        #expect(Self.value(page, #"mcpfcgi_scrape_peer_up{worker="w3"}"#) == 0)
    }

    // MARK: The exposition type

    @Test func parsesEscapedLabelsAndRenamesAnExistingWorkerLabel() throws {
        let text = """
            # HELP odd_total Odd \\\\ help
            # TYPE odd_total counter
            odd_total{path="a}b",quote="say \\"hi\\"",worker="theirs"} 2
            odd_total 1 1700000000000
            not a sample
            # TYPE lone gauge
            lone{} 4.5
            stray_metric{x="1"} 7

            """
        let page = PrometheusExposition(parsing: text, worker: "w\"1")
        let rendered = String(decoding: page.render(), as: UTF8.self)
        #expect(
            rendered == """
                # TYPE lone gauge
                lone{worker="w\\"1"} 4.5
                # HELP odd_total Odd \\\\ help
                # TYPE odd_total counter
                odd_total{worker="w\\"1",path="a}b",quote="say \\"hi\\"",exported_worker="theirs"} 2
                odd_total{worker="w\\"1"} 1 1700000000000
                stray_metric{worker="w\\"1",x="1"} 7

                """)
    }

    @Test func aFamilyWithAnotherTypeOnAPeerIsNotMixedIn() {
        var mine = PrometheusExposition(parsing: "# TYPE x counter\nx 1\n", worker: "w1")
        mine.merge(PrometheusExposition(parsing: "# TYPE x gauge\nx 2\n# TYPE y gauge\ny 3\n", worker: "w2"))
        let rendered = String(decoding: mine.render(), as: UTF8.self)
        #expect(rendered == "# TYPE x counter\nx{worker=\"w1\"} 1\n# TYPE y gauge\ny{worker=\"w2\"} 3\n")
    }

    @Test func readsThisProcessFromProc() throws {
        let resident = try #require(ProcessStatistics.residentMemoryBytes())
        #expect(resident > 0)
        let start = try #require(ProcessStatistics.startTime())
        #expect(start <= Date().timeIntervalSince1970)
    }
}
