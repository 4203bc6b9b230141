/// How a stateless (2026-07-28) request ended, in protocol terms; a transport maps it to its own status
/// (the Streamable HTTP transport: 200, 400, 404).
public enum StatelessDisposition: Sendable, Hashable, CaseIterable {
    /// A result, including `input_required`.
    case result
    /// The request itself is unacceptable: not JSON (-32700), not a valid request (-32600), wrong params
    /// (-32602), mirrored headers that do not match (-32020), an undeclared client capability (-32021) or an
    /// unsupported protocol version (-32022).
    case rejected
    /// The method does not exist in this revision (-32601).
    case unknownMethod
    /// A well-formed request whose handling failed: the error is the answer (any other code).
    case failed
    /// The request was cancelled (-32800): nothing is sent.
    case cancelled

    /// The disposition of a result or error.
    /// - Parameter result: what the server answered.
    public init(_ result: Result<Value, MCPError>) {
        switch result {
        case .success: self = .result
        case .failure(let error):
            switch error.code {
            case MCPError.Code.parseError, MCPError.Code.invalidRequest, MCPError.Code.invalidParams,
                MCPError.Code.headerMismatch, MCPError.Code.missingRequiredClientCapability,
                MCPError.Code.unsupportedProtocolVersion:
                self = .rejected
            case MCPError.Code.methodNotFound: self = .unknownMethod
            case MCPError.Code.requestCancelled: self = .cancelled
            default: self = .failed
            }
        }
    }
}
