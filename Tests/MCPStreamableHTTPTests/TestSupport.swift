import Foundation
import HTTPTypes
import Logging
import MCPFCGITesting
import MCPHandlers

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

/// Builds an in-process request for the HTTP layer.
func request(
    _ method: HTTPRequest.Method, _ path: String, headers: [(String, String)] = [], body: String = ""
) -> HTTPServerRequest {
    .test(method, path, headers: headers, body: body)
}

extension MCPEndpoint.Configuration {
    /// The endpoint settings of in-process tests: an answer becomes a stream only when its handler sends
    /// something first, never because a loaded test machine took longer than the default 500 ms threshold.
    /// Tests of the threshold set their own.
    static var inProcessTests: Self { Self(streamingThreshold: .seconds(60)) }
}

let jsonHeaders = [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream")]

func makeApp(
    publicURL: String = "http://127.0.0.1:8080", capacity: Int = 10_000, nodeID: String? = "t1",
    endpoint: MCPEndpoint.Configuration = .inProcessTests, cors: CORSPolicy = CORSPolicy()
) -> MCPApplication {
    let server = MCPServer(
        configuration: .init(
            serverInfo: .init(name: "test", version: "1"),
            sessionStore: InMemorySessionStore(capacity: capacity),
            sessionIDGenerator: SessionIDGenerator(nodeID: nodeID)))
    server.registerTransportProbeTools()
    server.registerTool(Tool(name: "ask")) { _, context in
        let reply = try await context.createMessage(["messages": [], "maxTokens": 10])
        return .text("reply: \(reply["content"]?["text"]?.stringValue ?? "")")
    }
    server.registerTool(Tool(name: "reconnect")) { _, context in
        await context.closeStream()
        try await Task.sleep(for: .milliseconds(20))
        return .text("after reconnect")
    }
    server.registerTool(Tool(name: "forever")) { _, _ in
        try await Task.sleep(for: .seconds(60))
        return .text("never")
    }
    server.registerResource(uri: "test://r", name: "r", mimeType: "text/plain") { uri, _ in
        [.text("r", uri: uri)]
    }
    return MCPApplication(
        server: server,
        configuration: .init(publicURL: publicURL, nodeID: nodeID, cors: cors, endpoint: endpoint),
        logger: Logger(label: "test"))
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

/// POSTs a JSON-RPC message on a session.
func post(
    _ app: MCPApplication, session: String?, _ body: String, accept: String = "application/json, text/event-stream",
    extra: [(String, String)] = []
) async -> HTTPServerResponse {
    var headers = [("Content-Type", "application/json"), ("Accept", accept)] + extra
    if let session { headers.append(("Mcp-Session-Id", session)) }
    return await app.respond(to: request(.post, "/mcp", headers: headers, body: body))
}

/// Initializes a session with the given revision and client capabilities.
func openSession(_ app: MCPApplication, version: String, capabilities: String = "{}") async throws -> String {
    let body =
        #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"\#(version)","capabilities":\#(capabilities),"clientInfo":{"name":"c","version":"1"}}}"#
    let response = await app.respond(to: request(.post, "/mcp", headers: jsonHeaders, body: body))
    guard let id = response.head.headerFields[HTTPField.Name("Mcp-Session-Id")!] else {
        throw MCPError.internalError("no session id")
    }
    return id
}
