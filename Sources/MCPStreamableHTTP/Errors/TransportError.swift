import HTTPTypes
import MCPHTTP
import MCPHandlers

/// Why the Streamable HTTP transport refused a request before (or instead of) running it: the one map from a
/// refusal to the wire.
///
/// Every case has exactly one HTTP status (``status``), one JSON-RPC error code (``jsonRPCCode``) and one
/// header set (``headers``: always `Cache-Control: no-store`; `Retry-After` on 503 and on a session quota's 429,
/// `Allow` on 405). The body is a JSON-RPC error response `{"jsonrpc":"2.0","id":…,"error":{"code":…,"message":…}}`
/// (`id` is the request's when it is known, see ``answering(_:)``), except for 405, whose body is the router's
/// `{"error":"method_not_allowed","message":…}` like every other 405 of the application.
///
/// -32000 is the code the MCP SDKs answer transport refusals with (session, header, origin, ownership, quota);
/// parse and message errors use the JSON-RPC codes -32700 and -32600, an unusable session store -32603.
///
/// Endpoint code throws these; ``MCPHTTP/HTTPErrorBoundary`` renders them.
package enum TransportError: Error, Sendable, Hashable {
    /// The `Origin` header is not allowed (DNS-rebinding protection). 403, -32000. The client: send the request
    /// from an allowed origin (the server's own public origin, or one configured in its origin policy).
    case originNotAllowed
    /// ``MCPEndpoint/Configuration/resolveUserID`` returned nil for this request (e.g. a user of another tenant).
    /// 403, -32000. The client: use an account this server accepts.
    case userNotAccepted
    /// A POST whose `Content-Type` is not `application/json`. 415, -32000. The client: send JSON with
    /// `Content-Type: application/json`.
    case unsupportedMediaType
    /// A POST whose `Accept` allows neither `application/json` nor `text/event-stream`. 406, -32000. The client:
    /// send `Accept: application/json, text/event-stream`.
    case notAcceptable
    /// A `GET /mcp` whose `Accept` does not include `text/event-stream`. 406, -32000. The client: send
    /// `Accept: text/event-stream`.
    case eventStreamNotAccepted
    /// A stateless `subscriptions/listen` whose `Accept` does not include `text/event-stream` (its answer is a
    /// stream). 406, -32000. The client: send `Accept: application/json, text/event-stream`.
    case listenNeedsEventStream
    /// The body is not JSON. 400, -32700. The client: send one JSON-RPC message (or a batch) as JSON.
    /// - Parameter detail: what the parser found.
    case parseError(String)
    /// JSON, but not a JSON-RPC message. 400, -32600. The client: fix the message (`jsonrpc`, `id`, `method`).
    /// - Parameter detail: what is wrong with it.
    case invalidMessage(String)
    /// A session-era request other than `initialize` without `Mcp-Session-Id`. 400, -32000. The client: send
    /// the id `initialize` answered with, or `initialize` first.
    case sessionIDRequired
    /// No session has the given `Mcp-Session-Id` (it ended, expired or never existed). 404, -32000. The client:
    /// start a new session with `initialize`.
    case sessionNotFound
    /// A session-era request whose `MCP-Protocol-Version` is not one the server supports. 400, -32000. The
    /// client: send the version negotiated at `initialize`.
    /// - Parameter version: the header's value.
    case unsupportedProtocolVersion(String)
    /// An anonymous request on a session bound to a user. 401, -32000. The client: authenticate as the user
    /// who created the session.
    case authenticationRequired
    /// A request by another user on a session bound to a user. 403, -32000. The client: use its own session.
    case sessionOwnedByAnotherUser
    /// The session store cannot be reached (the session may exist, so never 404). 503 with `Retry-After`,
    /// -32603. The client: retry after the given seconds.
    /// - Parameter retryAfter: ``MCPEndpoint/Configuration/retryAfterWhenFull``.
    case storeUnavailable(retryAfter: Int)
    /// `initialize` with the session store full and no session idle long enough to end. 503 with
    /// `Retry-After`, -32603. The client: retry after the given seconds.
    /// - Parameter retryAfter: ``MCPEndpoint/Configuration/retryAfterWhenFull``.
    case sessionCapacityReached(retryAfter: Int)
    /// `initialize` from an address that holds its session quota. 429 with `Retry-After`, -32000. The client:
    /// end unused sessions (DELETE) or retry once they have expired.
    /// - Parameters:
    ///   - limit: ``MCPHandlers/SessionLimits/maxSessionsPerAddress``.
    ///   - retryAfter: ``MCPEndpoint/Configuration/retryAfterWhenQuotaReached``.
    case addressQuotaReached(limit: Int, retryAfter: Int)
    /// `initialize` by a user who holds its session quota. 429 with `Retry-After`, -32000. The client: end
    /// unused sessions (DELETE) or retry once they have expired.
    /// - Parameters:
    ///   - limit: the per-user limit of ``MCPHandlers/SessionLimits``.
    ///   - retryAfter: ``MCPEndpoint/Configuration/retryAfterWhenQuotaReached``.
    case userQuotaReached(limit: Int, retryAfter: Int)
    /// `initialize` whose `clientInfo` and `capabilities` are larger than the server keeps. 400, -32602. The
    /// client: send less.
    /// - Parameter limit: the most bytes of JSON kept.
    case clientMetadataTooLarge(limit: Int)
    /// A JSON-RPC batch without a session (batches exist only in sessions of 2025-03-26). 400, -32600. The
    /// client: send one message per POST.
    case batchWithoutSession
    /// A JSON-RPC batch in a session whose protocol version has no batches. 400, -32600. The client: send one
    /// message per POST.
    /// - Parameter version: the session's protocol version.
    case batchNotSupported(version: String)
    /// An empty JSON-RPC batch. 400, -32600. The client: send at least one message.
    case emptyBatch
    /// A JSON-RPC batch longer than ``MCPEndpoint/Configuration/maxBatchSize`` (refused whole). 400, -32600. The
    /// client: send fewer messages per batch.
    /// - Parameters:
    ///   - count: the batch's length.
    ///   - limit: the most allowed.
    case batchTooLarge(count: Int, limit: Int)
    /// `GET /mcp` on a server that offers no GET stream (``MCPEndpoint/Configuration/allowsStandaloneStreams``
    /// false, JSON-only responses, or a stateless protocol version). 405 with `Allow: DELETE, POST`, no JSON-RPC
    /// code (the router's error body). The client: do without the stream.
    case standaloneStreamsUnavailable
    /// `Last-Event-ID` is malformed or names no stream of the session. 400, -32000. The client: resume with the
    /// id of an event it received, or open a new stream without `Last-Event-ID`.
    /// - Parameter lastEventID: the header's value.
    case unknownLastEventID(String)
    /// The events after `Last-Event-ID` are no longer kept (``MCPEndpoint/Configuration/replayBufferSize`` and
    /// ``MCPEndpoint/Configuration/replayBufferAge``). 400, -32000. The client: open a new stream without
    /// `Last-Event-ID`.
    /// - Parameter lastEventID: the header's value.
    case cannotResume(String)
    /// The session already has ``MCPEndpoint/Configuration/maxStreamsPerSession`` GET streams open. 429, -32000.
    /// The client: close one before opening another.
    /// - Parameter limit: the most allowed.
    case tooManyStreams(limit: Int)

    /// The HTTP status of the refusal.
    package var status: HTTPResponse.Status {
        switch self {
        case .originNotAllowed, .userNotAccepted, .sessionOwnedByAnotherUser: .forbidden
        case .unsupportedMediaType: .unsupportedMediaType
        case .notAcceptable, .eventStreamNotAccepted, .listenNeedsEventStream: .notAcceptable
        case .parseError, .invalidMessage, .sessionIDRequired, .unsupportedProtocolVersion, .clientMetadataTooLarge,
            .batchWithoutSession, .batchNotSupported, .emptyBatch, .batchTooLarge, .unknownLastEventID, .cannotResume:
            .badRequest
        case .sessionNotFound: .notFound
        case .authenticationRequired: .unauthorized
        case .storeUnavailable, .sessionCapacityReached: .serviceUnavailable
        case .addressQuotaReached, .userQuotaReached, .tooManyStreams: .tooManyRequests
        case .standaloneStreamsUnavailable: .methodNotAllowed
        }
    }

    /// The JSON-RPC error code of the body; nil for ``standaloneStreamsUnavailable`` (405), whose body is not
    /// JSON-RPC.
    package var jsonRPCCode: Int? {
        switch self {
        case .parseError: MCPError.Code.parseError
        case .invalidMessage, .batchWithoutSession, .batchNotSupported, .emptyBatch, .batchTooLarge:
            MCPError.Code.invalidRequest
        case .clientMetadataTooLarge: MCPError.Code.invalidParams
        case .storeUnavailable, .sessionCapacityReached: MCPError.Code.internalError
        case .standaloneStreamsUnavailable: nil
        case .originNotAllowed, .userNotAccepted, .unsupportedMediaType, .notAcceptable, .eventStreamNotAccepted,
            .listenNeedsEventStream, .sessionIDRequired, .sessionNotFound, .unsupportedProtocolVersion,
            .authenticationRequired, .sessionOwnedByAnotherUser, .addressQuotaReached, .userQuotaReached,
            .unknownLastEventID, .cannotResume, .tooManyStreams:
            MCPError.Code.connectionClosed
        }
    }

    /// The message: what happened and what to do.
    package var message: String {
        switch self {
        case .originNotAllowed: "Forbidden: origin not allowed"
        case .userNotAccepted: "Forbidden: user not accepted here"
        case .unsupportedMediaType: "Content-Type must be application/json"
        case .notAcceptable: "Accept must allow application/json or text/event-stream"
        case .eventStreamNotAccepted: "Accept must include text/event-stream"
        case .listenNeedsEventStream: "subscriptions/listen needs Accept: text/event-stream"
        case .parseError(let detail): "Parse error: \(detail)"
        case .invalidMessage(let detail): detail
        case .sessionIDRequired: "Bad Request: Mcp-Session-Id header is required"
        case .sessionNotFound: "Session not found"
        case .unsupportedProtocolVersion(let version): "Unsupported MCP-Protocol-Version: \(version)"
        case .authenticationRequired: "Unauthorized: this session requires authentication"
        case .sessionOwnedByAnotherUser: "Forbidden: the session belongs to another user"
        case .storeUnavailable: "The session store cannot be reached; try again later"
        case .sessionCapacityReached: "Too many live sessions and none idle long enough to end; try again later"
        case .addressQuotaReached(let limit, _):
            "Too many sessions from your address: at most \(limit) may be live at once; end unused ones "
                + "(DELETE /mcp with their Mcp-Session-Id) or retry once they have expired"
        case .userQuotaReached(let limit, _):
            "Too many sessions for your user: at most \(limit) may be live at once; end unused ones "
                + "(DELETE /mcp with their Mcp-Session-Id) or retry once they have expired"
        case .clientMetadataTooLarge(let limit):
            "clientInfo and capabilities take more than \(limit) bytes of JSON; send less"
        case .batchWithoutSession: "JSON-RPC batches are not supported"
        case .batchNotSupported(let version): "JSON-RPC batches are not supported in protocol \(version)"
        case .emptyBatch: "Empty batch"
        case .batchTooLarge(let count, let limit):
            "A batch of \(count) messages exceeds the limit of \(limit); send fewer"
        case .standaloneStreamsUnavailable: "This server offers no GET stream"
        case .unknownLastEventID(let id): "Unknown Last-Event-ID: \(id)"
        case .cannotResume(let id): "Cannot resume after Last-Event-ID \(id)"
        case .tooManyStreams(let limit):
            "This session has \(limit) GET streams open, the most allowed; close one before opening another"
        }
    }

    /// The error object of the body, nil for the 405.
    package var mcpError: MCPError? {
        jsonRPCCode.map { MCPError(code: $0, message: message) }
    }

    /// The same refusal answering the JSON-RPC request `id` (the body's `id`; null when nil).
    /// - Parameter id: the request's id, when known.
    package func answering(_ id: RequestID?) -> TransportRefusal { TransportRefusal(error: self, requestID: id) }
}

extension TransportError: HTTPResponseError {
    /// `Cache-Control: no-store`, plus `Retry-After` (503, quota 429) or `Allow` (405).
    package var headers: HTTPFields {
        var fields: HTTPFields = [.cacheControl: "no-store"]
        switch self {
        case .storeUnavailable(let seconds), .sessionCapacityReached(let seconds),
            .addressQuotaReached(_, let seconds), .userQuotaReached(_, let seconds):
            fields[.retryAfter] = String(seconds)
        case .standaloneStreamsUnavailable:
            fields[.allow] = "DELETE, POST"
        default: break
        }
        return fields
    }

    /// The refusal with a null JSON-RPC `id`.
    package func response(for request: HTTPServerRequest) -> HTTPServerResponse {
        answering(nil).response(for: request)
    }
}

/// A ``TransportError`` answering a known JSON-RPC request: the body carries the request's `id`.
package struct TransportRefusal: HTTPResponseError, Hashable {
    /// The refusal.
    package var error: TransportError
    /// The id of the refused request; nil when unknown (the body's `id` is then null).
    package var requestID: RequestID?

    /// The refusal's status.
    package var status: HTTPResponse.Status { error.status }
    /// The refusal's header set.
    package var headers: HTTPFields { error.headers }

    /// The JSON-RPC error response (or, for 405, the router's error body) with ``status`` and ``headers``.
    package func response(for request: HTTPServerRequest) -> HTTPServerResponse {
        guard let mcpError = error.mcpError else {
            return .error(error.status, code: "method_not_allowed", message: error.message, headerFields: headers)
        }
        return .jsonBytes(status, JSONRPCResponse.failure(id: requestID, error: mcpError), headerFields: headers)
    }
}
