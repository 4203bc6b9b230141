import Synchronization

/// The server→client requests (`sampling/createMessage`, `elicitation/create`, `roots/list`, …) waiting for
/// the client's response, which arrives in another HTTP request: the transport sends each request, and
/// hands every response it receives to ``MCPServer/handleResponse(_:session:)``, which resolves the waiter.
///
/// ```swift
/// let id = server.pendingRequests.makeID()
/// let result = try await server.pendingRequests.request(id: id, timeout: .seconds(60)) {
///     try await stream.send(JSONRPCRequest(id: id, method: "roots/list").value)
/// }
/// ```
package final class PendingRequests: Sendable {
    private typealias Continuation = CheckedContinuation<Result<Value, MCPError>, Never>

    private struct Waiter {
        var sessionID: String?
        var continuation: Continuation?
        var early: Result<Value, MCPError>?
    }

    private let waiters = Mutex<[RequestID: Waiter]>([:])
    private static let counter = Atomic<UInt64>(0)

    /// Creates an empty set of waiters.
    public init() {}

    /// A new request id, unique in the process and hard to guess: `srv-<n>-<12 random base62 characters>`
    /// (so a client cannot answer a request sent to another session).
    public func makeID() -> RequestID {
        let n = Self.counter.wrappingAdd(1, ordering: .relaxed).newValue
        return .string("srv-\(n)-\(SessionIDGenerator.randomBase62(count: 12))")
    }

    /// The number of requests waiting for a response.
    public var count: Int { waiters.withLock { $0.count } }

    /// Registers a waiter for `id`, calls `send` (which must deliver the request to the client), then
    /// suspends until the response is resolved, the timeout passes or the calling task is cancelled.
    ///
    /// A response that arrives while `send` is still running is kept and returned.
    /// - Parameters:
    ///   - id: the request's id (from ``makeID()``); must not be waiting already.
    ///   - timeout: how long to wait for the response, counted from registration.
    ///   - sessionID: the session the request goes to; when set, only a response from that session
    ///     (through ``MCPServer/handleResponse(_:session:)``) resolves it. Default nil.
    ///   - send: delivers the request.
    /// - Returns: the client's `result`.
    /// - Throws: ``MCPError``: the client's error response; -32001 "Request timed out"; -32800 when the
    ///   awaiting task was cancelled; -32603 when the id is already waiting; `send`'s error (an
    ///   ``MCPError`` as is, anything else as -32000).
    public func request(
        id: RequestID, timeout: Duration, sessionID: String? = nil, send: @Sendable () async throws -> Void
    ) async throws(MCPError) -> Value {
        if Task.isCancelled { throw .requestCancelled() }
        let registered = waiters.withLock { all -> Bool in
            guard all[id] == nil else { return false }
            all[id] = Waiter(sessionID: sessionID)
            return true
        }
        guard registered else { throw .internalError("Request id \(id) is already waiting for a response") }
        let timer = Task { [self] in
            do { try await Task.sleep(for: timeout) } catch { return }
            _ = finish(id: id, with: .failure(.requestTimedOut()), sessionID: nil, checkSession: false)
        }
        defer { timer.cancel() }
        do {
            try await send()
        } catch {
            _ = waiters.withLock { $0.removeValue(forKey: id) }
            if let error = error as? MCPError { throw error }
            throw MCPError(
                code: MCPError.Code.connectionClosed, message: "Could not send the request to the client: \(error)")
        }
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: Continuation) in
                let ready = waiters.withLock { all -> Result<Value, MCPError>? in
                    guard var waiter = all[id] else { return .failure(.requestCancelled()) }
                    if let early = waiter.early {
                        all[id] = nil
                        return early
                    }
                    waiter.continuation = continuation
                    all[id] = waiter
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            _ = finish(id: id, with: .failure(.requestCancelled()), sessionID: nil, checkSession: false)
        }
        return try result.get()
    }

    /// Resolves the request waiting for `id` with the client's result or error.
    /// - Parameters:
    ///   - id: the response's id.
    ///   - result: the `result`, or the error of an error response.
    /// - Returns: false when nothing waits for that id (unknown, already answered, timed out or cancelled).
    @discardableResult public func resolve(id: RequestID, with result: Result<Value, MCPError>) -> Bool {
        finish(id: id, with: result, sessionID: nil, checkSession: false)
    }

    /// Resolves a waiter from a response that came from `sessionID`: a waiter bound to another session
    /// is left waiting.
    func resolve(id: RequestID, with result: Result<Value, MCPError>, fromSession sessionID: String?) -> Bool {
        finish(id: id, with: result, sessionID: sessionID, checkSession: true)
    }

    private func finish(
        id: RequestID, with result: Result<Value, MCPError>, sessionID: String?, checkSession: Bool
    ) -> Bool {
        let resume = waiters.withLock { all -> (found: Bool, continuation: Continuation?) in
            guard var waiter = all[id], waiter.early == nil else { return (false, nil) }
            if checkSession, let owner = waiter.sessionID, owner != sessionID { return (false, nil) }
            if let continuation = waiter.continuation {
                all[id] = nil
                return (true, continuation)
            }
            waiter.early = result
            all[id] = waiter
            return (true, nil)
        }
        resume.continuation?.resume(returning: result)
        return resume.found
    }
}
