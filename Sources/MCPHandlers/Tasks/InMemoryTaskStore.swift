import Synchronization

/// Tasks in this process's memory (the default ``TaskStore``): bounded by ``TaskLimits``, forgotten once their ttl
/// has passed, lost when the process stops.
public final class InMemoryTaskStore: TaskStore {
    private struct State {
        var tasks: [String: TaskRecord] = [:]
        /// Unexpired tasks per session, user and address (the quotas' counts).
        var perSession: [String: Int] = [:]
        var perUser: [String: Int] = [:]
        var perAddress: [String: Int] = [:]
        /// Callers of ``waitUntilTerminal(id:timeout:)``, per task, by waiter number.
        var waiters: [String: [UInt64: CheckedContinuation<TaskRecord?, Never>]] = [:]
        /// Waiters cancelled before they registered.
        var abandoned: Set<UInt64> = []
        var nextWaiter: UInt64 = 0
        /// The timeout of each registered waiter.
        var timers: [UInt64: Task<Void, Never>] = [:]
        var lastPurge = -Double.infinity
    }
    private let state = Mutex(State())
    private let wallClock: @Sendable () -> Double

    /// Creates an empty store.
    /// - Parameter wallClock: the current wall-clock time in seconds since 1970 (for expiry while waiting).
    ///   Default the system clock.
    public init(wallClock: @escaping @Sendable () -> Double = MCPServer.wallClockSeconds) {
        self.wallClock = wallClock
    }

    /// Records the task unless a bound refuses it (see ``TaskStore/create(_:limits:)``).
    public func create(_ task: TaskRecord, limits: TaskLimits) -> TaskCreation {
        state.withLock { s in
            Self.purge(&s, now: task.createdAt, force: false)
            if s.tasks.count >= limits.capacity { Self.purge(&s, now: task.createdAt, force: true) }
            guard s.tasks.count < limits.capacity else { return .full }
            if let session = task.sessionID, s.perSession[session, default: 0] >= limits.maxTasksPerSession {
                return .sessionQuotaReached(limit: limits.maxTasksPerSession)
            }
            if let user = task.user, s.perUser[user, default: 0] >= limits.maxTasksPerUser {
                return .userQuotaReached(limit: limits.maxTasksPerUser)
            }
            if let address = task.clientAddress, s.perAddress[address, default: 0] >= limits.maxTasksPerAddress {
                return .addressQuotaReached(limit: limits.maxTasksPerAddress)
            }
            s.tasks[task.id] = task
            if let session = task.sessionID { s.perSession[session, default: 0] += 1 }
            if let user = task.user { s.perUser[user, default: 0] += 1 }
            if let address = task.clientAddress { s.perAddress[address, default: 0] += 1 }
            return .created
        }
    }

    /// The task, nil when unknown or expired.
    public func task(id: String, now: Double) -> TaskRecord? {
        state.withLock { s in
            guard let task = s.tasks[id] else { return nil }
            guard task.expiresAt > now else {
                Self.forget(id, in: &s)
                return nil
            }
            return task
        }
    }

    /// Changes a task that is not terminal (see ``TaskStore/update(id:status:message:outcome:now:)``).
    public func update(
        id: String, status: TaskStatus?, message: String?, outcome: Result<Value, MCPError>?, now: Double
    ) -> TaskRecord? {
        let (task, woken) = state.withLock { s -> (TaskRecord?, [CheckedContinuation<TaskRecord?, Never>]) in
            guard var task = s.tasks[id] else { return (nil, []) }
            guard !task.status.isTerminal else { return (task, []) }
            if let status { task.status = status }
            task.statusMessage = message
            task.lastUpdatedAt = max(task.lastUpdatedAt, now)
            if task.status.isTerminal { task.outcome = outcome }
            s.tasks[id] = task
            guard task.status.isTerminal, let waiting = s.waiters.removeValue(forKey: id) else { return (task, []) }
            for number in waiting.keys { s.timers.removeValue(forKey: number)?.cancel() }
            return (task, Array(waiting.values))
        }
        for continuation in woken { continuation.resume(returning: task) }
        return task
    }

    /// The owner's unexpired tasks, oldest first.
    public func tasks(owner: String, now: Double) -> [TaskRecord] {
        state.withLock { s in
            Self.purge(&s, now: now, force: false)
            return s.tasks.values.filter { $0.owner == owner && $0.expiresAt > now }
                .sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        }
    }

    /// Waits until the task is terminal (see ``TaskStore/waitUntilTerminal(id:timeout:)``); the caller's
    /// cancellation ends the wait at once.
    public func waitUntilTerminal(id: String, timeout: Duration) async -> TaskRecord? {
        let number = state.withLock { s in
            s.nextWaiter &+= 1
            return s.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<TaskRecord?, Never>) in
                let now = wallClock()
                let immediate: TaskRecord?? = state.withLock { s in
                    if s.abandoned.remove(number) != nil { return .some(s.tasks[id]) }
                    guard let task = s.tasks[id], task.expiresAt > now else { return .some(nil) }
                    if task.status.isTerminal { return .some(task) }
                    s.waiters[id, default: [:]][number] = continuation
                    return .none
                }
                if let immediate {
                    continuation.resume(returning: immediate)
                    return
                }
                let timer = Task { [weak self] in
                    try? await Task.sleep(for: timeout)
                    guard !Task.isCancelled else { return }
                    self?.wake(id, number)
                }
                let late = state.withLock { s in
                    guard s.waiters[id]?[number] != nil else { return true }
                    s.timers[number] = timer
                    return false
                }
                if late { timer.cancel() }
            }
        } onCancel: {
            wake(id, number)
        }
    }

    /// Ends one wait with the task as it stands (timeout or cancellation).
    private func wake(_ id: String, _ number: UInt64) {
        let (continuation, task) = state.withLock { s -> (CheckedContinuation<TaskRecord?, Never>?, TaskRecord?) in
            guard let continuation = s.waiters[id]?.removeValue(forKey: number) else {
                // Not registered yet (cancelled first) or woken already.
                s.abandoned.insert(number)
                return (nil, nil)
            }
            if s.waiters[id]?.isEmpty == true { s.waiters[id] = nil }
            s.timers.removeValue(forKey: number)?.cancel()
            return (continuation, s.tasks[id])
        }
        continuation?.resume(returning: task)
    }

    /// Forgets the tasks of a session that ended.
    public func removeTasks(ofSession sessionID: String) {
        state.withLock { s in
            for (id, task) in s.tasks where task.sessionID == sessionID { Self.forget(id, in: &s) }
        }
    }

    /// The number of unexpired tasks (for tests and gauges).
    public var count: Int { state.withLock { s in s.tasks.count } }

    /// Forgets expired tasks, at most once a second unless forced (the store is full).
    private static func purge(_ s: inout State, now: Double, force: Bool) {
        guard force || now - s.lastPurge >= 1 else { return }
        s.lastPurge = now
        for (id, task) in s.tasks where task.expiresAt <= now { forget(id, in: &s) }
        // Waiters abandoned before registering are only remembered until the next purge.
        if s.abandoned.count > 1024 { s.abandoned.removeAll() }
    }

    private static func forget(_ id: String, in s: inout State) {
        guard let task = s.tasks.removeValue(forKey: id) else { return }
        if let session = task.sessionID {
            s.perSession[session, default: 1] -= 1
            if s.perSession[session] == 0 { s.perSession[session] = nil }
        }
        if let user = task.user {
            s.perUser[user, default: 1] -= 1
            if s.perUser[user] == 0 { s.perUser[user] = nil }
        }
        if let address = task.clientAddress {
            s.perAddress[address, default: 1] -= 1
            if s.perAddress[address] == 0 { s.perAddress[address] = nil }
        }
        // Waiters of a forgotten task learn it is gone.
        if let waiting = s.waiters.removeValue(forKey: id) {
            for (number, continuation) in waiting {
                s.timers.removeValue(forKey: number)?.cancel()
                continuation.resume(returning: nil)
            }
        }
    }
}
