import HTTPTypes
import Logging
import MCPHandlers
import MetricsTestKit
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

/// The transport's three ways of ending a session reach `mcpfcgi_sessions_ended_total` with their own reason:
/// DELETE → `deleted`, the idle sweep → `expired`, `POST /management/cleanup` → `cleaned_up`.
@Suite struct SessionEndMetricsTests {
    /// One `ping` tool, sessions on node w1 expiring after 60 s idle (swept only when a test asks), metrics into
    /// `metrics`, the management API on.
    static func meteredApp(
        _ metrics: TestMetrics, now: @escaping @Sendable () -> Double = MCPServer.monotonicSeconds
    ) -> MCPApplication {
        let server = MCPServer(
            configuration: .init(
                serverInfo: .init(name: "test", version: "1"), sessionStore: InMemorySessionStore(capacity: 100),
                sessionIDGenerator: SessionIDGenerator(nodeID: "w1"), now: now, metricsFactory: metrics))
        server.registerTool(Tool(name: "ping")) { _, _ in .text("pong") }
        return MCPApplication(
            server: server,
            configuration: .init(
                nodeID: "w1", endpoint: .inProcessTests,
                sessionExpiry: .init(idleTimeout: .seconds(60), interval: .seconds(3600)), managementToken: "s3cret"),
            logger: Logger(label: "test.session-end"))
    }

    @Test func deleteSweepAndCleanupAreCountedByReason() async throws {
        let metrics = TestMetrics()
        let clock = ManagementTestClock()
        let app = Self.meteredApp(metrics, now: { clock.now })
        func ended(_ reason: String) throws -> Int64 {
            try metrics.expectCounter("mcpfcgi_sessions_ended_total", [("reason", reason)]).totalValue
        }

        let deleted = try await openUserSession(app, user: nil)
        let expiring = try await openUserSession(app, user: nil)
        let active = try await openUserSession(app, user: nil)
        #expect(try metrics.expectCounter("mcpfcgi_sessions_created_total").totalValue == 3)

        let delete = await app.respond(to: userRequest(.delete, "/mcp", headers: [("Mcp-Session-Id", deleted)]))
        #expect(delete.head.status == .ok)
        #expect(try ended("deleted") == 1)

        // Two minutes later only `active` has been used: the sweep expires `expiring`.
        clock.advance(by: 120)
        #expect(await callTool(app, session: active).head.status == .ok)
        #expect(try await app.sweeper.sweep() == [expiring])
        #expect(try ended("expired") == 1)

        let cleanup = await app.respond(
            to: managementRequest(.post, "/management/cleanup", body: #"{"inactivityTimeoutMs":0}"#))
        #expect(cleanup.head.status == .ok)
        #expect(try ended("cleaned_up") == 1)
        #expect(try ended("deleted") == 1)
        #expect(try ended("expired") == 1)
        #expect(try await app.activeSessionCount == 0)
    }

    /// DELETE and the idle sweep racing for the same sessions, with requests on them meanwhile: each session
    /// ends once (one 200 or one sweep entry, one count), and every request either completes or gets 404.
    @Test func deleteRacingTheSweepEndsEachSessionOnce() async throws {
        let metrics = TestMetrics()
        let app = Self.meteredApp(metrics)
        var sessions: [String] = []
        for _ in 0..<40 { sessions.append(try await openUserSession(app, user: nil)) }

        enum Outcome: Sendable { case deleted(String, HTTPResponse.Status), swept([String]), called(HTTPResponse.Status) }
        let outcomes = await withTaskGroup(of: Outcome.self) { group in
            for session in sessions {
                group.addTask { .called(await callTool(app, session: session).head.status) }
                group.addTask {
                    let response = await app.respond(to: userRequest(.delete, "/mcp", headers: [("Mcp-Session-Id", session)]))
                    return .deleted(session, response.head.status)
                }
            }
            for _ in 0..<3 { group.addTask { .swept((try? await app.sweeper.sweep(idleFor: .zero)) ?? []) } }
            return await group.reduce(into: [Outcome]()) { $0.append($1) }
        }
        var deleted: [String] = []
        var swept: [String] = []
        for outcome in outcomes {
            switch outcome {
            case .deleted(let id, let status):
                #expect(status == .ok || status == .notFound)
                if status == .ok { deleted.append(id) }
            case .swept(let ids): swept += ids
            case .called(let status): #expect(status == .ok || status == .notFound)
            }
        }
        #expect(deleted.count + swept.count == sessions.count)
        #expect(Set(deleted + swept) == Set(sessions))
        let endedTotal = SessionEndReason.allCases.reduce(Int64(0)) { total, reason in
            let counter = try? metrics.expectCounter("mcpfcgi_sessions_ended_total", [("reason", reason.rawValue)])
            return total + (counter?.totalValue ?? 0)
        }
        #expect(endedTotal == Int64(sessions.count))
        #expect(try await app.activeSessionCount == 0)
        for session in sessions {
            #expect(await callTool(app, session: session).head.status == .notFound)
            #expect(app.endpoint.streams.existingStreams(for: session) == nil)
        }
    }
}
