import Logging
import MCPHTTP
import MCPPostgres
import Synchronization
import Testing

/// ``PostgresPool``'s own settings: the connections it keeps open, and where an operation runs.
@Suite struct PostgresPoolTests {
    /// A task executor that counts the jobs it runs (on the global concurrent executor).
    final class CountingExecutor: TaskExecutor {
        let jobs = Atomic<Int>(0)
        func enqueue(_ job: consuming ExecutorJob) {
            jobs.add(1, ordering: .relaxed)
            globalConcurrentExecutor.enqueue(job)
        }
    }

    /// The connections of this database, as the server sees them.
    static func connections(to database: String, from pool: PostgresPool) async throws -> Int64 {
        let rows = try await pool.client.query(
            "SELECT count(*)::bigint FROM pg_stat_activity WHERE datname = \(database) AND backend_type = 'client backend'", logger: Logger(label: "t"))
        for try await count in rows.decode(Int64.self) { return count }
        return 0
    }

    @Test func anIdlePoolKeepsItsMinimumConnectionsOpen() async throws {
        let url = try await PostgresTestCluster.freshDatabase()
        let pool = PostgresPool(
            configuration: .init(url: url, maximumConnections: 6, minimumConnections: 4), logger: Logger(label: "t"))
        try await pool.start()
        let database = url.database
        var open: Int64 = 0
        for _ in 0..<100 {
            open = try await Self.connections(to: database, from: pool)
            if open >= 4 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(open == 4)
        await pool.shutdown()
    }

    @Test func anOperationRunsOnTheRequestsExecutorButNotABackgroundTasks() async throws {
        try await PostgresTestCluster.withStartedDatabase { pool throws in
            @Sendable func query() async throws -> Int {
                try await pool.run {
                    for try await value in try await pool.client.query("SELECT 41 + 1", logger: Logger(label: "t"))
                        .decode(Int.self)
                    { return value }
                    return 0
                }
            }
            let executor = CountingExecutor()
            // A request's task: it prefers the executor and has it as the request's.
            let answer = try await RequestExecutor.$current.withValue(executor) {
                try await Task(executorPreference: executor) { try await query() }.value
            }
            #expect(answer == 42)
            let requestJobs = executor.jobs.load(ordering: .relaxed)
            #expect(requestJobs > 0)
            // A task started during a request inherits the task-local, not the preference: its operations stay
            // off the request's executor.
            let background = try await RequestExecutor.$current.withValue(executor) {
                try await Task { try await query() }.value
            }
            #expect(background == 42)
            #expect(executor.jobs.load(ordering: .relaxed) == requestJobs)
        }
    }
}
