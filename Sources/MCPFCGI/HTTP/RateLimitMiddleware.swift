import Foundation
import HTTPTypes

/// A middleware that limits requests per caller with a token bucket and answers 429 with `Retry-After`
/// when a caller is over its limit (the seed's "Rate limiting" preHandler, in Swift).
public struct RateLimitMiddleware: HTTPMiddleware {
    private let limiter: RateLimiter
    private let key: @Sendable (HTTPServerRequest) -> String?

    /// Creates the middleware.
    /// - Parameters:
    ///   - limit: bucket size and refill rate per caller.
    ///   - key: what identifies a caller; nil exempts the request. Default: the client address nginx saw.
    public init(
        limit: RateLimit, key: @escaping @Sendable (HTTPServerRequest) -> String? = { $0.remoteAddress }
    ) {
        self.limiter = RateLimiter(limit: limit, now: { Date() })
        self.key = key
    }

    /// Passes the request on, or answers 429 `{"error":"rate_limited",…}` with `Retry-After`.
    public func handle(_ request: HTTPServerRequest, next: HTTPMiddlewareNext) async throws -> HTTPServerResponse {
        guard let caller = key(request), let wait = limiter.take(["http|" + caller]) else {
            return await next(request)
        }
        var response = HTTPServerResponse.error(.tooManyRequests, code: "rate_limited", message: "Rate limit exceeded")
        response.head.headerFields[.retryAfter] = String(wait)
        return response
    }
}
