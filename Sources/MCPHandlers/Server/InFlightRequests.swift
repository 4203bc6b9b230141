import Synchronization

/// The requests being answered, by (session id or `""`, request id), so `notifications/cancelled` can
/// cancel the task doing the work.
///
/// Every request registers here and unregisters at its end, from all accept threads: the entries are spread over
/// 16 locked shards by session id (a session's requests share one, so ``cancelAll(sessionID:reason:)`` locks one).
final class InFlightRequests: Sendable {
    struct Key: Hashable, Sendable {
        var sessionID: String
        var requestID: RequestID
    }

    /// How a request ended.
    struct Outcome: Sendable {
        var cancelled: Bool
        var reason: String?
    }

    private struct Entry {
        var token: UInt64
        var cancel: (@Sendable () -> Void)?
        var cancelled = false
        var reason: String?
    }

    private struct State {
        var nextToken: UInt64 = 0
        var entries: [Key: Entry] = [:]
    }

    private final class Shard: Sendable {
        let state = Mutex(State())
    }
    private static let shardCount = 16
    private let shards: [Shard] = (0..<InFlightRequests.shardCount).map { _ in Shard() }

    /// The shard of a session id: FNV-1a over its bytes.
    private func shard(_ sessionID: String) -> Shard {
        var hash: UInt32 = 2_166_136_261
        for byte in sessionID.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return shards[Int(hash % UInt32(Self.shardCount))]
    }

    /// Registers a request before its work starts; returns the token that ``attach(_:token:cancel:)`` and
    /// ``end(_:token:)`` need (a reused id replaces the older entry).
    func begin(_ key: Key) -> UInt64 {
        shard(key.sessionID).state.withLock { s in
            s.nextToken &+= 1
            s.entries[key] = Entry(token: s.nextToken)
            return s.nextToken
        }
    }

    /// Registers a request together with the way to cancel its work (one lock instead of ``begin(_:)`` then
    /// ``attach(_:token:cancel:)``); returns the token ``end(_:token:)`` needs.
    func begin(_ key: Key, cancel: @escaping @Sendable () -> Void) -> UInt64 {
        shard(key.sessionID).state.withLock { s in
            s.nextToken &+= 1
            s.entries[key] = Entry(token: s.nextToken, cancel: cancel)
            return s.nextToken
        }
    }

    /// Gives a registered request the way to cancel its work; cancels at once when a cancellation
    /// arrived in between.
    func attach(_ key: Key, token: UInt64, cancel: @escaping @Sendable () -> Void) {
        let cancelNow = shard(key.sessionID).state.withLock { s -> Bool in
            guard var entry = s.entries[key], entry.token == token else { return false }
            entry.cancel = cancel
            s.entries[key] = entry
            return entry.cancelled
        }
        if cancelNow { cancel() }
    }

    /// Unregisters a request and says whether it was cancelled.
    func end(_ key: Key, token: UInt64) -> Outcome {
        shard(key.sessionID).state.withLock { s in
            guard let entry = s.entries[key], entry.token == token else { return Outcome(cancelled: false) }
            s.entries[key] = nil
            return Outcome(cancelled: entry.cancelled, reason: entry.reason)
        }
    }

    /// Cancels a request; returns false when no such request is in flight.
    @discardableResult func cancel(_ key: Key, reason: String?) -> Bool {
        let action = shard(key.sessionID).state.withLock { s -> (found: Bool, cancel: (@Sendable () -> Void)?) in
            guard var entry = s.entries[key] else { return (false, nil) }
            entry.cancelled = true
            entry.reason = reason
            s.entries[key] = entry
            return (true, entry.cancel)
        }
        action.cancel?()
        return action.found
    }

    /// Cancels every request of a session; returns how many.
    @discardableResult func cancelAll(sessionID: String, reason: String?) -> Int {
        let keys = shard(sessionID).state.withLock { s in s.entries.keys.filter { $0.sessionID == sessionID } }
        return keys.reduce(0) { $0 + (cancel($1, reason: reason) ? 1 : 0) }
    }

    /// The number of requests in flight.
    var count: Int { shards.reduce(0) { total, shard in total + shard.state.withLock { $0.entries.count } } }
}

/// Cancels the task that runs a request's work, from any thread, only while that task is running it.
///
/// The work registers its own task (``run(_:)``) and unregisters it before returning, under the same lock
/// ``cancel()`` takes, so the task handle is never used after the work is over; a cancellation that comes
/// before the work started cancels it as soon as it starts.
final class ChildTaskCanceller: @unchecked Sendable {
    // Guarded by `lock`.
    private var task: UnsafeCurrentTask?
    private var cancelled = false
    private let lock = Mutex(())

    /// Runs `body` in the current task, cancellable by ``cancel()`` meanwhile.
    func run<T>(_ body: () async -> T) async -> T {
        withUnsafeCurrentTask { current in
            let cancelNow = lock.withLock { _ in
                task = current
                return cancelled
            }
            if cancelNow { current?.cancel() }
        }
        let value = await body()
        lock.withLock { _ in task = nil }
        return value
    }

    /// Cancels the work's task if it is running; marks the work cancelled otherwise.
    func cancel() {
        lock.withLock { _ in
            cancelled = true
            task?.cancel()
        }
    }
}
