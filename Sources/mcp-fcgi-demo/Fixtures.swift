import Logging
import MCPHandlers

/// The conformance fixtures (../shared/FIXTURES.md): what MCP's conformance suite expects of a server.
enum Fixtures {
    static let image =
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
    static let audio = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="

    /// A tenant's own MCP server (the multi-tenant example): a `whoami` tool naming the tenant and user.
    /// - Parameters:
    ///   - tenant: the tenant's name (its path is `/<tenant>/mcp`).
    ///   - sessionStore: the tenant's own session store.
    ///   - sessionLimits: its session quotas.
    ///   - logger: where to log.
    static func tenantServer(
        _ tenant: String, sessionStore: any SessionStore = InMemorySessionStore(),
        sessionLimits: SessionLimits = SessionLimits(), logger: Logger
    ) -> MCPServer {
        let server = MCPServer(
            configuration: .init(
                serverInfo: Implementation(name: tenant, version: "0.1.0"), sessionStore: sessionStore,
                sessionLimits: sessionLimits, logger: logger))
        server.registerTool(Tool(name: "whoami", description: "Names the tenant and the session's user")) { _, context in
            .text("\(tenant):\(context.user ?? "anonymous")")
        }
        return server
    }

    static func register(on server: MCPServer) {
        registerContentTools(on: server)
        registerInteractiveTools(on: server)
        registerReconnectionTool(on: server)
        registerElicitationTools(on: server)
        registerResources(on: server)
        registerPrompts(on: server)
        registerStatelessTools(on: server)
        registerInputRequiredTools(on: server)
    }

    static func registerContentTools(on server: MCPServer) {
        server.registerTool(Tool(name: "test_simple_text", description: "Returns simple text content")) { _, _ in
            .text("This is a simple text response for testing.")
        }
        server.registerTool(Tool(name: "test_image_content", description: "Returns image content")) { _, _ in
            ToolResult(content: [.image(data: image, mimeType: "image/png")])
        }
        server.registerTool(Tool(name: "test_audio_content", description: "Returns audio content")) { _, _ in
            ToolResult(content: [.audio(data: audio, mimeType: "audio/wav")])
        }
        server.registerTool(Tool(name: "test_embedded_resource", description: "Returns an embedded resource")) {
            _, _ in
            ToolResult(content: [
                .resource(
                    .text(
                        "This is an embedded resource content.", uri: "test://embedded-resource",
                        mimeType: "text/plain"))
            ])
        }
        server.registerTool(
            Tool(name: "test_multiple_content_types", description: "Returns text, image and resource content")
        ) { _, _ in
            ToolResult(content: [
                .text("Multiple content types test:"),
                .image(data: image, mimeType: "image/png"),
                .resource(
                    .text(
                        #"{"test":"data","value":123}"#, uri: "test://mixed-content-resource",
                        mimeType: "application/json")),
            ])
        }
        server.registerTool(Tool(name: "test_error_handling", description: "Always fails")) { _, _ in
            ToolResult.error("This tool intentionally returns an error for testing")
        }
        server.registerTool(
            Tool(
                name: "echo", description: "Echoes its text (the benchmark's tool)",
                inputSchema: ["type": "object", "properties": ["text": ["type": "string"]], "required": ["text"]])
        ) { arguments, _ in
            .text(arguments["text"]?.stringValue ?? "")
        }
    }

    static func registerReconnectionTool(on server: MCPServer) {
        server.registerTool(
            Tool(name: "test_reconnection", description: "Closes its SSE stream mid-call; the result follows on resume")
        ) { _, context in
            await context.closeStream()
            try await Task.sleep(for: .milliseconds(100))
            return .text("Reconnection test completed successfully")
        }
    }

    static func registerInteractiveTools(on server: MCPServer) {
        // A task-capable tool (2025-11-25 tasks): called with params.task it answers at once with a task that
        // completes after `seconds`; its progress messages become the task's statusMessage.
        server.registerTool(
            name: "slow_task", description: "Waits the given number of seconds, as a task when asked to",
            taskSupport: .optional
        ) { (arguments: SlowTaskArguments, context) in
            let seconds = arguments.seconds
            var waited = 0.0
            while waited < seconds {
                let step = min(1, seconds - waited)
                try await Task.sleep(for: .milliseconds(Int64(step * 1000)))
                waited += step
                await context.reportProgress(waited, total: seconds, message: "\(Self.format(waited)) of \(Self.format(seconds)) s")
            }
            return .text("done after \(Self.format(seconds)) s")
        }
        server.registerTool(Tool(name: "test_tool_with_logging", description: "Logs three messages")) { _, context in
            await context.log(.info, "Tool execution started")
            try await Task.sleep(for: .milliseconds(50))
            await context.log(.info, "Tool processing data")
            try await Task.sleep(for: .milliseconds(50))
            await context.log(.info, "Tool execution completed")
            return .text("Tool with logging executed successfully")
        }
        server.registerTool(Tool(name: "test_tool_with_progress", description: "Reports progress")) { _, context in
            for (i, step) in [0.0, 50, 100].enumerated() {
                if i > 0 { try await Task.sleep(for: .milliseconds(50)) }
                await context.reportProgress(step, total: 100)
            }
            return .text(context.progressToken.map { $0.stringValue ?? $0.description } ?? "no progress token")
        }
        server.registerTool(name: "test_sampling", description: "Asks the client's model") {
            (arguments: SamplingArguments, context) in
            let prompt = arguments.prompt
            let reply = try await context.createMessage([
                "messages": [["role": "user", "content": ["type": "text", "text": .string(prompt)]]],
                "maxTokens": 100,
            ])
            return .text("LLM response: \(reply["content"]?["text"]?.stringValue ?? "")")
        }
        // Also as a task (2025-11-25): the task is input_required while the question waits for its answer.
        server.registerTool(name: "test_elicitation", description: "Asks the user", taskSupport: .optional) {
            (arguments: ElicitationArguments, context) in
            let reply = try await context.elicit([
                "message": .string(arguments.message),
                "requestedSchema": [
                    "type": "object", "properties": ["response": ["type": "string"]], "required": ["response"],
                ],
            ])
            let action = reply["action"]?.stringValue ?? ""
            return .text("User response: action=\(action), content=\(reply["content"] ?? [:])")
        }
    }

    static func registerElicitationTools(on server: MCPServer) {
        server.registerTool(
            Tool(name: "test_elicitation_sep1034_defaults", description: "Asks the user, with defaults (SEP-1034)")
        ) { _, context in
            let reply = try await context.elicit([
                "message": "Please review and update the form fields with defaults",
                "requestedSchema": [
                    "type": "object",
                    "properties": [
                        "name": ["type": "string", "description": "User name", "default": "John Doe"],
                        "age": ["type": "integer", "description": "User age", "default": 30],
                        "score": ["type": "number", "description": "User score", "default": 95.5],
                        "status": [
                            "type": "string", "description": "User status",
                            "enum": ["active", "inactive", "pending"], "default": "active",
                        ],
                        "verified": ["type": "boolean", "description": "Verification status", "default": true],
                    ],
                ],
            ])
            return .text(elicitationSummary(reply))
        }
        server.registerTool(
            Tool(name: "test_elicitation_sep1330_enums", description: "Asks the user to pick from enums (SEP-1330)")
        ) { _, context in
            let reply = try await context.elicit([
                "message": "Please choose from the options below",
                "requestedSchema": [
                    "type": "object",
                    "properties": [
                        "untitledSingle": [
                            "type": "string", "description": "Pick one (untitled)",
                            "enum": ["option1", "option2", "option3"],
                        ],
                        "titledSingle": [
                            "type": "string", "description": "Pick one (titled)",
                            "oneOf": [
                                ["const": "value1", "title": "First Option"],
                                ["const": "value2", "title": "Second Option"],
                                ["const": "value3", "title": "Third Option"],
                            ],
                        ],
                        "legacyEnum": [
                            "type": "string", "description": "Pick one (legacy enumNames)",
                            "enum": ["opt1", "opt2", "opt3"],
                            "enumNames": ["Option One", "Option Two", "Option Three"],
                        ],
                        "untitledMulti": [
                            "type": "array", "description": "Pick several (untitled)",
                            "items": ["type": "string", "enum": ["option1", "option2", "option3"]],
                        ],
                        "titledMulti": [
                            "type": "array", "description": "Pick several (titled)",
                            "items": [
                                "anyOf": [
                                    ["const": "value1", "title": "First Choice"],
                                    ["const": "value2", "title": "Second Choice"],
                                    ["const": "value3", "title": "Third Choice"],
                                ]
                            ],
                        ],
                    ],
                ],
            ])
            return .text(elicitationSummary(reply))
        }
    }

    /// `Elicitation completed: action=<action>, content=<compact JSON>`.
    static func elicitationSummary(_ reply: Value) -> String {
        "Elicitation completed: action=\(reply["action"]?.stringValue ?? ""), content=\(reply["content"] ?? [:])"
    }

    static let templateIDs = ["1", "2", "3", "42", "123", "1001"]
    static let resourceURIs = [
        "test://static-text", "test://static-binary", "test://watched-resource", "test://template/1/data",
    ]

    static func registerResources(on server: MCPServer) {
        server.registerResource(
            uri: "test://static-text", name: "static-text", title: "Static Text Resource",
            description: "A static text resource", mimeType: "text/plain"
        ) { uri, _ in
            [.text("This is the content of the static text resource.", uri: uri, mimeType: "text/plain")]
        }
        server.registerResource(
            uri: "test://static-binary", name: "static-binary", title: "Static Binary Resource",
            description: "A static binary resource (a 1×1 PNG)", mimeType: "image/png"
        ) { uri, _ in
            [.blob(image, uri: uri, mimeType: "image/png")]
        }
        server.registerResourceTemplate(
            uriTemplate: "test://template/{id}/data", name: "template-data", title: "Template Data",
            description: "JSON data for any id", mimeType: "application/json",
            completions: ["id": { typed, _ in .matching(typed, in: templateIDs) }]
        ) { uri, variables, _ in
            let id = jsonString(variables["id"] ?? "")
            let data = jsonString("Data for ID: \(variables["id"] ?? "")")
            return [.text(#"{"id":\#(id),"templateTest":true,"data":\#(data)}"#, uri: uri, mimeType: "application/json")]
        }
        server.registerResource(
            uri: "test://watched-resource", name: "watched-resource", title: "Watched Resource",
            description: "A resource clients can subscribe to", mimeType: "text/plain"
        ) { uri, _ in
            [.text("Watched resource content", uri: uri, mimeType: "text/plain")]
        }
    }

    static func registerPrompts(on server: MCPServer) {
        server.registerPrompt(
            name: "test_simple_prompt", title: "Simple Test Prompt", description: "A simple prompt without arguments"
        ) { _, _ in
            [.user(.text("This is a simple prompt for testing."))]
        }
        server.registerPrompt(
            name: "test_prompt_with_arguments", title: "Prompt With Arguments",
            description: "A prompt with required arguments",
            arguments: [
                PromptArgument(name: "arg1", description: "First test argument", required: true),
                PromptArgument(name: "arg2", description: "Second test argument", required: true),
            ],
            completions: [
                "arg1": { typed, _ in .matching(typed, in: ["alpha", "beta", "gamma", "delta"]) },
                "arg2": { typed, _ in .matching(typed, in: ["one", "two", "three", "four"]) },
            ]
        ) { arguments, _ in
            [.user(.text("Prompt with arguments: arg1='\(arguments["arg1"] ?? "")', arg2='\(arguments["arg2"] ?? "")'"))]
        }
        server.registerPrompt(
            name: "test_prompt_with_embedded_resource", title: "Prompt With Embedded Resource",
            description: "A prompt that includes an embedded resource",
            arguments: [PromptArgument(name: "resourceUri", description: "URI of the resource to embed", required: true)],
            completions: ["resourceUri": { typed, _ in .matching(typed, in: resourceURIs) }]
        ) { arguments, _ in
            [
                .user(
                    .resource(
                        .text(
                            "Embedded resource content for testing.", uri: arguments["resourceUri"] ?? "",
                            mimeType: "text/plain"))),
                .user(.text("Please process the embedded resource above.")),
            ]
        }
        server.registerPrompt(
            name: "test_prompt_with_image", title: "Prompt With Image", description: "A prompt that includes an image"
        ) { _, _ in
            [.user(.image(data: image, mimeType: "image/png")), .user(.text("Please analyze the image above."))]
        }
    }

    // MARK: Stateless era (2026-07-28)

    static let nameForm: Value = ["type": "object", "properties": ["name": ["type": "string"]], "required": ["name"]]
    static let confirmForm: Value = [
        "type": "object", "properties": ["ok": ["type": "boolean"]], "required": ["ok"],
    ]

    static func sampling(_ text: String, maxTokens: Int = 100) -> Value {
        ["messages": [["role": "user", "content": ["type": "text", "text": .string(text)]]], "maxTokens": .int(maxTokens)]
    }

    /// The text of a `CreateMessageResult` (content as one block or an array of blocks).
    static func sampledText(_ reply: Value?) -> String {
        let content = reply?["content"]
        if let blocks = content?.arrayValue { return blocks.first?["text"]?.stringValue ?? "" }
        return content?["text"]?.stringValue ?? ""
    }

    /// The content of an accepted `ElicitResult` (empty for decline/cancel).
    static func accepted(_ reply: Value) -> [String: Value] {
        reply["action"]?.stringValue == "accept" ? reply["content"]?.objectValue ?? [:] : [:]
    }

    static func registerStatelessTools(on server: MCPServer) {
        server.registerTool(
            Tool(name: "test_missing_capability", description: "Needs the sampling client capability")
        ) { _, context in
            try context.requireClientCapabilities(["sampling": [:]])
            return .text("Client declared the sampling capability")
        }
        server.registerTool(
            Tool(name: "test_logging_tool", description: "Logs three messages when the request sets a log level")
        ) { _, context in
            await context.log(.info, "Tool execution started")
            await context.log(.info, "Tool processing data")
            await context.log(.info, "Tool execution completed")
            return .text("Logging tool executed")
        }
        server.registerTool(
            Tool(
                name: "test_streaming_elicitation",
                description: "Logs and reports progress on its stream, asks for confirmation as input_required")
        ) { _, context in
            await context.log(.info, "Asking the user for confirmation")
            await context.reportProgress(0, total: 1, message: "asking the user")
            let reply = try await context.elicit(["message": "Continue?", "requestedSchema": confirmForm], key: "confirm")
            await context.reportProgress(1, total: 1, message: "done")
            await context.log(.info, "Confirmation received")
            return .text("Confirmed: \(accepted(reply)["ok"]?.boolValue ?? false)")
        }
        server.registerTool(
            Tool(name: "test_trigger_tool_change", description: "Publishes notifications/tools/list_changed")
        ) { _, _ in
            server.notifyToolListChanged()
            return .text("Published notifications/tools/list_changed")
        }
        server.registerTool(
            Tool(name: "test_trigger_prompt_change", description: "Publishes notifications/prompts/list_changed")
        ) { _, _ in
            server.notifyPromptListChanged()
            return .text("Published notifications/prompts/list_changed")
        }
    }

    static func registerInputRequiredTools(on server: MCPServer) {
        server.registerTool(
            Tool(name: "test_input_required_result_elicitation", description: "MRTR: one elicitation (user_name)")
        ) { _, context in
            let reply = try await context.elicit(
                ["message": "What is your name?", "requestedSchema": nameForm], key: "user_name")
            return .text("Hello, \(accepted(reply)["name"]?.stringValue ?? "anonymous")!")
        }
        server.registerTool(
            Tool(name: "test_input_required_result_sampling", description: "MRTR: one sampling request")
        ) { _, context in
            let reply = try await context.createMessage(
                sampling("What is the capital of France?"), key: "sample_request")
            return .text("LLM response: \(sampledText(reply))")
        }
        server.registerTool(
            Tool(name: "test_input_required_result_list_roots", description: "MRTR: one roots/list request")
        ) { _, context in
            let reply = try await context.listRoots(key: "roots_request")
            let uris = reply["roots"]?.arrayValue?.compactMap { $0["uri"]?.stringValue } ?? []
            return .text("Client roots: \(uris.isEmpty ? "(none)" : uris.joined(separator: ", "))")
        }
        server.registerTool(
            Tool(name: "test_input_required_result_request_state", description: "MRTR: requestState round trip")
        ) { _, context in
            let issued = context.requestState?["issued"]?.boolValue == true
            if !issued { context.setRequestState(["issued": true]) }
            let reply = try await context.elicit(
                ["message": "Please confirm", "requestedSchema": confirmForm], key: "confirm")
            guard context.era == .session || context.requestState?["issued"]?.boolValue == true else {
                throw MCPError.invalidParams("requestState was not carried over")
            }
            return .text("state-ok: confirmed=\(accepted(reply)["ok"]?.boolValue ?? false)")
        }
        server.registerTool(
            Tool(
                name: "test_input_required_result_multiple_inputs",
                description: "MRTR: one elicitation, one sampling and one roots request at once")
        ) { _, context in
            let answers = try await context.requestInputs([
                .elicit(key: "user_name", ["message": "What is your name?", "requestedSchema": nameForm]),
                .createMessage(key: "sample_request", sampling("Generate a greeting", maxTokens: 50)),
                .listRoots(key: "roots_request"),
            ])
            let name = answers["user_name"].map(accepted)?["name"]?.stringValue ?? ""
            let roots = answers["roots_request"]?["roots"]?.arrayValue?.count ?? 0
            return .text("\(sampledText(answers["sample_request"])) \(name); \(roots) root(s)")
        }
        server.registerTool(
            Tool(name: "test_input_required_result_multi_round", description: "MRTR: step1 then step2")
        ) { _, context in
            context.setRequestState(["step": 1])
            let step1 = try await context.elicit(
                ["message": "Step 1: What is your name?", "requestedSchema": nameForm], key: "step1")
            context.setRequestState(["step": 2, "name": accepted(step1)["name"] ?? ""])
            let step2 = try await context.elicit(
                [
                    "message": "Step 2: What is your favorite color?",
                    "requestedSchema": [
                        "type": "object", "properties": ["color": ["type": "string"]], "required": ["color"],
                    ],
                ], key: "step2")
            let name = accepted(step1)["name"]?.stringValue ?? ""
            let color = accepted(step2)["color"]?.stringValue ?? ""
            return .text("Multi-round complete: \(name) likes \(color)")
        }
        server.registerTool(
            Tool(
                name: "test_input_required_result_tampered_state",
                description: "MRTR: a tampered requestState is rejected")
        ) { _, context in
            context.setRequestState(["issued": true])
            _ = try await context.elicit(["message": "Please confirm", "requestedSchema": confirmForm], key: "confirm")
            return .text("state verified")
        }
        server.registerTool(
            Tool(
                name: "test_input_required_result_capabilities",
                description: "MRTR: asks only for what the client declared")
        ) { _, context in
            var wanted: [InputRequest] = []
            if context.clientSupports("sampling") { wanted.append(.createMessage(key: "sample", sampling("Say hello", maxTokens: 20))) }
            if context.clientSupports("elicitation") {
                wanted.append(.elicit(key: "ask", ["message": "What is your name?", "requestedSchema": nameForm]))
            }
            if context.clientSupports("roots") { wanted.append(.listRoots(key: "roots")) }
            let answers = try await context.requestInputs(wanted)
            return .text("Collected input for the declared client capabilities: \(answers.keys.sorted().joined(separator: ", "))")
        }
        server.registerPrompt(
            name: "test_input_required_result_prompt", description: "MRTR: a prompt that asks for the user's name"
        ) { _, context in
            let reply = try await context.elicit(
                ["message": "What is your name?", "requestedSchema": nameForm], key: "user_name")
            let name = accepted(reply)["name"]?.stringValue ?? "anonymous"
            return [.user(.text("Please greet \(name) warmly."))]
        }
    }

    /// `text` as a JSON string literal.
    static func jsonString(_ text: String) -> String {
        var out: [UInt8] = []
        JSONWriter.writeString(text, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// A number of seconds as text: whole numbers without a fraction ("2"), others as Swift prints them ("0.5").
    static func format(_ seconds: Double) -> String {
        seconds.rounded() == seconds && abs(seconds) < 1e15 ? String(Int(seconds)) : String(seconds)
    }
}

/// `slow_task`'s arguments: its schema (`seconds`, a number from 0 to 600, required) is derived from this type.
struct SlowTaskArguments: Decodable, SchemaDescribed {
    var seconds: Double
    static let fields: [String: FieldSchema] = ["seconds": .init(minimum: 0, maximum: 600)]
}

/// `test_sampling`'s arguments (`prompt`, required).
struct SamplingArguments: Decodable {
    var prompt: String
}

/// `test_elicitation`'s arguments (`message`, required).
struct ElicitationArguments: Decodable {
    var message: String
}
