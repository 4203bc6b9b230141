import ArgumentParser
import Dispatch
import Logging
import MCPPostgres
import Synchronization

/// Starts and stops the demo's PostgreSQL pool from the synchronous start-up path (the main thread, before the
/// accept threads exist, the way `FastCGIServer.run` itself waits for its signal): the pool's work runs on the
/// cooperative pool while the main thread waits for its outcome.
enum DemoDatabase {

    /// Starts the pool and migrates the schema, or starts without the database when it cannot be reached (the pool
    /// migrates once it answers).
    /// - Throws: `ExitCode(1)` (logged) when the database refuses the migration (a newer schema, a failed step).
    @available(*, noasync)
    static func start(url: DatabaseURL, logger: Logger) throws -> PostgresPool {
        let pool = PostgresPool(configuration: .init(url: url), logger: logger)
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
        return pool
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
