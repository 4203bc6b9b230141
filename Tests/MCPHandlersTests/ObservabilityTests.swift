import InMemoryTracing
import MetricsTestKit
import Synchronization
import Testing
import Tracing

@testable import MCPHandlers

/// A server that records into `metrics`, with tools that succeed, fail, take time, or answer with a custom
/// JSON-RPC error.
private func observedServer(
    _ metrics: TestMetrics, store: any SessionStore = InMemorySessionStore(), limits: SessionLimits = SessionLimits(),
    now: @escaping @Sendable () -> Double = MCPServer.monotonicSeconds
) -> MCPServer {
    let server = MCPServer(
        configuration: .init(
            serverInfo: .init(name: "observed", version: "1"), sessionStore: store, sessionLimits: limits, now: now,
            metricsFactory: metrics))
    server.registerTool(
        Tool(name: "echo", inputSchema: ["type": "object", "properties": ["text": ["type": "string"]], "required": ["text"]])
    ) { args, _ in .text(args["text"]?.stringValue ?? "") }
    server.registerTool(Tool(name: "broken")) { _, _ in throw Boom() }
    server.registerTool(Tool(name: "slow")) { _, _ in
        try await Task.sleep(for: .milliseconds(20))
        return .text("done")
    }
    server.registerTool(Tool(name: "custom_code")) { _, _ in throw MCPError(code: -31999, message: "custom") }
    server.registerResource(uri: "test://fails", name: "fails") { _, _ in throw Boom() }
    return server
}

private func requests(_ metrics: TestMetrics, _ method: String, _ outcome: String) throws -> Int64 {
    try metrics.expectCounter("mcpfcgi_jsonrpc_requests_total", [("method", method), ("outcome", outcome)]).totalValue
}

private func toolCalls(_ metrics: TestMetrics, _ tool: String, _ outcome: String) throws -> Int64 {
    try metrics.expectCounter("mcpfcgi_tool_calls_total", [("tool", tool), ("outcome", outcome)]).totalValue
}

private struct Boom: Error {}

/// Every label value of every metric recorded so far.
private func labelValues(_ metrics: TestMetrics) -> Set<String> {
    Set(metrics.counters.flatMap { $0.dimensions.map(\.1) })
}

/// A store that cannot be reached.
private final class UnreachableStore: SessionStore {
    struct Down: Error {}
    func insert(_ session: Session) async throws -> Bool { throw Down() }
    func session(id: String) async throws -> Session? { throw Down() }
    func contains(id: String) async throws -> Bool { throw Down() }
    func remove(id: String) async throws -> Session? { throw Down() }
    var count: Int { get async throws { throw Down() } }
    func removeIdle(olderThan seconds: Double, now: Double) async throws -> [Session] { throw Down() }
}

@Suite struct ObservabilityMetricsTests {
    @Test func requestsAreCountedByMethodAndOutcome() async throws {
        let metrics = TestMetrics()
        let server = observedServer(metrics)
        let session = try await initialize(server)
        _ = await call(server, "ping", session: session)
        _ = await call(server, "ping", session: session)
        _ = await call(server, "tools/list", session: session)
        _ = await call(server, "secret/method-of-a-client", session: session)
        _ = await call(server, "another/unknown", session: session)
        _ = await call(server, "logging/setLevel", ["level": "loudest"], session: session)
        _ = await call(server, "resources/read", ["uri": "test://missing"], session: session)
        _ = await call(server, "resources/read", ["uri": "test://fails"], session: session)
        _ = await call(server, "initialize", session: session)
        _ = await call(server, "tools/call", ["name": "custom_code"], session: session)

        #expect(try requests(metrics, "initialize", "result") == 1)
        #expect(try requests(metrics, "ping", "result") == 2)
        #expect(try requests(metrics, "tools/list", "result") == 1)
        #expect(try requests(metrics, "other", "-32601") == 2)
        #expect(try requests(metrics, "logging/setLevel", "-32602") == 1)
        #expect(try requests(metrics, "resources/read", "-32002") == 1)
        #expect(try requests(metrics, "resources/read", "-32603") == 1)
        #expect(try requests(metrics, "initialize", "-32600") == 1)
        #expect(try requests(metrics, "tools/call", "other_error") == 1)
        #expect(metrics.counterTotal(label: "mcpfcgi_jsonrpc_requests_total") == 11)
        // The client's method names never become label values.
        #expect(!labelValues(metrics).contains { $0.contains("secret") || $0.contains("unknown/") })
    }

    @Test func toolCallsAreCountedByToolAndOutcomeWithDuration() async throws {
        let metrics = TestMetrics()
        let server = observedServer(metrics)
        _ = await call(server, "tools/call", ["name": "echo", "arguments": ["text": "hi"]])
        _ = await call(server, "tools/call", ["name": "echo", "arguments": ["text": "again"]])
        _ = await call(server, "tools/call", ["name": "echo", "arguments": ["text": 5]])
        _ = await call(server, "tools/call", ["name": "broken"])
        _ = await call(server, "tools/call", ["name": "slow"])
        _ = await call(server, "tools/call", ["name": "a-client-secret-tool"])
        _ = await call(server, "tools/call", [:])

        #expect(try toolCalls(metrics, "echo", "success") == 2)
        #expect(try toolCalls(metrics, "echo", "protocol_error") == 1)
        #expect(try toolCalls(metrics, "echo", "tool_error") == 0)
        #expect(try toolCalls(metrics, "broken", "tool_error") == 1)
        #expect(try toolCalls(metrics, "slow", "success") == 1)
        #expect(try toolCalls(metrics, "unknown", "protocol_error") == 2)
        #expect(metrics.counterTotal(label: "mcpfcgi_tool_calls_total") == 7)
        #expect(try requests(metrics, "tools/call", "result") == 4)
        #expect(try requests(metrics, "tools/call", "-32602") == 3)
        #expect(!labelValues(metrics).contains { $0.contains("secret") })

        let echo = try metrics.expectTimer("mcpfcgi_tool_call_duration_seconds", [("tool", "echo")])
        #expect(echo.values.count == 3)
        let slow = try metrics.expectTimer("mcpfcgi_tool_call_duration_seconds", [("tool", "slow")])
        #expect(slow.values.count == 1)
        #expect(try #require(slow.lastValue) >= 20_000_000)
        #expect(try metrics.expectTimer("mcpfcgi_tool_call_duration_seconds", [("tool", "unknown")]).values.count == 2)
    }

    @Test func cancelledToolCallsAreCountedAsCancelled() async throws {
        let metrics = TestMetrics()
        let server = observedServer(metrics)
        let tool = BlockingTool()
        tool.register(on: server)
        let session = try await initialize(server)
        let call = Task { await MCPHandlersTests.call(server, "tools/call", ["name": "wait"], session: session) }
        await eventually { tool.startedCount == 1 }
        #expect(server.cancelRequest(.number(1), sessionID: session.id))
        #expect(failure(await call.value)?.code == MCPError.Code.requestCancelled)
        #expect(try toolCalls(metrics, "wait", "cancelled") == 1)
        #expect(try requests(metrics, "tools/call", "-32800") == 1)
    }

    @Test func statelessRequestsAreCounted() async throws {
        let metrics = TestMetrics()
        let server = observedServer(metrics)
        func send(_ request: JSONRPCRequest) async { _ = await server.handleStateless(request, headers: nil, user: nil) }
        await send(Stateless.request("server/discover"))
        await send(Stateless.request("tools/call", ["name": "echo", "arguments": ["text": "hi"]]))
        await send(Stateless.request("tools/call", ["name": "broken"]))
        await send(Stateless.request("ping"))
        await send(Stateless.request("a/client/method"))
        await send(Stateless.request("tools/list", meta: Stateless.meta(version: "1999-01-01")))
        await send(JSONRPCRequest(id: .number(1), method: "tools/list", params: [:]))

        #expect(try requests(metrics, "server/discover", "result") == 1)
        #expect(try requests(metrics, "tools/call", "result") == 2)
        #expect(try toolCalls(metrics, "echo", "success") == 1)
        #expect(try toolCalls(metrics, "broken", "tool_error") == 1)
        #expect(try requests(metrics, "ping", "-32601") == 1)
        #expect(try requests(metrics, "other", "-32601") == 1)
        #expect(try requests(metrics, "tools/list", "-32022") == 1)
        #expect(try requests(metrics, "tools/list", "-32602") == 1)
        #expect(metrics.counterTotal(label: "mcpfcgi_jsonrpc_requests_total") == 7)
    }

    @Test func sessionsCreatedEndedAndEvictedAreCounted() async throws {
        let metrics = TestMetrics()
        let clock = Mutex(0.0)
        let server = observedServer(
            metrics, store: InMemorySessionStore(capacity: 2),
            limits: SessionLimits(minimumIdleBeforeEviction: .seconds(60)), now: { clock.withLock { $0 } })
        let first = try await initialize(server)
        clock.withLock { $0 = 1 }
        let second = try await initialize(server)
        #expect(try metrics.expectCounter("mcpfcgi_sessions_created_total").totalValue == 2)
        // Full, and nobody idle long enough: refused.
        await #expect(throws: MCPServer.SessionCreationError.capacityReached) { _ = try await initialize(server) }
        #expect(try metrics.expectCounter("mcpfcgi_session_refusals_total", [("reason", "store_full")]).totalValue == 1)
        #expect(try requests(metrics, "initialize", "-32603") == 1)
        // Later the least recently used one is evicted to make room.
        clock.withLock { $0 = 61 }
        let third = try await initialize(server)
        #expect(try await !server.sessions.contains(id: first.id))
        #expect(try metrics.expectCounter("mcpfcgi_sessions_ended_total", [("reason", "evicted")]).totalValue == 1)
        #expect(try metrics.expectCounter("mcpfcgi_sessions_created_total").totalValue == 3)

        for (session, reason) in [(second, SessionEndReason.expired), (third, .cleanedUp)] {
            _ = try await server.sessions.remove(id: session.id)
            server.sessionEnded(session, reason: reason)
        }
        let another = try await initialize(server)
        _ = try await server.sessions.remove(id: another.id)
        server.sessionEnded(another)
        for (reason, count) in [("evicted", 1), ("expired", 1), ("cleaned_up", 1), ("deleted", 1)] {
            #expect(try metrics.expectCounter("mcpfcgi_sessions_ended_total", [("reason", reason)]).totalValue == Int64(count))
        }
    }

    @Test func refusalsAreCountedByReason() async throws {
        let metrics = TestMetrics()
        let server = observedServer(metrics, limits: SessionLimits(maxSessionsPerAddress: 1, maxSessionsPerUser: 1))
        let request = JSONRPCRequest(id: .number(1), method: "initialize")
        _ = try await server.initialize(request, owner: "alice", clientAddress: "10.0.0.1")
        await #expect(throws: MCPServer.SessionCreationError.addressQuotaReached(limit: 1)) {
            _ = try await server.initialize(request, owner: "bob", clientAddress: "10.0.0.1")
        }
        await #expect(throws: MCPServer.SessionCreationError.userQuotaReached(limit: 1)) {
            _ = try await server.initialize(request, owner: "alice", clientAddress: "10.0.0.2")
        }
        let big = JSONRPCRequest(
            id: .number(1), method: "initialize",
            params: ["capabilities": ["blob": .string(String(repeating: "x", count: 20_000))]])
        await #expect(throws: MCPServer.SessionCreationError.clientMetadataTooLarge(limit: 16 * 1024)) {
            _ = try await server.initialize(big, owner: nil, clientAddress: nil)
        }
        let down = observedServer(metrics, store: UnreachableStore())
        await #expect(throws: MCPServer.SessionCreationError.self) { _ = try await initialize(down) }

        func refusals(_ reason: String) throws -> Int64 {
            try metrics.expectCounter("mcpfcgi_session_refusals_total", [("reason", reason)]).totalValue
        }
        #expect(try refusals("address_quota") == 1)
        #expect(try refusals("user_quota") == 1)
        #expect(try refusals("store_unavailable") == 1)
        #expect(try refusals("store_full") == 0)
        #expect(try requests(metrics, "initialize", "-32000") == 2)
        #expect(try requests(metrics, "initialize", "-32602") == 1)
        #expect(try requests(metrics, "initialize", "-32603") == 1)
        #expect(try metrics.expectCounter("mcpfcgi_sessions_created_total").totalValue == 1)
    }
}

private func string(_ span: FinishedInMemorySpan, _ key: String) -> String? {
    guard case .string(let value)? = span.attributes[key]?.toSpanAttribute() else { return nil }
    return value
}

@Suite struct ObservabilityTracingTests {
    @Test func requestsRunInServerSpansWithAttributes() async throws {
        let tracer = InMemoryTracer()
        let server = observedServer(TestMetrics())
        try await withTracer(tracer) {
            let session = try await initialize(server)
            _ = await call(server, "ping", session: session, id: .string("req-7"))
            _ = await call(server, "tools/call", ["name": "echo", "arguments": ["text": "hi"]], session: session)
            _ = await call(server, "tools/call", ["name": "broken"], session: session)
            _ = await call(server, "tools/call", ["name": "a-secret-tool"], session: session)
            _ = await call(server, "nope/never", session: session)
        }
        let spans = tracer.finishedSpans
        #expect(spans.map(\.operationName) == [
            "initialize", "ping", "tools/call echo", "tools/call broken", "tools/call", "other",
        ])
        #expect(spans.allSatisfy { $0.kind == .server })
        #expect(string(spans[1], "mcp.method.name") == "ping")
        #expect(string(spans[1], "jsonrpc.request.id") == "req-7")
        #expect(spans[1].status == nil && string(spans[1], "error.type") == nil)
        #expect(string(spans[2], "gen_ai.tool.name") == "echo")
        #expect(string(spans[2], "jsonrpc.request.id") == "1")
        // A tool whose result has isError.
        #expect(string(spans[3], "error.type") == "tool_error")
        #expect(spans[3].status?.code == .error)
        // An unknown tool: no tool name, the JSON-RPC code as error.type.
        #expect(string(spans[4], "gen_ai.tool.name") == nil)
        #expect(string(spans[4], "error.type") == "-32602")
        #expect(spans[4].status?.code == .error)
        #expect(string(spans[5], "mcp.method.name") == "nope/never")
        #expect(string(spans[5], "error.type") == "-32601")
    }

    @Test func statelessRequestsAndRefusedInitializeHaveSpans() async throws {
        let tracer = InMemoryTracer()
        let server = observedServer(TestMetrics(), store: UnreachableStore())
        await withTracer(tracer) {
            _ = await server.handleStateless(
                Stateless.request("tools/call", ["name": "echo", "arguments": ["text": "hi"]]), headers: nil, user: nil)
            _ = await server.handleStateless(Stateless.request("server/discover"), headers: nil, user: nil)
            _ = try? await initialize(server)
        }
        let spans = tracer.finishedSpans
        #expect(spans.map(\.operationName) == ["tools/call echo", "server/discover", "initialize"])
        #expect(string(spans[0], "gen_ai.tool.name") == "echo")
        #expect(spans[0].status == nil)
        #expect(string(spans[2], "error.type") == "-32603")
        #expect(spans[2].status?.code == .error)
    }

    @Test func theCurrentSpanIsTheParent() async throws {
        let tracer = InMemoryTracer()
        let server = observedServer(TestMetrics())
        await withTracer(tracer) {
            await withSpan("POST /mcp", ofKind: .server) { _ in
                _ = await call(server, "tools/list")
            }
        }
        let spans = tracer.finishedSpans
        let http = try #require(spans.first { $0.operationName == "POST /mcp" })
        let rpc = try #require(spans.first { $0.operationName == "tools/list" })
        #expect(rpc.parentSpanID == http.spanID)
        #expect(rpc.traceID == http.traceID)
        #expect(tracer.performedContextExtractions.isEmpty)
    }

    @Test func traceContextInMetaIsTheParent() async throws {
        let tracer = InMemoryTracer()
        let server = observedServer(TestMetrics())
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let meta: Value = [
            "traceparent": .string(traceparent), "tracestate": "vendor=1",
            InMemoryTracer.traceIDKey: "client-trace", InMemoryTracer.spanIDKey: "client-span",
        ]
        await withTracer(tracer) {
            await withSpan("POST /mcp", ofKind: .server) { _ in
                _ = await call(server, "tools/call", ["name": "echo", "arguments": ["text": "hi"], "_meta": meta])
                var stateless = Stateless.meta().objectValue ?? [:]
                for (key, value) in meta.objectValue ?? [:] { stateless[key] = value }
                _ = await server.handleStateless(
                    Stateless.request("tools/list", meta: .object(stateless)), headers: nil, user: nil)
            }
        }
        let spans = tracer.finishedSpans.filter { $0.operationName != "POST /mcp" }
        #expect(spans.map(\.operationName) == ["tools/call echo", "tools/list"])
        for span in spans {
            #expect(span.traceID == "client-trace")
            #expect(span.parentSpanID == "client-span")
        }
        // The W3C fields reached the instrument's extractor.
        let extractions = tracer.performedContextExtractions
        #expect(extractions.count == 2)
        for extraction in extractions {
            let carrier = try #require(extraction.carrier as? [String: Value])
            #expect(MetaExtractor().extract(key: "traceparent", from: carrier) == traceparent)
            #expect(MetaExtractor().extract(key: "tracestate", from: carrier) == "vendor=1")
        }
    }

    @Test func metaWithoutTraceparentKeepsTheCurrentParent() async throws {
        let tracer = InMemoryTracer()
        let server = observedServer(TestMetrics())
        let meta: Value = ["progressToken": 1]
        await withTracer(tracer) {
            await withSpan("POST /mcp", ofKind: .server) { _ in
                _ = await call(server, "tools/call", ["name": "echo", "arguments": ["text": "hi"], "_meta": meta])
            }
        }
        let http = try #require(tracer.finishedSpans.first { $0.operationName == "POST /mcp" })
        let rpc = try #require(tracer.finishedSpans.first { $0.operationName == "tools/call echo" })
        #expect(rpc.parentSpanID == http.spanID)
        #expect(tracer.performedContextExtractions.isEmpty)
    }
}
