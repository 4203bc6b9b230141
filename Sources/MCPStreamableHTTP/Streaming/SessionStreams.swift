import MCPHandlers
import Synchronization
import MCPHTTP
import MCPOAuth

/// The SSE streams of one session: numbering, lookup for `Last-Event-ID`, and the choice of the GET
/// stream that carries each server-initiated message (exactly one, round robin).
package final class SessionStreams: Sendable {
    private struct State {
        var nextID = 1
        var streams: [Int: any SessionStream] = [:]
        var order: [Int] = []
        var roundRobin = 0
    }
    private let state = Mutex(State())
    /// The replay buffer limits of the session's streams.
    let limits: EventStream.Limits
    private let maxStreams: Int

    /// - Parameters:
    ///   - limits: the replay buffers' limits (with the session's event recorder, if any).
    ///   - maxStreams: the most streams remembered.
    ///   - randomNumbers: number streams at random (an ``EventStore`` is shared by processes, which must not reuse
    ///     each other's numbers), else 1, 2, ….
    init(limits: EventStream.Limits, maxStreams: Int, randomNumbers: Bool = false) {
        self.limits = limits
        self.maxStreams = maxStreams
        if randomNumbers { state.withLock { $0.nextID = Int.random(in: 1...(1 << 50)) } }
    }

    /// Keeps a stream restored from an ``EventStore`` under its number, unless one is known by it already; the
    /// oldest finished or unconnected streams are forgotten beyond the limit, as for a new stream.
    /// - Returns: the stream now known by that number.
    func adopt(_ stream: EventStream) -> any SessionStream {
        state.withLock { s in
            if let known = s.streams[stream.id] { return known }
            s.streams[stream.id] = stream
            s.order.append(stream.id)
            Self.forgetBeyondLimit(&s, maxStreams: maxStreams)
            return stream
        }
    }

    /// Forgets the oldest unconnected streams beyond `maxStreams` (never the newest, not connected yet).
    private static func forgetBeyondLimit(_ s: inout State, maxStreams: Int) {
        while s.order.count > maxStreams,
            let index = s.order.dropLast().firstIndex(where: { s.streams[$0]?.isConnected == false })
        {
            s.streams.removeValue(forKey: s.order.remove(at: index))
        }
    }

    /// Numbers a POST's answer that became a stream and keeps it for resumption; the oldest finished or
    /// unconnected streams are forgotten beyond the limit.
    /// - Returns: the stream's number.
    func register(_ answer: PostExchange) -> Int {
        state.withLock { s in Self.register(answer, in: &s, maxStreams: maxStreams) }
    }

    private static func register(_ stream: any SessionStream, in s: inout State, maxStreams: Int) -> Int {
        let id = s.nextID
        s.nextID += 1
        s.streams[id] = stream
        s.order.append(id)
        // The new stream (not connected yet) is never the one forgotten.
        forgetBeyondLimit(&s, maxStreams: maxStreams)
        return id
    }

    /// What became of a GET stream request.
    enum StandaloneAttachment: Equatable {
        /// The connection carries the stream.
        case attached
        /// The session has `limit` GET streams connected already.
        case tooManyStreams(limit: Int)
        /// The `Last-Event-ID` names no stream this session remembers.
        case unknownStream
        /// The events after `Last-Event-ID` are no longer buffered (or were never sent).
        case cannotResume
    }

    /// Connects a GET request to a new stream, or to the stream it resumes (`Last-Event-ID`), unless the
    /// session already has ``maxStreams`` GET streams connected (the stream it resumes does not count: the
    /// new connection replaces its old one). Checked and attached under one lock, so concurrent GETs cannot
    /// overshoot.
    /// - Parameters:
    ///   - connection: the HTTP response that carries the stream.
    ///   - resuming: the stream and sequence of `Last-Event-ID`, nil for a new stream.
    func attachStandalone(_ connection: ResponseStream, resuming: (stream: Int, sequence: Int)?)
        -> StandaloneAttachment
    {
        state.withLock { s in
            if let resuming, s.streams[resuming.stream] == nil { return .unknownStream }
            let connected = s.streams.lazy.filter {
                $0.value.isStandalone && $0.key != resuming?.stream && $0.value.isConnected
            }.count
            guard connected < maxStreams else { return .tooManyStreams(limit: maxStreams) }
            if let resuming, let stream = s.streams[resuming.stream] {
                return stream.attach(connection, after: resuming.sequence) ? .attached : .cannotResume
            }
            let stream = EventStream(id: s.nextID, limits: limits)
            _ = Self.register(stream, in: &s, maxStreams: maxStreams)
            stream.attach(connection, after: nil)
            return .attached
        }
    }

    /// The stream with that number, if still known.
    func stream(id: Int) -> (any SessionStream)? { state.withLock { $0.streams[id] } }

    /// Sends a server-initiated message on one connected GET stream.
    /// - Returns: false when no GET stream is open.
    @discardableResult func sendOnStandalone(_ message: Value) -> Bool {
        let target: EventStream? = state.withLock { s in
            let candidates = s.order.compactMap { s.streams[$0] as? EventStream }.filter { $0.isConnected && !$0.isFinished }
            guard !candidates.isEmpty else { return nil }
            s.roundRobin &+= 1
            return candidates[s.roundRobin % candidates.count]
        }
        return target?.send(message) ?? false
    }

    /// Ends every stream (the session ended).
    func finishAll() {
        let all = state.withLock { s in
            let all = Array(s.streams.values)
            s.streams = [:]
            s.order = []
            return all
        }
        for stream in all { stream.finish() }
    }

    /// Parses `Last-Event-ID` (`<stream>-<sequence>`).
    static func parseEventID(_ text: String) -> (stream: Int, sequence: Int)? {
        let parts = text.split(separator: "-")
        guard parts.count == 2, let stream = Int(parts[0]), let sequence = Int(parts[1]), stream > 0, sequence >= 0
        else { return nil }
        return (stream, sequence)
    }
}

/// Every session's streams in this worker.
package final class StreamRegistry: Sendable {
    private let sessions = Mutex<[String: SessionStreams]>([:])
    private let limits: EventStream.Limits
    private let maxStreamsPerSession: Int
    /// Where every event is also recorded, if anywhere.
    let eventStore: (any EventStore)?

    init(limits: EventStream.Limits, maxStreamsPerSession: Int, eventStore: (any EventStore)? = nil) {
        self.limits = limits
        self.maxStreamsPerSession = maxStreamsPerSession
        self.eventStore = eventStore
    }

    /// The replay buffers' limits for a session's streams: with the event store's recorder for that session.
    func limits(for sessionID: String) -> EventStream.Limits {
        guard let eventStore else { return limits }
        var limits = self.limits
        limits.recorder = { stream, sequence, frame, standalone in
            eventStore.record(sessionID: sessionID, stream: stream, sequence: sequence, frame: frame, standalone: standalone)
        }
        return limits
    }

    /// The session's streams, created on first use.
    func streams(for sessionID: String) -> SessionStreams {
        sessions.withLock { all in
            if let existing = all[sessionID] { return existing }
            let created = SessionStreams(
                limits: limits(for: sessionID), maxStreams: maxStreamsPerSession, randomNumbers: eventStore != nil)
            all[sessionID] = created
            return created
        }
    }

    /// How a session's POST answer streams: registered with the session's streams on its first switch to SSE
    /// (so answers that stay JSON cost no stream), resumable within `resumeGracePeriod`.
    ///
    /// A session that ended while the answer was being decided gets no lasting entry: the phase changes before the
    /// end closes the session's streams, so an answer registered after that is closed right after its registration
    /// (once the exchange's lock is released: closing it takes that lock).
    func answerStreamOptions(session: Session, resumeGracePeriod: Duration) -> PostExchange.StreamOptions {
        let sessionID = session.id
        return PostExchange.StreamOptions(
            register: { [self] answer in streams(for: sessionID).register(answer) },
            afterRegister: { [self] in if session.isEnded { remove(sessionID: sessionID) } },
            limits: limits(for: sessionID), resumeGracePeriod: resumeGracePeriod)
    }

    /// How a POST answer that belongs to no session (stateless requests) streams: numbered 1, never
    /// resumable, its handler cancelled as soon as its client leaves.
    func statelessStreamOptions() -> PostExchange.StreamOptions {
        PostExchange.StreamOptions(register: nil, limits: limits, resumeGracePeriod: .zero)
    }

    /// The session's streams, if it has any.
    func existingStreams(for sessionID: String) -> SessionStreams? { sessions.withLock { $0[sessionID] } }

    /// Runs `body` for the streams of every session that has any.
    func forEachSession(_ body: (SessionStreams) -> Void) {
        for streams in sessions.withLock({ Array($0.values) }) { body(streams) }
    }

    /// Ends and forgets a session's streams (and what the event store recorded of them).
    func remove(sessionID: String) {
        sessions.withLock { $0.removeValue(forKey: sessionID) }?.finishAll()
        eventStore?.removeSession(sessionID)
    }
}
