#if canImport(Glibc)
    import Glibc
#endif

/// A lock around a value, for state that every request reads or writes from every accept thread (registries,
/// metric handle caches, the deadline heap): a plain pthread mutex, which puts a waiting thread to sleep at once.
///
/// `Synchronization.Mutex` spins before it sleeps. With more runnable threads than cores (accept threads, nginx
/// and the load itself on two cores) the holder of a short critical section is often preempted, and a waiter that
/// spins then burns its whole time slice: measured, the spinning grew to a third of the worker's CPU with eight
/// accept threads on two cores. A sleeping waiter hands its core to the holder instead.
package final class PlainLock<Value: Sendable>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    /// A lock around `value`.
    package init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value, under the lock.
    package func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }

    /// Runs `body` under the lock if it is free now; nil (`body` not run) when another thread holds it.
    package func withLockIfAvailable<Result, Failure: Error>(
        _ body: (inout Value) throws(Failure) -> Result
    ) throws(Failure) -> Result? {
        guard pthread_mutex_trylock(mutex) == 0 else { return nil }
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
