import Foundation
import HTTPTypes
import Logging
import MCPFCGITesting
import MCPHandlers
import Testing

@testable import MCPHTTP
@testable import MCPStreamableHTTP

/// Resuming streams across processes with an ``EventStore``: two applications share a session store and an event
/// store, as two workers share a database; a `Last-Event-ID` of a stream the other one sent is answered from the
/// store.
@Suite struct EventStoreTests {
    /// An application ("worker") on shared stores.
    static func worker(sessions: InMemorySessionStore, events: (any EventStore)?, node: String) -> MCPApplication {
        let server = MCPServer(
            configuration: .init(
                serverInfo: .init(name: "test", version: "1"), sessionStore: sessions,
                sessionIDGenerator: SessionIDGenerator(nodeID: node)))
        server.registerTransportProbeTools()
        var endpoint = MCPEndpoint.Configuration.inProcessTests
        endpoint.eventStore = events
        return MCPApplication(
            server: server, configuration: .init(nodeID: node, endpoint: endpoint), logger: Logger(label: "test"))
    }

    /// Two applications on one session store and one event store (as two workers on one database).
    static func twoWorkers(events: InMemoryEventStore = InMemoryEventStore())
        -> (MCPApplication, MCPApplication, InMemoryEventStore)
    {
        let sessions = InMemorySessionStore()
        return (
            worker(sessions: sessions, events: events, node: "a"), worker(sessions: sessions, events: events, node: "b"),
            events
        )
    }

    static func get(_ app: MCPApplication, session: String, lastEventID: String?) async -> HTTPServerResponse {
        var headers = [("Accept", "text/event-stream"), ("Mcp-Session-Id", session)]
        if let lastEventID { headers.append(("Last-Event-ID", lastEventID)) }
        return await app.respond(to: request(.get, "/mcp", headers: headers))
    }

    @Test func aRequestsStreamSentByOneWorkerIsReplayedByAnotherAndEnds() async throws {
        let (a, b, _) = Self.twoWorkers()
        let session = try await openSession(a)
        let original = try collect(await post(a, session: session, callBody("log3")))
        await original.waitForFinish()
        let ids = original.events.compactMap(\.id)
        #expect(ids.count == 5)
        // Numbered at random (processes must not reuse each other's numbers), then 0…4.
        let stream = try #require(ids.first.flatMap { SessionStreams.parseEventID($0)?.stream })
        #expect(ids == (0...4).map { "\(stream)-\($0)" })
        #expect(stream != 1)

        let resumed = try collect(await Self.get(b, session: session, lastEventID: "\(stream)-2"))
        await resumed.waitForFinish()  // the request ended with the worker that ran it: replayed, then ended
        #expect(resumed.events.compactMap(\.id) == ["\(stream)-2", "\(stream)-3", "\(stream)-4"])
        #expect(resumed.events.last?.data?["result"] != nil)  // the request's answer, as it was sent

        // The replayed, finished stream is no open stream: a GET stream on B gets every notification.
        let onB = try collect(await Self.get(b, session: session, lastEventID: nil))
        b.endpoint.server.notifyToolListChanged()
        b.endpoint.server.notifyToolListChanged()
        try await waitUntil { onB.events.count == 3 }
        #expect(onB.events.dropFirst().allSatisfy { $0.data?["method"]?.stringValue == "notifications/tools/list_changed" })
    }

    @Test func anIdleGetStreamResumesElsewhereAndTheSessionsEventsGoWithIt() async throws {
        let (a, b, events) = Self.twoWorkers()
        let session = try await openSession(a)
        let onA = try collect(await Self.get(a, session: session, lastEventID: nil))
        try await waitUntil { onA.events.count == 1 }
        let priming = try #require(onA.events.first?.id)  // nothing sent on it yet
        let stream = try #require(SessionStreams.parseEventID(priming)?.stream)
        let onB = try collect(await Self.get(b, session: session, lastEventID: priming))
        try await waitUntil { onB.events.count == 1 }
        #expect(onB.events.first?.id == priming)
        b.endpoint.server.notifyToolListChanged()
        try await waitUntil { onB.events.count == 2 }
        #expect(onB.events.last?.id == "\(stream)-1")
        // Ended: its events are forgotten.
        #expect(await b.respond(to: request(.delete, "/mcp", headers: [("Mcp-Session-Id", session)])).head.status == .ok)
        #expect(events.events(sessionID: session, stream: stream, after: 0) == nil)
    }

    @Test func aGetStreamIsTakenOverAndGoesOnNumberingAndRecording() async throws {
        let (a, b, events) = Self.twoWorkers()
        let session = try await openSession(a)
        let onA = try collect(await Self.get(a, session: session, lastEventID: nil))
        a.endpoint.server.notifyToolListChanged()
        a.endpoint.server.notifyToolListChanged()
        try await waitUntil { onA.events.count == 3 }  // priming event and two notifications
        let ids = onA.events.compactMap(\.id)
        let stream = try #require(SessionStreams.parseEventID(ids[1])?.stream)
        #expect(ids == ["\(stream)-0", "\(stream)-1", "\(stream)-2"])

        // The client saw the first notification only; B replays the second and keeps the stream open.
        let onB = try collect(await Self.get(b, session: session, lastEventID: "\(stream)-1"))
        try await waitUntil { onB.events.count == 2 }
        #expect(onB.events.compactMap(\.id) == ["\(stream)-1", "\(stream)-2"])
        #expect(onB.events.last?.data?["method"]?.stringValue == "notifications/tools/list_changed")
        b.endpoint.server.notifyToolListChanged()
        try await waitUntil { onB.events.count == 3 }
        #expect(onB.events.last?.id == "\(stream)-3")
        // B recorded it: a third worker could resume after it.
        let recorded = try #require(events.events(sessionID: session, stream: stream, after: 2))
        #expect(recorded.events.map(\.sequence) == [3])
        #expect(recorded.isStandalone)
    }

    @Test func aStreamTheStoreDoesNotHoldIsRefusedAsBefore() async throws {
        let sessions = InMemorySessionStore()
        let events = InMemoryEventStore(maxStreams: 10, maxEventsPerStream: 2)
        let a = Self.worker(sessions: sessions, events: events, node: "a")
        let b = Self.worker(sessions: sessions, events: events, node: "b")
        let session = try await openSession(a)
        let original = try collect(await post(a, session: session, callBody("log3")))
        await original.waitForFinish()
        let stream = try #require(original.events.compactMap(\.id).first.flatMap { SessionStreams.parseEventID($0)?.stream })
        // Only the last two events are kept: resuming after the first cannot give what the client missed.
        #expect(events.events(sessionID: session, stream: stream, after: 1) == nil)
        #expect(await Self.get(b, session: session, lastEventID: "\(stream)-1").head.status == .badRequest)
        #expect(await Self.get(b, session: session, lastEventID: "\(stream + 1)-0").head.status == .badRequest)
        // Without a store, another worker knows nothing of the stream.
        let plain = Self.worker(sessions: sessions, events: nil, node: "c")
        #expect(await Self.get(plain, session: session, lastEventID: "\(stream)-3").head.status == .badRequest)
    }

    @Test func theInMemoryStoreIsBounded() {
        let events = InMemoryEventStore(maxStreams: 2, maxEventsPerStream: 3)
        for stream in 1...3 {
            for sequence in 1...5 {
                events.record(sessionID: "s", stream: stream, sequence: sequence, frame: [UInt8(sequence)], standalone: true)
            }
        }
        #expect(events.events(sessionID: "s", stream: 1, after: 4) == nil)  // the oldest stream is forgotten
        #expect(events.events(sessionID: "s", stream: 3, after: 2)?.events.map(\.sequence) == [3, 4, 5])
        #expect(events.events(sessionID: "s", stream: 3, after: 1) == nil)  // event 2 was dropped
        #expect(events.events(sessionID: "s", stream: 3, after: 5)?.events == [])
        #expect(events.events(sessionID: "s", stream: 3, after: 6) == nil)  // never sent
    }

    private func waitUntil(_ condition: () -> Bool) async throws {
        for _ in 0..<200 where !condition() { try await Task.sleep(for: .milliseconds(10)) }
        #expect(condition())
    }
}
