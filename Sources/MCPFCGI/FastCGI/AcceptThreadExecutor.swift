import MCPHTTP
import MCPStreamableHTTP
import MCPHandlers
#if canImport(Glibc)
    import Glibc
#endif

/// The task executor of one accept thread: the thread runs the request's async work itself, so a handler
/// that never suspends on anything else is answered without a single thread hop.
///
/// ``run(_:)`` starts the work in a task that prefers this executor (SE-0417) and *drains* the executor on
/// the calling thread until the work returns its value (the response is decided). While it drains, every
/// job enqueued here — the request's task, its structured children, and any other task that prefers this
/// executor (an earlier request's streaming handler, for instance) — runs on the accept thread; when the
/// queue is empty and the value is not there yet, the thread sleeps on a condition variable until a job
/// arrives (the work is waiting for something another thread does: a sampling answer from another POST,
/// a timer, an actor).
///
/// When the thread does not drain (between two requests, or once the value is there), jobs are forwarded
/// to the global concurrent executor at once, so no job is ever stranded on an executor nobody drains:
/// a streamed answer's handler goes on running on the cooperative pool after the accept thread handed
/// the connection to the ``StreamHub`` and went back to `accept()`.
final class AcceptThreadExecutor: TaskExecutor, @unchecked Sendable {
    // Every stored property below the pointers is guarded by `mutex`.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var jobs: [UnownedJob] = []
    private var draining = false
    private var decided = false
    private var sleeping = false

    /// Creates an executor; one per accept thread, used by that thread only for ``run(_:)``.
    init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        jobs.reserveCapacity(16)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Queues `job` for the draining accept thread, or forwards it to the global concurrent executor
    /// when the thread is not draining.
    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        pthread_mutex_lock(mutex)
        guard draining else {
            pthread_mutex_unlock(mutex)
            Self.forward(job)
            return
        }
        jobs.append(job)
        let wake = sleeping
        pthread_mutex_unlock(mutex)
        if wake { pthread_cond_signal(condition) }
    }

    private static func forward(_ job: UnownedJob) {
        globalConcurrentExecutor.enqueue(ExecutorJob(job))
    }

    /// Runs `work` in a task that prefers this executor and drains the executor on the calling thread until
    /// `work` returns; jobs still queued then are forwarded to the global concurrent executor.
    ///
    /// Must be called from the accept thread that owns this executor, never from inside a task (it blocks).
    /// - Parameter work: the async work; it may suspend, create tasks, and keep tasks running after it returns.
    /// - Returns: what `work` returned.
    func run<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
        let box = ResultBox<T>()
        pthread_mutex_lock(mutex)
        draining = true
        decided = false
        pthread_mutex_unlock(mutex)
        Task(executorPreference: self) { [self] in
            let value = await RequestExecutor.$current.withValue(self) { await work() }
            decide { box.value = value }
        }
        let unowned = asUnownedTaskExecutor()
        var batch: [UnownedJob] = []
        batch.reserveCapacity(16)
        pthread_mutex_lock(mutex)
        while !decided {
            if jobs.isEmpty {
                sleeping = true
                pthread_cond_wait(condition, mutex)
                sleeping = false
                continue
            }
            swap(&batch, &jobs)
            pthread_mutex_unlock(mutex)
            for job in batch { job.runSynchronously(on: unowned) }
            batch.removeAll(keepingCapacity: true)
            pthread_mutex_lock(mutex)
        }
        draining = false
        swap(&batch, &jobs)
        pthread_mutex_unlock(mutex)
        // The answer is ready: whatever else arrived meanwhile runs elsewhere, the response goes out now.
        for job in batch { Self.forward(job) }
        return box.value!
    }

    /// Stores the value (under the lock, which orders it before `run` reads it) and wakes the thread.
    private func decide(_ store: () -> Void) {
        pthread_mutex_lock(mutex)
        store()
        decided = true
        let wake = sleeping
        pthread_mutex_unlock(mutex)
        if wake { pthread_cond_signal(condition) }
    }

    private final class ResultBox<T>: @unchecked Sendable {
        // Written once under the executor's mutex before `decided` is set, read after `run` saw `decided`.
        var value: T?
    }
}
