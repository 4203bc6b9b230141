import MetricsTestKit
import Synchronization
import Testing

@testable import MCPHandlers

/// The session state machine alone (every event in every state, no threads), then ``Session`` and
/// ``MCPServer``'s one end step, including two paths racing to end the same session.
@Suite struct SessionLifecycleTests {
    typealias State = SessionLifecycle.State

    /// Every state, including `ended` for every reason.
    static let allStates: [State] = [.created, .initialized] + SessionEndReason.allCases.map { .ended($0) }

    /// A lifecycle in `state`, reached through events only.
    static func lifecycle(in state: State) -> SessionLifecycle {
        var lifecycle = SessionLifecycle()
        switch state {
        case .created: break
        case .initialized: _ = lifecycle.initialized()
        case .ended(let reason): _ = lifecycle.end(reason: reason)
        }
        #expect(lifecycle.state == state)
        return lifecycle
    }

    @Test func startsCreated() {
        let lifecycle = SessionLifecycle()
        #expect(lifecycle.state == .created)
        #expect(!lifecycle.isEnded)
        #expect(lifecycle.request() == .serve)
    }

    @Test(arguments: allStates) func initializedInEveryState(_ state: State) {
        var lifecycle = Self.lifecycle(in: state)
        let action = lifecycle.initialized()
        switch state {
        case .created:
            #expect(action == .markedInitialized)
            #expect(lifecycle.state == .initialized)
        case .initialized:
            #expect(action == .alreadyInitialized)
            #expect(lifecycle.state == .initialized)
        case .ended(let reason):
            #expect(action == .ignoredBecauseEnded)
            #expect(lifecycle.state == .ended(reason))
        }
    }

    @Test(arguments: allStates, SessionEndReason.allCases) func endInEveryState(_ state: State, _ reason: SessionEndReason) {
        var lifecycle = Self.lifecycle(in: state)
        let action = lifecycle.end(reason: reason)
        switch state {
        case .created, .initialized:
            #expect(action == .cleanUp(reason))
            #expect(lifecycle.state == .ended(reason))
        case .ended(let first):
            // The first reason stays; nobody cleans up a second time.
            #expect(action == .alreadyEnded(first))
            #expect(lifecycle.state == .ended(first))
        }
        #expect(lifecycle.isEnded)
    }

    @Test(arguments: allStates) func requestInEveryState(_ state: State) {
        let lifecycle = Self.lifecycle(in: state)
        switch state {
        case .created, .initialized:
            #expect(lifecycle.request() == .serve)
            #expect(!lifecycle.isEnded)
        case .ended:
            #expect(lifecycle.request() == .refuse)
            #expect(lifecycle.isEnded)
        }
        #expect(lifecycle.state == state)
    }

    // MARK: Session

    static func session(_ id: String = "s1", now: Double = 0) -> Session {
        Session(id: id, protocolVersion: .v2025_11_25, clientInfo: nil, clientCapabilities: [:], owner: nil, now: now)
    }

    @Test func sessionPhaseFollowsItsEvents() {
        let session = Self.session()
        #expect(session.phase == .created)
        #expect(session.markInitialized() == .markedInitialized)
        #expect(session.phase == .initialized)
        #expect(session.end(reason: .expired) == .cleanUp(.expired))
        #expect(session.phase == .ended(.expired))
        #expect(session.isEnded)
        #expect(session.end(reason: .deleted) == .alreadyEnded(.expired))
        #expect(session.markInitialized() == .ignoredBecauseEnded)
        #expect(session.phase == .ended(.expired))
    }

    /// Records what the store would be told.
    final class Observer: SessionActivityObserver {
        let events = Mutex<[String]>([])
        func sessionBecameBusy(_ session: Session) { events.withLock { $0.append("busy") } }
        func sessionBecameIdle(_ session: Session, at time: Double) { events.withLock { $0.append("idle") } }
    }

    @Test func anEndedSessionNoLongerTellsItsStore() {
        let session = Self.session()
        let observer = Observer()
        session.setActivityObserver(observer)
        session.beginActivity()
        _ = session.end(reason: .deleted)
        session.endActivity(now: 1)
        session.beginActivity()
        session.endActivity(now: 2)
        #expect(observer.events.withLock { $0 } == ["busy"])
        #expect(session.activityCount == 0)
    }

    // MARK: The server's one end step

    func server(_ metrics: TestMetrics, store: any SessionStore = InMemorySessionStore()) -> MCPServer {
        let server = MCPServer(
            configuration: .init(
                serverInfo: .init(name: "t", version: "1"), sessionStore: store, now: { 100 }, metricsFactory: metrics))
        server.registerResource(uri: "test://r", name: "r") { uri, _ in [.text("", uri: uri)] }
        return server
    }

    func ended(_ metrics: TestMetrics) -> Int64 {
        SessionEndReason.allCases.reduce(0) { total, reason in
            total + ((try? metrics.expectCounter("mcpfcgi_sessions_ended_total", [("reason", reason.rawValue)]))?
                .totalValue ?? 0)
        }
    }

    @Test func endingTwiceCleansUpAndCountsOnce() async throws {
        let metrics = TestMetrics()
        let server = server(metrics)
        let session = try await initialize(server)
        #expect(server.end(session, reason: .deleted))
        #expect(!server.end(session, reason: .expired))
        #expect(!server.sessionEnded(session, reason: .cleanedUp))
        #expect(ended(metrics) == 1)
        #expect(try metrics.expectCounter("mcpfcgi_sessions_ended_total", [("reason", "deleted")]).totalValue == 1)
        #expect(session.phase == .ended(.deleted))
    }

    @Test func endSessionRemovesEndsAndReturnsWhatItEnded() async throws {
        let metrics = TestMetrics()
        let server = server(metrics)
        let session = try await initialize(server)
        _ = await call(server, "resources/subscribe", ["uri": "test://r"], session: session)
        #expect(server.subscriptions.withLock { $0.sessions(subscribedTo: "test://r") } == [session.id])
        #expect(try await server.endSession(id: session.id, reason: .deleted) === session)
        #expect(try await !server.sessions.contains(id: session.id))
        #expect(session.phase == .ended(.deleted))
        #expect(server.subscriptions.withLock { $0.sessions(subscribedTo: "test://r") }.isEmpty)
        #expect(try await server.endSession(id: session.id) == nil)
        #expect(try await server.endSession(id: "unknown") == nil)
        #expect(ended(metrics) == 1)
    }

    @Test func endIdleSessionsEndsOnlyIdleOnes() async throws {
        let metrics = TestMetrics()
        let server = server(metrics)
        let idle = try await initialize(server)
        let busy = try await initialize(server)
        busy.beginActivity()
        let ended = try await server.endIdleSessions(olderThan: 0, reason: .cleanedUp)
        #expect(ended.map(\.id) == [idle.id])
        #expect(idle.phase == .ended(.cleanedUp))
        #expect(busy.phase == .created)
        #expect(try metrics.expectCounter("mcpfcgi_sessions_ended_total", [("reason", "cleaned_up")]).totalValue == 1)
    }

    /// A store that hands a removed session to every remover (as a database store that reads, then deletes,
    /// could): only the session's phase keeps the end single.
    final class LooseStore: SessionStore {
        let inner = InMemorySessionStore()
        let all = Mutex<[String: Session]>([:])
        func insert(_ session: Session) async throws -> Bool {
            guard inner.insert(session) else { return false }
            all.withLock { $0[session.id] = session }
            return true
        }
        func session(id: String) async throws -> Session? { inner.session(id: id) }
        func contains(id: String) async throws -> Bool { inner.contains(id: id) }
        func remove(id: String) async throws -> Session? {
            inner.remove(id: id)
            return all.withLock { $0[id] }
        }
        var count: Int { inner.count }
        func removeIdle(olderThan seconds: Double, now: Double) async throws -> [Session] {
            inner.removeIdle(olderThan: seconds, now: now)
            return all.withLock { Array($0.values) }
        }
    }

    @Test(arguments: [InMemorySessionStore() as any SessionStore, LooseStore()])
    func deleteRacingTheSweepEndsEachSessionOnce(_ store: any SessionStore) async throws {
        let metrics = TestMetrics()
        let server = server(metrics, store: store)
        var sessions: [Session] = []
        for _ in 0..<50 { sessions.append(try await initialize(server)) }
        let results = await withTaskGroup(of: [String].self) { group in
            for session in sessions {
                group.addTask { (try? await server.endSession(id: session.id, reason: .deleted)).map { [$0.id] } ?? [] }
            }
            for _ in 0..<4 {
                group.addTask { (try? await server.endIdleSessions(olderThan: 0, reason: .expired))?.map(\.id) ?? [] }
            }
            return await group.reduce(into: [String]()) { $0 += $1 }
        }
        // Each session was ended by exactly one of the racing calls, and counted once.
        #expect(results.count == sessions.count)
        #expect(Set(results) == Set(sessions.map(\.id)))
        #expect(ended(metrics) == Int64(sessions.count))
        for session in sessions { #expect(session.isEnded) }
        #expect(try await server.sessions.count == 0)
    }

    @Test func aRequestThatGotItsSessionJustBeforeTheEndIsCancelled() async throws {
        let metrics = TestMetrics()
        let server = server(metrics)
        server.registerTool(Tool(name: "echo")) { _, _ in .text("ran") }
        let session = try await initialize(server)
        // The request looked the session up, then the session ended before its handler started.
        #expect(try await server.endSession(id: session.id) === session)
        let result = await call(server, "tools/call", ["name": "echo"], session: session)
        #expect(result == .failure(.requestCancelled("session ended")))
        #expect(server.inFlightRequestCount == 0)
    }

    @Test func aSubscriptionThatRacesTheEndLeavesNothingBehind() async throws {
        let metrics = TestMetrics()
        let server = server(metrics)
        let session = try await initialize(server)
        #expect(server.end(session, reason: .deleted))
        // The request got the session before the end; its subscribe runs after.
        #expect(try server.subscribe(["uri": "test://r"], session: session) == [:])
        #expect(server.subscriptions.withLock { $0.sessions(subscribedTo: "test://r") }.isEmpty)
    }
}
