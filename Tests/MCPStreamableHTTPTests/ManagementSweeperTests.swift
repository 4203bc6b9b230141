import Foundation
import HTTPTypes
import MCPHandlers
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

@Suite struct ManagementSweeperTests {
    @Test func idleSessionsExpireBusyAndStreamingOnesStay() async throws {
        let clock = ManagementTestClock()
        let gate = ManagementTestGate()
        let app = makeManagedApp(clock: clock, gate: gate)
        let idle = try await openUserSession(app, user: nil)
        let busy = try await openUserSession(app, user: nil)
        let streaming = try await openUserSession(app, user: nil)
        let store = app.endpoint.server.sessions

        // busy: a tool call in flight; streaming: an open GET stream.
        let call = Task { await callTool(app, session: busy, tool: "wait") }
        try await eventually { try await store.session(id: busy)?.activityCount == 1 }
        let get = await app.respond(
            to: request(.get, "/mcp", headers: [("Accept", "text/event-stream"), ("Mcp-Session-Id", streaming)]))
        #expect(get.head.status == .ok)
        let stream = try #require(get.stream)
        #expect(try await store.session(id: streaming)?.activityCount == 1)

        clock.advance(by: 29 * 60)
        #expect(try await app.sweeper.sweep().isEmpty)
        clock.advance(by: 2 * 60)
        #expect(try await app.sweeper.sweep() == [idle])
        #expect(try await app.activeSessionCount == 2)
        let gone = await callTool(app, session: idle)
        #expect(gone.head.status == .notFound)

        // Activity is measured from the end of the last request: the busy session now has 30 more minutes.
        gate.release()
        #expect(await call.value.head.status == .ok)
        clock.advance(by: 29 * 60)
        #expect(try await app.sweeper.sweep().isEmpty)
        clock.advance(by: 60)
        #expect(try await app.sweeper.sweep() == [busy])

        // The stream keeps its session alive until the client goes away; expiry then forgets its streams.
        #expect(app.endpoint.streams.existingStreams(for: streaming) != nil)
        clock.advance(by: 3600)
        #expect(try await app.sweeper.sweep().isEmpty)
        stream.clientDisconnected()
        clock.advance(by: 30 * 60)
        #expect(try await app.sweeper.sweep() == [streaming])
        #expect(app.endpoint.streams.existingStreams(for: streaming) == nil)
        #expect(try await app.activeSessionCount == 0)
    }

    @Test func expiryClosesTheSessionsStreams() async throws {
        let clock = ManagementTestClock()
        let app = makeManagedApp(clock: clock)
        let session = try await openUserSession(app, user: nil)
        // A stream the session no longer uses (its client is gone) but that is still remembered for resumption.
        let get = await app.respond(
            to: request(.get, "/mcp", headers: [("Accept", "text/event-stream"), ("Mcp-Session-Id", session)]))
        let stream = try #require(get.stream)
        let remembered = try #require(app.endpoint.streams.existingStreams(for: session)?.stream(id: 1))
        stream.clientDisconnected()
        #expect(!remembered.isFinished)
        clock.advance(by: 31 * 60)
        #expect(try await app.sweeper.sweep() == [session])
        #expect(remembered.isFinished)
    }

    @Test func aStreamEndedByTheServerStopsCountingAsActivity() async throws {
        let clock = ManagementTestClock()
        let app = makeManagedApp(clock: clock)
        let session = try await openUserSession(app, user: nil)
        let headers = [("Accept", "text/event-stream"), ("Mcp-Session-Id", session)]
        let first = try #require(await app.respond(to: request(.get, "/mcp", headers: headers)).stream)
        // Resuming the stream on a new connection ends the first one (server side, no client disconnect).
        let second = try #require(
            await app.respond(to: request(.get, "/mcp", headers: headers + [("Last-Event-ID", "1-0")])).stream)
        try await eventually {
            guard first.isFinished else { return false }
            return try await app.endpoint.server.sessions.session(id: session)?.activityCount == 1
        }
        #expect(first.isFinished)
        #expect(try await app.endpoint.server.sessions.session(id: session)?.activityCount == 1)
        second.finish()
        try await eventually { try await app.endpoint.server.sessions.session(id: session)?.activityCount == 0 }
        clock.advance(by: 30 * 60)
        #expect(try await app.sweeper.sweep() == [session])
    }

    @Test func backgroundSweepUsesTheTimer() async throws {
        let clock = ManagementTestClock()
        let app = makeManagedApp(clock: clock, expiry: .init(idleTimeout: .seconds(10), interval: .milliseconds(20)))
        #expect(!app.sweeper.isRunning, "an initializer starts nothing")
        app.willStart()  // what the server calls when it starts
        #expect(app.sweeper.isRunning)
        _ = try await openUserSession(app, user: nil)
        try await Task.sleep(for: .milliseconds(60))
        #expect(try await app.activeSessionCount == 1)
        clock.advance(by: 11)
        try await eventually { try await app.activeSessionCount == 0 }
        #expect(try await app.activeSessionCount == 0)
        app.didStop()  // what the server calls when it has stopped
        #expect(!app.sweeper.isRunning)
    }

    @Test func noIdleTimeoutMeansNoBackgroundSweep() async throws {
        let clock = ManagementTestClock()
        let app = makeManagedApp(clock: clock, expiry: .init(idleTimeout: nil))
        app.willStart()
        #expect(!app.sweeper.isRunning)
        _ = try await openUserSession(app, user: nil)
        clock.advance(by: 365 * 86400)
        #expect(try await app.sweeper.sweep().isEmpty)
        #expect(try await app.activeSessionCount == 1)
        // An explicit threshold still works (the management API uses it).
        #expect(try await app.sweeper.sweep(idleFor: .seconds(60)).count == 1)
    }

    @Test func defaults() {
        let configuration = SessionSweeper.Configuration()
        #expect(configuration.idleTimeout == .seconds(1800))
        #expect(configuration.interval == .seconds(60))
        let app = MCPApplication.Configuration()
        #expect(app.managementToken == nil)
        #expect(app.peers.isEmpty)
        #expect(app.peerTimeout == .seconds(2))
        #expect(ManagementEndpoint.defaultInactivityTimeoutMs == 300_000)
    }

    @Test func fullStoreAnswers503UntilSessionsAreCleanedUp() async throws {
        let clock = ManagementTestClock()
        let app = makeManagedApp(clock: clock, capacity: 2)
        _ = try await openUserSession(app, user: nil)
        _ = try await openUserSession(app, user: nil)
        let refused = await app.respond(to: request(.post, "/mcp", headers: jsonHeaders, body: initializeBody))
        #expect(refused.head.status == .serviceUnavailable)
        #expect(refused.head.headerFields[.retryAfter] == "5")
        #expect(try json(refused)["error"]?["code"] == .int(MCPError.Code.internalError))
        clock.advance(by: 1)
        let cleanup = await app.respond(
            to: managementRequest(.post, "/management/cleanup", body: #"{"inactivityTimeoutMs":0}"#))
        #expect(try json(cleanup)["sessionsCleanedUp"] == 2)
        _ = try await openUserSession(app, user: nil)
        #expect(try await app.activeSessionCount == 1)
    }

    @Test func sessionEndedCancelsRequestsInFlight() async throws {
        let app = makeManagedApp()
        let session = try await openUserSession(app, user: nil)
        let call = Task { await callTool(app, session: session, tool: "wait") }
        try await eventually { app.endpoint.server.inFlightRequestCount == 1 }
        let removed = try #require(try await app.endpoint.server.sessions.remove(id: session))
        app.endpoint.sessionEnded(removed)
        // The handler was cancelled: the request ends without waiting for the gate.
        _ = await call.value
        #expect(app.endpoint.server.inFlightRequestCount == 0)
    }
}
