import HTTPTypes
import Logging
import MCPFCGITesting

@testable import MCPFCGI

/// Builds an in-process request.
func request(
    _ method: HTTPRequest.Method, _ path: String, headers: [(String, String)] = [], body: String = ""
) -> HTTPServerRequest {
    .test(method, path, headers: headers, body: body)
}

/// The body of a response, parsed.
func json(_ response: HTTPServerResponse) throws -> Value {
    try JSONParser().parse(response.body)
}

let initializeBody =
    #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#

/// The application the FastCGI front serves in these tests: `echo`, `slow` (200 ms) and `log3` (three log
/// notifications, then a result) at `/mcp`.
func makeApp() -> MCPApplication {
    let server = MCPServer(
        configuration: .init(
            serverInfo: .init(name: "test", version: "1"), sessionIDGenerator: SessionIDGenerator(nodeID: "t1")))
    server.registerTool(
        Tool(name: "echo", inputSchema: ["type": "object", "properties": ["text": ["type": "string"]]])
    ) { args, _ in .text(args["text"]?.stringValue ?? "") }
    server.registerTool(Tool(name: "slow")) { _, _ in
        try await Task.sleep(for: .milliseconds(200))
        return .text("done")
    }
    server.registerTool(Tool(name: "log3")) { _, context in
        for i in 1...3 {
            await context.log(.info, .string("step \(i)"))
            try await Task.sleep(for: .milliseconds(5))
        }
        return .text("logged")
    }
    return MCPApplication(
        server: server, configuration: .init(nodeID: "t1", endpoint: .init(streamingThreshold: .seconds(60))),
        logger: Logger(label: "test"))
}
