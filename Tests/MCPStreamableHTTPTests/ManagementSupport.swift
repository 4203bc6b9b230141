import Foundation
import HTTPTypes
import Logging
import MCPHandlers
import Synchronization

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

/// A clock the test moves by hand (seconds), injected as `MCPServer.Configuration.now`.
final class ManagementTestClock: Sendable {
    private let value = Mutex<Double>(1000)
    var now: Double { value.withLock { $0 } }
    func advance(by seconds: Double) { value.withLock { $0 += seconds } }
}

/// Lets a tool call wait until the test opens the gate.
final class ManagementTestGate: Sendable {
    private let open = Mutex(false)
    func release() { open.withLock { $0 = true } }
    func wait() async throws {
        while !open.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
    }
}

/// Log records kept in memory (never `LoggingSystem.bootstrap` in tests).
final class ManagementLogRecorder: Sendable {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }
    private let records = Mutex<[Record]>([])
    var all: [Record] { records.withLock { $0 } }
    func append(_ record: Record) { records.withLock { $0.append(record) } }

    var logger: Logger {
        var logger = Logger(label: "test.management") { _ in Handler(recorder: self) }
        logger.logLevel = .trace
        return logger
    }

    struct Handler: LogHandler {
        let recorder: ManagementLogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            recorder.append(
                Record(level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" }))
        }
    }
}

/// An application with an injected clock, a management token and a `wait` tool held by `gate`.
func makeManagedApp(
    clock: ManagementTestClock = ManagementTestClock(), token: String? = "s3cret", nodeID: String? = "w1",
    capacity: Int = 10_000, expiry: SessionSweeper.Configuration = .init(),
    endpoint: MCPEndpoint.Configuration = .inProcessTests, gate: ManagementTestGate = ManagementTestGate(),
    logger: Logger = Logger(label: "test.management")
) -> MCPApplication {
    let server = MCPServer(
        configuration: .init(
            serverInfo: .init(name: "test", version: "1"), sessionStore: InMemorySessionStore(capacity: capacity),
            sessionIDGenerator: SessionIDGenerator(nodeID: nodeID), now: { clock.now }))
    server.registerTool(Tool(name: "wait")) { _, _ in
        try await gate.wait()
        return .text("released")
    }
    server.registerTool(Tool(name: "ping")) { _, _ in .text("pong") }
    return MCPApplication(
        server: server,
        configuration: .init(nodeID: nodeID, endpoint: endpoint, sessionExpiry: expiry, managementToken: token),
        logger: logger)
}

/// A request with a user and a remote address set, as nginx would pass them.
func userRequest(
    _ method: HTTPRequest.Method, _ path: String, headers: [(String, String)] = [], body: String = "",
    user: String? = nil, remoteAddress: String? = nil
) -> HTTPServerRequest {
    var r = request(method, path, headers: headers, body: body)
    r.remoteUser = user
    r.remoteAddress = remoteAddress
    return r
}

/// Opens a session as `user`; returns its id.
func openUserSession(_ app: MCPApplication, user: String?) async throws -> String {
    let response = await app.respond(
        to: userRequest(.post, "/mcp", headers: jsonHeaders, body: initializeBody, user: user))
    guard response.head.status == .ok, let id = response.head.headerFields[HTTPField.Name("Mcp-Session-Id")!] else {
        throw MCPError.internalError("initialize answered \(response.head.status)")
    }
    return id
}

/// `tools/call` of `tool` on a session, as `user`.
func callTool(
    _ app: MCPApplication, session: String, tool: String = "ping", user: String? = nil, id: Int = 2
) async -> HTTPServerResponse {
    await app.respond(
        to: userRequest(
            .post, "/mcp", headers: [("Content-Type", "application/json"), ("Accept", "application/json"),
                                     ("Mcp-Session-Id", session)],
            body: #"{"jsonrpc":"2.0","id":\#(id),"method":"tools/call","params":{"name":"\#(tool)"}}"#, user: user))
}

/// A management request with `Authorization: Bearer <token>` (none when `token` is nil).
func managementRequest(
    _ method: HTTPRequest.Method, _ path: String, token: String? = "s3cret", body: String = "",
    remoteAddress: String? = "203.0.113.7", peer: Bool = false
) -> HTTPServerRequest {
    var headers: [(String, String)] = [("Content-Type", "application/json")]
    if let token { headers.append(("Authorization", "Bearer \(token)")) }
    var r = userRequest(method, path, headers: headers, body: body, remoteAddress: remoteAddress)
    r.isPeerRequest = peer
    return r
}

/// Waits (up to 2 s) until `condition` holds.
func eventually(_ condition: () async throws -> Bool) async throws {
    for _ in 0..<400 {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(5))
    }
}
