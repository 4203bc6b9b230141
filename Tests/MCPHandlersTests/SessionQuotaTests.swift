import Synchronization
import Testing

@testable import MCPHandlers

/// Session quotas, eviction of the least recently used idle session, and the bounds of one session.
@Suite struct SessionQuotaTests {
    func session(_ id: String, address: String? = nil, owner: String? = nil, now: Double = 0) -> Session {
        Session(
            id: id, protocolVersion: .v2025_11_25, clientInfo: nil, clientCapabilities: [:], owner: owner,
            clientAddress: address, now: now)
    }

    func evictedIDs(_ outcome: SessionInsertion) -> [String]? {
        if case .inserted(let evicted) = outcome { return evicted.map(\.id) }
        return nil
    }

    @Test func perAddressQuotaRefusesTheFloodingAddressOnly() {
        let store = InMemorySessionStore()
        let limits = SessionLimits(maxSessionsPerAddress: 2)
        #expect(evictedIDs(store.insert(session("a1", address: "10.0.0.1"), limits: limits, now: 0)) == [])
        #expect(evictedIDs(store.insert(session("a2", address: "10.0.0.1"), limits: limits, now: 0)) == [])
        guard case .addressQuotaReached(let limit) = store.insert(session("a3", address: "10.0.0.1"), limits: limits, now: 0)
        else { Issue.record("the third session of one address was accepted"); return }
        #expect(limit == 2)
        #expect(!store.contains(id: "a3"))
        #expect(evictedIDs(store.insert(session("b1", address: "10.0.0.2"), limits: limits, now: 0)) == [])
        #expect(store.sessionCount(clientAddress: "10.0.0.1") == 2)
        // An ended session frees its place in the quota.
        store.remove(id: "a1")
        #expect(evictedIDs(store.insert(session("a3", address: "10.0.0.1"), limits: limits, now: 0)) == [])
        #expect(store.sessionCount(clientAddress: "10.0.0.1") == 2)
    }

    @Test func perUserQuotaCountsOwnersAcrossAddresses() {
        let store = InMemorySessionStore()
        let limits = SessionLimits(maxSessionsPerAddress: 10, maxSessionsPerUser: 2)
        #expect(evictedIDs(store.insert(session("1", address: "10.0.0.1", owner: "alice"), limits: limits, now: 0)) == [])
        #expect(evictedIDs(store.insert(session("2", address: "10.0.0.2", owner: "alice"), limits: limits, now: 0)) == [])
        guard case .userQuotaReached(2) = store.insert(session("3", address: "10.0.0.3", owner: "alice"), limits: limits, now: 0)
        else { Issue.record("alice's third session was accepted"); return }
        #expect(evictedIDs(store.insert(session("4", address: "10.0.0.3", owner: "bob"), limits: limits, now: 0)) == [])
        // Expired sessions give their place back too.
        #expect(store.removeIdle(olderThan: 0, now: 1).count == 3)
        #expect(store.sessionCount(user: "alice") == 0)
        #expect(evictedIDs(store.insert(session("5", owner: "alice"), limits: limits, now: 2)) == [])
    }

    @Test func fullStoreEvictsTheLeastRecentlyUsedIdleSession() {
        let store = InMemorySessionStore(capacity: 3)
        let limits = SessionLimits(minimumIdleBeforeEviction: .seconds(300))
        let a = session("a", now: 0)
        let b = session("b", now: 10)
        let c = session("c", now: 20)
        for s in [a, b, c] { _ = store.insert(s, limits: limits, now: s.createdAt) }
        // a was used last: b is now the least recently used; c is busy (a stream is open).
        a.beginActivity()
        a.endActivity(now: 100)
        c.beginActivity()
        #expect(evictedIDs(store.insert(session("d", now: 1000), limits: limits, now: 1000)) == ["b"])
        #expect(!store.contains(id: "b") && store.count == 3)
        // Next: a (idle since 100); c stays while busy however old it is.
        #expect(evictedIDs(store.insert(session("e", now: 1001), limits: limits, now: 1001)) == ["a"])
        // Left: c (busy), d and e (fresh): nothing is evictable, the new session is refused.
        guard case .full = store.insert(session("f", now: 1002), limits: limits, now: 1002) else {
            Issue.record("a busy or fresh session was evicted"); return
        }
        #expect(store.contains(id: "c") && store.contains(id: "d") && store.contains(id: "e"))
        // Once c's stream ends it is idle since then: d and e (idle since their creation) go before it.
        c.endActivity(now: 1100)
        #expect(evictedIDs(store.insert(session("g", now: 1400), limits: limits, now: 1400)) == ["d"])
        #expect(evictedIDs(store.insert(session("h", now: 1401), limits: limits, now: 1401)) == ["e"])
        #expect(evictedIDs(store.insert(session("i", now: 1402), limits: limits, now: 1402)) == ["c"])
    }

    @Test func freshSessionsAreNeverEvictedSoAFloodIsRefused() {
        let store = InMemorySessionStore(capacity: 100)
        let limits = SessionLimits(maxSessionsPerAddress: nil, minimumIdleBeforeEviction: .seconds(300))
        for i in 0..<100 { _ = store.insert(session("flood\(i)", now: Double(i)), limits: limits, now: Double(i)) }
        var refused = 0
        for i in 0..<50 {
            if case .full = store.insert(session("more\(i)", now: 200), limits: limits, now: 200) { refused += 1 }
        }
        #expect(refused == 50)
        #expect(store.count == 100)
        // Without eviction (nil) the store only ever refuses.
        #expect(evictedIDs(store.insert(session("late", now: 10_000), limits: .noQuotas, now: 10_000)) == nil)
    }

    @Test func evictionAtCapacityTenThousandIsNotAScan() {
        // 10,000 sessions; 10,000 more inserted one by one, each evicting the least recently used: with a scan
        // per insertion this is 10^8 steps, with the idle lists it takes milliseconds.
        let store = InMemorySessionStore(capacity: 10_000)
        let limits = SessionLimits(maxSessionsPerAddress: nil, minimumIdleBeforeEviction: .seconds(1))
        for i in 0..<10_000 { _ = store.insert(session("old\(i)", now: Double(i)), limits: limits, now: Double(i)) }
        let started = ContinuousClock.now
        var evicted: [String] = []
        for i in 0..<10_000 {
            let now = 20_000 + Double(i)
            evicted += evictedIDs(store.insert(session("new\(i)", now: now), limits: limits, now: now)) ?? []
        }
        #expect(evicted == (0..<10_000).map { "old\($0)" })
        #expect(ContinuousClock.now - started < .seconds(5))
    }

    @Test func expiryWalksOnlyIdleSessionsInOrder() {
        let store = InMemorySessionStore()
        let sessions = (0..<40).map { session("s\($0)", now: Double($0)) }
        for s in sessions { _ = store.insert(s) }
        sessions[3].beginActivity()
        #expect(Set(store.removeIdle(olderThan: 10, now: 30).map(\.id)) == Set((0...20).filter { $0 != 3 }.map { "s\($0)" }))
        #expect(store.contains(id: "s3") && store.count == 20)
    }

    @Test func subscriptionsPerSessionAreBounded() async throws {
        let server = MCPServer(
            configuration: .init(
                serverInfo: .init(name: "t", version: "1"), sessionLimits: SessionLimits(maxSubscriptionsPerSession: 2)))
        server.registerResourceTemplate(uriTemplate: "test://item/{n}", name: "item") { uri, _, _ in [.text("x", uri: uri)] }
        let (_, session) = try await server.initialize(JSONRPCRequest(id: .number(1), method: "initialize"), owner: nil)
        for n in 1...2 {
            #expect(failure(await call(server, "resources/subscribe", ["uri": .string("test://item/\(n)")], session: session)) == nil)
        }
        // Subscribing again to one it holds is fine; a third is refused with -32602.
        #expect(failure(await call(server, "resources/subscribe", ["uri": "test://item/1"], session: session)) == nil)
        let refused = failure(await call(server, "resources/subscribe", ["uri": "test://item/3"], session: session))
        #expect(refused?.code == MCPError.Code.invalidParams)
        #expect(refused?.message.contains("2 resource subscriptions") == true)
        #expect(session.subscriptions == ["test://item/1", "test://item/2"])
        _ = await call(server, "resources/unsubscribe", ["uri": "test://item/1"], session: session)
        #expect(failure(await call(server, "resources/subscribe", ["uri": "test://item/3"], session: session)) == nil)
    }

    @Test func oversizedClientMetadataIsRefused() async throws {
        let server = MCPServer(
            configuration: .init(
                serverInfo: .init(name: "t", version: "1"), sessionLimits: SessionLimits(maxClientMetadataBytes: 1024)))
        let big: Value = ["experimental": ["blob": .string(String(repeating: "x", count: 2000))]]
        let request = JSONRPCRequest(
            id: .number(1), method: "initialize",
            params: ["protocolVersion": "2025-11-25", "capabilities": big, "clientInfo": ["name": "c", "version": "1"]])
        await #expect(throws: MCPServer.SessionCreationError.clientMetadataTooLarge(limit: 1024)) {
            _ = try await server.initialize(request, owner: nil)
        }
        #expect(try await server.sessions.count == 0)
        let small = JSONRPCRequest(
            id: .number(1), method: "initialize",
            params: ["protocolVersion": "2025-11-25", "capabilities": ["roots": [:]], "clientInfo": ["name": "c", "version": "1"]])
        #expect(try await server.initialize(small, owner: nil).session.clientSupports("roots"))
    }

    @Test func initializeEndsWhatAnEvictedSessionHeld() async throws {
        let clock = Mutex(0.0)
        let server = MCPServer(
            configuration: .init(
                serverInfo: .init(name: "t", version: "1"), sessionStore: InMemorySessionStore(capacity: 1),
                sessionLimits: SessionLimits(minimumIdleBeforeEviction: .seconds(60)), now: { clock.withLock { $0 } }))
        server.registerResource(uri: "test://r", name: "r") { uri, _ in [.text("r", uri: uri)] }
        let initialize = JSONRPCRequest(id: .number(1), method: "initialize")
        let (_, old, _) = try await server.initialize(initialize, owner: nil, clientAddress: "10.0.0.1")
        _ = await call(server, "resources/subscribe", ["uri": "test://r"], session: old)
        // Within the minimum idle time the old session stays and the new one is refused.
        clock.withLock { $0 = 59 }
        await #expect(throws: MCPServer.SessionCreationError.capacityReached) {
            _ = try await server.initialize(initialize, owner: nil, clientAddress: "10.0.0.2")
        }
        clock.withLock { $0 = 61 }
        let (_, new, evicted) = try await server.initialize(initialize, owner: nil, clientAddress: "10.0.0.2")
        #expect(evicted.map(\.id) == [old.id])
        #expect(try await server.sessions.session(id: old.id) == nil)
        #expect(try await server.sessions.session(id: new.id) === new)
        #expect(server.subscriptions.withLock { $0.sessions(subscribedTo: "test://r") }.isEmpty)
    }

    @Test func quotasAreCheckedByMCPServer() async throws {
        let server = MCPServer(
            configuration: .init(
                serverInfo: .init(name: "t", version: "1"),
                sessionLimits: SessionLimits(maxSessionsPerAddress: 1, maxSessionsPerUser: 1)))
        let initialize = JSONRPCRequest(id: .number(1), method: "initialize")
        _ = try await server.initialize(initialize, owner: nil, clientAddress: "10.0.0.1")
        await #expect(throws: MCPServer.SessionCreationError.addressQuotaReached(limit: 1)) {
            _ = try await server.initialize(initialize, owner: nil, clientAddress: "10.0.0.1")
        }
        _ = try await server.initialize(initialize, owner: "alice", clientAddress: "10.0.0.2")
        await #expect(throws: MCPServer.SessionCreationError.userQuotaReached(limit: 1)) {
            _ = try await server.initialize(initialize, owner: "alice", clientAddress: "10.0.0.3")
        }
    }
}
