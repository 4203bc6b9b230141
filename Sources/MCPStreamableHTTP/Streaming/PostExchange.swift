import MCPHandlers
import Synchronization
import MCPHTTP
import MCPOAuth

/// The answer to one POSTed request: plain JSON when the handler finishes before sending anything, an
/// SSE stream as soon as it sends a notification or a request to the client (or runs longer than the
/// streaming threshold), with the result as the stream's last event.
final class PostExchange: ServerOutbound {
    /// How the HTTP response goes out.
    enum Decision: Sendable {
        /// One JSON body.
        case json(Result<Value, MCPError>)
        /// An SSE stream.
        case stream
    }

    private struct State {
        var decision: Decision?
        var waiter: CheckedContinuation<Decision, Never>?
        var stream: EventStream?
    }
    private let state = Mutex(State())
    let requestID: RequestID
    /// Opens the logical stream on the first switch to SSE; nil when the client cannot take SSE.
    private let openStream: (@Sendable () -> EventStream)?
    let connection = ResponseStream()

    /// The logical stream, once the answer switched to SSE.
    var stream: EventStream? { state.withLock { $0.stream } }
    private let server: MCPServer
    private let sessionID: String?

    /// - Parameters:
    ///   - requestID: the request being answered.
    ///   - openStream: opens the session's logical stream for this answer when it switches to SSE; nil
    ///     when the client cannot take SSE (then notifications are dropped and requests to the client fail).
    ///     Called at most once, so answers that stay JSON cost no stream.
    ///   - server: whose pending requests route the client's answers back.
    ///   - sessionID: the session the client's answers must come from.
    init(
        requestID: RequestID, openStream: (@Sendable () -> EventStream)?, server: MCPServer, sessionID: String?
    ) {
        self.requestID = requestID
        self.openStream = openStream
        self.server = server
        self.sessionID = sessionID
    }

    func send(_ notification: JSONRPCNotification) async {
        guard openStream != nil else { return }
        switchToStream()
        stream?.send(notification.value)
    }

    func request(_ method: String, params: Value?) async throws(MCPError) -> Value {
        guard openStream != nil else {
            throw MCPError(
                code: MCPError.Code.internalError,
                message: "\(method) needs a response stream, but the client does not accept text/event-stream")
        }
        let id = server.pendingRequests.makeID()
        let message = JSONRPCRequest(id: id, method: method, params: params).value
        return try await server.pendingRequests.request(
            id: id, timeout: server.configuration.clientRequestTimeout, sessionID: sessionID
        ) {
            self.switchToStream()
            self.stream?.send(message)
        }
    }

    func closeStream() async {
        guard openStream != nil else { return }
        switchToStream()
        stream?.closeConnection()
    }

    /// Whether the answer's form (JSON or SSE) is decided.
    var isDecided: Bool { state.withLock { $0.decision != nil } }

    /// Switches to SSE now (the handler is taking long), when the client can take it.
    func streamIfPossible() {
        if openStream != nil { switchToStream() }
    }

    /// Delivers the handler's outcome: as the JSON body, or as the stream's last event.
    func complete(_ outcome: Result<Value, MCPError>) {
        let (stream, waiter): (EventStream?, CheckedContinuation<Decision, Never>?) = state.withLock { s in
            if case .stream = s.decision { return (s.stream, nil) }
            s.decision = .json(outcome)
            let w = s.waiter
            s.waiter = nil
            return (nil, w)
        }
        if let stream {
            if case .failure(let error) = outcome, error.code == MCPError.Code.requestCancelled {
                // The client cancelled: no response is sent for a cancelled request.
                stream.finish()
                return
            }
            let message: Value
            switch outcome {
            case .success(let result): message = ["jsonrpc": "2.0", "id": requestID.value, "result": result]
            case .failure(let error): message = ["jsonrpc": "2.0", "id": requestID.value, "error": error.value]
            }
            stream.send(message)
            stream.finish()
        } else {
            waiter?.resume(returning: .json(outcome))
        }
    }

    /// Waits for the decision.
    func decision() async -> Decision {
        await withCheckedContinuation { continuation in
            let ready: Decision? = state.withLock { s in
                if let d = s.decision { return d }
                s.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    private func switchToStream() {
        let waiter: CheckedContinuation<Decision, Never>?? = state.withLock { s in
            guard s.decision == nil else { return .none }
            guard let openStream else { return .none }
            s.decision = .stream
            // Attached before the decision is visible to `complete`, so the result cannot miss the connection.
            let stream = openStream()
            stream.attach(connection, after: nil)
            s.stream = stream
            let w = s.waiter
            s.waiter = nil
            return .some(w)
        }
        guard case .some(let w) = waiter else { return }
        w?.resume(returning: .stream)
    }
}
