import MCPHandlers

/// The conformance fixtures (../shared/FIXTURES.md): what MCP's conformance suite expects of a server.
enum Fixtures {
    static let image =
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
    static let audio = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="

    static func register(on server: MCPServer) {
        registerContentTools(on: server)
        registerInteractiveTools(on: server)
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
}
