import Synchronization

/// Where the events of a session's SSE streams are also recorded, so that a `GET` with `Last-Event-ID` can resume a
/// stream that another process sent — a worker that stopped or died, or one on another machine — the role the
/// TypeScript SDK's `EventStore` plays. Optional (``MCPEndpoint/Configuration/eventStore``, nil by default): without
/// it, a stream resumes only in the process that holds it (its replay buffer).
///
/// With a store, stream numbers are drawn at random (they must not repeat across processes for one session), every
/// event is handed to ``record(sessionID:stream:sequence:frame:standalone:)`` as it is sent, and a `Last-Event-ID`
/// naming a stream this process does not hold is looked up with ``events(sessionID:stream:after:)``: a `GET` stream
/// is taken over (its events replayed, then the new ones as they come, still recorded), a request's stream replays
/// what was recorded and ends (its request ended with the process that ran it).
public protocol EventStore: Sendable {
    /// Records one event. Called while the stream's lock is held: return at once (write in the background); an
    /// event lost to a crash before it was written cannot be replayed.
    /// - Parameters:
    ///   - sessionID: the session.
    ///   - stream: the stream's number within the session.
    ///   - sequence: the event's number within the stream (1, 2, …).
    ///   - frame: the whole SSE event as sent (`id:`, `data:` lines, blank line).
    ///   - standalone: whether the stream is a `GET` stream (else a request's answer).
    func record(sessionID: String, stream: Int, sequence: Int, frame: [UInt8], standalone: Bool)
    /// The recorded events of a stream after `sequence`, oldest first; nil when the store does not know the stream
    /// or no longer holds every event after `sequence` (the client must then start a new stream).
    /// - Parameters:
    ///   - sessionID: the session.
    ///   - stream: the stream's number.
    ///   - sequence: the last event the client received (0: none).
    func events(sessionID: String, stream: Int, after sequence: Int) async throws -> RecordedStream?
    /// Forgets a session's events: it ended here. The default does nothing (a store that deletes them with the
    /// session's record, as `PostgresEventStore` does).
    /// - Parameter sessionID: the session.
    func removeSession(_ sessionID: String)
}

extension EventStore {
    /// Does nothing.
    /// - Parameter sessionID: ignored.
    public func removeSession(_ sessionID: String) {}
}

/// What an ``EventStore`` holds of one stream: its kind and the events after the asked one.
public struct RecordedStream: Sendable, Equatable {
    /// One recorded event.
    public struct Event: Sendable, Equatable {
        /// Its number within the stream.
        public var sequence: Int
        /// The SSE event as sent.
        public var frame: [UInt8]

        /// Creates an event.
        public init(sequence: Int, frame: [UInt8]) {
            self.sequence = sequence
            self.frame = frame
        }
    }

    /// Whether it is a `GET` stream (else a request's answer).
    public var isStandalone: Bool
    /// The newest sequence number recorded (the events after it are the new ones).
    public var lastSequence: Int
    /// The events after the asked sequence, oldest first.
    public var events: [Event]

    /// Creates a recorded stream.
    public init(isStandalone: Bool, lastSequence: Int, events: [Event]) {
        self.isStandalone = isStandalone
        self.lastSequence = lastSequence
        self.events = events
    }
}

/// An ``EventStore`` in this process's memory, bounded: the newest `maxEventsPerStream` events of the newest
/// `maxStreams` streams. It lets the processes' own endpoints (several applications in one process, tests) resume
/// each other's streams; across processes use a shared store (`PostgresEventStore`).
public final class InMemoryEventStore: EventStore {
    private struct Stream {
        var standalone: Bool
        var events: [RecordedStream.Event] = []
        /// The first sequence number not kept any more (0: all kept).
        var dropped = 0
    }
    private struct Key: Hashable {
        var session: String
        var stream: Int
    }
    private struct State {
        var streams: [Key: Stream] = [:]
        var order: [Key] = []
    }
    private let state = Mutex(State())
    /// The most streams kept (the oldest are forgotten first). Default 10,000.
    public let maxStreams: Int
    /// The most events kept per stream (the oldest are dropped first). Default 256.
    public let maxEventsPerStream: Int

    /// Creates an empty store.
    /// - Parameters:
    ///   - maxStreams: the most streams kept. Default 10,000.
    ///   - maxEventsPerStream: the most events kept per stream. Default 256.
    public init(maxStreams: Int = 10_000, maxEventsPerStream: Int = 256) {
        self.maxStreams = max(1, maxStreams)
        self.maxEventsPerStream = max(1, maxEventsPerStream)
    }

    /// Keeps the event (see ``EventStore/record(sessionID:stream:sequence:frame:standalone:)``).
    public func record(sessionID: String, stream: Int, sequence: Int, frame: [UInt8], standalone: Bool) {
        let key = Key(session: sessionID, stream: stream)
        state.withLock { s in
            if s.streams[key] == nil {
                // A stream first seen after its start (forgotten, then sent on) keeps nothing before this event.
                s.streams[key] = Stream(standalone: standalone, dropped: max(0, sequence - 1))
                s.order.append(key)
                if s.order.count > maxStreams { s.streams[s.order.removeFirst()] = nil }
            }
            s.streams[key]!.events.append(RecordedStream.Event(sequence: sequence, frame: frame))
            if s.streams[key]!.events.count > maxEventsPerStream {
                let first = s.streams[key]!.events.removeFirst()
                s.streams[key]!.dropped = first.sequence
            }
        }
    }

    /// Forgets the session's streams.
    /// - Parameter sessionID: the session that ended.
    public func removeSession(_ sessionID: String) {
        state.withLock { s in
            s.order.removeAll { key in
                guard key.session == sessionID else { return false }
                s.streams[key] = nil
                return true
            }
        }
    }

    /// The kept events after `sequence` (see ``EventStore/events(sessionID:stream:after:)``).
    public func events(sessionID: String, stream: Int, after sequence: Int) -> RecordedStream? {
        state.withLock { s in
            guard let kept = s.streams[Key(session: sessionID, stream: stream)], sequence >= kept.dropped else {
                return nil
            }
            let last = kept.events.last?.sequence ?? kept.dropped
            guard sequence <= last else { return nil }
            return RecordedStream(
                isStandalone: kept.standalone, lastSequence: last, events: kept.events.filter { $0.sequence > sequence })
        }
    }
}
