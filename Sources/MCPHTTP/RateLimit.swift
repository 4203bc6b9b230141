import Metrics
/// A token bucket per caller: `burst` requests at once, refilled at `perMinute` a minute.
public struct RateLimit: Sendable, Equatable {
    /// Bucket size: requests allowed in a burst. Default 20.
    public var burst: Int
    /// Refill rate, requests per minute. Default 60.
    public var perMinute: Int

    /// Creates a limit; every parameter has the default documented on its property.
    public init(burst: Int = 20, perMinute: Int = 60) {
        self.burst = burst
        self.perMinute = perMinute
    }

    /// No limit.
    public static let unlimited = RateLimit(burst: .max, perMinute: .max)
}

/// Which rate-limit bucket ran out: the `bucket` label of `mcpfcgi_rate_limited_total`.
public enum RateLimitBucket: String, Sendable, CaseIterable {
    /// The caller's address (at the OAuth endpoints an IPv6 caller's /64).
    case address
    /// An authenticated OAuth client, from every address together.
    case client

    /// The `mcpfcgi_rate_limited_total{bucket}` counter of this bucket.
    package func counter(factory: any MetricsFactory) -> Counter {
        Counter(label: "mcpfcgi_rate_limited_total", dimensions: [("bucket", rawValue)], factory: factory)
    }
}
