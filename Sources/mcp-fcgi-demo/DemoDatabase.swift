import ArgumentParser
import Dispatch
import Logging
import MCPFCGI
import MCPPostgres
import Synchronization

/// The demo's shared state on PostgreSQL: the pool, the worker's listener for announcements (revocations, session
/// removals) and the session stores made on them, started and stopped from the synchronous start-up path (the main
/// thread, before the accept threads exist, the way `FastCGIServer.run` itself waits for its signal): the work runs
/// on the cooperative pool while the main thread waits for its outcome.
final class DemoDatabase: Sendable {
    /// The pool.
    let pool: PostgresPool
    /// The listener shared by the OAuth storage and the session stores.
    let notifications: DatabaseNotifications
    private let stores = Mutex<[PostgresSessionStore]>([])
    private let eventStores = Mutex<[PostgresEventStore]>([])
    private let taskStores = Mutex<[PostgresTaskStore]>([])
    private let taskServers = Mutex<[MCPServer]>([])

    private init(pool: PostgresPool, logger: Logger) {
        self.pool = pool
        self.notifications = DatabaseNotifications(database: pool, logger: logger)
    }

    /// A session store of `scope` (one per MCP server), written out by ``stop()``.
    func sessionStore(scope: String, capacity: Int, logger: Logger) -> PostgresSessionStore {
        let store = PostgresSessionStore(
            database: pool, notifications: notifications, configuration: .init(scope: scope, capacity: capacity),
            logger: logger)
        stores.withLock { $0.append(store) }
        return store
    }

    /// A task store of `scope` (one per MCP server), its heartbeat stopped by ``stop()``.
    func taskStore(scope: String, logger: Logger) -> PostgresTaskStore {
        let store = PostgresTaskStore(
            database: pool, notifications: notifications, configuration: .init(scope: scope, sessionsInThisDatabase: true), logger: logger)
        taskStores.withLock { $0.append(store) }
        return store
    }

    /// Makes ``stop()`` fail the tasks `server` still runs before the task stores stop (the drain started that
    /// already; this waits for the writes to be done).
    func stopsTasks(of server: MCPServer) {
        taskServers.withLock { $0.append(server) }
    }

    /// An event store of `scope` (one per MCP server), written out by ``stop()``.
    func eventStore(scope: String) -> PostgresEventStore {
        let store = PostgresEventStore(database: pool, configuration: .init(scope: scope))
        eventStores.withLock { $0.append(store) }
        return store
    }

    /// Writes the stores' pending activity, stops listening and closes the pool's connections.
    @available(*, noasync)
    func stop() {
        let stores = self.stores.withLock { $0 }
        let eventStores = self.eventStores.withLock { $0 }
        let taskStores = self.taskStores.withLock { $0 }
        let taskServers = self.taskServers.withLock { $0 }
        let done = DispatchSemaphore(value: 0)
        Task { [pool, notifications] in
            for server in taskServers { await server.stopTasks() }
            for store in taskStores { await store.shutdown() }
            for store in eventStores { await store.shutdown() }
            for store in stores { await store.shutdown() }
            await notifications.stop()
            await pool.shutdown()
            done.signal()
        }
        done.wait()
    }

    /// Starts the pool and migrates the schema, or starts without the database when it cannot be reached (the pool
    /// migrates once it answers).
    /// - Throws: `ExitCode(1)` (logged) when the database refuses the migration (a newer schema, a failed step).
    @available(*, noasync)
    static func start(url: DatabaseURL, threads: Int, keepAlive: Duration?, logger: Logger) throws -> DemoDatabase {
        // A connection per accept thread stays open (up to 4; at most 8 are opened): no idle timer armed per query
        // under load.
        let pool = PostgresPool(
            configuration: .init(url: url, minimumConnections: min(threads, 4), keepAliveInterval: keepAlive),
            logger: logger)
        let outcome = Mutex<SchemaMigrations.Failure?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            // A database that is not up yet (or down) does not stop the worker: it starts, answers 503 where it needs
            // the database, and migrates the schema once the database answers.
            do throws(SchemaMigrations.Failure) {
                try await pool.start(waitingForTheDatabase: true)
            } catch {
                outcome.withLock { $0 = error }
            }
            done.signal()
        }
        done.wait()
        if let failure = outcome.withLock({ $0 }) {
            logger.critical("cannot use the database: \(failure)", metadata: ["database": .string(url.description)])
            shutdown(pool)
            throw ExitCode(1)
        }
        if !pool.isInOutage {
            logger.info(
                "PostgreSQL store ready",
                metadata: ["database": .string(url.description), "schema": .stringConvertible(SchemaMigrations.latestVersion)])
        }
        return DemoDatabase(pool: pool, logger: logger)
    }

    /// Closes the pool's connections.
    @available(*, noasync)
    static func shutdown(_ pool: PostgresPool) {
        let done = DispatchSemaphore(value: 0)
        Task {
            await pool.shutdown()
            done.signal()
        }
        done.wait()
    }
}
