/// What ``MCPServer/handleStateless(_:headers:outbound:user:)`` answers: the JSON-RPC response and how the
/// request ended (``disposition``), which a transport maps to its own status.
public struct StatelessOutcome: Sendable {
    /// The request's id.
    public var id: RequestID
    /// The result (with `resultType`) or the error.
    public var result: Result<Value, MCPError>
    /// How the request ended, from ``result``: a result, a rejected request, an unknown method, a failure or a
    /// cancellation.
    public var disposition: StatelessDisposition { StatelessDisposition(result) }

    /// Creates an outcome.
    /// - Parameters:
    ///   - id: the request's id.
    ///   - result: the result or error.
    public init(id: RequestID, result: Result<Value, MCPError>) {
        self.id = id
        self.result = result
    }

    /// True when the request was cancelled (the client closed its stream): send nothing.
    public var isCancelled: Bool { disposition == .cancelled }

    /// True for an `input_required` result.
    public var isInputRequired: Bool {
        if case .success(let value) = result { return value["resultType"] == "input_required" }
        return false
    }

    /// The response message.
    public var message: JSONRPCMessage {
        switch result {
        case .success(let value): return .response(id: id, result: value)
        case .failure(let error): return .errorResponse(id: id, error: error)
        }
    }

    /// The response body: `{"jsonrpc":"2.0","id":…,"result"|"error":…}`.
    public var body: [UInt8] {
        switch result {
        case .success(let value): return JSONRPCResponse.success(id: id, result: value)
        case .failure(let error): return JSONRPCResponse.failure(id: id, error: error)
        }
    }
}
