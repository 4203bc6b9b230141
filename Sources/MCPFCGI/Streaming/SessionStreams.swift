import MCPHandlers
import Synchronization

/// The SSE streams of one session: numbering, lookup for `Last-Event-ID`, and the choice of the GET
/// stream that carries each server-initiated message (exactly one, round robin).
public final class SessionStreams: Sendable {
    private struct State {
        var nextID = 1
        var streams: [Int: EventStream] = [:]
        var order: [Int] = []
        var roundRobin = 0
    }
    private let state = Mutex(State())
    private let limits: EventStream.Limits
    private let maxStreams: Int

    init(limits: EventStream.Limits, maxStreams: Int) {
        self.limits = limits
        self.maxStreams = maxStreams
    }

    /// A new stream; the oldest finished or unconnected streams are forgotten beyond the limit.
    func open(isStandalone: Bool) -> EventStream {
        state.withLock { s in
            let stream = EventStream(id: s.nextID, isStandalone: isStandalone, limits: limits)
            s.nextID += 1
            s.streams[stream.id] = stream
            s.order.append(stream.id)
            while s.order.count > maxStreams,
                let index = s.order.firstIndex(where: { s.streams[$0]?.isConnected == false })
            {
                s.streams.removeValue(forKey: s.order.remove(at: index))
            }
            return stream
        }
    }

    /// The stream with that number, if still known.
    func stream(id: Int) -> EventStream? { state.withLock { $0.streams[id] } }

    /// Sends a server-initiated message on one connected GET stream.
    /// - Returns: false when no GET stream is open.
    @discardableResult func sendOnStandalone(_ message: Value) -> Bool {
        let target: EventStream? = state.withLock { s in
            let candidates = s.order.compactMap { s.streams[$0] }.filter { $0.isStandalone && $0.isConnected }
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
public final class StreamRegistry: Sendable {
    private let sessions = Mutex<[String: SessionStreams]>([:])
    private let limits: EventStream.Limits
    private let maxStreamsPerSession: Int

    init(limits: EventStream.Limits, maxStreamsPerSession: Int) {
        self.limits = limits
        self.maxStreamsPerSession = maxStreamsPerSession
    }

    /// The session's streams, created on first use.
    func streams(for sessionID: String) -> SessionStreams {
        sessions.withLock { all in
            if let existing = all[sessionID] { return existing }
            let created = SessionStreams(limits: limits, maxStreams: maxStreamsPerSession)
            all[sessionID] = created
            return created
        }
    }

    /// A stream that belongs to no session (stateless requests): numbered 1, never resumable.
    func detachedStream() -> EventStream {
        EventStream(id: 1, isStandalone: false, limits: limits)
    }

    /// The session's streams, if it has any.
    func existingStreams(for sessionID: String) -> SessionStreams? { sessions.withLock { $0[sessionID] } }

    /// Runs `body` for the streams of every session that has any.
    func forEachSession(_ body: (SessionStreams) -> Void) {
        for streams in sessions.withLock({ Array($0.values) }) { body(streams) }
    }

    /// Ends and forgets a session's streams.
    func remove(sessionID: String) {
        sessions.withLock { $0.removeValue(forKey: sessionID) }?.finishAll()
    }
}
