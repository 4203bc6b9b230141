import Foundation
import Synchronization

/// Token buckets by key (`token|addr:1.2.3.4`, `token|client:abc`), behind a `Mutex`.
package final class RateLimiter: Sendable {
    private struct Bucket { var tokens: Double; var updated: Date }
    private let limit: RateLimit
    private let buckets = Mutex<[String: Bucket]>([:])
    private let shrinks = Mutex(0)
    private let maximumKeys: Int
    private let now: @Sendable () -> Date

    package init(limit: RateLimit, maximumKeys: Int = 50_000, now: @escaping @Sendable () -> Date) {
        self.limit = limit
        self.maximumKeys = maximumKeys
        self.now = now
    }

    /// Bounds the table: drops the buckets that have refilled (a full bucket is the same as none), then, if there
    /// are still more than `target` (more callers active than keys allowed), the least recently charged ones (the
    /// closest to full). Shrinking to three quarters of the maximum makes the O(n log n) clean-up happen at most
    /// once per `maximumKeys / 4` new keys, so its cost per request stays constant however many keys there are.
    private static func shrink(_ buckets: inout [String: Bucket], to target: Int, now: Date, rate: Double, burst: Double) {
        buckets = buckets.filter { now.timeIntervalSince($0.value.updated) * rate + $0.value.tokens < burst }
        guard buckets.count > target else { return }
        let oldest = buckets.sorted { $0.value.updated < $1.value.updated }.prefix(buckets.count - target)
        for (key, _) in oldest { buckets[key] = nil }
    }

    /// The number of keys held (tests).
    var keyCount: Int { buckets.withLock { $0.count } }
    /// How many times the table was cleaned up (tests).
    var cleanupCount: Int { shrinks.withLock { $0 } }

    /// Takes one token from each key's bucket; returns nil when allowed, else the seconds to wait.
    package func take(_ keys: [String]) -> Int? {
        guard limit.burst != .max else { return nil }
        let now = now()
        let rate = Double(limit.perMinute) / 60
        let burst = Double(limit.burst)
        return buckets.withLock { buckets in
            if buckets.count > maximumKeys {
                Self.shrink(&buckets, to: maximumKeys * 3 / 4, now: now, rate: rate, burst: burst)
                shrinks.withLock { $0 += 1 }
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
