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

    /// The plan PostgreSQL caches for a statement on an empty table (plpgsql keeps a generic plan per connection
    /// for the connection's life): a lookup by id must use the primary key, never a (scope, time) index that
    /// costs the same on an empty table and scans every row of the scope once it is full.
    @Test func lookupsByIdUseThePrimaryKeyEvenInPlansMadeOnAnEmptyTable() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            let plans = try await database.client.withConnection { connection in
                try await connection.query("SET plan_cache_mode = force_generic_plan", logger: Logger(label: "t"))
                var plans: [String: String] = [:]
                let statements = [
                    "session": "SELECT 1 FROM mcpfcgi_sessions WHERE scope = $1 AND id = $2",
                    "state": "UPDATE mcpfcgi_sessions SET log_level = 'debug' WHERE scope = $1 AND id = $2",
                    "events": "DELETE FROM mcpfcgi_stream_events WHERE scope = $1 AND session_id = $2",
                    "idle": "SELECT id FROM mcpfcgi_sessions WHERE scope = $1 AND last_activity <= $2::float8 ORDER BY last_activity LIMIT 1",
                    "aged": "SELECT 1 FROM mcpfcgi_stream_events WHERE scope = $1 AND created_at < $2::float8",
                    // The removal trigger's lookup of a session's tasks (migration 6).
                    "tasks": "SELECT t.id FROM mcpfcgi_tasks t WHERE t.scope = $1 AND t.session_id = $2 ORDER BY t.id FOR UPDATE",
                ]
                for (name, sql) in statements {
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "PREPARE \(name)(text, \(name == "idle" || name == "aged" ? "float8" : "text")) AS \(sql)"),
                        logger: Logger(label: "t"))
                    var lines: [String] = []
                    let argument = name == "idle" || name == "aged" ? "0" : "'x'"
                    for try await line in try await connection.query(
                        PostgresQuery(unsafeSQL: "EXPLAIN EXECUTE \(name)('mcp', \(argument))"), logger: Logger(label: "t")
                    ).decode(String.self) {
                        lines.append(line)
                    }
                    plans[name] = lines.joined(separator: "\n")
                }
                return plans
            }
            #expect(plans["session"]?.contains("mcpfcgi_sessions_pkey") == true, "\(plans["session"] ?? "")")
            #expect(plans["state"]?.contains("mcpfcgi_sessions_pkey") == true, "\(plans["state"] ?? "")")
            #expect(plans["events"]?.contains("mcpfcgi_stream_events_pkey") == true, "\(plans["events"] ?? "")")
            #expect(plans["tasks"]?.contains("mcpfcgi_tasks_session") == true, "\(plans["tasks"] ?? "")")
            // The time indexes still serve what they are for: the least recently active session, the aged events.
            #expect(plans["idle"]?.contains("mcpfcgi_sessions_idle") == true, "\(plans["idle"] ?? "")")
            #expect(plans["aged"]?.contains("mcpfcgi_stream_events_aged") == true, "\(plans["aged"] ?? "")")
        }
    }
}
