import Foundation
import Logging
import MCPHandlers
import MCPPostgres
import MCPStreamableHTTP
import Testing

/// ``PostgresEventStore`` against a real PostgreSQL: events recorded by one worker are read by another, gaps and
/// trimmed streams are refused, and a session's events go with its record.
@Suite struct PostgresEventStoreTests {
    static func frame(_ stream: Int, _ sequence: Int) -> [UInt8] {
        Array("id: \(stream)-\(sequence)\ndata: {\"n\":\(sequence)}\n\n".utf8)
    }

    @Test func eventsRecordedByOneWorkerAreReadByAnother() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            let writer = PostgresEventStore(database: database)
            let other = PostgresPool(configuration: .init(url: database.configuration.url), logger: Logger(label: "b"))
            try await other.start()
            let reader = PostgresEventStore(database: other)
            for sequence in 1...4 {
                writer.record(sessionID: "s1", stream: 77, sequence: sequence, frame: Self.frame(77, sequence), standalone: true)
            }
            writer.record(sessionID: "s1", stream: 78, sequence: 1, frame: Self.frame(78, 1), standalone: false)
            await writer.flush()
            let recorded = try #require(try await reader.events(sessionID: "s1", stream: 77, after: 2))
            #expect(recorded.isStandalone)
            #expect(recorded.lastSequence == 4)
            #expect(recorded.events == [3, 4].map { RecordedStream.Event(sequence: $0, frame: Self.frame(77, $0)) })
            #expect(try await reader.events(sessionID: "s1", stream: 77, after: 4)?.events == [])
            #expect(try await reader.events(sessionID: "s1", stream: 77, after: 5) == nil)  // never sent
            #expect(try await reader.events(sessionID: "s1", stream: 78, after: 0)?.isStandalone == false)
            #expect(try await reader.events(sessionID: "s2", stream: 77, after: 0) == nil)  // another session's
            // Events queued on this worker count before they are written (a stream resumed where it was sent).
            writer.record(sessionID: "s1", stream: 77, sequence: 5, frame: Self.frame(77, 5), standalone: true)
            #expect(try await writer.events(sessionID: "s1", stream: 77, after: 4)?.events.map(\.sequence) == [5])
            await writer.shutdown()
            await reader.shutdown()
            await other.shutdown()
        }
    }

    @Test func aGapOrATrimmedStartIsRefusedAndTheSessionsEventsGoWithIt() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            let notifications = DatabaseNotifications(database: database)
            let sessions = PostgresSessionStore(database: database, notifications: notifications)
            let store = PostgresEventStore(database: database, configuration: .init(maxEventsPerStream: 2))
            let session = Session(
                id: "w1.x", protocolVersion: .v2025_11_25, clientInfo: nil, clientCapabilities: [:], owner: nil, now: 0)
            _ = try await sessions.insert(session, limits: SessionLimits(), now: 0)
            for sequence in [1, 2, 4] {
                store.record(sessionID: "w1.x", stream: 9, sequence: sequence, frame: Self.frame(9, sequence), standalone: true)
            }
            await store.flush()
            #expect(try await store.events(sessionID: "w1.x", stream: 9, after: 1) == nil)  // event 3 is missing
            #expect(try await store.events(sessionID: "w1.x", stream: 9, after: 3)?.events.map(\.sequence) == [4])
            await store.trim()  // events more than 2 behind the newest (4) go: 1 and 2
            #expect(try await store.events(sessionID: "w1.x", stream: 9, after: 0) == nil)
            _ = try await sessions.remove(id: "w1.x")
            #expect(try await store.events(sessionID: "w1.x", stream: 9, after: 3) == nil)
            await store.shutdown()
            await sessions.shutdown()
            await notifications.stop()
        }
    }
}
