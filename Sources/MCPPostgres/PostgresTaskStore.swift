import Logging
import MCPHandlers
import PostgresNIO
import Synchronization

/// A `TaskStore` in PostgreSQL (`mcpfcgi_tasks`, migration 5): a task is readable, listable and
/// cancellable on every worker of every deployment on the database, and outlives the worker that created it.
///
/// - A task's status, message and outcome are written when they change (a terminal change also announces
///   `k|<id>` on the notification channel: workers waiting in `tasks/result` wake at once, and the worker running a
///   task cancelled elsewhere stops its tool).
/// - The worker running a task refreshes its `heartbeat` every ``Configuration/heartbeatInterval``; a task whose
///   heartbeat is older than ``Configuration/staleAfter`` lost its worker (killed, or cut off from the database) and
///   is read as `failed` ("call the tool again") — a worker that drains fails its tasks at once instead.
/// - Expired tasks are deleted every ``Configuration/purgeInterval`` by each worker.
public final class PostgresTaskStore: TaskStore {
    /// The store's settings.
    public struct Configuration: Sendable {
        /// The tasks' scope: one per MCP server (tenants do not see each other's tasks). Default `"mcp"`.
        public var scope: String
        /// How often a worker refreshes the heartbeat of the tasks it runs. Default 2 seconds.
        public var heartbeatInterval: Duration
        /// How old a running task's heartbeat may be before the task is read as failed. Default 10 seconds.
        public var staleAfter: Duration
        /// How often expired tasks are deleted. Default 30 seconds.
        public var purgeInterval: Duration
        /// The longest pause between two reads of a task `tasks/result` waits on, when no announcement wakes it
        /// sooner. Default 1 second.
        public var pollInterval: Duration
        /// Whether the sessions are in a ``PostgresSessionStore`` of the same database and scope. The removal of a
        /// session's record always deletes its tasks in the same statement (a trigger); with this set,
        /// ``PostgresTaskStore/removeTasks(ofSession:)`` leaves it at that (no round trip per ended session).
        /// Default false: that call deletes the tasks itself (sessions kept elsewhere, e.g. in memory).
        public var sessionsInThisDatabase: Bool

        /// Creates a configuration; every parameter has the default documented on its property.
        public init(
            scope: String = "mcp", heartbeatInterval: Duration = .seconds(2), staleAfter: Duration = .seconds(10),
            purgeInterval: Duration = .seconds(30), pollInterval: Duration = .seconds(1), sessionsInThisDatabase: Bool = false
        ) {
            self.scope = scope
            self.sessionsInThisDatabase = sessionsInThisDatabase
            self.heartbeatInterval = heartbeatInterval
            self.staleAfter = staleAfter
            self.purgeInterval = purgeInterval
            self.pollInterval = pollInterval
        }
    }

    /// The database.
    public let database: PostgresPool
    /// The settings.
    public let configuration: Configuration
    private let notifications: DatabaseNotifications
    private let logger: Logger
    private let wallClock: @Sendable () -> Double
    private struct State {
        /// The tasks this process runs (created here, not terminal yet).
        var running: Set<String> = []
        var beat: Task<Void, Never>?
        var stopped = false
        var terminalElsewhere: (@Sendable (String) -> Void)?
        /// `tasks/result` callers waiting on a task, woken by its announcement.
        var waiters: [String: [UInt64: CheckedContinuation<Void, Never>]] = [:]
        var nextWaiter: UInt64 = 0
    }
    private let state = Mutex(State())

    /// Creates the store.
    /// - Parameters:
    ///   - database: the pool.
    ///   - notifications: the worker's listener (started by its owner).
    ///   - configuration: the settings.
    ///   - logger: where failed background writes are logged.
    ///   - wallClock: seconds since 1970 (the times in the table). Default the system clock.
    public init(
        database: PostgresPool, notifications: DatabaseNotifications, configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "mcpfcgi.postgres.tasks"),
        wallClock: @escaping @Sendable () -> Double = MCPServer.wallClockSeconds
    ) {
        self.database = database
        self.configuration = configuration
        self.notifications = notifications
        self.logger = logger
        self.wallClock = wallClock
        notifications.onNotification(kind: "k") { [weak self] id in self?.announced(id) }
    }

    /// True: every worker on the database shares the tasks.
    public var isShared: Bool { true }

    /// Installs what to do when a task became terminal elsewhere.
    public func setTerminalElsewhereHandler(_ handler: @escaping @Sendable (String) -> Void) {
        state.withLock { $0.terminalElsewhere = handler }
    }

    /// Records a task in one call of `mcpfcgi_create_task` (quotas checked under per-owner and per-session locks).
    public func create(_ task: TaskRecord, limits: TaskLimits) async throws -> TaskCreation {
        let scope = configuration.scope
        let outcome = try await database.run { [database, logger] in
            let rows = try await database.client.query(
                """
                SELECT mcpfcgi_create_task(\(task.id), \(scope), \(task.owner), \(task.sessionID), \(task.user),
                    \(task.clientAddress), \(task.createdAt), \(Int32(clamping: task.ttlMilliseconds)),
                    \(Int32(clamping: task.pollIntervalMilliseconds)), \(Int32(clamping: limits.maxTasksPerSession)),
                    \(Int32(clamping: limits.maxTasksPerUser)), \(Int32(clamping: limits.maxTasksPerAddress)),
                    \(Int32(clamping: limits.capacity)))
                """, logger: logger)
            for try await outcome in rows.decode(String.self) { return outcome }
            return "full"
        }
        switch outcome {
        case "created":
            startBeating(task.id)
            return .created
        case "session": return .sessionQuotaReached(limit: limits.maxTasksPerSession)
        case "user": return .userQuotaReached(limit: limits.maxTasksPerUser)
        case "address": return .addressQuotaReached(limit: limits.maxTasksPerAddress)
        default: return .full
        }
    }

    /// The task, nil when unknown, expired or of another scope; a running task whose worker stopped beating is
    /// failed first.
    public func task(id: String, now: Double) async throws -> TaskRecord? {
        guard let task = try await read(id: id, now: now) else { return nil }
        guard !task.record.status.isTerminal, !isRunningHere(id), task.stale else { return task.record }
        let message = "The worker running this task stopped before it finished; call the tool again"
        let failed = try await update(
            id: id, status: .failed, message: message,
            outcome: .failure(MCPError(code: MCPError.Code.internalError, message: message)), now: now,
            onlyIfStale: true)
        return failed
    }

    /// Changes a task that is not terminal (see `TaskStore/update(id:status:message:outcome:now:)`).
    public func update(
        id: String, status: TaskStatus?, message: String?, outcome: Result<Value, MCPError>?, now: Double
    ) async throws -> TaskRecord? {
        try await update(id: id, status: status, message: message, outcome: outcome, now: now, onlyIfStale: false)
    }

    private func update(
        id: String, status: TaskStatus?, message: String?, outcome: Result<Value, MCPError>?, now: Double,
        onlyIfStale: Bool
    ) async throws -> TaskRecord? {
        let scope = configuration.scope
        let staleAfter = configuration.staleAfter.secondsValue
        let terminal = status?.isTerminal == true
        let encoded = terminal ? outcome.map { String(decoding: JSONWriter.encode(TaskRecord.encode($0)), as: UTF8.self) } : nil
        let changed = try await database.run { [database, logger] () -> Row? in
            let rows = try await database.client.query(
                """
                WITH u AS (
                    UPDATE mcpfcgi_tasks SET status = COALESCE(\(status?.rawValue), status), status_message = \(message),
                        updated_at = GREATEST(updated_at, \(now)), outcome = COALESCE(\(encoded), outcome)
                    WHERE id = \(id) AND scope = \(scope) AND status NOT IN ('completed', 'failed', 'cancelled')
                        AND (NOT \(onlyIfStale) OR heartbeat < extract(epoch FROM clock_timestamp()) - \(staleAfter))
                    RETURNING \(unescaped: Row.columns), false AS stale),
                n AS (SELECT pg_notify('mcpfcgi', 'k|' || id) FROM u WHERE \(terminal))
                SELECT \(unescaped: Row.columns), stale FROM u, (SELECT count(*) FROM n) AS announced
                """, logger: logger)
            for try await row in rows.decode(Row.Columns.self) { return Row(row) }
            return nil
        }
        if let changed {
            if changed.record.status.isTerminal { stopBeating(id) }
            return changed.record
        }
        // Terminal already (or unknown, expired, or beating again): as it stands.
        return try await read(id: id, now: now)?.record
    }

    /// The owner's unexpired tasks of this scope, oldest first.
    public func tasks(owner: String, now: Double) async throws -> [TaskRecord] {
        let scope = configuration.scope
        return try await database.run { [database, logger] in
            var tasks: [TaskRecord] = []
            for try await row in try await database.client.query(
                """
                SELECT \(unescaped: Row.columns), false FROM mcpfcgi_tasks
                WHERE scope = \(scope) AND owner = \(owner) AND expires_at > \(now) ORDER BY created_at, id
                """, logger: logger
            ).decode(Row.Columns.self) {
                tasks.append(Row(row).record)
            }
            return tasks
        }
    }

    /// Waits until the task is terminal: reads it again when its announcement arrives, and at least every
    /// ``Configuration/pollInterval`` (an announcement lost while the listener reconnected, a worker that died).
    public func waitUntilTerminal(id: String, timeout: Duration) async throws -> TaskRecord? {
        let deadline = ContinuousClock.now + timeout
        while true {
            guard let task = try await task(id: id, now: wallClock()) else { return nil }
            let left = deadline - ContinuousClock.now
            if task.status.isTerminal || left <= .zero || Task.isCancelled { return task }
            await waitForAnnouncement(id, upTo: min(left, configuration.pollInterval))
        }
    }

    /// Stops the heartbeat (the tasks still running are failed by `MCPServer/stopTasks()` first).
    public func shutdown() async {
        let beat = state.withLock { s -> Task<Void, Never>? in
            s.stopped = true
            defer { s.beat = nil }
            return s.beat
        }
        beat?.cancel()
        await beat?.value
    }

    // MARK: Heartbeat and purge

    private func isRunningHere(_ id: String) -> Bool { state.withLock { $0.running.contains(id) } }

    private func startBeating(_ id: String) {
        state.withLock { s in
            s.running.insert(id)
            guard s.beat == nil, !s.stopped else { return }
            s.beat = Task { [weak self, interval = configuration.heartbeatInterval] in
                var lastPurge = ContinuousClock.now
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    guard let self, !Task.isCancelled else { return }
                    await self.beat()
                    if ContinuousClock.now - lastPurge >= self.configuration.purgeInterval {
                        lastPurge = ContinuousClock.now
                        await self.purge()
                    }
                }
            }
        }
    }

    private func stopBeating(_ id: String) {
        _ = state.withLock { $0.running.remove(id) }
    }

    /// Refreshes the heartbeat of the tasks this process runs, in one statement (the database's clock). A task that
    /// is not refreshed is terminal, expired or gone: this process forgets it and stops its tool (a cancel made
    /// elsewhere whose announcement was lost while the listener reconnected).
    private func beat() async {
        let ids = Array(state.withLock { $0.running })
        guard !ids.isEmpty else { return }
        do {
            let alive = try await database.run { [database, logger, scope = configuration.scope] in
                var alive = Set<String>()
                for try await id in try await database.client.query(
                    """
                    UPDATE mcpfcgi_tasks SET heartbeat = extract(epoch FROM clock_timestamp())
                    WHERE scope = \(scope) AND id = ANY(\(ids)::text[]) AND status NOT IN ('completed', 'failed', 'cancelled')
                    RETURNING id
                    """, logger: logger
                ).decode(String.self) {
                    alive.insert(id)
                }
                return alive
            }
            let handler = state.withLock { $0.terminalElsewhere }
            for id in ids where !alive.contains(id) {
                stopBeating(id)
                handler?(id)
            }
        } catch {
            logger.warning(
                "cannot refresh the heartbeat of running tasks; other workers fail them after \(configuration.staleAfter)",
                metadata: ["error": "\(error)"])
        }
    }

    /// Forgets the tasks of a session that ended.
    public func removeTasks(ofSession sessionID: String) async throws {
        // The session's removal took them with it.
        if configuration.sessionsInThisDatabase { return }
        try await database.run { [database, logger, scope = configuration.scope] in
            try await database.client.query(
                "DELETE FROM mcpfcgi_tasks WHERE scope = \(scope) AND session_id = \(sessionID)", logger: logger)
        }
    }

    /// Deletes this scope's expired tasks.
    private func purge() async {
        let now = wallClock()
        _ = try? await database.run { [database, logger, scope = configuration.scope] in
            try await database.client.query(
                "DELETE FROM mcpfcgi_tasks WHERE scope = \(scope) AND expires_at <= \(now)", logger: logger)
        }
    }

    // MARK: Announcements

    private func announced(_ id: String) {
        let (woken, handler, runsHere) = state.withLock {
            s -> ([CheckedContinuation<Void, Never>], (@Sendable (String) -> Void)?, Bool) in
            let woken = Array((s.waiters.removeValue(forKey: id) ?? [:]).values)
            return (woken, s.terminalElsewhere, s.running.contains(id))
        }
        for continuation in woken { continuation.resume() }
        // A task this process runs became terminal elsewhere (cancelled on another worker): stop its tool. Its own
        // terminal changes have left `running` before their announcement arrives.
        if runsHere {
            stopBeating(id)
            handler?(id)
        }
    }

    private func waitForAnnouncement(_ id: String, upTo limit: Duration) async {
        let number = state.withLock { s in
            s.nextWaiter &+= 1
            return s.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                state.withLock { s in s.waiters[id, default: [:]][number] = continuation }
                Task { [weak self] in
                    try? await Task.sleep(for: limit)
                    self?.stopWaiting(id, number)
                }
            }
        } onCancel: {
            stopWaiting(id, number)
        }
    }

    private func stopWaiting(_ id: String, _ number: UInt64) {
        let continuation = state.withLock { s -> CheckedContinuation<Void, Never>? in
            let continuation = s.waiters[id]?.removeValue(forKey: number)
            if s.waiters[id]?.isEmpty == true { s.waiters[id] = nil }
            return continuation
        }
        continuation?.resume()
    }

    // MARK: Rows

    private func read(id: String, now: Double) async throws -> Row? {
        let scope = configuration.scope
        let staleAfter = configuration.staleAfter.secondsValue
        return try await database.run { [database, logger] in
            for try await row in try await database.client.query(
                """
                SELECT \(unescaped: Row.columns),
                    heartbeat < extract(epoch FROM clock_timestamp()) - \(staleAfter)
                FROM mcpfcgi_tasks WHERE id = \(id) AND scope = \(scope) AND expires_at > \(now)
                """, logger: logger
            ).decode(Row.Columns.self) {
                return Row(row)
            }
            return nil
        }
    }

    /// One row of `mcpfcgi_tasks`.
    private struct Row: Sendable {
        static let columns =
            "id, owner, session_id, user_id, client_address, status, status_message, created_at, updated_at, ttl_ms, poll_ms, outcome"
        /// The columns, then whether the running task's heartbeat is older than ``Configuration/staleAfter``.
        typealias Columns = (String, String, String?, String?, String?, String, String?, Double, Double, Int32, Int32, String?, Bool)

        var record: TaskRecord
        var stale: Bool

        init(_ c: Columns) {
            let outcome = c.11.flatMap { try? JSONParser().parse(Array($0.utf8)) }.flatMap(TaskRecord.decode)
            record = TaskRecord(
                id: c.0, owner: c.1, sessionID: c.2, user: c.3, clientAddress: c.4,
                status: TaskStatus(rawValue: c.5) ?? .failed, statusMessage: c.6, createdAt: c.7, lastUpdatedAt: c.8,
                ttlMilliseconds: Int(c.9), pollIntervalMilliseconds: Int(c.10), outcome: outcome)
            stale = c.12
        }
    }
}
