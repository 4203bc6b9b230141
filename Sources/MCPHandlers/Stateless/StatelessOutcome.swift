/// What ``MCPServer/handleStateless(_:headers:outbound:user:)`` answers: the JSON-RPC response and the HTTP
/// status to send it with.
public struct StatelessOutcome: Sendable {
    /// The request's id.
    public var id: RequestID
    /// The result (with `resultType`) or the error.
    public var result: Result<Value, MCPError>
    /// 200 for results (including `input_required`); for errors ``MCPError/statelessHTTPStatus``: 400 for
    /// -32602/-32020/-32021/-32022, 404 for -32601 (unknown method), 200 for others.
    public var httpStatus: Int

    /// Creates an outcome; the status follows from the result.
    /// - Parameters:
    ///   - id: the request's id.
    ///   - result: the result or error.
    public init(id: RequestID, result: Result<Value, MCPError>) {
        self.id = id
        self.result = result
        switch result {
        case .success: httpStatus = 200
        case .failure(let error): httpStatus = error.statelessHTTPStatus
        }
    }

    /// True when the request was cancelled (the client closed its stream): send nothing.
    public var isCancelled: Bool {
        if case .failure(let error) = result { return error.code == MCPError.Code.requestCancelled }
        return false
    }

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
