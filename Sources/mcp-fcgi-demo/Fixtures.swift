import MCPHandlers

/// The conformance fixtures (../shared/FIXTURES.md): what MCP's conformance suite expects of a server.
enum Fixtures {
    static let image =
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
    static let audio = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="

    static func register(on server: MCPServer) {
        registerContentTools(on: server)
        registerInteractiveTools(on: server)
        registerReconnectionTool(on: server)
        registerElicitationTools(on: server)
        registerResources(on: server)
        registerPrompts(on: server)
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
        server.registerTool(
            Tool(
                name: "test_sampling", description: "Asks the client's model",
                inputSchema: ["type": "object", "properties": ["prompt": ["type": "string"]], "required": ["prompt"]])
        ) { arguments, context in
            let prompt = arguments["prompt"]?.stringValue ?? ""
            let reply = try await context.createMessage([
                "messages": [["role": "user", "content": ["type": "text", "text": .string(prompt)]]],
                "maxTokens": 100,
            ])
            return .text("LLM response: \(reply["content"]?["text"]?.stringValue ?? "")")
        }
        server.registerTool(
            Tool(
                name: "test_elicitation", description: "Asks the user",
                inputSchema: ["type": "object", "properties": ["message": ["type": "string"]], "required": ["message"]])
        ) { arguments, context in
            let reply = try await context.elicit([
                "message": .string(arguments["message"]?.stringValue ?? ""),
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

    /// `text` as a JSON string literal.
    static func jsonString(_ text: String) -> String {
        var out: [UInt8] = []
        JSONWriter.writeString(text, into: &out)
        return String(decoding: out, as: UTF8.self)
    }
}
