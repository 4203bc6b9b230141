import Foundation
import Logging
import MCPOAuth
import MCPPostgres
import Synchronization
import Testing

/// The database goes away and comes back: every operation meanwhile fails within the operation timeout (never
/// hangs), and the same pool serves again once the database is back, without a restart.
@Suite struct DatabaseOutageTests {
    @Test func operationsFailWithinTheTimeoutWhileTheDatabaseIsDownAndResumeWhenItReturns() async throws {
        let cluster = try await PostgresTestCluster.startOwnCluster()
        let pool = PostgresPool(
            configuration: .init(url: cluster.url, connectTimeout: .milliseconds(500), operationTimeout: .seconds(2)),
            logger: Logger(label: "test.outage"))
        do {
            try await pool.start()
            let storage = PostgresOAuthStorage(database: pool)
            try await storage.recordAccessToken(jti: "j1", familyID: nil, expiresAt: Date().addingTimeInterval(600))
            try await storage.revokeAccessToken(jti: "j1")
            #expect(try await storage.isAccessTokenRevoked(jti: "j1"))

            try await PostgresTestCluster.stopCluster(cluster.directory)
            let clock = ContinuousClock()
            let started = clock.now
            await #expect(throws: (any Error).self) { try await storage.isAccessTokenRevoked(jti: "j1") }
            #expect(clock.now - started < .seconds(15), "an operation on a stopped database must end in time (2 s timeout)")
            // Found unreachable: the next operations fail at once (one per second tries the database again).
            for _ in 0..<5 {
                let next = clock.now
                await #expect(throws: PostgresUnavailable.self) { try await storage.isAccessTokenRevoked(jti: "j1") }
                #expect(clock.now - next < .seconds(1), "an operation during a known outage fails at once")
            }

            try await PostgresTestCluster.restartCluster(cluster.directory)
            let back = clock.now
            var recovered = false
            while clock.now - back < .seconds(30) {
                if (try? await storage.isAccessTokenRevoked(jti: "j1")) == true {
                    recovered = true
                    break
                }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(recovered, "the pool must serve again once the database is back")
            #expect(clock.now - back < .seconds(15))
        } catch {
            await pool.shutdown()
            await PostgresTestCluster.removeOwnCluster(cluster.directory)
            throw error
        }
        await pool.shutdown()
        await PostgresTestCluster.removeOwnCluster(cluster.directory)
    }

    @Test func aPoolStartedBeforeItsDatabaseMigratesAndServesOnceTheDatabaseAnswers() async throws {
        let cluster = try await PostgresTestCluster.startOwnCluster()
        try await PostgresTestCluster.stopCluster(cluster.directory)
        let pool = PostgresPool(
            configuration: .init(url: cluster.url, connectTimeout: .milliseconds(500), operationTimeout: .seconds(1)),
            logger: Logger(label: "test.outage"))
        do {
            try await pool.start(waitingForTheDatabase: true)
            #expect(pool.isInOutage)
            let storage = PostgresOAuthStorage(database: pool)
            await #expect(throws: PostgresUnavailable.self) { try await storage.isAccessTokenRevoked(jti: "j") }
            try await PostgresTestCluster.restartCluster(cluster.directory)
            let clock = ContinuousClock()
            let back = clock.now
            var served = false
            while clock.now - back < .seconds(30) {
                if (try? await storage.isAccessTokenRevoked(jti: "j")) == false {
                    served = true
                    break
                }
                try await Task.sleep(for: .milliseconds(200))
            }
            // The probe migrated the schema: the tables the query reads exist.
            #expect(served, "the pool must migrate and serve once its database answers")
            #expect(!pool.isInOutage)
        } catch {
            await pool.shutdown()
            await PostgresTestCluster.removeOwnCluster(cluster.directory)
            throw error
        }
        await pool.shutdown()
        await PostgresTestCluster.removeOwnCluster(cluster.directory)
    }

    @Test func aCancelledCallerIsAnsweredAtOnceAndItsOperationCancelled() async throws {
        try await PostgresTestCluster.withStartedDatabase { pool throws in
            let operationCancelled = Mutex(false)
            let caller = Task {
                try await pool.run {
                    do { try await Task.sleep(for: .seconds(30)) } catch {
                        operationCancelled.withLock { $0 = true }
                        throw error
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(100))
            let clock = ContinuousClock()
            let started = clock.now
            caller.cancel()
            await #expect(throws: CancellationError.self) { try await caller.value }
            #expect(clock.now - started < .seconds(3))
            try await Task.sleep(for: .milliseconds(200))
            #expect(operationCancelled.withLock { $0 })
            // A cancellation is no outage.
            #expect(!pool.isInOutage)
        }
    }
}
