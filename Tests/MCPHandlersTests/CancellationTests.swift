import Synchronization
import Testing

@testable import MCPHandlers

/// A server whose `wait` tool blocks until cancelled (or 30 s), recording what it saw.
final class BlockingTool: Sendable {
    let started = Mutex(0)
    let sawCancellation = Mutex(false)

    func register(on server: MCPServer, name: String = "wait", ignoringCancellation: Bool = false) {
        server.registerTool(Tool(name: name)) { [self] _, _ in
            started.withLock { $0 += 1 }
            if ignoringCancellation {
                while !Task.isCancelled { await Task.yield() }
                sawCancellation.withLock { $0 = true }
                return .text("finished anyway")
            }
            do {
                try await Task.sleep(for: .seconds(30))
            } catch {
                sawCancellation.withLock { $0 = true }
                throw error
            }
            return .text("late")
        }
    }

    var startedCount: Int { started.withLock { $0 } }
    var cancelled: Bool { sawCancellation.withLock { $0 } }
}

@Suite struct CancellationTests {
    @Test func cancelledNotificationStopsAToolCall() async throws {
        let server = makeServer()
        let tool = BlockingTool()
        tool.register(on: server)
        let session = try await initialize(server)
        let call = Task { await MCPHandlersTests.call(server, "tools/call", ["name": "wait"], session: session, id: .number(9)) }
        await eventually { tool.startedCount == 1 }
        #expect(server.inFlightRequestCount == 1)
        // A cancellation for another request or another session changes nothing.
        server.handle(
            JSONRPCNotification(method: "notifications/cancelled", params: ["requestId": 8]), session: session)
        let other = try await initialize(server)
        server.handle(JSONRPCNotification(method: "notifications/cancelled", params: ["requestId": 9]), session: other)
        try await Task.sleep(for: .milliseconds(20))
        #expect(!tool.cancelled)

        server.handle(
            JSONRPCNotification(method: "notifications/cancelled", params: ["requestId": 9, "reason": "user stop"]),
            session: session)
        let result = await call.value
        #expect(result == .failure(.requestCancelled("user stop")))
        #expect(failure(result)?.code == -32800)
        #expect(tool.cancelled)
        #expect(server.inFlightRequestCount == 0)
    }

    @Test func stringIDsAndSessionlessRequests() async {
        let server = makeServer()
        let tool = BlockingTool()
        tool.register(on: server)
        let call = Task { await MCPHandlersTests.call(server, "tools/call", ["name": "wait"], id: .string("abc")) }
        await eventually { tool.startedCount == 1 }
        server.handle(JSONRPCNotification(method: "notifications/cancelled", params: ["requestId": "abc"]), session: nil)
        #expect(failure(await call.value)?.code == MCPError.Code.requestCancelled)
    }

    @Test func resultOfAHandlerThatIgnoresCancellationIsStillAnError() async throws {
        let server = makeServer()
        let tool = BlockingTool()
        tool.register(on: server, ignoringCancellation: true)
        let session = try await initialize(server)
        let call = Task { await MCPHandlersTests.call(server, "tools/call", ["name": "wait"], session: session) }
        await eventually { tool.startedCount == 1 }
        #expect(server.cancelRequest(.number(1), sessionID: session.id))
        #expect(failure(await call.value) == .requestCancelled())
        #expect(tool.cancelled)
        #expect(!server.cancelRequest(.number(1), sessionID: session.id))
    }

    @Test func cancellingTheCallerCancelsTheWork() async throws {
        let server = makeServer()
        let tool = BlockingTool()
        tool.register(on: server)
        let call = Task { await MCPHandlersTests.call(server, "tools/call", ["name": "wait"]) }
        await eventually { tool.startedCount == 1 }
        call.cancel()
        #expect(failure(await call.value)?.code == MCPError.Code.requestCancelled)
        #expect(tool.cancelled)
        #expect(server.inFlightRequestCount == 0)
    }

    @Test func endingASessionCancelsItsRequests() async throws {
        let server = makeServer()
        let tool = BlockingTool()
        tool.register(on: server)
        let session = try await initialize(server)
        let call = Task { await MCPHandlersTests.call(server, "tools/call", ["name": "wait"], session: session) }
        await eventually { tool.startedCount == 1 }
        server.sessionEnded(session)
        #expect(await call.value == .failure(.requestCancelled("session ended")))
    }

    @Test func malformedOrLateCancellationsAreIgnored() async throws {
        let server = makeServer()
        let session = try await initialize(server)
        for params: Value? in [nil, [:], ["requestId": true], ["requestId": 1]] {
            server.handle(JSONRPCNotification(method: "notifications/cancelled", params: params), session: session)
        }
        let echo = await call(server, "tools/call", ["name": "echo", "arguments": ["text": "still fine"]], session: session)
        #expect((try? echo.get())?["content"]?.arrayValue?.first?["text"] == "still fine")
        #expect(server.inFlightRequestCount == 0)
    }
}

@Suite struct InFlightRequestsTests {
    final class Counter: Sendable {
        let value = Mutex(0)
        func bump() { value.withLock { $0 += 1 } }
        var count: Int { value.withLock { $0 } }
    }

    @Test func entriesOverManySessionsAndTheirCancellation() {
        let inFlight = InFlightRequests()
        let cancelled = Counter()
        var tokens: [(InFlightRequests.Key, UInt64)] = []
        for s in 0..<40 {
            for r in 0..<3 {
                let key = InFlightRequests.Key(sessionID: "w1.session\(s)", requestID: .number(r))
                tokens.append((key, inFlight.begin(key) { cancelled.bump() }))
            }
        }
        #expect(inFlight.count == 120)
        // One session's requests, and only those.
        #expect(inFlight.cancelAll(sessionID: "w1.session7", reason: "gone") == 3)
        #expect(cancelled.count == 3)
        #expect(inFlight.cancel(InFlightRequests.Key(sessionID: "w1.session8", requestID: .number(1)), reason: nil))
        #expect(!inFlight.cancel(InFlightRequests.Key(sessionID: "w1.session8", requestID: .number(9)), reason: nil))
        #expect(cancelled.count == 4)
        var ended = 0
        for (key, token) in tokens {
            let outcome = inFlight.end(key, token: token)
            if outcome.cancelled { ended += 1 }
            if key.sessionID == "w1.session7" { #expect(outcome.reason == "gone") }
        }
        #expect(ended == 4)
        #expect(inFlight.count == 0)
        // A stale token (the id was reused) does not end the newer entry.
        let key = InFlightRequests.Key(sessionID: "", requestID: .string("x"))
        let old = inFlight.begin(key)
        let new = inFlight.begin(key)
        #expect(!inFlight.end(key, token: old).cancelled)
        #expect(inFlight.count == 1)
        _ = inFlight.end(key, token: new)
        #expect(inFlight.count == 0)
    }
}
