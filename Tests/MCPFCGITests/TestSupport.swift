import Foundation
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
    server.registerTool(
        Tool(
            name: "echo",
            inputSchema: ["type": "object", "properties": ["text": ["type": "string"]], "required": ["text"]])
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

/// Collects what a streamed response writes, as the stream hub would receive it.
final class CollectingSink: StreamSink, @unchecked Sendable {
    private let lock = NSLock()
    private var bytes: [UInt8] = []
    private var done = false

    func write(_ chunk: [UInt8]) { lock.withLock { bytes += chunk } }
    func finish() { lock.withLock { done = true } }

    var text: String { lock.withLock { String(decoding: bytes, as: UTF8.self) } }
    var isFinished: Bool { lock.withLock { done } }

    /// The events so far: (id, data as JSON or nil for an empty data line).
    var events: [(id: String?, data: Value?)] {
        text.components(separatedBy: "\n\n").compactMap { block -> (String?, Value?)? in
            var id: String?
            var data: String?
            for line in block.split(separator: "\n", omittingEmptySubsequences: true) {
                if line.hasPrefix("id: ") { id = String(line.dropFirst(4)) }
                if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
                if line == "data:" { data = "" }
            }
            guard id != nil || data != nil else { return nil }
            return (id, data.flatMap { $0.isEmpty ? nil : try? JSONParser().parse($0) })
        }
    }

    /// Waits until the stream finished (at most `timeout`). The wait ends as soon as it does: the long default only
    /// matters on a machine so loaded (the whole suite in parallel on two cores, with coverage) that the
    /// cooperative pool runs this test's tasks seconds late — it asserts completion, not speed.
    func waitForFinish(timeout: Duration = .seconds(30)) async {
        let deadline = ContinuousClock.now + timeout
        while !isFinished, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(2)) }
    }

    /// Waits until `predicate` holds for the events (at most `timeout`).
    func waitFor(timeout: Duration = .seconds(30), _ predicate: ([(id: String?, data: Value?)]) -> Bool) async {
        let deadline = ContinuousClock.now + timeout
        while !predicate(events), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(2)) }
    }
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
