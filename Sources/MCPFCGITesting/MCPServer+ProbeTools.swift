import MCPHandlers

extension MCPServer {
    /// Registers three tools that exercise a transport rather than a feature, for tests of a deployment or of the
    /// front end: `echo` (`{"text": string}` → that text, as a JSON answer), `slow` (200 ms, then `done`: a request
    /// still in flight when something else happens) and `log3` (three `notifications/message` 5 ms apart, then
    /// `logged`: an answer that becomes an event stream).
    public func registerTransportProbeTools() {
        registerTool(
            Tool(
                name: "echo",
                inputSchema: ["type": "object", "properties": ["text": ["type": "string"]], "required": ["text"]])
        ) { args, _ in .text(args["text"]?.stringValue ?? "") }
        registerTool(Tool(name: "slow")) { _, _ in
            try await Task.sleep(for: .milliseconds(200))
            return .text("done")
        }
        registerTool(Tool(name: "log3")) { _, context in
            for i in 1...3 {
                await context.log(.info, .string("step \(i)"))
                try await Task.sleep(for: .milliseconds(5))
            }
            return .text("logged")
        }
    }
}
