import MCPHandlers
import Synchronization

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
    }
    private let state = Mutex(State())
    let requestID: RequestID
    let stream: EventStream?
    let connection = ResponseStream()
    private let server: MCPServer
    private let sessionID: String?

    /// - Parameters:
    ///   - requestID: the request being answered.
    ///   - stream: the session's logical stream for this answer; nil when the client cannot take SSE
    ///     (then notifications are dropped and requests to the client fail).
    ///   - server: whose pending requests route the client's answers back.
    init(requestID: RequestID, stream: EventStream?, server: MCPServer, sessionID: String?) {
        self.requestID = requestID
        self.stream = stream
        self.server = server
        self.sessionID = sessionID
    }

    func send(_ notification: JSONRPCNotification) async {
        guard let stream else { return }
        switchToStream()
        stream.send(notification.value)
    }

    func request(_ method: String, params: Value?) async throws(MCPError) -> Value {
        guard let stream else {
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
            stream.send(message)
        }
    }

    func closeStream() async {
        guard let stream else { return }
        switchToStream()
        stream.closeConnection()
    }

    /// Switches to SSE now (the handler is taking long), when the client can take it.
    func streamIfPossible() {
        if stream != nil { switchToStream() }
    }

    /// Delivers the handler's outcome: as the JSON body, or as the stream's last event.
    func complete(_ outcome: Result<Value, MCPError>) {
        let (streaming, waiter): (Bool, CheckedContinuation<Decision, Never>?) = state.withLock { s in
            if case .stream = s.decision { return (true, nil) }
            s.decision = .json(outcome)
            let w = s.waiter
            s.waiter = nil
            return (false, w)
        }
        if streaming, let stream {
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
            s.decision = .stream
            let w = s.waiter
            s.waiter = nil
            return .some(w)
        }
        guard case .some(let w) = waiter else { return }
        stream?.attach(connection, after: nil)
        w?.resume(returning: .stream)
    }
}
