import Logging
import MCPHTTP
import MCPHandlers
import PostgresNIO
import Synchronization

/// One worker's connection pool to the deployment's PostgreSQL database, and the schema it needs.
///
/// ```swift
/// let database = try PostgresPool(configuration: .init(url: DatabaseURL(databaseURL)), logger: logger)
/// try await database.start()        // runs the pool, migrates the schema (safe when workers start together)
/// let storage = PostgresOAuthStorage(database: database)
/// …
/// await database.shutdown()
/// ```
public final class PostgresPool: Sendable {
    /// The pool's settings.
    public struct Configuration: Sendable {
        /// Where the database is.
        public var url: DatabaseURL
        /// The most connections this worker opens. Default 8 (a worker's accept threads rarely hold more queries
        /// at once; PostgreSQL's default `max_connections` is 100 for the whole deployment).
        public var maximumConnections: Int
        /// The connections kept open while idle (at most ``maximumConnections``). postgres-nio arms an idle timer
        /// each time a connection above this number is handed back, so a worker under load spends less CPU per
        /// operation when it covers the connections its accept threads use at once: set it to their number.
        /// Default 2.
        public var minimumConnections: Int
        /// How often an idle TCP connection is checked with a query, or nil for never. A connection the server
        /// closes is noticed without it (its socket ends); one that something between workers and database (a NAT,
        /// a firewall) drops silently is not, and its next operation would wait for ``operationTimeout``. Not used
        /// on a unix socket, which nothing in between can drop: the check costs a timer each time a connection is
        /// handed back (about a tenth of a worker's CPU per `initialize` on PostgreSQL). Default 30 s
        /// (postgres-nio's).
        public var keepAliveInterval: Duration?
        /// The longest a new connection may take to be established. Default 3 s.
        public var connectTimeout: Duration
        /// The longest one operation (waiting for a connection included) may take before it fails with
        /// ``PostgresUnavailable``: a database that is down or unreachable is an error within this time, never a
        /// request that hangs. Default 5 s.
        public var operationTimeout: Duration
        /// Once the database is found unreachable (an operation timed out or lost its connection), every operation
        /// fails at once with ``PostgresUnavailable`` — requests are answered 503 at once instead of each waiting
        /// ``operationTimeout`` — while a background probe tries the database every interval; the first answer
        /// ends the outage. Default 1 s.
        public var retryInterval: Duration
        /// The longest the schema migration at start may take (it creates tables, functions and indexes, and waits
        /// for other workers migrating at the same moment); its statements are not bound by
        /// ``operationTimeout``. Default 60 s.
        public var migrationTimeout: Duration

        /// Creates a configuration; every parameter has the default documented on its property.
        public init(
            url: DatabaseURL, maximumConnections: Int = 8, minimumConnections: Int = 2,
            keepAliveInterval: Duration? = .seconds(30), connectTimeout: Duration = .seconds(3),
            operationTimeout: Duration = .seconds(5), retryInterval: Duration = .seconds(1),
            migrationTimeout: Duration = .seconds(60)
        ) {
            self.migrationTimeout = migrationTimeout
            self.url = url
            self.maximumConnections = maximumConnections
            self.minimumConnections = minimumConnections
            self.keepAliveInterval = keepAliveInterval
            self.connectTimeout = connectTimeout
            self.operationTimeout = operationTimeout
            self.retryInterval = retryInterval
        }
    }

    /// The settings.
    public let configuration: Configuration
    /// The postgres-nio pool (running between ``start(waitingForTheDatabase:)`` and ``shutdown()``).
    public let client: PostgresClient
    private let logger: Logger

    /// The pool's lifecycle: a client runs once (postgres-nio's rule), so a stopped pool stays stopped.
    private enum Phase {
        case idle
        case running(Task<Void, Never>)
        case stopped
    }
    private let phase = Mutex<Phase>(.idle)
    /// The probe of an outage: while it runs, the database was found unreachable and operations fail at once.
    private let outageProbe = Mutex<Task<Void, Never>?>(nil)
    /// The deadlines of running operations (one watch for all of them, not a sleeping task per operation).
    private let deadlines = OperationDeadlines()

    /// Creates the pool; nothing connects before ``start(waitingForTheDatabase:)``.
    ///
    /// Every connection asks the server to end a statement after `statement_timeout` and a lock wait after
    /// `lock_timeout` (both just under ``Configuration/operationTimeout``), so a query stuck on a lock or a slow
    /// plan is ended by the server too, not only abandoned by the caller.
    /// - Parameters:
    ///   - configuration: the settings.
    ///   - logger: where the pool logs.
    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        var settings = configuration.url.clientConfiguration
        settings.options.maximumConnections = max(1, configuration.maximumConnections)
        settings.options.minimumConnections = min(max(0, configuration.minimumConnections), settings.options.maximumConnections)
        if case .tcp = configuration.url.endpoint {
            settings.options.keepAliveBehavior = configuration.keepAliveInterval.map { .init(frequency: $0) }
        } else {
            settings.options.keepAliveBehavior = nil
        }
        settings.options.connectTimeout = configuration.connectTimeout
        let serverLimit = max(100, Int(configuration.operationTimeout.wholeMilliseconds) - 100)
        settings.options.additionalStartupParameters = [
            ("statement_timeout", "\(serverLimit)"), ("lock_timeout", "\(serverLimit)"),
            ("idle_in_transaction_session_timeout", "\(serverLimit * 2)"),
        ]
        self.client = PostgresClient(configuration: settings, backgroundLogger: logger)
    }

    /// Runs the pool and brings the schema to the newest version (``SchemaMigrations``), within
    /// ``Configuration/operationTimeout``.
    /// - Parameter waitingForTheDatabase: what to do when the database cannot be reached: false (default) throws;
    ///   true starts in an outage — operations fail at once with ``PostgresUnavailable`` while a background
    ///   probe tries the database every ``Configuration/retryInterval`` and migrates the schema when it answers —
    ///   so a server can start (and answer 503 where it needs the database) before its database does.
    /// - Throws: ``SchemaMigrations/Failure`` when the pool was shut down, or the database cannot be reached
    ///   (``SchemaMigrations/Failure/isUnreachable``, unless `waitingForTheDatabase`) or migrated.
    public func start(waitingForTheDatabase: Bool = false) async throws(SchemaMigrations.Failure) {
        do {
            try await startAndMigrate()
        } catch let failure where failure.isUnreachable && waitingForTheDatabase {
            logger.warning(
                "starting without the database: requests that need it are answered 503 until it answers",
                metadata: ["database": .string(configuration.url.description), "reason": .string(failure.message)])
            beginOutage(migrating: true)
        }
    }

    private func startAndMigrate() async throws(SchemaMigrations.Failure) {
        let stopped = phase.withLock { phase -> Bool in
            switch phase {
            case .idle:
                phase = .running(Task { [client] in await client.run() })
                return false
            case .running: return false
            case .stopped: return true
            }
        }
        if stopped { throw SchemaMigrations.Failure(message: "the pool was shut down; make a new PostgresPool") }
        do {
            // Reaching the database is bound by the operation timeout; the migration itself by its own.
            _ = try await race { [client] in try await client.query("SELECT 1") }
            _ = try await race(within: configuration.migrationTimeout) { [client, logger, configuration] in
                try await SchemaMigrations.apply(on: client, within: configuration.migrationTimeout, logger: logger)
            }
        } catch let failure as SchemaMigrations.Failure {
            throw failure
        } catch {
            throw SchemaMigrations.Failure(
                message: "cannot reach the database: \(error); is it up, and is DATABASE_URL right?", isUnreachable: true)
        }
    }

    /// Runs one database operation, bounded by ``Configuration/operationTimeout``: the caller gets an answer in
    /// that time whatever the database does — also when a query was sent and its answer never comes (a stopped
    /// or partitioned server), which postgres-nio cannot cancel. The operation runs in a task of its own that is
    /// cancelled at the deadline (and when the caller is cancelled); a query already sent ends when the server's
    /// `statement_timeout` or the connection ends it.
    /// - Parameter operation: the queries (on ``client``).
    /// - Returns: what the operation returns.
    /// - Throws: ``PostgresUnavailable`` when it did not finish in time (the database is down, unreachable,
    ///   locked or overloaded), else what the operation throws.
    @discardableResult
    public func run<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        if isInOutage {
            throw PostgresUnavailable(
                message: "the database is unreachable (\(configuration.url)); it is tried again every \(configuration.retryInterval)")
        }
        do {
            return try await race(operation)
        } catch {
            if Self.isUnreachable(error) { beginOutage() }
            throw error
        }
    }

    /// Whether the database was found unreachable and has not answered since.
    public var isInOutage: Bool { outageProbe.withLock { $0 != nil } }

    /// Starts the outage's probe, unless one runs: it tries the database every ``Configuration/retryInterval``
    /// (`SELECT 1`, or the schema migration when the pool started without the database) and ends the outage at
    /// the first success.
    private func beginOutage(migrating: Bool = false) {
        outageProbe.withLock { probe in
            guard probe == nil else { return }
            if !migrating {
                logger.error(
                    "the database is unreachable: requests that need it are answered 503 until it answers again",
                    metadata: ["database": .string(configuration.url.description)])
            }
            probe = Task { [weak self, client, logger, interval = configuration.retryInterval] in
                var refusalLogged = false
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    guard let self, !Task.isCancelled else { return }
                    let answered: Void?
                    do {
                        if migrating { _ = try await self.race { _ = try await client.query("SELECT 1") } }
                        answered = try await self.race(within: migrating ? self.configuration.migrationTimeout : nil) {
                            if migrating {
                                _ = try await SchemaMigrations.apply(
                                    on: client, within: self.configuration.migrationTimeout, logger: logger)
                            } else {
                                _ = try await client.query("SELECT 1")
                            }
                        }
                    } catch let failure as SchemaMigrations.Failure where !failure.isUnreachable {
                        // The database answers but refuses the schema (a newer one): say so once; retrying stays
                        // harmless and ends the outage when the database is fixed.
                        if !refusalLogged { logger.critical("the database refuses the schema: \(failure)") }
                        refusalLogged = true
                        answered = nil
                    } catch {
                        answered = nil
                    }
                    if answered != nil {
                        self.outageProbe.withLock { $0 = nil }
                        self.logger.notice("the database answers again", metadata: ["database": .string(self.configuration.url.description)])
                        return
                    }
                }
            }
        }
    }

    /// Whether an error says the database cannot be reached (rather than refusing a statement).
    static func isUnreachable(_ error: any Error) -> Bool {
        if error is PostgresUnavailable { return true }
        guard let error = error as? PSQLError else { return false }
        return [.connectionError, .serverClosedConnection, .uncleanShutdown].contains(error.code)
    }

    /// Runs `operation` against ``Configuration/operationTimeout`` and the caller's cancellation.
    private func race<T: Sendable>(
        within limit: Duration? = nil, _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let timeout = limit ?? configuration.operationTimeout
        let description = configuration.url.description
        let race = OperationRace<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                guard race.begin(continuation) else { return }
                // On the answering thread while it waits for this (an accept thread), not on the global executor:
                // a thread hop less each way. Background work (a task started during some request) runs as before.
                let work = Task(executorPreference: RequestExecutor.currentWhenPreferred) {
                    do { race.finish(.success(try await operation())) } catch { race.finish(.failure(error)) }
                }
                let deadline = deadlines.add(after: timeout) {
                    race.finish(
                        .failure(PostgresUnavailable(message: "the database did not answer within \(timeout) (\(description))")))
                }
                race.attach(work: work, deadline: deadline, of: deadlines)
            }
        } onCancel: {
            race.finish(.failure(CancellationError()))
        }
    }

    /// Stops the pool: running queries fail, connections close. The pool cannot be started again.
    public func shutdown() async {
        let probe = outageProbe.withLock { probe in
            defer { probe = nil }
            return probe
        }
        probe?.cancel()
        let task = phase.withLock { phase -> Task<Void, Never>? in
            defer { phase = .stopped }
            if case .running(let task) = phase { return task }
            return nil
        }
        task?.cancel()
        await task?.value
    }
}

/// The first of an operation's outcome, its deadline and its caller's cancellation: resumes the caller once,
/// cancels the operation's task when it did not win and forgets the deadline when it is no longer needed.
private final class OperationRace<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var work: Task<Void, Never>?
        var deadline: UInt64?
        var deadlines: OperationDeadlines?
        var outcome: Result<T, any Error>?
    }
    private let state = Mutex(State())

    /// Records the caller; returns false when the caller was cancelled before (it is resumed at once, and no task
    /// is started).
    func begin(_ continuation: CheckedContinuation<T, any Error>) -> Bool {
        let early = state.withLock { s -> Result<T, any Error>? in
            if let outcome = s.outcome { return outcome }
            s.continuation = continuation
            return nil
        }
        guard let early else { return true }
        continuation.resume(with: early)
        return false
    }

    func attach(work: Task<Void, Never>, deadline: UInt64, of deadlines: OperationDeadlines) {
        let outcome = state.withLock { s -> Result<T, any Error>? in
            s.work = work
            s.deadline = deadline
            s.deadlines = deadlines
            return s.outcome
        }
        // Decided already (the operation finished or the caller was cancelled before the task was recorded).
        guard let outcome else { return }
        deadlines.remove(deadline)
        if case .failure = outcome { work.cancel() }
    }

    func finish(_ outcome: Result<T, any Error>) {
        let (continuation, work, deadline, deadlines) = state.withLock {
            s -> (CheckedContinuation<T, any Error>?, Task<Void, Never>?, UInt64?, OperationDeadlines?) in
            guard s.outcome == nil else { return (nil, nil, nil, nil) }
            s.outcome = outcome
            defer { s.continuation = nil }
            return (s.continuation, s.work, s.deadline, s.deadlines)
        }
        if let deadline { deadlines?.remove(deadline) }
        if case .failure = outcome { work?.cancel() }
        continuation?.resume(with: outcome)
    }
}

/// The deadlines of a pool's running operations, watched by one task that runs only while there are some: it
/// wakes every ``tick`` and calls the expiry of each deadline passed. An operation costs an insertion and a removal
/// under a lock — no sleeping task and no timer of its own. A deadline fires up to one tick late.
final class OperationDeadlines: Sendable {
    /// How often the watch looks (the deadlines' precision).
    static let tick: Duration = .milliseconds(50)

    private struct Entry {
        var deadline: ContinuousClock.Instant
        var expire: @Sendable () -> Void
    }
    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
        var watching = false
    }
    private let state = Mutex(State())

    /// Adds a deadline `timeout` from now; returns its id (for ``remove(_:)``).
    func add(after timeout: Duration, expire: @escaping @Sendable () -> Void) -> UInt64 {
        let deadline = ContinuousClock.now + timeout
        let (id, startWatch) = state.withLock { s -> (UInt64, Bool) in
            s.nextID &+= 1
            s.entries[s.nextID] = Entry(deadline: deadline, expire: expire)
            defer { s.watching = true }
            return (s.nextID, !s.watching)
        }
        if startWatch { Task { [self] in await watch() } }
        return id
    }

    /// Forgets a deadline (its operation ended).
    func remove(_ id: UInt64) {
        _ = state.withLock { $0.entries.removeValue(forKey: id) }
    }

    private func watch() async {
        while true {
            try? await Task.sleep(for: Self.tick)
            let now = ContinuousClock.now
            let (expired, goOn) = state.withLock { s -> ([@Sendable () -> Void], Bool) in
                var expired: [@Sendable () -> Void] = []
                for (id, entry) in s.entries where entry.deadline <= now {
                    expired.append(entry.expire)
                    s.entries[id] = nil
                }
                if s.entries.isEmpty { s.watching = false }
                return (expired, s.watching)
            }
            for expire in expired { expire() }
            if !goOn { return }
        }
    }
}

/// The database did not answer in time: it is down, unreachable or overloaded. Requests that need it are answered
/// 503 with `Retry-After`.
public struct PostgresUnavailable: Error, Sendable, CustomStringConvertible {
    /// What happened (never a password).
    public var message: String
    /// The message.
    public var description: String { message }
}
