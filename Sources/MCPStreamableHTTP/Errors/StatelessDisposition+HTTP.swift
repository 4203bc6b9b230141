import HTTPTypes
import MCPHandlers

extension StatelessDisposition {
    /// The HTTP status a stateless (2026-07-28) answer is sent with: 200 for a result (including
    /// `input_required`) and for the error answer to a well-formed request (``failed``), 400 for a rejected
    /// request (-32700, -32600, -32602, -32020, -32021, -32022), 404 for an unknown method (-32601). A cancelled
    /// request is answered with nothing; 200 is given for completeness.
    package var httpStatus: HTTPResponse.Status {
        switch self {
        case .result, .failed, .cancelled: .ok
        case .rejected: .badRequest
        case .unknownMethod: .notFound
        }
    }
}
