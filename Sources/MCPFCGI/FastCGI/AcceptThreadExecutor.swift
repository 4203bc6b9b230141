import MCPHTTP
import MCPStreamableHTTP
import MCPHandlers
#if canImport(Glibc)
    import Glibc
#endif

/// The task executor of one accept thread: the thread runs the request's async work itself, so a handler
/// that never suspends on anything else is answered without a single thread hop.
///
/// ``run(_:)`` hands the work to the executor's *serving task* — one long-lived task per accept thread that prefers
/// this executor (SE-0417) and runs one request's work after the other — and *drains* the executor on the calling
/// thread until the work returns its value (the response is decided). One task for every request, rather than one per
/// request, spares each request the task's creation and, above all, its stack: a task allocates the frames of its
/// async functions in slabs it keeps for reuse, so a new task per request allocated a fresh slab for most frames of the
/// call chain (about 25 `malloc`s of a kilobyte per `tools/call`), while the serving task reuses the same few.
///
/// While it drains, every job enqueued here — the serving task, the request's structured children, and any other
/// task that prefers this executor (an earlier request's streaming handler, for instance) — runs on the accept
/// thread; when the queue is empty and the value is not there yet, the thread sleeps on a condition variable until
/// a job arrives (the work is waiting for something another thread does: a sampling answer from another POST, a
/// timer, an actor).
///
/// When the thread does not drain (between two requests, or once the value is there), jobs are forwarded
/// to the global concurrent executor at once, so no job is ever stranded on an executor nobody drains:
/// a streamed answer's handler goes on running on the cooperative pool after the accept thread handed
/// the connection to the ``StreamHub`` and went back to `accept()`.
final class AcceptThreadExecutor: TaskExecutor, @unchecked Sendable {
    /// One request's work, as the serving task runs it (it stores the value and calls ``decide(_:)`` itself).
    private typealias Work = any ServedWork

    // Every stored property below the pointers is guarded by `mutex`, but `batch` (the accept thread's own).
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var jobs: [UnownedJob] = []
    private var draining = false
    private var decided = false
    private var sleeping = false
    /// Work handed over before the serving task asked for it.
    private var pending: Work?
    /// The serving task, suspended until the next work arrives.
    private var waiter: UnsafeContinuation<Work?, Never>?
    private var servingTaskStarted = false
    private var finished = false
    /// The jobs being run by the draining thread (swapped with `jobs`, so neither array is allocated again).
    private var batch: [UnownedJob] = []

    /// Creates an executor; one per accept thread, used by that thread only for ``run(_:)``.
    init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        jobs.reserveCapacity(16)
        batch.reserveCapacity(16)
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

    /// Runs `work` in the serving task and drains the executor on the calling thread until `work` returns; jobs still
    /// queued then are forwarded to the global concurrent executor.
    ///
    /// Must be called from the accept thread that owns this executor, never from inside a task (it blocks), and not
    /// after ``finish()``.
    /// - Parameter work: the async work; it may suspend, create tasks, and keep tasks running after it returns.
    /// - Returns: what `work` returned.
    func run<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
        let item = Served(work, executor: self)
        pthread_mutex_lock(mutex)
        precondition(!finished, "AcceptThreadExecutor.run after finish()")
        draining = true
        decided = false
        let startServingTask = !servingTaskStarted
        servingTaskStarted = true
        let resume = waiter
        waiter = nil
        if resume == nil { pending = item }
        pthread_mutex_unlock(mutex)
        if let resume {
            resume.resume(returning: item)
        } else if startServingTask {
            Task(executorPreference: self) { [self] in
                await RequestExecutor.$current.withValue(self) {
                    while let next = await nextWork() { await next.serve() }
                }
            }
        }
        let unowned = asUnownedTaskExecutor()
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
        batch.removeAll(keepingCapacity: true)
        return item.value!
    }

    /// Ends the serving task once it has finished its current work (the accept thread stops serving).
    func finish() {
        pthread_mutex_lock(mutex)
        finished = true
        let resume = waiter
        waiter = nil
        pthread_mutex_unlock(mutex)
        resume?.resume(returning: nil)
    }

    /// The serving task's next work: handed over already, or awaited; nil once ``finish()`` was called.
    private func nextWork() async -> Work? {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Work?, Never>) in
            pthread_mutex_lock(mutex)
            if let item = pending {
                pending = nil
                pthread_mutex_unlock(mutex)
                continuation.resume(returning: item)
            } else if finished {
                pthread_mutex_unlock(mutex)
                continuation.resume(returning: nil)
            } else {
                waiter = continuation
                pthread_mutex_unlock(mutex)
            }
        }
    }

    /// Stores the value (under the lock, which orders it before `run` reads it) and wakes the thread.
    fileprivate func decide(_ store: () -> Void) {
        pthread_mutex_lock(mutex)
        store()
        decided = true
        let wake = sleeping
        pthread_mutex_unlock(mutex)
        if wake { pthread_cond_signal(condition) }
    }

}

/// One request's work for the serving task, type-erased.
private protocol ServedWork: Sendable {
    /// Runs the work, stores its value and tells the executor.
    func serve() async
}

/// One request's work and, once it returned, its value: a single object per request.
private final class Served<T: Sendable>: ServedWork, @unchecked Sendable {
    private let work: @Sendable () async -> T
    private unowned let executor: AcceptThreadExecutor
    // Written once under the executor's mutex before `decided` is set, read after `run` saw `decided`.
    var value: T?

    init(_ work: @escaping @Sendable () async -> T, executor: AcceptThreadExecutor) {
        self.work = work
        self.executor = executor
    }

    func serve() async {
        let value = await work()
        executor.decide { self.value = value }
    }
}
