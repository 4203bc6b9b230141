import Foundation
import Logging
import MCPHandlers
import MCPPostgres
import Synchronization
import Testing

/// ``PostgresTaskStore`` against a real PostgreSQL: tasks shared by two workers (two pools, two listeners, two
/// servers), quotas under concurrency, cancellation across workers, and a task whose worker died.
@Suite struct PostgresTaskStoreTests {
    /// One worker: its pool, its listener, its task store and an MCP server using it.
    final class Worker: Sendable {
        let pool: PostgresPool
        let notifications: DatabaseNotifications
        let store: PostgresTaskStore
        let server: MCPServer
        let counts = Counts()
        var startedCount: Int { counts.started.withLock { $0 } }
        var cancelledCount: Int { counts.cancelled.withLock { $0 } }

        final class Counts: Sendable {
            let started = Mutex(0)
            let cancelled = Mutex(0)
        }

        init(url: DatabaseURL, staleAfter: Duration = .seconds(10), limits: TaskLimits = TaskLimits()) async throws {
            pool = PostgresPool(configuration: .init(url: url), logger: Logger(label: "t"))
            try await pool.start()
            notifications = DatabaseNotifications(database: pool)
            notifications.start()
            store = PostgresTaskStore(
                database: pool, notifications: notifications,
                configuration: .init(heartbeatInterval: .milliseconds(200), staleAfter: staleAfter, pollInterval: .milliseconds(200)))
            server = MCPServer(
                configuration: .init(
                    serverInfo: .init(name: "t", version: "1"), sessionStore: InMemorySessionStore(),
                    tasks: TaskConfiguration(store: store, limits: limits, pollInterval: .milliseconds(200))))
            server.registerTool(Tool(name: "wait", taskSupport: .optional)) { [counts] arguments, _ in
                counts.started.withLock { $0 += 1 }
                do {
                    try await Task.sleep(for: .milliseconds(Int64((arguments["ms"]?.doubleValue ?? 30_000))))
                } catch {
                    counts.cancelled.withLock { $0 += 1 }
                    throw error
                }
                return .text("waited")
            }
            for _ in 0..<500 where !notifications.isListening { try await Task.sleep(for: .milliseconds(10)) }
        }

        func stop() async {
            await store.shutdown()
            await notifications.stop()
            await pool.shutdown()
        }

        /// A request of user `user` in session `session` (a session of PostgresSessionStore is the same on every
        /// worker).
        func call(_ method: String, _ params: Value, user: String = "alice", session: String = "s1") async
            -> Result<Value, MCPError>
        {
            let session = Session(
                id: session, protocolVersion: .v2025_11_25, clientInfo: nil, clientCapabilities: [:], owner: user,
                now: 0)
            let context = RequestContext(
                requestID: .number(1), session: session, user: user, protocolVersion: .v2025_11_25,
                clientCapabilities: [:], progressToken: nil, logger: Logger(label: "t"), outbound: DiscardingOutbound())
            return await server.handle(JSONRPCRequest(id: .number(1), method: method, params: params), context: context)
        }
    }

    func poll(_ worker: Worker, _ id: Value, until status: String) async throws -> Value {
        for _ in 0..<300 {
            let task = try await worker.call("tasks/get", ["taskId": id]).get()
            if task["status"] == .string(status) { return task }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("task \(id) never became \(status)")
        return try await worker.call("tasks/get", ["taskId": id]).get()
    }

    @Test func aTaskMadeOnOneWorkerIsReadWaitedForAndListedOnAnother() async throws {
        let url = try await PostgresTestCluster.freshDatabase()
        let a = try await Worker(url: url)
        let b = try await Worker(url: url)
        let created = try await a.call("tools/call", ["name": "wait", "arguments": ["ms": 600], "task": ["ttl": 60000]]).get()
        let id = try #require(created["task"]?["taskId"])
        #expect(try await b.call("tasks/get", ["taskId": id]).get()["status"] == "working")
        // B's tasks/result waits and is woken by A's completion.
        let clock = ContinuousClock()
        let start = clock.now
        let result = try await b.call("tasks/result", ["taskId": id]).get()
        #expect(result["content"]?.arrayValue?.first?["text"] == "waited")
        #expect(result["_meta"]?["io.modelcontextprotocol/related-task"] == ["taskId": id])
        #expect(clock.now - start < .seconds(10))
        let listed = try await b.call("tasks/list", [:]).get()["tasks"]?.arrayValue ?? []
        #expect(listed.map { $0["taskId"] } == [id])
        #expect(listed.first?["status"] == "completed")
        // Another user, or another session of the same user, sees nothing of it, on either worker.
        #expect(failure(await b.call("tasks/get", ["taskId": id], user: "mallory"))?.code == MCPError.Code.invalidParams)
        #expect(try await a.call("tasks/list", [:], user: "mallory").get()["tasks"] == [])
        #expect(failure(await b.call("tasks/get", ["taskId": id], session: "s2"))?.code == MCPError.Code.invalidParams)
        // Terminal is final: a late write does not change it.
        let late = try await a.store.update(
            id: id.stringValue!, status: .failed, message: "late", outcome: nil, now: MCPServer.wallClockSeconds())
        #expect(late?.status == .completed)
        // The end of the session forgets its tasks.
        try await b.store.removeTasks(ofSession: "s1")
        #expect(failure(await a.call("tasks/get", ["taskId": id]))?.code == MCPError.Code.invalidParams)
        await a.stop()
        await b.stop()
    }

    @Test func aCancelOnOneWorkerStopsTheToolOnTheOther() async throws {
        let url = try await PostgresTestCluster.freshDatabase()
        let a = try await Worker(url: url)
        let b = try await Worker(url: url)
        let created = try await a.call("tools/call", ["name": "wait", "arguments": [:], "task": [:]]).get()
        let id = try #require(created["task"]?["taskId"])
        for _ in 0..<200 where a.startedCount == 0 { try await Task.sleep(for: .milliseconds(10)) }
        let cancelled = try await b.call("tasks/cancel", ["taskId": id]).get()
        #expect(cancelled["status"] == "cancelled")
        for _ in 0..<300 where a.cancelledCount == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(a.cancelledCount == 1)
        #expect(a.server.runningTaskCount == 0)
        #expect(failure(await a.call("tasks/result", ["taskId": id]))?.code == MCPError.Code.requestCancelled)
        await a.stop()
        await b.stop()
    }

    @Test func aTaskWhoseWorkerDiedIsFailedAndADrainingWorkerFailsItsOwn() async throws {
        let url = try await PostgresTestCluster.freshDatabase()
        let a = try await Worker(url: url, staleAfter: .seconds(1))
        let b = try await Worker(url: url, staleAfter: .seconds(1))
        let created = try await a.call("tools/call", ["name": "wait", "arguments": [:], "task": [:]]).get()
        let id = try #require(created["task"]?["taskId"])
        // While A beats, B reads the task as working, also past `staleAfter`.
        try await Task.sleep(for: .milliseconds(1500))
        #expect(try await b.call("tasks/get", ["taskId": id]).get()["status"] == "working")
        // A stops beating (its heartbeat ends as a dead worker's would): B fails the task.
        await a.store.shutdown()
        let failed = try await poll(b, id, until: "failed")
        #expect(failed["statusMessage"]?.stringValue?.contains("call the tool again") == true)
        #expect(failure(await b.call("tasks/result", ["taskId": id]))?.code == MCPError.Code.internalError)

        let running = try await b.call("tools/call", ["name": "wait", "arguments": [:], "task": [:]]).get()
        let other = try #require(running["task"]?["taskId"])
        await b.server.stopTasks()
        #expect(try await a.call("tasks/get", ["taskId": other]).get()["status"] == "failed")
        await a.notifications.stop()
        await a.pool.shutdown()
        await b.stop()
    }

    @Test func quotasHoldWhenWorkersCreateAtOnce() async throws {
        let url = try await PostgresTestCluster.freshDatabase()
        let limits = TaskLimits(maxTasksPerSession: 100, maxTasksPerUser: 5, maxTasksPerAddress: 100, capacity: 100)
        let a = try await Worker(url: url, limits: limits)
        let b = try await Worker(url: url, limits: limits)
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for n in 0..<12 {
                let worker = n % 2 == 0 ? a : b
                group.addTask {
                    (try? await worker.call("tools/call", ["name": "wait", "arguments": ["ms": 1], "task": [:]]).get()) != nil
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 5)
        let refused = await a.call("tools/call", ["name": "wait", "arguments": ["ms": 1], "task": [:]])
        #expect(failure(refused)?.message.contains("holds 5 tasks") == true)
        #expect(try await a.call("tasks/list", [:]).get()["tasks"]?.arrayValue?.count == 5)
        await a.stop()
        await b.stop()
    }

    /// With the sessions in the same database, a session's removal deletes its tasks in the same statement and
    /// `removeTasks(ofSession:)` sends nothing; without, that call deletes them.
    @Test func aSessionsTasksGoWithItsRecordOrWithRemoveTasks() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            let notifications = DatabaseNotifications(database: database)
            let sessions = PostgresSessionStore(database: database, notifications: notifications)
            let alongside = PostgresTaskStore(
                database: database, notifications: notifications, configuration: .init(sessionsInThisDatabase: true))
            let apart = PostgresTaskStore(database: database, notifications: notifications)
            let now = Date().timeIntervalSince1970
            func task(_ id: String, session: String) -> TaskRecord {
                TaskRecord(
                    id: id, owner: "session:\(session)", sessionID: session, createdAt: now, ttlMilliseconds: 60_000,
                    pollIntervalMilliseconds: 1000)
            }
            for id in ["s1", "s2"] {
                let session = Session(
                    id: id, protocolVersion: .v2025_11_25, clientInfo: nil, clientCapabilities: [:], owner: nil, now: 0)
                #expect(try await sessions.insert(session))
            }
            #expect(try await alongside.create(task("t1", session: "s1"), limits: TaskLimits()) == .created)
            #expect(try await alongside.create(task("t2", session: "s1"), limits: TaskLimits()) == .created)
            #expect(try await alongside.create(task("t3", session: "s2"), limits: TaskLimits()) == .created)
            // The flag: removeTasks leaves the rows to the session's removal.
            try await alongside.removeTasks(ofSession: "s1")
            #expect(try await alongside.task(id: "t1", now: now) != nil)
            #expect(try await sessions.remove(id: "s1") != nil)
            #expect(try await alongside.task(id: "t1", now: now) == nil)
            #expect(try await alongside.task(id: "t2", now: now) == nil)
            #expect(try await alongside.task(id: "t3", now: now)?.status == .working)
            // Without it, the call deletes them (sessions elsewhere, e.g. in memory).
            #expect(try await apart.create(task("t4", session: "memory-session"), limits: TaskLimits()) == .created)
            try await apart.removeTasks(ofSession: "memory-session")
            #expect(try await apart.task(id: "t4", now: now) == nil)
            #expect(try await apart.task(id: "t3", now: now) != nil)
            await sessions.shutdown()
            await alongside.shutdown()
            await apart.shutdown()
            await notifications.stop()
        }
    }

    @Test func expiredTasksAreGoneAndTheStoreSaysWhenItCannotBeReached() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            let notifications = DatabaseNotifications(database: database)
            let store = PostgresTaskStore(database: database, notifications: notifications)
            let record = TaskRecord(
                id: "expiring", owner: "session:s", sessionID: "s", createdAt: 1000, ttlMilliseconds: 10_000,
                pollIntervalMilliseconds: 1000)
            #expect(try await store.create(record, limits: TaskLimits()) == .created)
            #expect(try await store.task(id: "expiring", now: 1005)?.status == .working)
            #expect(try await store.task(id: "expiring", now: 1011) == nil)
            #expect(try await store.tasks(owner: "session:s", now: 1011).isEmpty)
            // Another scope does not see it.
            let tenant = PostgresTaskStore(database: database, notifications: notifications, configuration: .init(scope: "tenant"))
            #expect(try await tenant.task(id: "expiring", now: 1005) == nil)
            await store.shutdown()
            await tenant.shutdown()
            await database.shutdown()
            await #expect(throws: (any Error).self) { try await store.task(id: "expiring", now: 1005) }
        }
    }
}

func failure(_ result: Result<Value, MCPError>) -> MCPError? {
    if case .failure(let error) = result { return error }
    return nil
}
