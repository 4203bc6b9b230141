import MCPHandlers
import Metrics
import Synchronization
import MCPHTTP
import MCPOAuth

/// One logical SSE stream of a session: the events of one POST's answer, or of one GET stream.
///
/// Events get ids `<stream>-<sequence>`, unique within the session, and are kept in a bounded replay
/// buffer. The HTTP connection carrying the stream can go away and a GET with `Last-Event-ID` can take
/// it over: it receives exactly the events after that id, then the rest as they come.
public final class EventStream: Sendable {
    /// The stream's number within its session.
    public let id: Int
    /// Whether this is a GET stream (server-initiated messages) rather than one request's answer.
    public let isStandalone: Bool
    private let limits: Limits

    struct Limits: Sendable {
        var maxEvents: Int
        var maxAge: Duration
        var retryMilliseconds: Int
        /// `mcpfcgi_sse_replayed_events_total`: events sent again on a resumption (`Last-Event-ID`).
        var replayedEvents: Counter
    }

    /// The name of the counter of events replayed on resumption.
    static let replayedEventsLabel = "mcpfcgi_sse_replayed_events_total"

    private struct Event {
        var sequence: Int
        var bytes: [UInt8]
        var time: ContinuousClock.Instant
    }

    private struct Abandonment {
        var grace: Duration
        var action: @Sendable () -> Void
    }

    private struct State {
        var sequence = 0
        var history: [Event] = []
        var connection: ResponseStream?
        var finished = false
        var generation = 0
        var abandonment: Abandonment?
    }
    private let state = Mutex(State())

    init(id: Int, isStandalone: Bool, limits: Limits) {
        self.id = id
        self.isStandalone = isStandalone
        self.limits = limits
    }

    /// Connects an HTTP response to the stream: sends the priming event (an id and `retry:`, empty data),
    /// replays the buffered events after `lastSequence` (all of them when nil), and routes later events to
    /// it. A connection the stream had before is finished.
    /// - Returns: false (and attaches nothing) when `lastSequence` was never issued on this stream or the
    ///   events after it are no longer buffered: the client cannot get exactly what it missed.
    @discardableResult func attach(_ connection: ResponseStream, after lastSequence: Int?) -> Bool {
        let previous: ResponseStream?? = state.withLock { s in
            let after = lastSequence ?? 0
            let oldestKept = s.history.first?.sequence ?? (s.sequence + 1)
            guard after <= s.sequence, lastSequence == nil || after + 1 >= oldestKept else { return .none }
            let previous = s.connection
            s.connection = connection
            s.generation &+= 1
            // Written under the lock, so no concurrent event can overtake the priming event or the replay.
            connection.write(ServerSentEvent.event(id: "\(id)-\(after)", data: [], retry: limits.retryMilliseconds))
            var replayed = 0
            for event in s.history where event.sequence > after {
                connection.write(event.bytes)
                replayed += 1
            }
            // A resumption replays what the client missed; a first attachment delivers what was sent before it.
            if lastSequence != nil, replayed > 0 { limits.replayedEvents.increment(by: replayed) }
            if s.finished { connection.finish() }
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
            s.sequence += 1
            let bytes = ServerSentEvent.message(message, id: "\(id)-\(s.sequence)")
            s.history.append(Event(sequence: s.sequence, bytes: bytes, time: now))
            if s.history.count > limits.maxEvents { s.history.removeFirst(s.history.count - limits.maxEvents) }
            while let first = s.history.first, now - first.time > limits.maxAge { s.history.removeFirst() }
            s.connection?.write(bytes)
            return true
        }
    }

    /// Calls `action` when the stream loses its client and no connection resumes it within `grace`
    /// (counted from the latest disconnect), unless the stream finished first.
    func onAbandoned(after grace: Duration, _ action: @escaping @Sendable () -> Void) {
        state.withLock { $0.abandonment = Abandonment(grace: grace, action: action) }
    }

    /// Ends the stream: its connection is finished; a later resume gets the buffered events and ends.
    func finish() {
        state.withLock { s in
            s.finished = true
            s.connection?.finish()
        }
    }

    /// Closes the HTTP connection now without finishing the stream (the client may resume it).
    func closeConnection() {
        state.withLock { s in
            s.connection?.finish()
            s.connection = nil
            s.generation &+= 1
        }
    }

    /// Whether an HTTP connection currently carries the stream.
    var isConnected: Bool { state.withLock { $0.connection != nil } }

    /// Whether the stream has ended.
    var isFinished: Bool { state.withLock { $0.finished } }

    private func detach(_ connection: ResponseStream) {
        let watch: (Int, Abandonment)? = state.withLock { s in
            guard s.connection === connection else { return nil }
            s.connection = nil
            s.generation &+= 1
            guard !s.finished, let abandonment = s.abandonment else { return nil }
            return (s.generation, abandonment)
        }
        guard let (generation, abandonment) = watch else { return }
        Task { [weak self] in
            try? await Task.sleep(for: abandonment.grace)
            guard let self else { return }
            let abandoned = self.state.withLock { s in
                s.generation == generation && s.connection == nil && !s.finished
            }
            if abandoned { abandonment.action() }
        }
    }
}
