/// One step of the application's middleware chain: sees every request before the MCP, OAuth, management
/// and custom handlers, and either passes it on (`next`) or answers it itself (a 429 with `Retry-After`, a
/// 403, …). It may change the response `next` returns, e.g. add headers.
///
/// ```swift
/// struct RequestLogger: HTTPMiddleware {
///     let logger: Logger
///     func handle(_ request: HTTPServerRequest, next: HTTPMiddlewareNext) async throws -> HTTPServerResponse {
///         let response = await next(request)
///         logger.info("\(request.head.method.rawValue) \(request.path) → \(response.head.status.code)")
///         return response
///     }
/// }
/// ```
///
/// A middleware that throws an ``HTTPResponseError`` is answered with that error's response; any other error
/// yields a 500 JSON error without details, logged with the request id (``HTTPErrorBoundary``). The
/// transport's own guarantees (sessions, streams, draining) do not depend on it.
public protocol HTTPMiddleware: Sendable {
    /// Handles the request or passes it on.
    /// - Parameters:
    ///   - request: the request (method, path, headers, `remoteAddress`, `remoteUser`).
    ///   - next: the rest of the chain and the route's handler.
    /// - Returns: the response.
    /// - Throws: an ``HTTPResponseError`` to answer with; anything else is answered with a generic 500.
    func handle(_ request: HTTPServerRequest, next: HTTPMiddlewareNext) async throws -> HTTPServerResponse
}

/// The rest of a middleware chain.
public typealias HTTPMiddlewareNext = @Sendable (HTTPServerRequest) async -> HTTPServerResponse

/// A middleware made from a closure.
public struct ClosureMiddleware: HTTPMiddleware {
    private let body: @Sendable (HTTPServerRequest, HTTPMiddlewareNext) async throws -> HTTPServerResponse

    /// Wraps a closure.
    /// - Parameter body: receives the request and the rest of the chain.
    public init(_ body: @escaping @Sendable (HTTPServerRequest, HTTPMiddlewareNext) async throws -> HTTPServerResponse) {
        self.body = body
    }

    /// Calls the closure.
    public func handle(_ request: HTTPServerRequest, next: HTTPMiddlewareNext) async throws -> HTTPServerResponse {
        try await body(request, next)
    }
}

/// Runs middleware in order around a final handler.
package enum MiddlewareChain {
    /// `handler` wrapped by `middleware` (the first element runs first). A thrown ``HTTPResponseError`` is
    /// rendered as ``HTTPErrorBoundary`` renders it; any other error is passed to `onError` and becomes the
    /// boundary's generic 500.
    package static func wrap(
        _ middleware: [any HTTPMiddleware], around handler: @escaping HTTPMiddlewareNext,
        onError: @escaping @Sendable (HTTPServerRequest, any Error) -> Void
    ) -> HTTPMiddlewareNext {
        middleware.reversed().reduce(handler) { next, step in
            { request in
                do {
                    return try await step.handle(request, next: next)
                } catch let error as any HTTPResponseError {
                    return error.response(for: request)
                } catch {
                    onError(request, error)
                    return HTTPErrorBoundary.internalError
                }
            }
        }
    }
}
