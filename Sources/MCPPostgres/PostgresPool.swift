import Logging
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
        /// The longest a new connection may take to be established. Default 3 s.
        public var connectTimeout: Duration
        /// The longest one operation (waiting for a connection included) may take before it fails with
        /// ``PostgresUnavailable``: a database that is down or unreachable is an error within this time, never a
        /// request that hangs. Default 5 s.
        public var operationTimeout: Duration

        /// Creates a configuration; every parameter has the default documented on its property.
        public init(
            url: DatabaseURL, maximumConnections: Int = 8, connectTimeout: Duration = .seconds(3),
            operationTimeout: Duration = .seconds(5)
        ) {
            self.url = url
            self.maximumConnections = maximumConnections
            self.connectTimeout = connectTimeout
            self.operationTimeout = operationTimeout
        }
    }

    /// The settings.
    public let configuration: Configuration
    /// The postgres-nio pool (running between ``start()`` and ``shutdown()``).
    public let client: PostgresClient
    private let logger: Logger
    private let runner = Mutex<Task<Void, Never>?>(nil)

    /// Creates the pool; nothing connects before ``start()``.
    /// - Parameters:
    ///   - configuration: the settings.
    ///   - logger: where the pool logs.
    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        var settings = configuration.url.clientConfiguration
        settings.options.maximumConnections = max(1, configuration.maximumConnections)
        settings.options.connectTimeout = configuration.connectTimeout
        self.client = PostgresClient(configuration: settings, backgroundLogger: logger)
    }

    /// Runs the pool and brings the schema to the newest version (``SchemaMigrations``), within
    /// ``Configuration/operationTimeout``.
    /// - Throws: ``SchemaMigrations/Failure`` when the database cannot be reached or migrated.
    public func start() async throws(SchemaMigrations.Failure) {
        runner.withLock { task in
            guard task == nil else { return }
            task = Task { [client] in await client.run() }
        }
        do {
            try await run { [client, logger] in try await SchemaMigrations.apply(on: client, logger: logger) }
        } catch let failure as SchemaMigrations.Failure {
            throw failure
        } catch {
            throw SchemaMigrations.Failure(
                message: "cannot migrate the database schema: \(error); is the database up, and DATABASE_URL right?")
        }
    }

    /// Runs one database operation, bounded by ``Configuration/operationTimeout``.
    /// - Parameter operation: the queries (on ``client``).
    /// - Returns: what the operation returns.
    /// - Throws: ``PostgresUnavailable`` when it did not finish in time (the database is down, unreachable or
    ///   overloaded; the operation is cancelled), else what the operation throws.
    @discardableResult
    public func run<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let timeout = configuration.operationTimeout
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw PostgresUnavailable(
                    message: "the database did not answer within \(timeout) (\(configuration.url))")
            }
            return value
        }
    }

    /// Stops the pool: running queries fail, connections close.
    public func shutdown() async {
        let task = runner.withLock { task in
            defer { task = nil }
            return task
        }
        task?.cancel()
        await task?.value
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
