import HTTPTypes
import Logging
import MCPHandlers

@testable import MCPFCGI

/// Builds an in-process request for the HTTP layer.
func request(
    _ method: HTTPRequest.Method, _ path: String, headers: [(String, String)] = [], body: String = ""
) -> HTTPServerRequest {
    var fields = HTTPFields()
    for (name, value) in headers { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
    return HTTPServerRequest(
        head: HTTPRequest(method: method, scheme: "http", authority: "127.0.0.1", path: path, headerFields: fields),
        body: Array(body.utf8))
}

let jsonHeaders = [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream")]

func makeApp(
    publicURL: String = "http://127.0.0.1:8080", capacity: Int = 10_000, nodeID: String? = "t1"
) -> MCPApplication {
    let server = MCPServer(
        configuration: .init(
            serverInfo: .init(name: "test", version: "1"),
            sessionStore: InMemorySessionStore(capacity: capacity),
            sessionIDGenerator: SessionIDGenerator(nodeID: nodeID)))
    server.registerTool(
        Tool(
            name: "echo",
            inputSchema: ["type": "object", "properties": ["text": ["type": "string"]], "required": ["text"]])
    ) { args, _ in .text(args["text"]?.stringValue ?? "") }
    server.registerTool(Tool(name: "slow")) { _, _ in
        try await Task.sleep(for: .milliseconds(200))
        return .text("done")
    }
    return MCPApplication(
        server: server, configuration: .init(publicURL: publicURL, nodeID: nodeID), logger: Logger(label: "test"))
}

func json(_ response: HTTPServerResponse) throws -> Value {
    try JSONParser().parse(response.body)
}

let initializeBody =
    #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#

/// Initializes a session and returns its id.
func openSession(_ app: MCPApplication) async throws -> String {
    let response = await app.respond(to: request(.post, "/mcp", headers: jsonHeaders, body: initializeBody))
    guard let id = response.head.headerFields[HTTPField.Name("Mcp-Session-Id")!] else {
        throw MCPError.internalError("no session id")
    }
    return id
}
