import Foundation
import Synchronization

/// Token buckets by key (`token|addr:1.2.3.4`, `token|client:abc`), behind a `Mutex`.
final class RateLimiter: Sendable {
    private struct Bucket { var tokens: Double; var updated: Date }
    private let limit: RateLimit
    private let buckets = Mutex<[String: Bucket]>([:])
    private let maximumKeys: Int
    private let now: @Sendable () -> Date

    init(limit: RateLimit, maximumKeys: Int = 50_000, now: @escaping @Sendable () -> Date) {
        self.limit = limit
        self.maximumKeys = maximumKeys
        self.now = now
    }

    /// Takes one token from each key's bucket; returns nil when allowed, else the seconds to wait.
    func take(_ keys: [String]) -> Int? {
        guard limit.burst != .max else { return nil }
        let now = now()
        let rate = Double(limit.perMinute) / 60
        let burst = Double(limit.burst)
        return buckets.withLock { buckets in
            if buckets.count > maximumKeys {
                buckets = buckets.filter { now.timeIntervalSince($0.value.updated) * rate < burst }
            }
            var wait: Double = 0
            var refreshed: [String: Bucket] = [:]
            for key in keys {
                var bucket = buckets[key] ?? Bucket(tokens: burst, updated: now)
                bucket.tokens = min(burst, bucket.tokens + max(0, now.timeIntervalSince(bucket.updated)) * rate)
                bucket.updated = now
                if bucket.tokens < 1 { wait = max(wait, rate > 0 ? (1 - bucket.tokens) / rate : 60) }
                refreshed[key] = bucket
            }
            if wait > 0 {
                buckets.merge(refreshed) { $1 }
                return max(1, Int(wait.rounded(.up)))
            }
            for (key, var bucket) in refreshed {
                bucket.tokens -= 1
                buckets[key] = bucket
            }
            return nil
        }
    }
}
