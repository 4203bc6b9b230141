#if canImport(Glibc)
    import Glibc
#endif

/// A condition variable for state kept under another lock: whoever changes that state calls ``signal()``; a
/// thread waits with ``wait(until:while:)`` until a predicate over the state turns false, woken by the change
/// itself, never later than a deadline.
///
/// The waiter reads the predicate without holding this signal's mutex (the predicate takes the state's own lock)
/// and only sleeps if no ``signal()`` came since it captured the generation, so a change between the check and
/// the sleep is never lost, and ``signal()`` may be called while the state's lock is held (it never waits).
final class ChangeSignal: @unchecked Sendable {
    // `generation` is guarded by `mutex`.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var generation: UInt64 = 0

    /// Creates a signal whose timed waits use the monotonic clock.
    init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Wakes every waiter to look at the state again.
    func signal() {
        pthread_mutex_lock(mutex)
        generation &+= 1
        pthread_mutex_unlock(mutex)
        pthread_cond_broadcast(condition)
    }

    /// Waits while `predicate` holds, at most until `deadline`.
    /// - Parameters:
    ///   - deadline: the latest return.
    ///   - predicate: the condition to wait out; evaluated after every ``signal()`` (and once at the start).
    /// - Returns: true when `predicate` turned false, false when the deadline came first.
    func wait(until deadline: ContinuousClock.Instant, while predicate: () -> Bool) -> Bool {
        while true {
            pthread_mutex_lock(mutex)
            let seen = generation
            pthread_mutex_unlock(mutex)
            if !predicate() { return true }
            if !block(untilChangeFrom: seen, deadline: deadline) { return !predicate() }
        }
    }

    /// Blocks until the generation differs from `seen` (true) or `deadline` passes (false).
    private func block(untilChangeFrom seen: UInt64, deadline: ContinuousClock.Instant) -> Bool {
        let remaining = deadline - ContinuousClock.now
        guard remaining > .zero else { return false }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let (seconds, attoseconds) = remaining.components
        var nanoseconds = Int(now.tv_nsec) + Int(attoseconds / 1_000_000_000)
        var wake = timespec(tv_sec: now.tv_sec + Int(seconds) + nanoseconds / 1_000_000_000, tv_nsec: 0)
        nanoseconds %= 1_000_000_000
        wake.tv_nsec = nanoseconds
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while generation == seen {
            if pthread_cond_timedwait(condition, mutex, &wake) == ETIMEDOUT { return generation != seen }
        }
        return true
    }
}
