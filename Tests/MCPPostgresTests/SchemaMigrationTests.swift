import Logging
import MCPPostgres
import PostgresNIO
import Testing

/// The schema is migrated by the workers themselves: once per version, even when several start together.
@Suite struct SchemaMigrationTests {
    static func appliedVersions(_ database: PostgresPool) async throws -> [Int] {
        var versions: [Int] = []
        for try await version in try await database.client.query(
            "SELECT version FROM mcpfcgi_schema_migrations ORDER BY version"
        ).decode(Int.self) {
            versions.append(version)
        }
        return versions
    }

    @Test func aFreshDatabaseGetsEveryMigrationOnce() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            #expect(try await Self.appliedVersions(database) == SchemaMigrations.all.map(\.version))
            // A second start (a restarted worker) finds nothing to do.
            #expect(try await SchemaMigrations.apply(on: database.client, logger: Logger(label: "t")) == [])
        }
    }

    @Test func workersStartingTogetherApplyEachMigrationExactlyOnce() async throws {
        let url = try await PostgresTestCluster.freshDatabase()
        let workers = (0..<6).map { _ in PostgresPool(configuration: .init(url: url), logger: Logger(label: "t")) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in workers { group.addTask { try await worker.start() } }
            try await group.waitForAll()
        }
        #expect(try await Self.appliedVersions(workers[0]) == SchemaMigrations.all.map(\.version))
        for worker in workers { await worker.shutdown() }
    }

    @Test func aSchemaNewerThanThisBuildIsRefused() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            try await database.client.query(
                "INSERT INTO mcpfcgi_schema_migrations (version, description) VALUES (999, 'from the future')")
            await #expect {
                try await SchemaMigrations.apply(on: database.client, logger: Logger(label: "t"))
            } throws: { error in
                guard let failure = error as? SchemaMigrations.Failure else { return false }
            return !failure.isUnreachable && failure.message.contains("version 999, newer than this build")
            }
        }
    }

    @Test func waitingForTheDatabaseAnUnreachableOneStartsAnOutageInsteadOfFailing() async throws {
        let url = try DatabaseURL("postgres://nobody@/nothing?host=/nonexistent-mcpfcgi-socket-dir")
        let database = PostgresPool(
            configuration: .init(url: url, connectTimeout: .milliseconds(300), operationTimeout: .seconds(1)),
            logger: Logger(label: "t"))
        try await database.start(waitingForTheDatabase: true)
        #expect(database.isInOutage)
        await #expect(throws: PostgresUnavailable.self) {
            try await database.run { try await database.client.query("SELECT 1") }
        }
        await database.shutdown()
        #expect(!database.isInOutage)
    }

    @Test func anUnreachableDatabaseFailsTheStartWithinTheConnectTimeout() async throws {
        let url = try DatabaseURL("postgres://nobody@/nothing?host=/nonexistent-mcpfcgi-socket-dir")
        let database = PostgresPool(
            configuration: .init(url: url, connectTimeout: .milliseconds(300), operationTimeout: .seconds(1)), logger: Logger(label: "t"))
        let clock = ContinuousClock()
        let started = clock.now
        await #expect {
            try await database.start()
        } throws: { error in
            guard let failure = error as? SchemaMigrations.Failure else { return false }
            // A passing condition (run.sh retries a worker that exits 75 for it), told apart from a schema problem.
            return failure.isUnreachable && failure.message.contains("cannot reach the database")
        }
        #expect(clock.now - started < .seconds(15), "bounded by the operation timeout (1 s) plus scheduling on a loaded machine, not a hang")
        await database.shutdown()
    }
}
