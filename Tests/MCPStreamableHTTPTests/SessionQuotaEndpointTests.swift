import HTTPTypes
import Logging
import MCPHandlers
import Synchronization
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

/// Session quotas and eviction as a client sees them through `/mcp`, and the GET streams of one session.
@Suite struct SessionQuotaEndpointTests {
    final class Clock: Sendable {
        let seconds = Mutex(0.0)
        func advance(_ by: Double) { seconds.withLock { $0 += by } }
        var now: Double { seconds.withLock { $0 } }
    }

    func app(
        capacity: Int = 10_000, limits: SessionLimits, clock: Clock = Clock(),
        endpoint: MCPEndpoint.Configuration = .inProcessTests
    ) -> MCPApplication {
        let server = MCPServer(
            configuration: .init(
                serverInfo: .init(name: "test", version: "1"), sessionStore: InMemorySessionStore(capacity: capacity),
                sessionIDGenerator: SessionIDGenerator(nodeID: "t1"), sessionLimits: limits, now: { clock.now }))
        server.registerTool(Tool(name: "ping2")) { _, _ in .text("pong") }
        return MCPApplication(
            server: server, configuration: .init(endpoint: endpoint, sessionExpiry: .init(idleTimeout: nil)),
            logger: Logger(label: "test"))
    }

    /// `initialize` from an address (REMOTE_ADDR) and, optionally, a user nginx authenticated (REMOTE_USER).
    func initialize(_ app: MCPApplication, from address: String, user: String? = nil, body: String = initializeBody)
        async -> HTTPServerResponse
    {
        var request = request(.post, "/mcp", headers: jsonHeaders, body: body)
        request.remoteAddress = address
        request.remoteUser = user
        return await app.respond(to: request)
    }

    func sessionID(_ response: HTTPServerResponse) -> String? {
        response.head.headerFields[HTTPField.Name("Mcp-Session-Id")!]
    }

    func ping(_ app: MCPApplication, _ session: String, from address: String = "10.0.0.1", user: String? = nil)
        async -> HTTPServerResponse
    {
        var request = request(
            .post, "/mcp", headers: jsonHeaders + [("Mcp-Session-Id", session)],
            body: #"{"jsonrpc":"2.0","id":7,"method":"ping"}"#)
        request.remoteAddress = address
        request.remoteUser = user
        return await app.respond(to: request)
    }

    @Test func oneAddressFloodingGets429WhileAnotherAddressInitializes() async throws {
        let app = app(limits: SessionLimits(maxSessionsPerAddress: 3))
        for _ in 0..<3 { #expect(await initialize(app, from: "192.0.2.7").head.status == .ok) }
        let refused = await initialize(app, from: "192.0.2.7")
        #expect(refused.head.status == .tooManyRequests)
        #expect(refused.head.headerFields[.retryAfter] == "60")
        #expect(sessionID(refused) == nil)
        let body = try json(refused)
        #expect(body["id"] == 1)
        #expect(body["error"]?["code"] == .int(MCPError.Code.connectionClosed))
        #expect(body["error"]?["message"]?.stringValue?.contains("at most 3 may be live") == true)
        // Someone else is not locked out.
        let other = await initialize(app, from: "192.0.2.8")
        #expect(other.head.status == .ok && sessionID(other) != nil)
        #expect(try await app.endpoint.activeSessionCount == 4)
    }

    @Test func aDeletedSessionFreesItsPlaceInTheQuota() async throws {
        let app = app(limits: SessionLimits(maxSessionsPerAddress: 1))
        let first = try #require(sessionID(await initialize(app, from: "192.0.2.7")))
        #expect(await initialize(app, from: "192.0.2.7").head.status == .tooManyRequests)
        let deleted = await app.respond(to: request(.delete, "/mcp", headers: [("Mcp-Session-Id", first)]))
        #expect(deleted.head.status == .ok)
        #expect(await initialize(app, from: "192.0.2.7").head.status == .ok)
    }

    @Test func ipv6AddressesOfOneSlash64ShareAQuota() async throws {
        let app = app(limits: SessionLimits(maxSessionsPerAddress: 2))
        #expect(await initialize(app, from: "2001:db8:1:2::1").head.status == .ok)
        #expect(await initialize(app, from: "2001:db8:1:2:aaaa::9").head.status == .ok)
        #expect(await initialize(app, from: "2001:db8:1:2:ffff:1:2:3").head.status == .tooManyRequests)
        #expect(await initialize(app, from: "2001:db8:1:3::1").head.status == .ok)
        #expect(ClientAddress.quotaKey("2001:DB8:1:2::1") == "2001:db8:1:2::/64")
        #expect(ClientAddress.quotaKey("::ffff:192.0.2.1") == "192.0.2.1")
        #expect(ClientAddress.quotaKey("192.0.2.1") == "192.0.2.1")
        #expect(ClientAddress.quotaKey("") == nil)
    }

    @Test func perUserQuotaAppliesAcrossAddresses() async throws {
        let app = app(limits: SessionLimits(maxSessionsPerAddress: 100, maxSessionsPerUser: 2))
        #expect(await initialize(app, from: "192.0.2.1", user: "alice").head.status == .ok)
        #expect(await initialize(app, from: "192.0.2.2", user: "alice").head.status == .ok)
        let refused = await initialize(app, from: "192.0.2.3", user: "alice")
        #expect(refused.head.status == .tooManyRequests)
        #expect(refused.head.headerFields[.retryAfter] == "60")
        #expect(try json(refused)["error"]?["message"]?.stringValue?.contains("sessions for your user") == true)
        #expect(await initialize(app, from: "192.0.2.3", user: "bob").head.status == .ok)
    }

    @Test func fullStoreEvictsTheIdleLeastRecentlyUsedSessionWhoseClientGets404() async throws {
        let clock = Clock()
        let app = app(capacity: 2, limits: SessionLimits(minimumIdleBeforeEviction: .seconds(300)), clock: clock)
        let older = try #require(sessionID(await initialize(app, from: "192.0.2.1")))
        clock.advance(10)
        let newer = try #require(sessionID(await initialize(app, from: "192.0.2.2")))
        // Both are fresh: a flood of new sessions is refused with 503, nobody is evicted.
        clock.advance(100)
        let refused = await initialize(app, from: "192.0.2.3")
        #expect(refused.head.status == .serviceUnavailable)
        #expect(refused.head.headerFields[.retryAfter] == "5")
        #expect(await ping(app, older).head.status == .ok)
        #expect(await ping(app, newer).head.status == .ok)
        // older is used again later than newer: newer becomes the least recently used.
        clock.advance(200)
        #expect(await ping(app, older).head.status == .ok)
        clock.advance(150)
        let third = await initialize(app, from: "192.0.2.3")
        #expect(third.head.status == .ok)
        let evicted = await ping(app, newer)
        #expect(evicted.head.status == .notFound)
        #expect(await ping(app, older).head.status == .ok)
        // The evicted client initializes again and gets in (older has been idle 0 s: fresh, so 503 for now).
        #expect(await initialize(app, from: "192.0.2.2").head.status == .serviceUnavailable)
        clock.advance(400)
        #expect(await initialize(app, from: "192.0.2.2").head.status == .ok)
    }

    @Test func evictionClosesTheEvictedSessionsStreams() async throws {
        let clock = Clock()
        var endpoint = MCPEndpoint.Configuration.inProcessTests
        endpoint.maxStreamsPerSession = 4
        let app = app(
            capacity: 1, limits: SessionLimits(minimumIdleBeforeEviction: .seconds(60)), clock: clock, endpoint: endpoint)
        let old = try #require(sessionID(await initialize(app, from: "192.0.2.1")))
        // A GET stream, then its client goes away: the session is idle, its stream is remembered for resumption.
        let stream = try #require(await getStream(app, old).stream)
        stream.clientDisconnected()
        await stream.waitUntilFinished()
        #expect(app.endpoint.streams.existingStreams(for: old) != nil)
        clock.advance(61)
        #expect(await initialize(app, from: "192.0.2.2").head.status == .ok)
        #expect(app.endpoint.streams.existingStreams(for: old) == nil)
        #expect(await getStream(app, old).head.status == .notFound)
    }

    @Test func oversizedClientMetadataIsRefusedWith32602() async throws {
        let app = app(limits: SessionLimits(maxClientMetadataBytes: 256))
        let blob = String(repeating: "x", count: 300)
        let body =
            #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"\#(blob)","version":"1"}}}"#
        let refused = await initialize(app, from: "192.0.2.1", body: body)
        #expect(refused.head.status == .badRequest)
        #expect(try json(refused)["error"]?["code"] == .int(MCPError.Code.invalidParams))
        #expect(try await app.endpoint.activeSessionCount == 0)
        #expect(await initialize(app, from: "192.0.2.1").head.status == .ok)
    }

    func getStream(_ app: MCPApplication, _ session: String, lastEventID: String? = nil) async -> HTTPServerResponse {
        var headers = [("Accept", "text/event-stream"), ("Mcp-Session-Id", session)]
        if let lastEventID { headers.append(("Last-Event-ID", lastEventID)) }
        return await app.respond(to: request(.get, "/mcp", headers: headers))
    }

    @Test func getStreamsPerSessionAreBounded() async throws {
        var endpoint = MCPEndpoint.Configuration.inProcessTests
        endpoint.maxStreamsPerSession = 2
        let app = app(limits: SessionLimits(), endpoint: endpoint)
        let session = try #require(sessionID(await initialize(app, from: "192.0.2.1")))
        let first = try #require(await getStream(app, session).stream)
        let second = try #require(await getStream(app, session).stream)
        let third = await getStream(app, session)
        #expect(third.head.status == .tooManyRequests)
        #expect(third.stream == nil)
        #expect(try json(third)["error"]?["message"]?.stringValue?.contains("2 GET streams open") == true)
        // Another session has its own allowance.
        let other = try #require(sessionID(await initialize(app, from: "192.0.2.1")))
        #expect(await getStream(app, other).head.status == .ok)
        // A closed stream makes room.
        first.clientDisconnected()
        await first.waitUntilFinished()
        let replacement = try #require(await getStream(app, session).stream)
        #expect(await getStream(app, session).head.status == .tooManyRequests)
        // Resuming a stream that is still connected replaces its connection (no new stream): allowed at the limit.
        let resumed = await getStream(app, session, lastEventID: "2-0")
        #expect(resumed.head.status == .ok)
        await second.waitUntilFinished()
        replacement.finish()
        resumed.stream?.finish()
    }
}
