import Foundation
import Logging
import MCPStreamableHTTP
import PostgresNIO
import Synchronization

/// An `EventStore` in PostgreSQL: every SSE event of a session's streams is also written to
/// `mcpfcgi_stream_events`, so that a `GET` with `Last-Event-ID` resumes, on any worker of any deployment on the
/// database, a stream a worker sent before it stopped or died.
///
/// Cost: events are queued in memory and written in batches every ``Configuration/flushInterval`` (one `INSERT` per
/// batch and worker), so the events of the last interval before a crash are lost (the client then starts a new
/// stream); each event is stored once more in the database (its whole SSE frame) for at most ``Configuration/maxAge``
/// and the newest ``Configuration/maxEventsPerStream`` per stream; a session's events go with its record.
public final class PostgresEventStore: EventStore {
    /// The store's settings.
    public struct Configuration: Sendable {
        /// The sessions' scope (see ``PostgresSessionStore/Configuration/scope``). Default `"mcp"`.
        public var scope: String
        /// How often queued events are written. Default 20 ms.
        public var flushInterval: Duration
        /// How long events are kept. Default 5 minutes (the replay buffer's default age).
        public var maxAge: Duration
        /// The most events kept per stream. Default 256 (the replay buffer's default size).
        public var maxEventsPerStream: Int
        /// The most events queued while the database does not take them; beyond, the oldest are dropped (their
        /// streams cannot be resumed elsewhere). Default 10,000.
        public var maxQueued: Int

        /// Creates a configuration; every parameter has the default documented on its property.
        public init(
            scope: String = "mcp", flushInterval: Duration = .milliseconds(20), maxAge: Duration = .seconds(300),
            maxEventsPerStream: Int = 256, maxQueued: Int = 10_000
        ) {
            self.scope = scope
            self.flushInterval = flushInterval
            self.maxAge = maxAge
            self.maxEventsPerStream = max(1, maxEventsPerStream)
            self.maxQueued = max(1, maxQueued)
        }
    }

    private struct Queued {
        var session: String
        var stream: Int64
        var sequence: Int32
        var standalone: Bool
        var frame: String
        var time: Double
    }

    /// The database.
    public let database: PostgresPool
    /// The settings.
    public let configuration: Configuration
    private let logger: Logger
    private let queue = Mutex<[Queued]>([])
    private let dropping = Atomic<Bool>(false)
    private let writer = Mutex<Task<Void, Never>?>(nil)
    /// The latest write: each write waits for the one before, so that a lookup after ``flush()`` sees every event
    /// recorded before it (also those a concurrent write had taken).
    private let lastWrite = Mutex<Task<Void, Never>?>(nil)

    /// Creates the store on a started database and starts its writer.
    /// - Parameters:
    ///   - database: the database (``PostgresPool/start(waitingForTheDatabase:)`` migrated the schema).
    ///   - configuration: the settings. Default ``Configuration/init(scope:flushInterval:maxAge:maxEventsPerStream:maxQueued:)``.
    ///   - logger: where failures log. Default `mcpfcgi.events.postgres`.
    public init(
        database: PostgresPool, configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "mcpfcgi.events.postgres")
    ) {
        self.database = database
        self.configuration = configuration
        self.logger = logger
        writer.withLock { task in
            task = Task { [weak self, interval = configuration.flushInterval] in
                var lastTrim = ContinuousClock.now
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    guard let self, !Task.isCancelled else { return }
                    if !self.queue.withLock(\.isEmpty) { await self.flush() }
                    if ContinuousClock.now - lastTrim > .seconds(30) {
                        lastTrim = ContinuousClock.now
                        await self.trim()
                    }
                }
            }
        }
    }

    /// Writes what is queued and stops the writer.
    public func shutdown() async {
        let task = writer.withLock { task in
            defer { task = nil }
            return task
        }
        task?.cancel()
        await task?.value
        await flush()
    }

    /// Queues the event for the next batch (see `EventStore`).
    public func record(sessionID: String, stream: Int, sequence: Int, frame: [UInt8], standalone: Bool) {
        let event = Queued(
            session: sessionID, stream: Int64(stream), sequence: Int32(clamping: sequence), standalone: standalone,
            frame: String(decoding: frame, as: UTF8.self), time: Date().timeIntervalSince1970)
        let overflow = queue.withLock { queue -> Bool in
            queue.append(event)
            guard queue.count > configuration.maxQueued else { return false }
            queue.removeFirst(queue.count - configuration.maxQueued)
            return true
        }
        if overflow, !dropping.exchange(true, ordering: .relaxed) {
            logger.warning("the event store falls behind: the oldest queued events are dropped")
        }
    }

    /// The recorded events of a stream after `sequence`, when every one of them is still kept.
    public func events(sessionID: String, stream: Int, after sequence: Int) async throws -> RecordedStream? {
        // What this worker has not written yet counts too (a stream resumed on the worker that sent it).
        await flush()
        let rows: [(Int32, String, Bool)] = try await database.run { [self] in
            var rows: [(Int32, String, Bool)] = []
            let result = try await database.client.query(
                """
                SELECT sequence, frame, standalone FROM mcpfcgi_stream_events
                WHERE scope = \(configuration.scope) AND session_id = \(sessionID) AND stream = \(Int64(stream))
                ORDER BY sequence
                """, logger: logger)
            for try await row in result.decode((Int32, String, Bool).self) { rows.append(row) }
            return rows
        }
        guard let first = rows.first, let last = rows.last else { return nil }
        // Every event after the client's last one must be there, in order.
        guard sequence <= Int(last.0), sequence + 1 >= Int(first.0) else { return nil }
        let after = rows.filter { Int($0.0) > sequence }
        for (offset, row) in after.enumerated() where Int(row.0) != sequence + 1 + offset { return nil }
        return RecordedStream(
            isStandalone: first.2, lastSequence: Int(last.0),
            events: after.map { RecordedStream.Event(sequence: Int($0.0), frame: Array($0.1.utf8)) })
    }

    /// Writes the queued events in one statement, after the writes before it; on failure they are queued again
    /// (bounded).
    public func flush() async {
        let write = lastWrite.withLock { last -> Task<Void, Never> in
            let previous = last
            let next = Task {
                await previous?.value
                await self.writeQueued()
            }
            last = next
            return next
        }
        await write.value
    }

    private func writeQueued() async {
        let batch = queue.withLock { queue in
            defer { queue.removeAll(keepingCapacity: true) }
            return queue
        }
        guard !batch.isEmpty else { return }
        do {
            try await database.run { [self] in
                try await database.client.query(
                    """
                    INSERT INTO mcpfcgi_stream_events (scope, session_id, stream, sequence, standalone, frame, created_at)
                    SELECT \(configuration.scope), v.session_id, v.stream, v.sequence, v.standalone, v.frame, v.created_at
                    FROM unnest(\(batch.map(\.session))::text[], \(batch.map(\.stream))::int8[],
                        \(batch.map(\.sequence))::int4[], \(batch.map(\.standalone))::bool[], \(batch.map(\.frame))::text[],
                        \(batch.map(\.time))::float8[]) AS v(session_id, stream, sequence, standalone, frame, created_at)
                    ON CONFLICT DO NOTHING
                    """, logger: logger)
            }
            if dropping.exchange(false, ordering: .relaxed) { logger.notice("the event store keeps up again") }
        } catch {
            let overflow = queue.withLock { queue -> Bool in
                queue.insert(contentsOf: batch, at: 0)
                guard queue.count > configuration.maxQueued else { return false }
                queue.removeFirst(queue.count - configuration.maxQueued)
                return true
            }
            if !dropping.exchange(true, ordering: .relaxed) {
                logger.warning(
                    "events not written; tried again with every batch\(overflow ? " (the oldest are dropped)" : "")",
                    metadata: ["error": "\(error)"])
            }
        }
    }

    /// Drops events older than ``Configuration/maxAge`` and those more than ``Configuration/maxEventsPerStream``
    /// behind their stream's newest; the writer calls it every 30 s.
    public func trim() async {
        let cutoff = Date().timeIntervalSince1970 - configuration.maxAge.secondsValue
        let keep = Int32(clamping: configuration.maxEventsPerStream)
        do {
            try await database.run { [self] in
                // Each stream keeps its newest row: a stream idle that long can still be resumed (with nothing to
                // replay) while its session lives.
                try await database.client.query(
                    """
                    DELETE FROM mcpfcgi_stream_events e
                    WHERE e.scope = \(configuration.scope) AND e.created_at < \(cutoff) AND e.sequence < (
                        SELECT max(n.sequence) FROM mcpfcgi_stream_events n
                        WHERE n.scope = e.scope AND n.session_id = e.session_id AND n.stream = e.stream)
                    """, logger: logger)
                try await database.client.query(
                    """
                    DELETE FROM mcpfcgi_stream_events e USING (
                        SELECT session_id, stream, max(sequence) AS newest FROM mcpfcgi_stream_events
                        WHERE scope = \(configuration.scope) GROUP BY session_id, stream) k
                    WHERE e.scope = \(configuration.scope) AND e.session_id = k.session_id AND e.stream = k.stream
                        AND e.sequence <= k.newest - \(keep)
                    """, logger: logger)
            }
        } catch {
            logger.debug("event store trim failed; tried again later", metadata: ["error": "\(error)"])
        }
    }
}
