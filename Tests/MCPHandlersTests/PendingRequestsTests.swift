import Synchronization
import Testing

@testable import MCPHandlers

/// Records the requests a test "sends" to the client.
final class SentRequests: Sendable {
    let ids = Mutex<[RequestID]>([])
    func record(_ id: RequestID) { ids.withLock { $0.append(id) } }
    var count: Int { ids.withLock { $0.count } }
}

/// Runs a typed-throwing body in a task and keeps its outcome as a `Result`.
func capture(
    _ body: @escaping @Sendable () async throws -> Value
) -> Task<Result<Value, MCPError>, Never> {
    Task {
        do {
            return .success(try await body())
        } catch let error as MCPError {
            return .failure(error)
        } catch {
            return .failure(MCPError(code: 0, message: "not an MCPError: \(error)"))
        }
    }
}

/// Polls until `condition` holds (at most ~2 s).
func eventually(_ condition: @Sendable () -> Bool) async {
    for _ in 0..<400 where !condition() { try? await Task.sleep(for: .milliseconds(5)) }
}

@Suite struct PendingRequestsTests {
    @Test func idsAreUniqueStrings() {
        let pending = PendingRequests()
        let other = PendingRequests()
        let ids = (0..<500).map { _ in pending.makeID() } + (0..<500).map { _ in other.makeID() }
        #expect(Set(ids).count == 1000)
        for id in ids {
            guard case .string(let text) = id else { Issue.record("not a string id: \(id)"); continue }
            #expect(text.hasPrefix("srv-"))
        }
    }

    @Test func resolvesWithResult() async throws {
        let pending = PendingRequests()
        let id = pending.makeID()
        let sent = SentRequests()
        async let result = pending.request(id: id, timeout: .seconds(10)) { sent.record(id) }
        await eventually { sent.count == 1 }
        #expect(pending.count == 1)
        #expect(pending.resolve(id: id, with: .success(["ok": true])))
        #expect(try await result == ["ok": true])
        #expect(pending.count == 0)
        #expect(!pending.resolve(id: id, with: .success([:])))
    }

    @Test func errorResponseIsThrown() async {
        let pending = PendingRequests()
        let id = pending.makeID()
        let sent = SentRequests()
        let task = capture {
            try await pending.request(id: id, timeout: .seconds(10)) { sent.record(id) }
        }
        await eventually { sent.count == 1 }
        let clientError = MCPError(code: -1, message: "User rejected sampling request")
        #expect(pending.resolve(id: id, with: .failure(clientError)))
        #expect(await task.value == .failure(clientError))
    }

    @Test func responseDuringSendIsKept() async throws {
        let pending = PendingRequests()
        let id = pending.makeID()
        let value = try await pending.request(id: id, timeout: .seconds(10)) {
            // The client answers before send returns (another thread got the response first).
            #expect(pending.resolve(id: id, with: .success("fast")))
        }
        #expect(value == "fast")
        #expect(pending.count == 0)
    }

    @Test func timesOut() async {
        let pending = PendingRequests()
        let id = pending.makeID()
        let clock = ContinuousClock()
        let start = clock.now
        let task = capture {
            try await pending.request(id: id, timeout: .milliseconds(50)) {}
        }
        let result = await task.value
        #expect(result == .failure(MCPError(code: -32001, message: "Request timed out")))
        #expect(clock.now - start >= .milliseconds(50))
        #expect(pending.count == 0)
        #expect(!pending.resolve(id: id, with: .success([:])))
    }

    @Test func cancellationRemovesTheWaiter() async {
        let pending = PendingRequests()
        let id = pending.makeID()
        let sent = SentRequests()
        let task = capture {
            try await pending.request(id: id, timeout: .seconds(30)) { sent.record(id) }
        }
        await eventually { sent.count == 1 }
        task.cancel()
        let result = await task.value
        #expect(failure(result)?.code == MCPError.Code.requestCancelled)
        #expect(pending.count == 0)
        #expect(!pending.resolve(id: id, with: .success([:])))
    }

    @Test func alreadyCancelledTaskDoesNotSend() async {
        let pending = PendingRequests()
        let sent = SentRequests()
        let task = capture {
            withUnsafeCurrentTask { $0?.cancel() }
            let id = pending.makeID()
            return try await pending.request(id: id, timeout: .seconds(30)) { sent.record(id) }
        }
        #expect(failure(await task.value)?.code == MCPError.Code.requestCancelled)
        #expect(sent.count == 0)
    }

    @Test func unknownIDIsNotResolved() {
        let pending = PendingRequests()
        #expect(!pending.resolve(id: .string("srv-never"), with: .success([:])))
        #expect(!pending.resolve(id: .number(7), with: .failure(.internalError())))
    }

    @Test func sendFailureIsThrownAndForgotten() async {
        struct Closed: Error {}
        let pending = PendingRequests()
        let id = pending.makeID()
        let plain = capture {
            try await pending.request(id: id, timeout: .seconds(30)) { throw Closed() }
        }
        #expect(failure(await plain.value)?.code == MCPError.Code.connectionClosed)
        #expect(pending.count == 0)
        let typed = capture {
            try await pending.request(id: id, timeout: .seconds(30)) { throw MCPError.invalidRequest("no stream") }
        }
        #expect(await typed.value == .failure(.invalidRequest("no stream")))
    }

    @Test func duplicateIDIsRefused() async {
        let pending = PendingRequests()
        let id = pending.makeID()
        let sent = SentRequests()
        let first = capture {
            try await pending.request(id: id, timeout: .seconds(30)) { sent.record(id) }
        }
        await eventually { sent.count == 1 }
        let second = capture {
            try await pending.request(id: id, timeout: .seconds(30)) { sent.record(id) }
        }
        #expect(failure(await second.value)?.code == -32603)
        #expect(pending.resolve(id: id, with: .success(1)))
        #expect(await first.value == .success(1))
    }

    @Test func serverRoutesResponsesBySession() async throws {
        let server = makeServer()
        let a = try await initialize(server)
        let b = try await initialize(server)
        let sent = Mutex<[JSONRPCRequest]>([])
        let task = capture {
            try await server.requestClient("roots/list", params: nil, session: a) { request in
                sent.withLock { $0.append(request) }
            }
        }
        await eventually { sent.withLock { !$0.isEmpty } }
        let request = try #require(sent.withLock { $0.first })
        #expect(request.method == "roots/list")
        #expect(request.params == nil)
        let answer = JSONRPCMessage.response(id: request.id, result: ["roots": []])
        #expect(!server.handleResponse(answer, session: b))  // another session cannot answer
        #expect(!server.handleResponse(.notification(JSONRPCNotification(method: "x")), session: a))
        #expect(!server.handleResponse(.errorResponse(id: nil, error: .parseError()), session: a))
        #expect(server.handleResponse(answer, session: a))
        #expect(await task.value == .success(["roots": []]))
        #expect(!server.handleResponse(answer, session: a))
    }

    @Test func serverRoutesErrorResponses() async throws {
        let server = makeServer()
        let session = try await initialize(server)
        let sent = Mutex<[JSONRPCRequest]>([])
        let task = capture {
            try await server.requestClient("sampling/createMessage", params: ["maxTokens": 1], session: session) {
                request in sent.withLock { $0.append(request) }
            }
        }
        await eventually { sent.withLock { !$0.isEmpty } }
        let id = try #require(sent.withLock { $0.first?.id })
        let error = MCPError(code: -32600, message: "Sampling not supported")
        #expect(server.handleResponse(.errorResponse(id: id, error: error), session: session))
        #expect(await task.value == .failure(error))
    }

    @Test func clientRequestTimeoutIsConfigurable() async {
        #expect(MCPServer.Configuration(serverInfo: .init(name: "a", version: "1")).clientRequestTimeout == .seconds(60))
        let server = MCPServer(
            configuration: .init(serverInfo: .init(name: "a", version: "1"), clientRequestTimeout: .milliseconds(30)))
        let task = capture {
            try await server.requestClient("roots/list", params: nil, session: nil) { _ in }
        }
        #expect(failure(await task.value)?.code == -32001)
        #expect(server.pendingRequests.count == 0)
    }
}
