import Testing

@testable import MCPHandlers

@Suite struct SessionExpiryTests {
    func session(_ id: String, now: Double = 0, owner: String? = nil) -> Session {
        Session(id: id, protocolVersion: .v2025_11_25, clientInfo: nil, clientCapabilities: [:], owner: owner, now: now)
    }

    @Test func idleIsMeasuredFromTheEndOfTheLastActivity() {
        let s = session("s", now: 10)
        #expect(s.isIdle(forAtLeast: 5, now: 15))
        #expect(!s.isIdle(forAtLeast: 5, now: 14.9))
        s.beginActivity()
        s.beginActivity()
        #expect(s.activityCount == 2)
        #expect(!s.isIdle(forAtLeast: 0, now: 1000))
        s.endActivity(now: 100)
        #expect(!s.isIdle(forAtLeast: 0, now: 1000))
        s.endActivity(now: 200)
        #expect(s.activityCount == 0)
        #expect(!s.isIdle(forAtLeast: 60, now: 259))
        #expect(s.isIdle(forAtLeast: 60, now: 260))
        #expect(s.isIdle(forAtLeast: 0, now: 200))
    }

    @Test func zeroThresholdRemovesEverySessionWithNothingInFlight() {
        let store = InMemorySessionStore()
        let a = session("a", now: 5)
        let b = session("b", now: 5)
        let busy = session("busy", now: 0)
        for s in [a, b, busy] { #expect(store.insert(s)) }
        busy.beginActivity()
        let removed = store.removeIdle(olderThan: 0, now: 5)
        #expect(Set(removed.map(\.id)) == ["a", "b"])
        #expect(store.count == 1)
        #expect(store.contains(id: "busy"))
    }

    @Test func removedSessionsKeepTheirOwner() {
        let store = InMemorySessionStore()
        #expect(store.insert(session("x", owner: "alice")))
        #expect(store.removeIdle(olderThan: 1, now: 2).first?.owner == "alice")
        #expect(store.removeIdle(olderThan: 1, now: 2).isEmpty)
    }

    @Test func capacityFreesUpAfterExpiry() {
        let store = InMemorySessionStore(capacity: 1)
        #expect(store.insert(session("a")))
        #expect(store.isFull)
        #expect(!store.insert(session("b")))
        store.removeIdle(olderThan: 10, now: 10)
        #expect(store.insert(session("b", now: 10)))
    }
}
