import HTTPTypes
import Logging

/// An error that decides its own HTTP response, in the spirit of hummingbird's `HTTPResponseError`.
///
/// Handlers `throw` such errors; ``HTTPErrorBoundary`` turns them into the response. An error that does not
/// conform becomes a generic 500 (see ``HTTPErrorBoundary/response(for:request:logger:)``).
///
/// ```swift
/// struct Teapot: HTTPResponseError {
///     var status: HTTPResponse.Status { .init(code: 418) }
///     var headers: HTTPFields { [.cacheControl: "no-store"] }
///     func response(for request: HTTPServerRequest) -> HTTPServerResponse {
///         .error(status, code: "teapot", message: "I am a teapot", headerFields: headers)
///     }
/// }
/// ```
public protocol HTTPResponseError: Error, Sendable {
    /// The HTTP status the error is answered with.
    var status: HTTPResponse.Status { get }
    /// The header fields the response carries besides `Content-Type` (e.g. `Allow`, `Retry-After`,
    /// `WWW-Authenticate`, `Cache-Control`).
    var headers: HTTPFields { get }
    /// The whole response: ``status``, ``headers`` and a body. Default: ``status`` and ``headers`` with no body.
    /// - Parameter request: the request being answered.
    func response(for request: HTTPServerRequest) -> HTTPServerResponse
}

extension HTTPResponseError {
    /// ``status`` and ``headers`` with no body.
    public func response(for request: HTTPServerRequest) -> HTTPServerResponse {
        HTTPServerResponse(status: status, headerFields: headers)
    }
}

/// The one place thrown errors become responses.
///
/// An ``HTTPResponseError`` answers with its own ``HTTPResponseError/response(for:)``; any other error is
/// logged (at error level, with the request id) and answered with a 500 whose body never contains the error's
/// description: `{"error":"internal_error","message":"Internal server error"}` with `Cache-Control: no-store`.
public enum HTTPErrorBoundary {
    /// The response to a thrown error.
    /// - Parameters:
    ///   - error: what the handler threw.
    ///   - request: the request being answered.
    ///   - logger: where a non-conforming error is logged.
    /// - Returns: the error's own response, or the generic 500.
    public static func response(for error: any Error, request: HTTPServerRequest, logger: Logger)
        -> HTTPServerResponse
    {
        if let error = error as? any HTTPResponseError { return error.response(for: request) }
        logger.error(
            "request failed with an unexpected error",
            metadata: ["http.request.id": "\(request.requestID)", "error": "\(String(reflecting: error))"])
        return internalError
    }

    /// Runs a throwing handler and renders what it throws with ``response(for:request:logger:)``.
    /// - Parameters:
    ///   - request: the request, passed to `handler`.
    ///   - logger: where a non-conforming error is logged.
    ///   - handler: the handler.
    /// - Returns: the handler's response or the rendered error.
    public static func respond(
        to request: HTTPServerRequest, logger: Logger,
        _ handler: (HTTPServerRequest) async throws -> HTTPServerResponse
    ) async -> HTTPServerResponse {
        do {
            return try await handler(request)
        } catch {
            return response(for: error, request: request, logger: logger)
        }
    }

    /// The generic 500 answered for an error that is not an ``HTTPResponseError``.
    public static var internalError: HTTPServerResponse {
        .error(
            .internalServerError, code: "internal_error", message: "Internal server error",
            headerFields: [.cacheControl: "no-store"])
    }
}
