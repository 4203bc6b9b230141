import Testing

@testable import MCPHandlers

func makePromptServer(pageSize: Int = 100) -> MCPServer {
    let server = MCPServer(configuration: .init(serverInfo: .init(name: "p", version: "1"), pageSize: pageSize))
    server.registerPrompt(name: "simple", title: "Simple", description: "no arguments") { _, _ in
        [.user(.text("hello"))]
    }
    server.registerPrompt(
        name: "with_args", description: "two arguments",
        arguments: [
            PromptArgument(name: "arg1", title: "First", description: "the first", required: true),
            PromptArgument(name: "arg2", required: false),
        ]
    ) { arguments, _ in
        [
            .user(.text("arg1=\(arguments["arg1"] ?? "-") arg2=\(arguments["arg2"] ?? "-")")),
            .assistant(.image(data: "AAAA", mimeType: "image/png")),
        ]
    }
    return server
}

@Suite struct PromptTests {
    @Test func listsPrompts() async throws {
        let server = makePromptServer()
        let result = try await call(server, "prompts/list").get()
        #expect(
            result
                == [
                    "prompts": [
                        ["name": "simple", "title": "Simple", "description": "no arguments"],
                        [
                            "name": "with_args", "description": "two arguments",
                            "arguments": [
                                ["name": "arg1", "title": "First", "description": "the first", "required": true],
                                ["name": "arg2"],
                            ],
                        ],
                    ]
                ])
    }

    @Test func paginatesPrompts() async throws {
        let server = makePromptServer(pageSize: 2)
        for name in ["c", "d", "e"] { server.registerPrompt(name: name) { _, _ in [] } }
        let (names, pages) = try await collectPages(server, "prompts/list", items: "prompts", key: "name")
        #expect(names == ["simple", "with_args", "c", "d", "e"])
        #expect(pages == 3)
        #expect(failure(await call(server, "prompts/list", ["cursor": "-1"]))?.code == -32602)
    }

    @Test func getsPromptWithDescriptionAndMessages() async throws {
        let server = makePromptServer()
        let result = try await call(
            server, "prompts/get", ["name": "with_args", "arguments": ["arg1": "x", "arg2": "y"]]
        ).get()
        #expect(
            result
                == [
                    "description": "two arguments",
                    "messages": [
                        ["role": "user", "content": ["type": "text", "text": "arg1=x arg2=y"]],
                        ["role": "assistant", "content": ["type": "image", "data": "AAAA", "mimeType": "image/png"]],
                    ],
                ])
        let optionalMissing = try await call(server, "prompts/get", ["name": "with_args", "arguments": ["arg1": "x"]])
            .get()
        #expect(optionalMissing["messages"]?.arrayValue?.first?["content"]?["text"] == "arg1=x arg2=-")
    }

    @Test func getsPromptWithoutDescription() async throws {
        let server = makePromptServer()
        server.registerPrompt(name: "bare") { _, _ in [.user(.resource(.text("r", uri: "x://r")))] }
        let result = try await call(server, "prompts/get", ["name": "bare"]).get()
        #expect(result["description"] == nil)
        #expect(
            result["messages"]
                == [
                    [
                        "role": "user",
                        "content": ["type": "resource", "resource": ["uri": "x://r", "mimeType": "text/plain", "text": "r"]],
                    ]
                ])
    }

    @Test(arguments: [
        ["name": "nope"] as Value,
        [:],
        ["name": 3],
        ["name": "with_args"],
        ["name": "with_args", "arguments": ["arg2": "y"]],
        ["name": "with_args", "arguments": ["arg1": 1]],
        ["name": "with_args", "arguments": ["x"]],
    ])
    func badGetsAre32602(_ params: Value) async {
        let server = makePromptServer()
        let result = await call(server, "prompts/get", params)
        #expect(failure(result)?.code == -32602)
    }

    @Test func missingArgumentMessageNamesIt() async {
        let server = makePromptServer()
        let result = await call(server, "prompts/get", ["name": "with_args", "arguments": [:]])
        #expect(failure(result)?.message.contains("arg1") == true)
        let unknown = await call(server, "prompts/get", ["name": "ghost"])
        #expect(unknown == .failure(.invalidParams("Unknown prompt: ghost")))
    }

    @Test func handlerErrors() async {
        struct Oops: Error {}
        let server = makePromptServer()
        server.registerPrompt(name: "broken") { _, _ in throw Oops() }
        server.registerPrompt(name: "strict") { _, _ in throw MCPError.invalidParams("bad value") }
        #expect(await call(server, "prompts/get", ["name": "broken"]) == .failure(.internalError()))
        #expect(await call(server, "prompts/get", ["name": "strict"]) == .failure(.invalidParams("bad value")))
    }

    @Test func removeAndCapabilities() async {
        let server = makePromptServer()
        #expect(server.capabilities["prompts"] == ["listChanged": true])
        #expect(server.capabilities["completions"] == [:])
        #expect(server.removePrompt(named: "simple"))
        #expect(!server.removePrompt(named: "simple"))
        #expect(server.registeredPrompts.map(\.name) == ["with_args"])
        #expect(failure(await call(server, "prompts/get", ["name": "simple"]))?.code == -32602)
        #expect(server.removePrompt(named: "with_args"))
        #expect(server.capabilities == ["logging": [:]])
    }

    @Test func promptMessageValues() {
        #expect(
            PromptMessage.assistant(.audio(data: "UklG", mimeType: "audio/wav")).value
                == ["role": "assistant", "content": ["type": "audio", "data": "UklG", "mimeType": "audio/wav"]])
        #expect(PromptMessage(role: .user, content: .text("t")).value == ["role": "user", "content": ["type": "text", "text": "t"]])
    }
}
