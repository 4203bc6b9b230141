import Foundation
import Synchronization
import Testing

@testable import MCPHandlers

/// Answers server→client requests by method and records everything sent.
final class ScriptedOutbound: ServerOutbound {
    let sent = Mutex<[JSONRPCNotification]>([])
    let answers: [String: Value]

    init(answers: [String: Value] = [:]) { self.answers = answers }

    func send(_ notification: JSONRPCNotification) async { sent.withLock { $0.append(notification) } }
    func request(_ method: String, params: Value?) async throws(MCPError) -> Value {
        sent.withLock { $0.append(JSONRPCNotification(method: method, params: params)) }
        guard let answer = answers[method] else { throw .internalError("no scripted answer for \(method)") }
        return answer
    }
    var notifications: [JSONRPCNotification] { sent.withLock { $0 } }
    var methods: [String] { notifications.map(\.method) }
}

/// A wall clock the test moves.
final class TestClock: Sendable {
    let seconds = Mutex<Double>(1_900_000_000)
    func advance(_ delta: Double) { seconds.withLock { $0 += delta } }
    var now: Double { seconds.withLock { $0 } }
}

enum Stateless {
    static let allCapabilities: Value = ["elicitation": [:], "sampling": [:], "roots": [:]]

    static func meta(
        version: String = "2026-07-28", capabilities: Value = allCapabilities, logLevel: String? = nil,
        progressToken: Value? = nil
    ) -> Value {
        var meta: [String: Value] = [
            StatelessRequestMeta.protocolVersionKey: .string(version),
            StatelessRequestMeta.clientInfoKey: ["name": "tester", "version": "1.0"],
            StatelessRequestMeta.clientCapabilitiesKey: capabilities,
        ]
        if let logLevel { meta[StatelessRequestMeta.logLevelKey] = .string(logLevel) }
        if let progressToken { meta["progressToken"] = progressToken }
        return .object(meta)
    }

    static func request(
        _ method: String, _ params: [String: Value] = [:], id: RequestID = .number(1), meta: Value = meta()
    ) -> JSONRPCRequest {
        var params = params
        params["_meta"] = meta
        return JSONRPCRequest(id: id, method: method, params: .object(params))
    }

    static func server(clock: TestClock = TestClock(), cacheHints: CacheHints = CacheHints()) -> MCPServer {
        let server = MCPServer(
            configuration: .init(
                serverInfo: .init(name: "stateless-test", version: "9.9"), instructions: "be nice",
                requestStateKey: Array(repeating: 7, count: 32), requestStateLifetime: .seconds(60),
                cacheHints: cacheHints, wallClock: { clock.now }))
        server.registerTool(
            Tool(
                name: "echo",
                inputSchema: ["type": "object", "properties": ["text": ["type": "string"]], "required": ["text"]])
        ) { args, _ in .text(args["text"]?.stringValue ?? "") }
        server.registerTool(Tool(name: "greet")) { _, context in
            let reply = try await context.elicit(
                ["message": "What is your name?", "requestedSchema": ["type": "object"]], key: "user_name")
            return .text("Hello, \(reply["content"]?["name"]?.stringValue ?? "?")!")
        }
        server.registerTool(Tool(name: "two_steps")) { _, context in
            context.setRequestState(["step": 1])
            let first = try await context.elicit(["message": "first?"], key: "step1")
            context.setRequestState(["step": 2, "first": first["content"]?["v"] ?? .null])
            let second = try await context.elicit(["message": "second?"], key: "step2")
            let carried = context.requestState?["first"]?.stringValue ?? "-"
            return .text("\(carried)+\(second["content"]?["v"]?.stringValue ?? "-") round \(context.inputRoundNumber)")
        }
        server.registerTool(Tool(name: "batch")) { _, context in
            let answers = try await context.requestInputs([
                .elicit(key: "e", ["message": "name?"]),
                .createMessage(key: "s", ["messages": [], "maxTokens": 5]),
                .listRoots(key: "r"),
            ])
            return .text(answers.keys.sorted().joined(separator: ","))
        }
        server.registerTool(Tool(name: "raw_request")) { _, context in
            let reply = try await context.request("sampling/createMessage", params: ["messages": [], "maxTokens": 1])
            return .text(reply["content"]?["text"]?.stringValue ?? "-")
        }
        server.registerTool(Tool(name: "needs_sampling")) { _, context in
            try context.requireClientCapabilities(["sampling": [:]])
            return .text("ok")
        }
        server.registerTool(Tool(name: "chatty")) { _, context in
            await context.log(.debug, "debug line")
            await context.log(.warning, "warning line")
            await context.reportProgress(1, total: 1)
            return .text("done")
        }
        server.registerResource(uri: "test://doc", name: "doc", mimeType: "text/plain") { uri, _ in
            [.text("hello", uri: uri, mimeType: "text/plain")]
        }
        server.registerPrompt(name: "ask_prompt") { _, context in
            let reply = try await context.elicit(["message": "who?"], key: "who")
            return [.user(.text("Hi \(reply["content"]?["name"]?.stringValue ?? "?")"))]
        }
        return server
    }

    static func value(_ outcome: StatelessOutcome) throws -> Value {
        switch outcome.result {
        case .success(let value): return value
        case .failure(let error): throw error
        }
    }

    static func error(_ outcome: StatelessOutcome) -> MCPError? {
        if case .failure(let error) = outcome.result { return error }
        return nil
    }

    static func accept(_ content: Value) -> Value { ["action": "accept", "content": content] }
}

extension Value {
    /// The element at `index` of an array (tests only).
    subscript(index: Int) -> Value? {
        guard let items = arrayValue, items.indices.contains(index) else { return nil }
        return items[index]
    }
}
