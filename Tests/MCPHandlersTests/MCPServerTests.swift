import Logging
import Synchronization
import Testing

@testable import MCPHandlers

/// Collects what a handler sends before its result.
final class RecordingOutbound: ServerOutbound {
    let sent = Mutex<[JSONRPCNotification]>([])
    let reply: Result<Value, MCPError>

    init(reply: Result<Value, MCPError> = .success([:])) { self.reply = reply }

    func send(_ notification: JSONRPCNotification) async { sent.withLock { $0.append(notification) } }
    func request(_ method: String, params: Value?) async throws(MCPError) -> Value {
        sent.withLock { $0.append(JSONRPCNotification(method: method, params: params)) }
        return try reply.get()
    }
    var notifications: [JSONRPCNotification] { sent.withLock { $0 } }
}

func makeServer(pageSize: Int = 100, store: any SessionStore = InMemorySessionStore()) -> MCPServer {
    let server = MCPServer(
        configuration: .init(serverInfo: .init(name: "t", version: "1"), instructions: "be nice", pageSize: pageSize,
            sessionStore: store))
    server.registerTool(
        Tool(
            name: "echo",
            inputSchema: ["type": "object", "properties": ["text": ["type": "string"]], "required": ["text"]])
    ) { args, _ in .text(args["text"]?.stringValue ?? "") }
    return server
}

func initialize(_ server: MCPServer, version: String = "2025-11-25", capabilities: Value = [:]) async throws -> Session {
    let request = JSONRPCRequest(
        id: .number(0), method: "initialize",
        params: ["protocolVersion": .string(version), "capabilities": capabilities,
            "clientInfo": ["name": "c", "version": "2"]])
    return try await server.initialize(request, owner: nil).session
}

func context(
    _ session: Session?, id: RequestID = .number(1), progressToken: Value? = nil,
    outbound: any ServerOutbound = RecordingOutbound()
) -> RequestContext {
    RequestContext(
        requestID: id, session: session, user: nil, protocolVersion: session?.protocolVersion ?? .v2025_11_25,
        clientCapabilities: session?.clientCapabilities ?? [:], progressToken: progressToken,
        logger: Logger(label: "test"), outbound: outbound)
}

@Suite struct LifecycleTests {
    @Test(arguments: [
        ("2025-11-25", "2025-11-25"), ("2025-06-18", "2025-06-18"), ("2025-03-26", "2025-03-26"),
        ("2024-11-05", "2024-11-05"), ("2099-01-01", "2025-11-25"), ("garbage", "2025-11-25"),
    ])
    func negotiatesVersion(_ requested: String, _ expected: String) async throws {
        let server = makeServer()
        let request = JSONRPCRequest(
            id: .number(1), method: "initialize", params: ["protocolVersion": .string(requested)])
        let (result, session) = try await server.initialize(request, owner: nil)
        #expect(result["protocolVersion"] == .string(expected))
        #expect(session.protocolVersion.rawValue == expected)
        #expect(result["serverInfo"]?["name"] == "t")
        #expect(result["instructions"] == "be nice")
        #expect(result["capabilities"]?["tools"]?["listChanged"] == true)
        #expect(result["capabilities"]?["logging"] == [:])
        #expect(try await server.sessions.contains(id: session.id))
    }

    @Test func sessionRemembersClient() async throws {
        let server = makeServer()
        let session = try await initialize(server, capabilities: ["sampling": [:]])
        #expect(session.clientInfo == Implementation(name: "c", version: "2"))
        #expect(session.clientSupports("sampling"))
        #expect(!session.clientSupports("roots"))
        #expect(session.phase == .created)
        server.handle(JSONRPCNotification(method: "notifications/initialized"), session: session)
        #expect(session.phase == .initialized)
        server.handle(JSONRPCNotification(method: "notifications/unknown"), session: session)
    }

    @Test func capabilitiesWithoutTools() {
        let server = MCPServer(name: "bare", version: "0")
        #expect(server.capabilities["tools"] == nil)
        #expect(server.registeredTools.isEmpty)
    }

    @Test func capacityReached() async throws {
        let server = makeServer(store: InMemorySessionStore(capacity: 1))
        _ = try await initialize(server)
        await #expect(throws: MCPServer.SessionCreationError.capacityReached) { try await initialize(server) }
    }

    @Test func hookRunsAfterCommit() async throws {
        let seen = Mutex<[(String, String?, Bool)]>([])
        let store = InMemorySessionStore()
        let server = MCPServer(
            configuration: .init(
                serverInfo: .init(name: "t", version: "1"), sessionStore: store,
                onSessionInitialized: { id, user in
                    seen.withLock { $0.append((id, user, store.contains(id: id))) }
                }))
        let request = JSONRPCRequest(id: .number(1), method: "initialize", params: [:])
        let (_, session) = try await server.initialize(request, owner: "alice")
        for _ in 0..<200 where seen.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(5)) }
        let record = seen.withLock { $0 }
        #expect(record.count == 1)
        #expect(record.first?.0 == session.id)
        #expect(record.first?.1 == "alice")
        #expect(record.first?.2 == true)
    }

    @Test func failingHookIsIsolated() async throws {
        struct Boom: Error {}
        let server = MCPServer(
            configuration: .init(
                serverInfo: .init(name: "t", version: "1"), onSessionInitialized: { _, _ in throw Boom() }))
        let (result, session) = try await server.initialize(JSONRPCRequest(id: .number(1), method: "initialize"), owner: nil)
        #expect(result["protocolVersion"] == "2025-11-25")
        #expect(try await server.sessions.contains(id: session.id))
    }
}

@Suite struct DispatchTests {
    @Test func ping() async throws {
        let server = makeServer()
        let result = await server.handle(JSONRPCRequest(id: .number(1), method: "ping"), context: context(nil))
        #expect(try result.get() == [:])
    }

    @Test func unknownMethodIs32601() async {
        let server = makeServer()
        let result = await server.handle(JSONRPCRequest(id: .number(1), method: "nope/nope"), context: context(nil))
        #expect(result == .failure(.methodNotFound("nope/nope")))
    }

    @Test func secondInitializeIsRefused() async {
        let server = makeServer()
        let result = await server.handle(JSONRPCRequest(id: .number(1), method: "initialize"), context: context(nil))
        #expect((try? result.get()) == nil)
    }

    @Test func listsToolsWithPagination() async throws {
        let server = makeServer(pageSize: 2)
        for name in ["b", "c", "d"] {
            server.registerTool(Tool(name: name, description: "tool \(name)")) { _, _ in .text(name) }
        }
        var names: [String] = []
        var cursor: Value? = nil
        repeat {
            let params: Value = cursor.map { ["cursor": $0] } ?? [:]
            let page = try await server.handle(
                JSONRPCRequest(id: .number(1), method: "tools/list", params: params), context: context(nil)
            ).get()
            names += page["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            cursor = page["nextCursor"]
        } while cursor != nil
        #expect(names == ["echo", "b", "c", "d"])
        let bad = await server.handle(
            JSONRPCRequest(id: .number(1), method: "tools/list", params: ["cursor": "zzz"]), context: context(nil))
        #expect((try? bad.get()) == nil)
        let tooFar = await server.handle(
            JSONRPCRequest(id: .number(1), method: "tools/list", params: ["cursor": "99"]), context: context(nil))
        #expect((try? tooFar.get()) == nil)
    }

    @Test func toolMetadataIsListed() async throws {
        let server = MCPServer(name: "t", version: "1")
        server.registerTool(
            Tool(
                name: "full", title: "Full", description: "d", outputSchema: ["type": "object"],
                annotations: .init(title: "Full tool", readOnlyHint: true, openWorldHint: false))
        ) { _, _ in ToolResult(content: [], structuredContent: ["a": 1]) }
        let page = try await server.handle(JSONRPCRequest(id: .number(1), method: "tools/list"), context: context(nil))
            .get()
        let tool = page["tools"]?.arrayValue?.first
        #expect(tool?["title"] == "Full")
        #expect(tool?["outputSchema"] == ["type": "object"])
        #expect(tool?["annotations"] == ["title": "Full tool", "readOnlyHint": true, "openWorldHint": false])
        #expect(tool?["inputSchema"]?["type"] == "object")
        let call = try await server.handle(
            JSONRPCRequest(id: .number(2), method: "tools/call", params: ["name": "full"]), context: context(nil)
        ).get()
        #expect(call["structuredContent"] == ["a": 1])
        #expect(call["isError"] == nil)
    }

    @Test func emptyAnnotationsAreLeftOut() {
        #expect(Tool(name: "plain", annotations: .init()).value["annotations"] == nil)
        #expect(Tool.Annotations().isEmpty)
        #expect(!Tool.Annotations(destructiveHint: false).isEmpty)
        #expect(Tool.Annotations(destructiveHint: false, idempotentHint: true).value == ["destructiveHint": false, "idempotentHint": true])
    }

    @Test func callsTool() async throws {
        let server = makeServer()
        let result = try await server.handle(
            JSONRPCRequest(id: .number(1), method: "tools/call", params: ["name": "echo", "arguments": ["text": "hi"]]),
            context: context(nil)
        ).get()
        #expect(result == ["content": [["type": "text", "text": "hi"]]])
    }

    @Test(arguments: [
        ["arguments": ["text": "x"]] as Value,
        ["name": 5],
        ["name": "missing"],
        ["name": "echo", "arguments": [1]],
        ["name": "echo", "arguments": [:]],
        ["name": "echo", "arguments": ["text": 5]],
    ])
    func badToolCallsAre32602(_ params: Value) async {
        let server = makeServer()
        let result = await server.handle(
            JSONRPCRequest(id: .number(1), method: "tools/call", params: params), context: context(nil))
        guard case .failure(let error) = result else { Issue.record("accepted \(params)"); return }
        #expect(error.code == -32602)
    }

    @Test func throwingToolIsAnErrorResult() async throws {
        struct Failure: Error, CustomStringConvertible { var description: String { "disk on fire" } }
        let server = makeServer()
        server.registerTool(Tool(name: "boom")) { _, _ in throw Failure() }
        let result = try await server.handle(
            JSONRPCRequest(id: .number(1), method: "tools/call", params: ["name": "boom"]), context: context(nil)
        ).get()
        #expect(result["isError"] == true)
        #expect(result["content"]?.arrayValue?.first?["text"] == "disk on fire")
    }

    @Test func toolThrowingMCPErrorIsAProtocolError() async {
        let server = makeServer()
        server.registerTool(Tool(name: "strict")) { _, _ in throw MCPError.invalidParams("nope") }
        let result = await server.handle(
            JSONRPCRequest(id: .number(1), method: "tools/call", params: ["name": "strict"]), context: context(nil))
        #expect(result == .failure(.invalidParams("nope")))
    }

    @Test func cancelledToolIsReportedAsCancelled() async {
        let server = makeServer()
        server.registerTool(Tool(name: "wait")) { _, _ in
            try await Task.sleep(for: .seconds(30))
            return .text("late")
        }
        let task = Task {
            await server.handle(
                JSONRPCRequest(id: .number(1), method: "tools/call", params: ["name": "wait"]), context: context(nil))
        }
        task.cancel()
        let result = await task.value
        #expect((try? result.get()) == nil)
    }

    @Test func typedArguments() async throws {
        struct Args: Decodable { let city: String; let days: Int? }
        let server = MCPServer(name: "t", version: "1")
        server.registerTool(
            name: "weather", description: "w",
            inputSchema: ["type": "object", "properties": ["city": ["type": "string"]], "required": ["city"]]
        ) { (args: Args, _) in .text("\(args.city):\(args.days ?? 1)") }
        let ok = try await server.handle(
            JSONRPCRequest(
                id: .number(1), method: "tools/call", params: ["name": "weather", "arguments": ["city": "Oslo"]]),
            context: context(nil)
        ).get()
        #expect(ok["content"]?.arrayValue?.first?["text"] == "Oslo:1")
        let bad = await server.handle(
            JSONRPCRequest(
                id: .number(1), method: "tools/call",
                params: ["name": "weather", "arguments": ["city": "Oslo", "days": "many"]]),
            context: context(nil))
        guard case .failure(let error) = bad else { Issue.record("accepted"); return }
        #expect(error.code == -32602)
        #expect(server.removeTool(named: "weather"))
        #expect(!server.removeTool(named: "weather"))
    }

    @Test func setLevelFiltersLogs() async throws {
        let server = makeServer()
        let session = try await initialize(server)
        let outbound = RecordingOutbound()
        let ctx = context(session, outbound: outbound)
        await ctx.log(.debug, "before")
        _ = try await server.handle(
            JSONRPCRequest(id: .number(1), method: "logging/setLevel", params: ["level": "warning"]), context: ctx
        ).get()
        #expect(session.logLevel == .warning)
        await ctx.log(.info, "hidden")
        await ctx.log(.error, "shown", loggerName: "db")
        #expect(outbound.notifications.compactMap { $0.params?["data"]?.stringValue } == ["before", "shown"])
        #expect(outbound.notifications.last?.params?["logger"] == "db")
        let bad = await server.handle(
            JSONRPCRequest(id: .number(1), method: "logging/setLevel", params: ["level": "loud"]), context: ctx)
        #expect((try? bad.get()) == nil)
    }

    @Test func progressOnlyWithTokenAndIncreasing() async {
        let outbound = RecordingOutbound()
        await context(nil, outbound: outbound).reportProgress(1)
        #expect(outbound.notifications.isEmpty)
        let ctx = context(nil, progressToken: "tok", outbound: outbound)
        await ctx.reportProgress(0, total: 100, message: "start")
        await ctx.reportProgress(50, total: 100)
        await ctx.reportProgress(50, total: 100)
        await ctx.reportProgress(10)
        await ctx.reportProgress(100, total: 100)
        #expect(outbound.notifications.compactMap { $0.params?["progress"]?.doubleValue } == [0, 50, 100])
        #expect(outbound.notifications.first?.params?["progressToken"] == "tok")
        #expect(outbound.notifications.first?.params?["message"] == "start")
        await ctx.notify(JSONRPCNotification(method: "notifications/custom"))
        #expect(outbound.notifications.last?.method == "notifications/custom")
    }

    @Test func clientRequestsNeedTheCapability() async throws {
        let server = makeServer()
        let bare = try await initialize(server)
        let outbound = RecordingOutbound(reply: .success(["ok": true]))
        let ctx = context(bare, outbound: outbound)
        await #expect(throws: MCPError.self) { try await ctx.createMessage([:]) }
        await #expect(throws: MCPError.self) { try await ctx.elicit([:]) }
        await #expect(throws: MCPError.self) { try await ctx.listRoots() }
        let capable = try await initialize(server, capabilities: ["sampling": [:], "elicitation": [:], "roots": [:]])
        let ctx2 = context(capable, outbound: outbound)
        #expect(try await ctx2.createMessage([:]) == ["ok": true])
        #expect(try await ctx2.elicit([:]) == ["ok": true])
        #expect(try await ctx2.listRoots() == ["ok": true])
        #expect(outbound.notifications.map(\.method) == ["sampling/createMessage", "elicitation/create", "roots/list"])
    }

    @Test func discardingOutbound() async {
        let outbound = DiscardingOutbound()
        await outbound.send(JSONRPCNotification(method: "x"))
        await #expect(throws: MCPError.self) { try await outbound.request("sampling/createMessage", params: nil) }
    }
}
