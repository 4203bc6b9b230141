import Synchronization
import Testing

@testable import MCPHandlers

func makeCompletionServer() -> MCPServer {
    let server = MCPServer(name: "c", version: "1")
    server.registerPrompt(
        name: "code_review",
        arguments: [PromptArgument(name: "language", required: true), PromptArgument(name: "framework")],
        completions: ["language": { typed, _ in .matching(typed, in: ["python", "pytorch", "rust", "Pyside"]) }]
    ) { _, _ in [] }
    server.registerCompletion(prompt: "code_review", argument: "framework") { typed, resolved in
        let all = resolved["language"] == "python" ? ["flask", "fastapi", "django"] : ["axum", "actix"]
        return .matching(typed, in: all)
    }
    server.registerResourceTemplate(uriTemplate: "file:///{path}", name: "files") { uri, _, _ in
        [.text("", uri: uri)]
    }
    server.registerCompletion(resourceTemplate: "file:///{path}", variable: "path") { typed, _ in
        .matching(typed, in: ["README.md", "Package.swift", "Sources"])
    }
    server.registerResource(uri: "test://plain", name: "plain") { uri, _ in [.text("", uri: uri)] }
    return server
}

func complete(_ server: MCPServer, ref: Value, name: String, value: String, context: Value? = nil) async
    -> Result<Value, MCPError>
{
    var params: [String: Value] = ["ref": ref, "argument": ["name": .string(name), "value": .string(value)]]
    if let context { params["context"] = context }
    return await call(server, "completion/complete", .object(params))
}

@Suite struct CompletionTests {
    @Test func completesPromptArgument() async throws {
        let server = makeCompletionServer()
        let result = try await complete(
            server, ref: ["type": "ref/prompt", "name": "code_review"], name: "language", value: "py"
        ).get()
        #expect(result == ["completion": ["values": ["python", "pytorch", "Pyside"], "total": 3, "hasMore": false]])
    }

    @Test func usesContextArguments() async throws {
        let server = makeCompletionServer()
        let python = try await complete(
            server, ref: ["type": "ref/prompt", "name": "code_review"], name: "framework", value: "f",
            context: ["arguments": ["language": "python"]]
        ).get()
        #expect(python["completion"]?["values"] == ["flask", "fastapi"])
        let other = try await complete(
            server, ref: ["type": "ref/prompt", "name": "code_review"], name: "framework", value: "a"
        ).get()
        #expect(other["completion"]?["values"] == ["axum", "actix"])
    }

    @Test func completesTemplateVariable() async throws {
        let server = makeCompletionServer()
        let result = try await complete(
            server, ref: ["type": "ref/resource", "uri": "file:///{path}"], name: "path", value: "S"
        ).get()
        #expect(result["completion"]?["values"] == ["Sources"])
        #expect(result["completion"]?["total"] == 1)
    }

    @Test func noHandlerMeansNoValues() async throws {
        let server = makeCompletionServer()
        server.registerPrompt(name: "bare", arguments: [PromptArgument(name: "x")]) { _, _ in [] }
        let prompt = try await complete(server, ref: ["type": "ref/prompt", "name": "bare"], name: "x", value: "a").get()
        #expect(prompt == ["completion": ["values": []]])
        let staticResource = try await complete(
            server, ref: ["type": "ref/resource", "uri": "test://plain"], name: "x", value: "").get()
        #expect(staticResource == ["completion": ["values": []]])
        let otherVariable = try await complete(
            server, ref: ["type": "ref/resource", "uri": "file:///{path}"], name: "nope", value: "").get()
        #expect(otherVariable == ["completion": ["values": []]])
    }

    @Test(arguments: [
        ["ref": ["type": "ref/prompt", "name": "ghost"], "argument": ["name": "a", "value": ""]] as Value,
        ["ref": ["type": "ref/resource", "uri": "file:///{other}"], "argument": ["name": "a", "value": ""]],
        ["ref": ["type": "ref/tool", "name": "x"], "argument": ["name": "a", "value": ""]],
        ["ref": ["type": "ref/prompt"], "argument": ["name": "a", "value": ""]],
        ["ref": ["type": "ref/resource"], "argument": ["name": "a", "value": ""]],
        ["argument": ["name": "a", "value": ""]],
        ["ref": ["type": "ref/prompt", "name": "code_review"]],
        ["ref": ["type": "ref/prompt", "name": "code_review"], "argument": ["name": "language"]],
        [
            "ref": ["type": "ref/prompt", "name": "code_review"], "argument": ["name": "language", "value": "p"],
            "context": ["arguments": ["language": 1]],
        ],
    ])
    func badCompletionsAre32602(_ params: Value) async {
        let server = makeCompletionServer()
        #expect(failure(await call(server, "completion/complete", params))?.code == -32602)
    }

    @Test func withoutPromptsOrTemplatesTheMethodIsUnknown() async {
        let server = MCPServer(name: "t", version: "1")
        let result = await complete(server, ref: ["type": "ref/prompt", "name": "x"], name: "a", value: "")
        #expect(result == .failure(.methodNotFound("completion/complete")))
        #expect(server.capabilities["completions"] == nil)
    }

    @Test func completionLimitAndMatching() {
        let many = (0..<150).map { "v\($0)" }
        let value = Completion(values: many).value
        #expect(value["values"]?.arrayValue?.count == 100)
        #expect(value["values"]?.arrayValue?.last == "v99")
        #expect(value["total"] == 150)
        #expect(value["hasMore"] == true)
        #expect(Completion(values: ["a"], total: 9, hasMore: true).value == ["values": ["a"], "total": 9, "hasMore": true])
        #expect(Completion.matching("AB", in: ["abc", "xab", "Abd"]).values == ["abc", "Abd"])
        #expect(Completion.matching("", in: many).value["hasMore"] == true)
    }

    @Test func completionHandlerErrors() async {
        struct Oops: Error {}
        let server = makeCompletionServer()
        server.registerCompletion(prompt: "code_review", argument: "language") { _, _ in throw Oops() }
        let result = await complete(
            server, ref: ["type": "ref/prompt", "name": "code_review"], name: "language", value: "")
        #expect(result == .failure(.internalError()))
    }

    @Test func completionsGoWithTheirPromptOrTemplate() async {
        let server = makeCompletionServer()
        #expect(server.removeResourceTemplate(uriTemplate: "file:///{path}"))
        let gone = await complete(server, ref: ["type": "ref/resource", "uri": "file:///{path}"], name: "path", value: "")
        #expect(failure(gone)?.code == -32602)
        // A completion registered before its template is kept until the template arrives.
        let seen = Mutex(0)
        server.registerCompletion(resourceTemplate: "later://{x}", variable: "x") { _, _ in
            seen.withLock { $0 += 1 }
            return Completion(values: ["early"])
        }
        server.registerResourceTemplate(uriTemplate: "later://{x}", name: "later") { uri, _, _ in [.text("", uri: uri)] }
        let early = await complete(server, ref: ["type": "ref/resource", "uri": "later://{x}"], name: "x", value: "")
        #expect((try? early.get())?["completion"]?["values"] == ["early"])
        #expect(seen.withLock { $0 } == 1)
    }
}
