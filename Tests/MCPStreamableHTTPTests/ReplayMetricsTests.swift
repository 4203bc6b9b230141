import Foundation
import Logging
import MCPHandlers
import MetricsTestKit
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

@Suite struct ReplayMetricsTests {
    @Test func eventsReplayedOnResumptionAreCounted() async throws {
        let metrics = TestMetrics()
        let app = meteredApp(metrics)
        let session = try await openSession(app)
        let original = try collect(await post(app, session: session, callBody("log3")))
        await original.waitForFinish()
        #expect(original.events.map(\.id) == ["1-0", "1-1", "1-2", "1-3", "1-4"])
        let replayed = try metrics.expectCounter("mcpfcgi_sse_replayed_events_total")
        #expect(replayed.totalValue == 0)
        let resumed = try collect(
            await app.respond(
                to: request(
                    .get, "/mcp",
                    headers: [("Accept", "text/event-stream"), ("Mcp-Session-Id", session), ("Last-Event-ID", "1-2")])))
        await resumed.waitForFinish()
        #expect(resumed.events.map(\.id) == ["1-2", "1-3", "1-4"])
        #expect(replayed.totalValue == 2)
    }
}
