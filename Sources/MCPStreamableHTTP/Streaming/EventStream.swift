import MCPHandlers
import Metrics
import Synchronization
import MCPHTTP
import MCPOAuth

/// What ``SessionStreams`` needs of a session's stream to number it, resume it and forget it: a `GET`
/// stream (``EventStream``) or a POST's answer that became a stream (``PostExchange``).
protocol SessionStream: AnyObject, Sendable {
    /// Whether this is a GET stream (server-initiated messages) rather than one request's answer.
    var isStandalone: Bool { get }
    /// Whether an HTTP connection currently carries the stream.
    var isConnected: Bool { get }
    /// Connects `connection` to the stream: the priming event, the buffered events after `lastSequence`
    /// (all of them when nil), then the rest as they come.
    /// - Returns: false (and attaches nothing) when the client cannot get exactly what it missed.
    func attach(_ connection: ResponseStream, after lastSequence: Int?) -> Bool
    /// Whether the stream has ended (a resumption still gets its buffered events).
    var isFinished: Bool { get }
    /// Ends the stream (its session ended).
    func finish()
}

/// The events of one logical SSE stream: their numbering and the bounded buffer a resumption replays from.
///
/// Events get ids `<stream>-<sequence>`, unique within the session. The last ``EventStream/Limits/maxEvents``
/// are kept for ``EventStream/Limits/maxAge``. A plain value: its owner's lock guards it.
struct ReplayBuffer {
    /// One numbered event and when it was sent.
    private struct Event {
        var sequence: Int
        var bytes: [UInt8]
        var time: ContinuousClock.Instant
    }

    /// The stream's number within its session.
    var streamID: Int
    private let limits: EventStream.Limits
    /// Whether it is a GET stream (told to the event store).
    private let standalone: Bool
    /// The sequence number of the latest event (0 before the first).
    private(set) var sequence = 0
    private var history: [Event] = []

    init(streamID: Int, limits: EventStream.Limits, standalone: Bool) {
        self.streamID = streamID
        self.limits = limits
        self.standalone = standalone
    }

    /// A buffer holding what an ``EventStore`` recorded of a stream another process sent: its events after the
    /// client's last one, numbered on from the newest recorded.
    init(streamID: Int, limits: EventStream.Limits, restoring recorded: RecordedStream) {
        self.init(streamID: streamID, limits: limits, standalone: recorded.isStandalone)
        let now = ContinuousClock.now
        sequence = recorded.lastSequence
        history = recorded.events.suffix(limits.maxEvents).map { Event(sequence: $0.sequence, bytes: $0.frame, time: now) }
    }

    /// Numbers and keeps one JSON-RPC message.
    /// - Returns: the event's bytes.
    mutating func append(_ message: Value, now: ContinuousClock.Instant) -> [UInt8] {
        sequence += 1
        let bytes = ServerSentEvent.message(message, id: "\(streamID)-\(sequence)")
        limits.recorder?(streamID, sequence, bytes, standalone)
        history.append(Event(sequence: sequence, bytes: bytes, time: now))
        if history.count > limits.maxEvents { history.removeFirst(history.count - limits.maxEvents) }
        while let first = history.first, now - first.time > limits.maxAge { history.removeFirst() }
        return bytes
    }

    /// Whether the events after `lastSequence` (all when nil) are all still buffered and the id was issued.
    func canReplay(after lastSequence: Int?) -> Bool {
        let after = lastSequence ?? 0
        let oldestKept = history.first?.sequence ?? (sequence + 1)
        return after <= sequence && (lastSequence == nil || after + 1 >= oldestKept)
    }

    /// Writes the priming event (its id, `retry:`, empty data) and the buffered events after `lastSequence`
    /// to `connection`, counting a resumption's events in `mcpfcgi_sse_replayed_events_total`.
    func replay(to connection: ResponseStream, after lastSequence: Int?) {
        let after = lastSequence ?? 0
        connection.write(ServerSentEvent.event(id: "\(streamID)-\(after)", data: [], retry: limits.retryMilliseconds))
        var replayed = 0
        for event in history where event.sequence > after {
            connection.write(event.bytes)
            replayed += 1
        }
        // A resumption replays what the client missed; a first attachment delivers what was sent before it.
        if lastSequence != nil, replayed > 0 { limits.replayedEvents.increment(by: replayed) }
    }
}

/// A session's `GET` stream: server-initiated messages (`list_changed`, `resources/updated`), numbered and
/// buffered like every stream, so a `GET` with `Last-Event-ID` takes it over on a new connection: exactly the
/// events after that id, then the rest as they come. It has no handler and no timers; it is connected or not,
/// until its session ends it.
package final class EventStream: SessionStream {
    /// The stream's number within its session.
    public let id: Int
    /// Always true: a request's answer is a ``PostExchange``.
    public var isStandalone: Bool { true }

    /// The replay buffer's bounds, the `retry:` announced in priming events, and the replay counter.
    struct Limits: Sendable {
        var maxEvents: Int
        var maxAge: Duration
        var retryMilliseconds: Int
        /// `mcpfcgi_sse_replayed_events_total`: events sent again on a resumption (`Last-Event-ID`).
        var replayedEvents: Counter
        /// Hands each event to the session's ``EventStore`` (stream, sequence, frame, standalone); nil: none.
        var recorder: (@Sendable (Int, Int, [UInt8], Bool) -> Void)? = nil
    }

    /// The name of the counter of events replayed on resumption.
    static let replayedEventsLabel = "mcpfcgi_sse_replayed_events_total"

    /// Everything the lock guards.
    private struct State {
        var buffer: ReplayBuffer
        var connection: ResponseStream?
        var finished = false
    }
    private let state: Mutex<State>

    init(id: Int, limits: Limits) {
        self.id = id
        self.state = Mutex(State(buffer: ReplayBuffer(streamID: id, limits: limits, standalone: true)))
        // The event store learns of the stream before its first message: a client that got only the priming
        // event can resume it elsewhere too (sequence 0 is never replayed).
        limits.recorder?(id, 0, [], true)
    }

    /// A stream another process sent, from what an ``EventStore`` recorded: a GET stream goes on here; a request's
    /// answer (its request ended with that process) replays what was recorded and ends.
    init(id: Int, limits: Limits, restoring recorded: RecordedStream) {
        self.id = id
        self.state = Mutex(
            State(
                buffer: ReplayBuffer(streamID: id, limits: limits, restoring: recorded),
                finished: !recorded.isStandalone))
    }

    /// Connects an HTTP response to the stream (see ``SessionStream/attach(_:after:)``); the connection the
    /// stream had before is finished.
    @discardableResult func attach(_ connection: ResponseStream, after lastSequence: Int?) -> Bool {
        let previous: ResponseStream?? = state.withLock { s in
            guard s.buffer.canReplay(after: lastSequence) else { return .none }
            // Written under the lock, so no concurrent event can overtake the priming event or the replay.
            s.buffer.replay(to: connection, after: lastSequence)
            // A finished stream replays and ends: it keeps no connection (it must not count as an open stream).
            if s.finished {
                connection.finish()
                return .some(nil)
            }
            let previous = s.connection
            s.connection = connection
            return .some(previous)
        }
        guard case .some(let replaced) = previous else { return false }
        if let replaced, replaced !== connection { replaced.finish() }
        connection.onClose { [weak self] in self?.detach(connection) }
        return true
    }

    /// Sends one JSON-RPC message as the next event.
    /// - Returns: false when the stream is finished.
    @discardableResult func send(_ message: Value) -> Bool {
        let now = ContinuousClock.now
        return state.withLock { s in
            guard !s.finished else { return false }
            let bytes = s.buffer.append(message, now: now)
            s.connection?.write(bytes)
            return true
        }
    }

    /// Ends the stream: its connection is finished; a later resume gets the buffered events and ends.
    func finish() {
        state.withLock { s in
            s.finished = true
            s.connection?.finish()
        }
    }

    /// Whether an HTTP connection currently carries the stream.
    var isConnected: Bool { state.withLock { $0.connection != nil } }

    /// Whether the stream has ended.
    var isFinished: Bool { state.withLock { $0.finished } }

    private func detach(_ connection: ResponseStream) {
        state.withLock { s in
            if s.connection === connection { s.connection = nil }
        }
    }
}
