import Foundation
import Logging
import MCPFCGITesting
import MCPHandlers
import MCPPostgres
import MCPStreamableHTTP
import Synchronization
import Testing

/// ``PostgresSessionStore`` against a real PostgreSQL, with two pools on one database standing for two workers (or
/// two machines): a session created by one is served by the other, removals reach the holder by `NOTIFY`,
/// admission holds across them, and idle expiry respects what is in flight anywhere.
@Suite struct PostgresSessionStoreTests {
    /// A wall clock tests move.
    final class Clock: Sendable {
        private let seconds = Mutex<Double>(1_800_000_000)
        var now: Double { seconds.withLock { $0 } }
        func advance(_ delta: Double) { seconds.withLock { $0 += delta } }
    }

    /// What a store reported through ``SharedSessionEvents``.
    final class Events: Sendable {
        let loaded = Mutex<[String]>([])
        let removed = Mutex<[(String, SessionEndReason)]>([])
        var handlers: SharedSessionEvents {
            SharedSessionEvents(
                loaded: { session in self.loaded.withLock { $0.append(session.id) } },
                removedElsewhere: { session, reason in self.removed.withLock { $0.append((session.id, reason)) } })
        }
    }

    /// A second "worker": its own pool, listener and store on the same database.
    struct Worker {
        let pool: PostgresPool
        let notifications: DatabaseNotifications
        let store: PostgresSessionStore

        static func on(
            _ url: DatabaseURL, scope: String = "mcp", capacity: Int = 100, clock: Clock? = nil,
            revalidateAfter: Duration = .seconds(30)
        ) async throws -> Worker {
            let pool = PostgresPool(configuration: .init(url: url), logger: Logger(label: "test.worker"))
            try await pool.start()
            let notifications = DatabaseNotifications(database: pool)
            let wallClock: @Sendable () -> Double
            if let clock { wallClock = { clock.now } } else { wallClock = { Date().timeIntervalSince1970 } }
            let store = PostgresSessionStore(
                database: pool, notifications: notifications,
                configuration: .init(
                    scope: scope, capacity: capacity, activityFlushInterval: .milliseconds(200),
                    revalidateAfter: revalidateAfter),
                wallClock: wallClock)
            let worker = Worker(pool: pool, notifications: notifications, store: store)
            try await worker.untilListening()
            return worker
        }

        func untilListening() async throws {
            for _ in 0..<100 where !notifications.isListening { try await Task.sleep(for: .milliseconds(20)) }
            #expect(notifications.isListening)
        }

        func stop() async {
            await store.shutdown()
            await notifications.stop()
            await pool.shutdown()
        }
    }

    static func session(
        _ id: String, owner: String? = nil, address: String? = nil, capabilities: Value = ["sampling": [:]]
    ) -> Session {
        Session(
            id: id, protocolVersion: .v2025_06_18, clientInfo: Implementation(name: "client", version: "2"),
            clientCapabilities: capabilities, owner: owner, clientAddress: address, now: 0)
    }

    /// Two workers on a fresh database.
    static func withTwoWorkers(
        capacity: Int = 100, clock: Clock? = nil, _ body: (Worker, Worker) async throws -> Void
    ) async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            let a = try await Worker.on(database.configuration.url, capacity: capacity, clock: clock)
            let b = try await Worker.on(database.configuration.url, capacity: capacity, clock: clock)
            do {
                try await body(a, b)
            } catch {
                await a.stop()
                await b.stop()
                throw error
            }
            await a.stop()
            await b.stop()
        }
    }

    /// Polls `condition` for up to `seconds`.
    static func eventually(_ seconds: Double = 2, _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return try await condition()
    }

    @Test func aSessionCreatedByOneWorkerIsLoadedByAnotherWithItsFactsAndState() async throws {
        try await Self.withTwoWorkers { a, b in
            let events = Events()
            b.store.setSharedSessionEvents(events.handlers)
            let created = Self.session("w1.abc", owner: "alice", address: "10.0.0.1")
            #expect(try await a.store.insert(created, limits: SessionLimits(), now: 0).isInserted)
            created.markInitialized()
            created.logLevel = .warning
            #expect(created.subscribe("test://a", limit: 10))
            // State is written in the background: the other worker sees it once written.
            let written = try await Self.eventually {
                let rows = try await a.pool.client.query(
                    "SELECT initialized, log_level, subscriptions FROM mcpfcgi_sessions WHERE id = 'w1.abc'",
                    logger: Logger(label: "test"))
                for try await (initialized, level, subscriptions) in rows.decode((Bool, String?, [String]).self) {
                    return initialized && level == "warning" && subscriptions == ["test://a"]
                }
                return false
            }
            #expect(written)
            let loaded = try #require(try await b.store.session(id: "w1.abc"))
            #expect(loaded !== created)
            #expect(loaded.protocolVersion == .v2025_06_18)
            #expect(loaded.clientInfo == Implementation(name: "client", version: "2"))
            #expect(loaded.clientSupports("sampling"))
            #expect(loaded.owner == "alice")
            #expect(loaded.clientAddress == "10.0.0.1")
            #expect(loaded.phase == .initialized)
            #expect(events.loaded.withLock { $0 }.contains("w1.abc"))
            // Held now: the same object again, without a query.
            #expect(try await b.store.session(id: "w1.abc") === loaded)
            #expect(try await b.store.contains(id: "w1.abc"))
            #expect(try await b.store.session(id: "w1.unknown") == nil)
            #expect(try await a.store.count == 1)
            #expect(try await b.store.count == 1)
        }
    }

    @Test func aRemovalOnOneWorkerEndsTheCopyTheOtherHoldsWithinASecond() async throws {
        try await Self.withTwoWorkers { a, b in
            let events = Events()
            a.store.setSharedSessionEvents(events.handlers)
            let created = Self.session("w1.gone")
            #expect(try await a.store.insert(created, limits: SessionLimits(), now: 0).isInserted)
            _ = try #require(try await b.store.session(id: "w1.gone"))
            let removed = try await b.store.remove(id: "w1.gone")
            #expect(removed?.id == "w1.gone")
            #expect(try await b.store.remove(id: "w1.gone") == nil)  // exactly one remover gets it
            #expect(await Self.eventually(1) { events.removed.withLock { $0 }.contains { $0.0 == "w1.gone" } })
            #expect(events.removed.withLock { $0 }.first?.1 == .deleted)
            #expect(try await a.store.session(id: "w1.gone") == nil)
            #expect(try await a.store.count == 0)
        }
    }

    @Test func quotasDuplicatesAndTheCapacityHoldAcrossWorkers() async throws {
        try await Self.withTwoWorkers(capacity: 3) { a, b in
            let limits = SessionLimits(maxSessionsPerAddress: 2, maxSessionsPerUser: 2, minimumIdleBeforeEviction: nil)
            #expect(try await a.store.insert(Self.session("s1", owner: "u1", address: "ip1"), limits: limits, now: 0).isInserted)
            #expect(try await b.store.insert(Self.session("s2", owner: "u2", address: "ip1"), limits: limits, now: 0).isInserted)
            let duplicate = try await b.store.insert(Self.session("s1"), limits: limits, now: 0)
            guard case .duplicateID = duplicate else { Issue.record("duplicate id: \(duplicate)"); return }
            let address = try await b.store.insert(Self.session("s3", owner: "u3", address: "ip1"), limits: limits, now: 0)
            guard case .addressQuotaReached(2) = address else { Issue.record("address quota: \(address)"); return }
            #expect(try await a.store.insert(Self.session("s4", owner: "u1", address: "ip2"), limits: limits, now: 0).isInserted)
            let user = try await b.store.insert(Self.session("s5", owner: "u1", address: "ip3"), limits: limits, now: 0)
            guard case .userQuotaReached(2) = user else { Issue.record("user quota: \(user)"); return }
            // Three live: full, and no eviction configured.
            let full = try await b.store.insert(Self.session("s6", owner: "u9", address: "ip9"), limits: limits, now: 0)
            guard case .full = full else { Issue.record("capacity: \(full)"); return }
            #expect(try await a.store.count == 3)
            // The plain insert: no quota, still the capacity.
            #expect(try await a.store.insert(Self.session("s7")) == false)
        }
    }

    /// Admission keeps the counts itself (migration 6): after admissions, every kind of refusal, an eviction and a
    /// refusal for want of an idle session, the counts of the scope, its addresses and its owners are the rows'.
    @Test func theCountsStayTheRowsThroughRefusalsEvictionsAndRemovals() async throws {
        let clock = Clock()
        try await Self.withTwoWorkers(capacity: 3, clock: clock) { a, b in
            let quotas = SessionLimits(maxSessionsPerAddress: 2, maxSessionsPerUser: 2, minimumIdleBeforeEviction: .seconds(60))
            #expect(try await a.store.insert(Self.session("k1", owner: "u1", address: "ip1"), limits: quotas, now: 0).isInserted)
            #expect(try await b.store.insert(Self.session("k2", owner: "u1", address: "ip2"), limits: quotas, now: 0).isInserted)
            clock.advance(10)
            #expect(try await a.store.insert(Self.session("k3", owner: "u2", address: "ip1"), limits: quotas, now: 0).isInserted)
            let address = try await b.store.insert(Self.session("k4", owner: "u3", address: "ip1"), limits: quotas, now: 0)
            guard case .addressQuotaReached = address else { Issue.record("address: \(address)"); return }
            let user = try await b.store.insert(Self.session("k5", owner: "u1", address: "ip3"), limits: quotas, now: 0)
            guard case .userQuotaReached = user else { Issue.record("user: \(user)"); return }
            let duplicate = try await b.store.insert(Self.session("k1", owner: "u4", address: "ip4"), limits: quotas, now: 0)
            guard case .duplicateID = duplicate else { Issue.record("duplicate: \(duplicate)"); return }
            // Full, nobody idle 60 s yet: the new session is taken out again.
            let early = try await b.store.insert(Self.session("k6", owner: "u5", address: "ip5"), limits: quotas, now: 0)
            guard case .full = early else { Issue.record("full: \(early)"); return }
            clock.advance(55)  // k1 and k2 idle 65 s, k3 55 s
            let evicting = try await b.store.insert(Self.session("k7", owner: "u6", address: "ip6"), limits: quotas, now: 0)
            guard case .inserted(let evicted) = evicting else { Issue.record("eviction: \(evicting)"); return }
            #expect(evicted.count == 1)
            #expect(try await a.store.remove(id: "k3") != nil)
            let logger = Logger(label: "t")
            let rows = try await a.pool.client.query(
                """
                SELECT c.kind::text, c.key, c.live, (SELECT count(*) FROM mcpfcgi_sessions s WHERE s.scope = c.scope AND
                    CASE c.kind WHEN 't' THEN true WHEN 'a' THEN s.client_address = c.key ELSE s.owner = c.key END)
                FROM mcpfcgi_session_counts c WHERE c.scope = 'mcp'
                """, logger: logger)
            var checked = 0
            for try await (kind, key, live, actual) in rows.decode((String, String, Int64, Int64).self) {
                #expect(live == actual, "count of \(kind) \(key)")
                checked += 1
            }
            #expect(checked >= 5)
            #expect(try await a.store.count == 2)
            // The refused ones left no row behind.
            let left = try await a.pool.client.query(
                "SELECT count(*)::bigint FROM mcpfcgi_sessions WHERE id IN ('k4', 'k5', 'k6')", logger: logger)
            for try await count in left.decode(Int64.self) { #expect(count == 0) }
        }
    }

    @Test func concurrentInitializesOnTwoWorkersNeverOvershootTheCapacityOrAQuota() async throws {
        try await Self.withTwoWorkers(capacity: 7) { a, b in
            let limits = SessionLimits(maxSessionsPerAddress: 5, maxSessionsPerUser: nil, minimumIdleBeforeEviction: nil)
            let outcomes = try await withThrowingTaskGroup(of: SessionInsertion.self) { group in
                for i in 0..<24 {
                    let store = i % 2 == 0 ? a.store : b.store
                    // Half from one address (quota 5), half from others (the capacity of 7 binds).
                    let address = i < 12 ? "crowd" : "ip\(i)"
                    group.addTask { try await store.insert(Self.session("c\(i)", address: address), limits: limits, now: 0) }
                }
                return try await group.reduce(into: [SessionInsertion]()) { $0.append($1) }
            }
            let inserted = outcomes.filter(\.isInserted).count
            #expect(inserted == 7)
            #expect(try await a.store.count == 7)
            let rows = try await a.pool.client.query(
                "SELECT count(*)::bigint FROM mcpfcgi_sessions WHERE client_address = 'crowd'", logger: Logger(label: "t"))
            for try await crowd in rows.decode(Int64.self) { #expect(crowd <= 5) }
        }
    }

    @Test func aHeldCopyIsReadAgainOnceOldAndSeesAChangeMadeElsewhere() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            let a = try await Worker.on(database.configuration.url)
            let b = try await Worker.on(database.configuration.url, revalidateAfter: .milliseconds(300))
            let created = Self.session("shared")
            #expect(try await a.store.insert(created, limits: SessionLimits(), now: 0).isInserted)
            let copy = try #require(try await b.store.session(id: "shared"))
            #expect(copy.logLevel == nil)
            created.logLevel = .error
            // Used all the time, the copy is still read again once it is older than revalidateAfter.
            let seen = try await Self.eventually(3) {
                let current = try await b.store.session(id: "shared")
                current?.beginActivity()
                current?.endActivity(now: 0)
                return current?.logLevel == .error
            }
            #expect(seen)
            #expect(try await b.store.session(id: "shared") === copy)  // the same object, refreshed
            await a.stop()
            await b.stop()
        }
    }

    @Test func aFullStoreEvictsTheLeastRecentlyUsedIdleSessionAndTheHolderHearsOfIt() async throws {
        let clock = Clock()
        try await Self.withTwoWorkers(capacity: 2, clock: clock) { a, b in
            let events = Events()
            a.store.setSharedSessionEvents(events.handlers)
            let limits = SessionLimits(minimumIdleBeforeEviction: .seconds(60))
            let old = Self.session("old")
            #expect(try await a.store.insert(old, limits: limits, now: 0).isInserted)
            clock.advance(10)
            #expect(try await a.store.insert(Self.session("newer"), limits: limits, now: 0).isInserted)
            // Not idle long enough: refused.
            let early = try await b.store.insert(Self.session("third"), limits: limits, now: 0)
            guard case .full = early else { Issue.record("too early to evict: \(early)"); return }
            clock.advance(55)  // "old" idle 65 s, "newer" 55 s
            let outcome = try await b.store.insert(Self.session("third"), limits: limits, now: 0)
            guard case .inserted(let evicted) = outcome else { Issue.record("eviction: \(outcome)"); return }
            #expect(evicted.map(\.id) == ["old"])
            #expect(await Self.eventually(1) { events.removed.withLock { $0 }.contains { $0 == ("old", .evicted) } })
            #expect(try await a.store.count == 2)
        }
    }

    @Test func idleExpiryRespectsWhatIsInFlightOnAnyWorkerAndActivityIsWrittenInBatches() async throws {
        let clock = Clock()
        try await Self.withTwoWorkers(clock: clock) { a, b in
            let busy = Self.session("busy")
            let quiet = Self.session("quiet")
            #expect(try await a.store.insert(busy, limits: SessionLimits(), now: 0).isInserted)
            #expect(try await a.store.insert(quiet, limits: SessionLimits(), now: 0).isInserted)
            busy.beginActivity()
            clock.advance(100)
            await a.store.flush()  // the heartbeat of the busy one
            let removed = try await b.store.removeIdle(olderThan: 50, now: 0)
            #expect(removed.map(\.id) == ["quiet"])
            #expect(quiet.isEnded == false)  // the store never ends a session; the server does
            // Activity ends: written with the next batch; idle from then on.
            busy.endActivity(now: 0)
            await a.store.flush()
            clock.advance(10)
            #expect(try await b.store.removeIdle(olderThan: 50, now: 0).isEmpty)
            clock.advance(50)
            #expect(try await b.store.removeIdle(olderThan: 50, now: 0).map(\.id) == ["busy"])
            #expect(try await a.store.count == 0)
        }
    }

    @Test func scopesKeepServersApart() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            let main = try await Worker.on(database.configuration.url, scope: "mcp")
            let tenant = try await Worker.on(database.configuration.url, scope: "tenant-a")
            #expect(try await main.store.insert(Self.session("same"), limits: SessionLimits(), now: 0).isInserted)
            #expect(try await tenant.store.session(id: "same") == nil)
            #expect(try await tenant.store.insert(Self.session("same"), limits: SessionLimits(), now: 0).isInserted)
            #expect(try await tenant.store.remove(id: "same") != nil)
            #expect(try await main.store.session(id: "same") != nil)
            #expect(try await main.store.count == 1)
            #expect(try await tenant.store.count == 0)
            await main.stop()
            await tenant.stop()
        }
    }

    /// Through the transport: a session initialized on one application is served by another on the same database,
    /// and a DELETE there ends it on the first (its requests get 404).
    @Test func aSessionInitializedOnOneApplicationIsServedAndDeletedOnAnother() async throws {
        try await Self.withTwoWorkers { a, b in
            func application(_ worker: Worker) -> MCPApplication {
                let server = MCPServer(
                    configuration: .init(
                        serverInfo: Implementation(name: "shared", version: "1"), sessionStore: worker.store))
                server.registerTool(Tool(name: "echo")) { arguments, _ in
                    .text(arguments["text"]?.stringValue ?? "")
                }
                return MCPApplication(server: server, logger: Logger(label: "test.app"))
            }
            let first = MCPTestClient(application(a))
            let second = MCPTestClient(application(b))
            let id = try await first.initialize()
            let result = try await second.callTool("echo", arguments: ["text": "hello"], session: id)
            #expect(result["content"]?.arrayValue?.first?["text"]?.stringValue == "hello")
            #expect(await second.delete(session: id).head.status == .ok)
            #expect(
                await Self.eventually(1) {
                    await first.post(
                        #"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#, session: id
                    ).head.status == .notFound
                })
        }
    }
}

extension SessionInsertion {
    var isInserted: Bool {
        if case .inserted = self { return true }
        return false
    }
}
