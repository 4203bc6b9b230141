import Foundation
import HTTPTypes
import Metrics

/// A middleware that limits requests per caller with a token bucket and answers 429 with `Retry-After`
/// when a caller is over its limit (the seed's "Rate limiting" preHandler, in Swift).
public struct RateLimitMiddleware: HTTPMiddleware {
    private let limiter: RateLimiter
    private let key: @Sendable (HTTPServerRequest) -> String?
    private let limited: Counter

    /// Creates the middleware.
    /// - Parameters:
    ///   - limit: bucket size and refill rate per caller.
    ///   - key: what identifies a caller; nil exempts the request. Default: the client address nginx saw.
    ///   - metricsBucket: the `bucket` label its 429s are counted under in `mcpfcgi_rate_limited_total`. Default
    ///     ``RateLimitBucket/address`` (right for the default `key`); ``RateLimitBucket/client`` for a key that names
    ///     an authenticated client.
    ///   - metricsFactory: the swift-metrics backend; nil (default): the process-wide `MetricsSystem.factory`, read
    ///     now, so bootstrap `MetricsSystem` first.
    public init(
        limit: RateLimit, key: @escaping @Sendable (HTTPServerRequest) -> String? = { $0.remoteAddress },
        metricsBucket: RateLimitBucket = .address, metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.limiter = RateLimiter(limit: limit, now: { Date() })
        self.key = key
        self.limited = metricsBucket.counter(factory: metricsFactory ?? MetricsSystem.factory)
    }

    /// Passes the request on, or answers 429 `{"error":"rate_limited",…}` with `Retry-After` (counted in
    /// `mcpfcgi_rate_limited_total{bucket}`).
    public func handle(_ request: HTTPServerRequest, next: HTTPMiddlewareNext) async throws -> HTTPServerResponse {
        guard let caller = key(request), let wait = limiter.take(["http|" + caller]) else {
            return await next(request)
        }
        limited.increment()
        var response = HTTPServerResponse.error(.tooManyRequests, code: "rate_limited", message: "Rate limit exceeded")
        response.head.headerFields[.retryAfter] = String(wait)
        return response
    }
}
