import MCPHandlers
import Synchronization

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
    }

    private struct Event {
        var sequence: Int
        var bytes: [UInt8]
        var time: ContinuousClock.Instant
    }

    private struct State {
        var sequence = 0
        var history: [Event] = []
        var connection: ResponseStream?
        var finished = false
    }
    private let state = Mutex(State())

    init(id: Int, isStandalone: Bool, limits: Limits) {
        self.id = id
        self.isStandalone = isStandalone
        self.limits = limits
    }

    /// Connects an HTTP response to the stream: sends the priming event (an id and `retry:`, empty data),
    /// replays the buffered events after `lastSequence` (when resuming), and routes later events to it.
    /// A connection the stream had before is finished.
    func attach(_ connection: ResponseStream, after lastSequence: Int?) {
        let (previous, replay, finished): (ResponseStream?, [[UInt8]], Bool) = state.withLock { s in
            let previous = s.connection
            s.connection = connection
            let replay = lastSequence.map { last in s.history.filter { $0.sequence > last }.map(\.bytes) } ?? []
            return (previous, replay, s.finished)
        }
        if let previous, previous !== connection { previous.finish() }
        connection.write(
            ServerSentEvent.event(id: "\(id)-\(lastSequence ?? 0)", data: [], retry: limits.retryMilliseconds))
        for bytes in replay { connection.write(bytes) }
        if finished { connection.finish() }
        connection.onClose { [weak self] in self?.detach(connection) }
    }

    /// Sends one JSON-RPC message as the next event.
    /// - Returns: false when the stream is finished.
    @discardableResult func send(_ message: Value) -> Bool {
        let now = ContinuousClock.now
        let (connection, bytes): (ResponseStream?, [UInt8]?) = state.withLock { s in
            guard !s.finished else { return (nil, nil) }
            s.sequence += 1
            let bytes = ServerSentEvent.message(message, id: "\(id)-\(s.sequence)")
            s.history.append(Event(sequence: s.sequence, bytes: bytes, time: now))
            if s.history.count > limits.maxEvents { s.history.removeFirst(s.history.count - limits.maxEvents) }
            while let first = s.history.first, now - first.time > limits.maxAge { s.history.removeFirst() }
            return (s.connection, bytes)
        }
        guard let bytes else { return false }
        connection?.write(bytes)
        return true
    }

    /// Ends the stream: its connection is finished; a later resume gets the buffered events and ends.
    func finish() {
        let connection = state.withLock { s in
            s.finished = true
            return s.connection
        }
        connection?.finish()
    }

    /// Closes the HTTP connection now without finishing the stream (the client may resume it).
    func closeConnection() {
        let connection = state.withLock { s in
            let c = s.connection
            s.connection = nil
            return c
        }
        connection?.finish()
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
