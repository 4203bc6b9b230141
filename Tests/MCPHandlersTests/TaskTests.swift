import Logging
import Synchronization
import Testing

@testable import MCPHandlers

/// A tool that waits until the test opens its gate (or is cancelled).
final class Gate: Sendable {
    private let open = Mutex(false)
    let started = Mutex(0)
    let sawCancellation = Mutex(false)

    func release() { open.withLock { $0 = true } }

    func wait() async throws {
        started.withLock { $0 += 1 }
        do {
            while !open.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(2)) }
        } catch {
            sawCancellation.withLock { $0 = true }
            throw error
        }
    }
    var startedCount: Int { started.withLock { $0 } }
    var cancelled: Bool { sawCancellation.withLock { $0 } }
}

/// A client that runs elicitations as tasks: answers `elicitation/create` with a task, `tasks/get` with `working`
/// then `completed`, and `tasks/result` with the form's answer; records every request.
final class TaskRunningClient: ServerOutbound {
    let requests = Mutex<[(String, Value?)]>([])
    let direct: Bool

    init(direct: Bool = false) { self.direct = direct }

    func send(_ notification: JSONRPCNotification) async {}
    func request(_ method: String, params: Value?) async throws(MCPError) -> Value {
        let polls = requests.withLock { all in
            all.append((method, params))
            return all.filter { $0.0 == "tasks/get" }.count
        }
        let answer: Value = ["action": "accept", "content": ["name": "Tasked"]]
        switch method {
        case "elicitation/create":
            if direct { return answer }
            return ["task": ["taskId": "client-1", "status": "working", "ttl": 60000, "pollInterval": 10]]
        case "tasks/get":
            return ["taskId": "client-1", "status": polls < 2 ? "working" : "completed", "pollInterval": 10]
        case "tasks/result":
            return answer
        default:
            throw .internalError("unexpected \(method)")
        }
    }
    var methods: [String] { requests.withLock { $0.map(\.0) } }
    var elicitation: Value? { requests.withLock { $0.first { $0.0 == "elicitation/create" }?.1 } }
}

/// Records what reaches the client through the notification and client message sinks.
final class ClientSinks: Sendable {
    let notifications = Mutex<[(String?, JSONRPCNotification)]>([])
    let messages = Mutex<[(String, Value)]>([])
    let acceptsMessages: Bool

    init(on server: MCPServer, acceptsMessages: Bool = false) {
        self.acceptsMessages = acceptsMessages
        server.setNotificationSink { [self] id, notification in notifications.withLock { $0.append((id, notification)) } }
        server.setClientMessageSink { [self] id, message in
            guard acceptsMessages else { return false }
            messages.withLock { $0.append((id, message)) }
            return true
        }
    }

    var statuses: [String] {
        notifications.withLock { $0 }.filter { $0.1.method == "notifications/tasks/status" }
            .compactMap { $0.1.params?["status"]?.stringValue }
    }
}

@Suite struct TaskTests {
    let clock = TestClock()
    let gate = Gate()

    func server(
        limits: TaskLimits = TaskLimits(), pageSize: Int = 100, minTTL: Duration = .seconds(10),
        resultWaitWithoutStream: Duration = .seconds(30)
    ) -> MCPServer {
        let clock = clock
        let server = MCPServer(
            configuration: .init(
                serverInfo: .init(name: "t", version: "1"), pageSize: pageSize, clientRequestTimeout: .seconds(5),
                wallClock: { clock.now },
                tasks: TaskConfiguration(
                    store: InMemoryTaskStore(wallClock: { clock.now }), limits: limits, minTTL: minTTL,
                    pollInterval: .milliseconds(500), resultWaitWithoutStream: resultWaitWithoutStream)))
        let gate = gate
        server.registerTool(Tool(name: "plain")) { _, _ in .text("plain") }
        server.registerTool(Tool(name: "gated", taskSupport: .optional)) { _, context in
            await context.reportProgress(1, total: 2, message: "half way")
            try await gate.wait()
            return .text("opened")
        }
        server.registerTool(Tool(name: "only_task", taskSupport: .required)) { _, _ in .text("as a task") }
        server.registerTool(Tool(name: "fails", taskSupport: .optional)) { _, _ in
            throw MCPError(code: MCPError.Code.invalidParams, message: "bad input found late")
        }
        server.registerTool(Tool(name: "tool_error", taskSupport: .optional)) { _, _ in .error("it broke") }
        server.registerTool(Tool(name: "gives_up", taskSupport: .optional)) { _, _ in throw MCPError.requestCancelled("gave up") }
        server.registerTool(Tool(name: "asks", taskSupport: .optional)) { _, context in
            let reply = try await context.elicit([
                "message": "Name?", "requestedSchema": ["type": "object", "properties": ["name": ["type": "string"]]],
            ])
            return .text("hello \(reply["content"]?["name"]?.stringValue ?? "?")")
        }
        return server
    }

    func startTask(
        _ server: MCPServer, _ tool: String, session: Session, ttl: Value = 60000, id: Int = 1
    ) async throws -> Value {
        let result = try await call(
            server, "tools/call", ["name": .string(tool), "arguments": [:], "task": ["ttl": ttl]], session: session,
            id: .number(id)
        ).get()
        return try #require(result["task"])
    }

    func status(_ server: MCPServer, _ id: Value, session: Session) async throws -> String? {
        try await call(server, "tasks/get", ["taskId": id], session: session).get()["status"]?.stringValue
    }

    @Test func theCapabilityAndExecutionAreDeclaredOnlyForTaskTools() async throws {
        let plain = makeServer()
        #expect(plain.capabilities["tasks"] == nil)
        let session = try await initialize(plain)
        #expect(failure(await call(plain, "tasks/list", [:], session: session))?.code == MCPError.Code.methodNotFound)

        let server = server()
        #expect(
            server.capabilities["tasks"]
                == ["list": [:], "cancel": [:], "requests": ["tools": ["call": [:]]]])
        let tools = try await call(server, "tools/list", [:]).get()["tools"]?.arrayValue ?? []
        let byName = Dictionary(uniqueKeysWithValues: tools.map { ($0["name"]?.stringValue ?? "", $0) })
        #expect(byName["plain"]?["execution"] == nil)
        #expect(byName["gated"]?["execution"] == ["taskSupport": "optional"])
        #expect(byName["only_task"]?["execution"] == ["taskSupport": "required"])
        // 2026-07-28 has no tasks in its core: neither the capability nor `execution`.
        #expect(server.discoverResult["capabilities"]?["tasks"] == nil)
        let stateless = await server.handleStateless(Stateless.request("tools/list"), headers: nil, outbound: DiscardingOutbound(), user: nil)
        let statelessTools = try stateless.result.get()["tools"]?.arrayValue ?? []
        #expect(!statelessTools.isEmpty && statelessTools.allSatisfy { $0["execution"] == nil })
    }

    @Test func aTaskAnswersAtOnceAndItsResultComesFromTasksResult() async throws {
        let server = server()
        let sinks = ClientSinks(on: server)
        let session = try await initialize(server)
        let task = try await startTask(server, "gated", session: session)
        let id = try #require(task["taskId"])
        #expect(task["status"] == "working")
        #expect(task["ttl"] == 60000)
        #expect(task["pollInterval"] == 500)
        #expect(task["createdAt"]?.stringValue?.hasSuffix("Z") == true)
        #expect(task["createdAt"] == task["lastUpdatedAt"])
        #expect(id.stringValue?.count == 22)
        await eventually { gate.startedCount == 1 }
        // The progress message is the task's status message.
        for _ in 0..<200 {
            if try await call(server, "tasks/get", ["taskId": id], session: session).get()["statusMessage"] == "half way" { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(try await call(server, "tasks/get", ["taskId": id], session: session).get()["statusMessage"] == "half way")
        // tasks/result called early waits for the end.
        let result = Task { await call(server, "tasks/result", ["taskId": id], session: session, id: .number(7)) }
        try await Task.sleep(for: .milliseconds(30))
        clock.advance(2)
        gate.release()
        let answer = try await result.value.get()
        #expect(answer["content"]?[0]?["text"] == "opened")
        #expect(answer["_meta"]?["io.modelcontextprotocol/related-task"] == ["taskId": id])
        let done = try await call(server, "tasks/get", ["taskId": id], session: session).get()
        #expect(done["status"] == "completed")
        #expect(done["lastUpdatedAt"] != done["createdAt"])
        #expect(sinks.statuses == ["completed"])
        // Again, at once.
        #expect(try await call(server, "tasks/result", ["taskId": id], session: session).get()["content"] == answer["content"])
        #expect(server.runningTaskCount == 0)
    }

    @Test func taskSupportIsEnforced() async throws {
        let server = server()
        let session = try await initialize(server)
        let forbidden = await call(
            server, "tools/call", ["name": "plain", "arguments": [:], "task": ["ttl": 1000]], session: session)
        #expect(failure(forbidden)?.code == MCPError.Code.methodNotFound)
        #expect(failure(forbidden)?.message.contains("does not run as a task") == true)
        let required = await call(server, "tools/call", ["name": "only_task", "arguments": [:]], session: session)
        #expect(failure(required)?.code == MCPError.Code.methodNotFound)
        #expect(failure(required)?.message.contains("params.task") == true)
        // Optional: a plain call answers directly.
        let direct = try await call(server, "tools/call", ["name": "tool_error", "arguments": [:]], session: session).get()
        #expect(direct["isError"] == true)
        // A required tool as a task; a bad ttl is refused.
        let task = try await startTask(server, "only_task", session: session)
        #expect(try await call(server, "tasks/result", ["taskId": task["taskId"]!], session: session).get()["content"]?[0]?["text"] == "as a task")
        for bad: Value in [-1, "soon", ["ttl": 5]] {
            let refused = await call(
                server, "tools/call", ["name": "gated", "arguments": [:], "task": ["ttl": bad]], session: session)
            #expect(failure(refused)?.code == MCPError.Code.invalidParams)
        }
        #expect(failure(await call(server, "tools/call", ["name": "gated", "task": "now"], session: session))?.code == MCPError.Code.invalidParams)
    }

    @Test func theTTLIsBoundedByConfiguration() async throws {
        let server = server()
        let session = try await initialize(server)
        #expect(try await startTask(server, "only_task", session: session, ttl: 1)["ttl"] == 10_000)
        #expect(try await startTask(server, "only_task", session: session, ttl: 99_999_999)["ttl"] == 3_600_000)
        #expect(try await startTask(server, "only_task", session: session, ttl: .null)["ttl"] == 3_600_000)
        let unnamed = try await call(
            server, "tools/call", ["name": "only_task", "arguments": [:], "task": [:]], session: session
        ).get()
        #expect(unnamed["task"]?["ttl"] == 600_000)
        // Past its ttl a task is forgotten.
        let task = try await startTask(server, "only_task", session: session, ttl: 20_000)
        _ = try await call(server, "tasks/result", ["taskId": task["taskId"]!], session: session).get()
        clock.advance(21)
        let gone = await call(server, "tasks/get", ["taskId": task["taskId"]!], session: session)
        #expect(failure(gone)?.code == MCPError.Code.invalidParams)
    }

    @Test func failuresAreFailedTasksAndTasksResultReturnsThemAsTheCallWould() async throws {
        let server = server()
        let session = try await initialize(server)
        let failing = try await startTask(server, "fails", session: session)
        let error = failure(await call(server, "tasks/result", ["taskId": failing["taskId"]!], session: session))
        #expect(error?.code == MCPError.Code.invalidParams)
        #expect(error?.message == "bad input found late")
        let failed = try await call(server, "tasks/get", ["taskId": failing["taskId"]!], session: session).get()
        #expect(failed["status"] == "failed")
        #expect(failed["statusMessage"] == "bad input found late")

        let broken = try await startTask(server, "tool_error", session: session)
        let result = try await call(server, "tasks/result", ["taskId": broken["taskId"]!], session: session).get()
        #expect(result["isError"] == true)
        #expect(try await status(server, broken["taskId"]!, session: session) == "failed")
    }

    @Test func cancellingStopsTheToolAndIsFinal() async throws {
        let server = server()
        let sinks = ClientSinks(on: server)
        let session = try await initialize(server)
        let task = try await startTask(server, "gated", session: session)
        let id = task["taskId"]!
        await eventually { gate.startedCount == 1 }
        let waiting = Task { await call(server, "tasks/result", ["taskId": id], session: session, id: .number(5)) }
        let cancelled = try await call(server, "tasks/cancel", ["taskId": id], session: session).get()
        #expect(cancelled["status"] == "cancelled")
        #expect(cancelled["taskId"] == id)
        await eventually { gate.cancelled }
        #expect(gate.cancelled)
        #expect(failure(await waiting.value)?.code == MCPError.Code.requestCancelled)
        #expect(try await status(server, id, session: session) == "cancelled")
        let again = await call(server, "tasks/cancel", ["taskId": id], session: session)
        #expect(failure(again)?.code == MCPError.Code.invalidParams)
        #expect(failure(again)?.message.contains("cancelled already") == true)
        #expect(sinks.statuses == ["cancelled"])
        // A completed task cannot be cancelled either.
        let done = try await startTask(server, "only_task", session: session)
        _ = try await call(server, "tasks/result", ["taskId": done["taskId"]!], session: session).get()
        #expect(failure(await call(server, "tasks/cancel", ["taskId": done["taskId"]!], session: session))?.code == MCPError.Code.invalidParams)
    }

    @Test func aTaskBelongsToItsSessionAlone() async throws {
        let server = server()
        let mine = try await initialize(server)
        let other = try await initialize(server)
        let task = try await startTask(server, "only_task", session: mine)
        let id = task["taskId"]!
        for method in ["tasks/get", "tasks/result", "tasks/cancel"] {
            let refused = await call(server, method, ["taskId": id], session: other)
            #expect(failure(refused)?.code == MCPError.Code.invalidParams, "\(method)")
            #expect(failure(refused)?.message.contains("Unknown task") == true)
        }
        #expect(try await call(server, "tasks/list", [:], session: other).get()["tasks"] == [])
        #expect(try await call(server, "tasks/list", [:], session: mine).get()["tasks"]?.arrayValue?.count == 1)
        #expect(failure(await call(server, "tasks/get", ["taskId": "nope"], session: mine))?.code == MCPError.Code.invalidParams)
        #expect(failure(await call(server, "tasks/get", [:], session: mine))?.code == MCPError.Code.invalidParams)
        // Bound to the session and to the user when there is one: neither another user in the same session nor the
        // same user in another session reads it (a user id may be a placeholder shared by anonymous clients).
        func context(_ user: String, _ session: Session, _ id: Int) -> RequestContext {
            RequestContext(
                requestID: .number(id), session: session, user: user, protocolVersion: .v2025_11_25,
                clientCapabilities: [:], progressToken: nil, logger: Logger(label: "t"), outbound: DiscardingOutbound())
        }
        let created = try await server.handle(
            JSONRPCRequest(id: .number(3), method: "tools/call", params: ["name": "only_task", "task": [:]]),
            context: context("alice", mine, 3)
        ).get()
        let aliceID = try #require(created["task"]?["taskId"])
        let same = await server.handle(
            JSONRPCRequest(id: .number(4), method: "tasks/get", params: ["taskId": aliceID]), context: context("alice", mine, 4))
        #expect(try same.get()["taskId"] == aliceID)
        for (user, session) in [("alice", other), ("bob", mine)] {
            let refused = await server.handle(
                JSONRPCRequest(id: .number(5), method: "tasks/get", params: ["taskId": aliceID]), context: context(user, session, 5))
            #expect(failure(refused)?.code == MCPError.Code.invalidParams)
        }
    }

    @Test func quotasBoundTheTasksOfASession() async throws {
        let server = server(limits: TaskLimits(maxTasksPerSession: 2, maxTasksPerUser: 3, capacity: 5))
        let session = try await initialize(server)
        _ = try await startTask(server, "only_task", session: session)
        _ = try await startTask(server, "only_task", session: session, id: 2)
        let refused = await call(
            server, "tools/call", ["name": "only_task", "task": [:]], session: session, id: .number(3))
        #expect(failure(refused)?.code == MCPError.Code.connectionClosed)
        #expect(failure(refused)?.message.contains("holds 2 tasks") == true)
        // Another session is not affected; expired tasks free their room.
        let other = try await initialize(server)
        _ = try await startTask(server, "only_task", session: other)
        clock.advance(61)
        _ = try await startTask(server, "only_task", session: session, id: 4)
    }

    @Test func listingIsPaginatedOldestFirst() async throws {
        let server = server(pageSize: 2)
        let session = try await initialize(server)
        var ids: [Value] = []
        for n in 0..<5 {
            ids.append(try await startTask(server, "only_task", session: session, id: n)["taskId"]!)
            clock.advance(1)
        }
        var seen: [Value] = []
        var cursor: Value?
        repeat {
            let page = try await call(server, "tasks/list", cursor.map { ["cursor": $0] } ?? [:], session: session).get()
            seen += (page["tasks"]?.arrayValue ?? []).compactMap { $0["taskId"] }
            cursor = page["nextCursor"]
        } while cursor != nil
        #expect(seen == ids)
        #expect(failure(await call(server, "tasks/list", ["cursor": "bogus"], session: session))?.code == MCPError.Code.invalidParams)
    }

    @Test func aTaskThatElicitsIsInputRequiredAndAsksOnTheTasksResultStream() async throws {
        let server = server()
        let sinks = ClientSinks(on: server)
        let session = try await initialize(server, capabilities: ["elicitation": [:]])
        let task = try await startTask(server, "asks", session: session)
        let id = task["taskId"]!
        // No GET stream and no tasks/result yet: the task waits for the client, input_required.
        for _ in 0..<400 where try await status(server, id, session: session) != "input_required" {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(try await status(server, id, session: session) == "input_required")
        // tasks/result's stream carries the elicitation, tagged with the task.
        let outbound = ScriptedOutbound(answers: ["elicitation/create": ["action": "accept", "content": ["name": "Ada"]]])
        let result = await server.handle(
            JSONRPCRequest(id: .number(9), method: "tasks/result", params: ["taskId": id]),
            context: context(session, id: .number(9), outbound: outbound))
        #expect(try result.get()["content"]?[0]?["text"] == "hello Ada")
        let asked = try #require(outbound.notifications.first { $0.method == "elicitation/create" })
        #expect(asked.params?["_meta"]?["io.modelcontextprotocol/related-task"] == ["taskId": id])
        #expect(asked.params?["message"] == "Name?")
        await eventually { sinks.statuses.count == 3 }
        #expect(sinks.statuses == ["input_required", "working", "completed"])
    }

    @Test func aTaskAsksOnTheGETStreamWhenNoTasksResultWaits() async throws {
        let server = server()
        let sinks = ClientSinks(on: server, acceptsMessages: true)
        let session = try await initialize(server, capabilities: ["elicitation": [:]])
        let task = try await startTask(server, "asks", session: session)
        for _ in 0..<400 where sinks.messages.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(5)) }
        let (target, message) = try #require(sinks.messages.withLock { $0.first })
        #expect(target == session.id)
        #expect(message["method"] == "elicitation/create")
        #expect(message["params"]?["_meta"]?["io.modelcontextprotocol/related-task"] == ["taskId": task["taskId"]!])
        // The client answers on a POST of its session.
        let answered = server.handleResponse(
            .response(id: try #require(RequestID(message["id"]!)), result: ["action": "decline"]), session: session)
        #expect(answered)
        let result = try await call(server, "tasks/result", ["taskId": task["taskId"]!], session: session).get()
        #expect(result["content"]?[0]?["text"] == "hello ?")
    }

    @Test func theEndOfASessionCancelsItsTasksAndAStoppingWorkerFailsItsOwn() async throws {
        let server = server()
        let session = try await initialize(server)
        let task = try await startTask(server, "gated", session: session)
        await eventually { gate.startedCount == 1 }
        let sinks = ClientSinks(on: server)
        _ = try await server.endSession(id: session.id)
        await eventually { gate.cancelled }
        #expect(gate.cancelled)
        #expect(sinks.statuses == ["cancelled"])
        // Nobody can read the tasks of an ended session: they are forgotten.
        let store = server.configuration.tasks.store
        let id = task["taskId"]!.stringValue!
        for _ in 0..<200 where try await store.task(id: id, now: clock.now) != nil { try await Task.sleep(for: .milliseconds(5)) }
        #expect(try await store.task(id: id, now: clock.now) == nil)

        let other = try await initialize(server)
        let running = try await startTask(server, "gated", session: other)
        await eventually { gate.startedCount == 2 }
        await server.stopTasks()
        #expect(try await status(server, running["taskId"]!, session: other) == "failed")
        let error = failure(await call(server, "tasks/result", ["taskId": running["taskId"]!], session: other))
        #expect(error?.message.contains("call the tool again") == true)
        #expect(server.runningTaskCount == 0)
    }

    @Test func theStatelessEraIgnoresTasks() async throws {
        let server = server()
        let outcome = await server.handleStateless(
            Stateless.request("tools/call", ["name": "only_task", "arguments": [:], "task": ["ttl": 1000]]),
            headers: nil, outbound: DiscardingOutbound(), user: nil)
        #expect(try outcome.result.get()["content"]?[0]?["text"] == "as a task")
        let get = await server.handleStateless(
            Stateless.request("tasks/get", ["taskId": "x"]), headers: nil, outbound: DiscardingOutbound(), user: nil)
        #expect(failure(get.result)?.code == MCPError.Code.methodNotFound)
    }

    @Test func aToolStopsWhenItsTTLPassesAndAWaitWithoutAStreamIsBounded() async throws {
        let server = server(minTTL: .milliseconds(50), resultWaitWithoutStream: .milliseconds(100))
        let session = try await initialize(server)
        let expiring = try await startTask(server, "gated", session: session, ttl: 100)
        await eventually { gate.cancelled }
        #expect(gate.cancelled)
        #expect(try await status(server, expiring["taskId"]!, session: session) == "failed")
        #expect(server.runningTaskCount == 0)
        // tasks/result without a stream (a JSON-only client holds an accept thread): -32001 after the bound.
        let running = try await startTask(server, "gated", session: session, ttl: 60000, id: 2)
        let clock = ContinuousClock()
        let start = clock.now
        let waited = await server.handle(
            JSONRPCRequest(id: .number(3), method: "tasks/result", params: ["taskId": running["taskId"]!]),
            context: MCPHandlersTests.context(session, id: .number(3), outbound: DiscardingOutbound()))
        #expect(failure(waited)?.code == MCPError.Code.requestTimeout)
        #expect(failure(waited)?.message.contains("poll tasks/get") == true)
        #expect(clock.now - start < .seconds(5))
        // A tool that cancels itself ends its task as cancelled.
        let gaveUp = try await startTask(server, "gives_up", session: session, id: 4)
        #expect(failure(await call(server, "tasks/result", ["taskId": gaveUp["taskId"]!], session: session))?.code == -32800)
        #expect(try await status(server, gaveUp["taskId"]!, session: session) == "cancelled")
    }

    @Test func revisionsBefore2025_11_25HaveNoTasks() async throws {
        let server = server()
        let request = JSONRPCRequest(
            id: .number(0), method: "initialize", params: ["protocolVersion": "2025-06-18", "capabilities": [:]])
        let (result, session) = try await server.initialize(request, owner: nil)
        #expect(result["capabilities"]?["tasks"] == nil)
        #expect(result["capabilities"]?["tools"] != nil)
        let context = MCPHandlersTests.context(session)
        let tools = try await server.handle(JSONRPCRequest(id: .number(1), method: "tools/list"), context: context).get()
        #expect(tools["tools"]?.arrayValue?.allSatisfy { $0["execution"] == nil } == true)
        // A tool that requires tasks runs directly; params.task is ignored; tasks/* does not exist.
        let direct = try await server.handle(
            JSONRPCRequest(id: .number(2), method: "tools/call", params: ["name": "only_task", "task": [:]]), context: context
        ).get()
        #expect(direct["content"]?[0]?["text"] == "as a task")
        let list = await server.handle(JSONRPCRequest(id: .number(3), method: "tasks/list"), context: context)
        #expect(failure(list)?.code == MCPError.Code.methodNotFound)
    }

    @Test func anAddressQuotaBoundsTheTasksOfAllItsSessions() async throws {
        let server = server(limits: TaskLimits(maxTasksPerSession: 10, maxTasksPerUser: 10, maxTasksPerAddress: 3))
        var made = 0
        for n in 0..<3 {
            let request = JSONRPCRequest(
                id: .number(0), method: "initialize", params: ["protocolVersion": "2025-11-25", "capabilities": [:]])
            let (_, session, _) = try await server.initialize(request, owner: nil, clientAddress: "198.51.100.7")
            for m in 0..<2 {
                let outcome = await call(
                    server, "tools/call", ["name": "only_task", "task": [:]], session: session, id: .number(n * 10 + m))
                if case .success = outcome { made += 1 } else {
                    #expect(failure(outcome)?.message.contains("client address holds 3 tasks") == true)
                }
            }
        }
        #expect(made == 3)
    }

    @Test func aRequestToAClientThatRunsTasksIsSentAsATaskAndPolled() async throws {
        let server = MCPServer(
            configuration: .init(
                serverInfo: .init(name: "t", version: "1"), tasks: TaskConfiguration(clientTaskTTL: .seconds(60))))
        server.registerTool(Tool(name: "asks")) { _, context in
            let reply = try await context.elicit(["message": "Name?", "requestedSchema": ["type": "object", "properties": [:]]])
            return .text("hello \(reply["content"]?["name"]?.stringValue ?? "?")")
        }
        let taskCapable: Value = ["elicitation": [:], "tasks": ["requests": ["elicitation": ["create": [:]]]]]
        let session = try await initialize(server, capabilities: taskCapable)
        let client = TaskRunningClient()
        let result = try await server.handle(
            JSONRPCRequest(id: .number(1), method: "tools/call", params: ["name": "asks"]),
            context: MCPHandlersTests.context(session, outbound: client)
        ).get()
        #expect(result["content"]?[0]?["text"] == "hello Tasked")
        #expect(client.methods == ["elicitation/create", "tasks/get", "tasks/get", "tasks/result"])
        #expect(client.elicitation?["task"] == ["ttl": 60000])
        // A client that answers at once is taken at its word; one that does not run elicitations as tasks gets a
        // plain request.
        let direct = TaskRunningClient(direct: true)
        _ = try await server.handle(
            JSONRPCRequest(id: .number(2), method: "tools/call", params: ["name": "asks"]),
            context: MCPHandlersTests.context(session, outbound: direct)
        ).get()
        #expect(direct.methods == ["elicitation/create"])
        let plainSession = try await initialize(server, capabilities: ["elicitation": [:]])
        let plain = TaskRunningClient(direct: true)
        _ = try await server.handle(
            JSONRPCRequest(id: .number(3), method: "tools/call", params: ["name": "asks"]),
            context: MCPHandlersTests.context(plainSession, outbound: plain)
        ).get()
        #expect(plain.elicitation?["task"] == nil)
        // A tool running as a task asks the same way (its question travels on the waiting tasks/result stream).
        server.registerTool(Tool(name: "asks_later", taskSupport: .optional)) { _, context in
            let reply = try await context.elicit(["message": "Later?", "requestedSchema": ["type": "object", "properties": [:]]])
            return .text("later \(reply["content"]?["name"]?.stringValue ?? "?")")
        }
        let created = try await server.handle(
            JSONRPCRequest(id: .number(4), method: "tools/call", params: ["name": "asks_later", "task": [:]]),
            context: MCPHandlersTests.context(session)
        ).get()
        let waiting = TaskRunningClient()
        let result2 = try await server.handle(
            JSONRPCRequest(id: .number(5), method: "tasks/result", params: ["taskId": created["task"]!["taskId"]!]),
            context: MCPHandlersTests.context(session, id: .number(5), outbound: waiting)
        ).get()
        #expect(result2["content"]?[0]?["text"] == "later Tasked")
        #expect(waiting.methods == ["elicitation/create", "tasks/get", "tasks/get", "tasks/result"])
        #expect(waiting.elicitation?["task"] == ["ttl": 60000])
    }

    @Test func aTypedToolOptsIntoTasksWithOneSetting() async throws {
        struct Greeting: Decodable { let name: String }
        let server = server()
        server.registerTool(name: "greet", taskSupport: .optional) { (arguments: Greeting, _) in .text("hi \(arguments.name)") }
        let session = try await initialize(server)
        let created = try await call(
            server, "tools/call", ["name": "greet", "arguments": ["name": "Ada"], "task": [:]], session: session
        ).get()
        let result = try await call(server, "tasks/result", ["taskId": created["task"]!["taskId"]!], session: session).get()
        #expect(result["content"]?[0]?["text"] == "hi Ada")
    }

    @Test func storeRecordsRoundTripTheirOutcome() {
        let ok = Result<Value, MCPError>.success(["content": []])
        let bad = Result<Value, MCPError>.failure(MCPError(code: -32602, message: "m", data: ["x": 1]))
        #expect(TaskRecord.decode(TaskRecord.encode(ok)) == ok)
        #expect(TaskRecord.decode(TaskRecord.encode(bad)) == bad)
        #expect(TaskRecord.decode(["nothing": true]) == nil)
        #expect(TaskRecord.timestamp(0) == "1970-01-01T00:00:00.000Z")
    }
}
