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
    server.registerTransportProbeTools()
    return MCPApplication(
        server: server, configuration: .init(nodeID: "t1", endpoint: .init(streamingThreshold: .seconds(60))),
        logger: Logger(label: "test"))
}
