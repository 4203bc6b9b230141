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
                (error as? SchemaMigrations.Failure)?.message.contains("version 999, newer than this build") == true
            }
        }
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
            (error as? SchemaMigrations.Failure)?.message.contains("cannot migrate the database schema") == true
        }
        #expect(clock.now - started < .seconds(4))
        await database.shutdown()
    }
}
