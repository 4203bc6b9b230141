import Foundation
import Logging
import MCPHandlers
import Testing
import MCPFCGITesting

@testable import MCPFCGI

/// One real libfcgi worker pool per test process (libfcgi's init and shutdown flag are process-wide).
enum SharedFastCGIServer {
    static let socketPath = NSTemporaryDirectory() + "mcpfcgi-test-\(getpid()).sock"
    static let server: FastCGIServer = {
        let server = FastCGIServer(
            configuration: .init(socketPath: socketPath, socketMode: 0o600, threads: 3, maxBodySize: 64 * 1024),
            responder: makeApp(), logger: Logger(label: "test.fcgi"))
        try! server.start()
        return server
    }()

    static var client: FastCGITestClient {
        _ = server
        return FastCGITestClient(socketPath: socketPath)
    }
}

extension FastCGITestClient {
    /// ``send(params:body:requestID:)`` on its own thread: a test blocking the cooperative pool would starve
    /// the tasks that answer it (the accept threads hand every request to Swift concurrency).
    func fetch(params: [(String, String)], body: [UInt8] = []) async throws -> Response {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try send(params: params, body: body) }) }
            thread.start()
        }
    }
}

let baseParams: [(String, String)] = [
    ("REQUEST_SCHEME", "http"), ("REMOTE_ADDR", "127.0.0.1"), ("HTTP_HOST", "127.0.0.1:8080"),
]

@Suite(.serialized) struct FastCGIServerTests {
    @Test func servesHealthOverRealLibfcgi() async throws {
        let response = try await SharedFastCGIServer.client.fetch(
            params: baseParams + [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/health")])
        #expect(response.status == 200)
        #expect(response.headers["content-type"] == "application/json")
        #expect(response.headers["content-length"] == String(response.body.count))
        #expect(try JSONParser().parse(response.body)["status"] == "healthy")
        var mode = stat()
        stat(SharedFastCGIServer.socketPath, &mode)
        #expect(mode.st_mode & 0o777 == 0o600)
    }

    @Test func servesMCPWithABody() async throws {
        let body = Array(initializeBody.utf8)
        let response = try await SharedFastCGIServer.client.fetch(
            params: baseParams + [
                ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/mcp"), ("CONTENT_TYPE", "application/json"),
                ("CONTENT_LENGTH", String(body.count)), ("HTTP_CONTENT_TYPE", "application/json"),
            ], body: body)
        #expect(response.status == 200)
        #expect(response.headers["mcp-session-id"]?.hasPrefix("t1.") == true)
        #expect(try JSONParser().parse(response.body)["result"]?["protocolVersion"] == "2025-11-25")
    }

    @Test func largeBodiesAreReadWhole() async throws {
        let text = String(repeating: "x", count: 50_000)
        let session = try await initializeOverFastCGI()
        let body = Array(
            #"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"\#(text)"}}}"#.utf8)
        let response = try await SharedFastCGIServer.client.fetch(
            params: baseParams + [
                ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/mcp"), ("CONTENT_TYPE", "application/json"),
                ("CONTENT_LENGTH", String(body.count)), ("HTTP_MCP_SESSION_ID", session),
            ], body: body)
        #expect(response.status == 200)
        #expect(try JSONParser().parse(response.body)["result"]?["content"]?.arrayValue?.first?["text"] == .string(text))
    }

    @Test func oversizedBodyIs413() async throws {
        let response = try await SharedFastCGIServer.client.fetch(
            params: baseParams + [
                ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/mcp"), ("CONTENT_TYPE", "application/json"),
                ("CONTENT_LENGTH", "70000"),
            ], body: [UInt8](repeating: 0x20, count: 70_000))
        #expect(response.status == 413)
    }

    @Test func missingMethodIs400() async throws {
        let response = try await SharedFastCGIServer.client.fetch(params: baseParams + [("REQUEST_URI", "/health")])
        #expect(response.status == 400)
    }

    @Test func concurrentRequestsAllAnswered() async throws {
        let session = try await initializeOverFastCGI()
        let results = await withTaskGroup(of: Int.self) { group in
            for i in 0..<12 {
                group.addTask {
                    let body = Array(#"{"jsonrpc":"2.0","id":\#(i),"method":"tools/call","params":{"name":"slow"}}"#.utf8)
                    let response = try? await SharedFastCGIServer.client.fetch(
                        params: baseParams + [
                            ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/mcp"), ("CONTENT_TYPE", "application/json"),
                            ("CONTENT_LENGTH", String(body.count)), ("HTTP_MCP_SESSION_ID", session),
                        ], body: body)
                    return response?.status ?? 0
                }
            }
            return await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(results == Array(repeating: 200, count: 12))
        // The worker decrements after FCGX_Finish_r, just after the client saw END_REQUEST.
        for _ in 0..<100 where SharedFastCGIServer.server.inFlightCount != 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(SharedFastCGIServer.server.inFlightCount == 0)
    }

    @Test func streamedResponsesGoThroughTheHub() async throws {
        let session = try await initializeOverFastCGI()
        let body = Array(#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"log3"}}"#.utf8)
        let response = try await SharedFastCGIServer.client.fetch(
            params: baseParams + [
                ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/mcp"), ("CONTENT_TYPE", "application/json"),
                ("CONTENT_LENGTH", String(body.count)), ("HTTP_MCP_SESSION_ID", session),
                ("HTTP_ACCEPT", "application/json, text/event-stream"),
            ], body: body)
        #expect(response.status == 200)
        #expect(response.headers["content-type"] == "text/event-stream")
        #expect(response.headers["content-length"] == nil)
        let text = String(decoding: response.body, as: UTF8.self)
        #expect(text.hasPrefix("id: 1-0\nretry: 1000\ndata: \n\n"))
        #expect(text.contains(#""data":"step 3""#))
        #expect(text.contains(#""text":"logged""#))
        for _ in 0..<100 where SharedFastCGIServer.server.hub.openStreamCount > 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(SharedFastCGIServer.server.hub.openStreamCount == 0)
    }

    @Test func hubNoticesAClientThatGoesAway() async throws {
        let session = try await initializeOverFastCGI()
        let client = SharedFastCGIServer.client
        // A GET stream stays open until the client leaves: read its head and priming event, then hang up.
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            Thread {
                continuation.resume(with: Result {
                    try client.sendAndHangUp(
                        params: baseParams + [
                            ("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/mcp"), ("HTTP_MCP_SESSION_ID", session),
                            ("HTTP_ACCEPT", "text/event-stream"),
                        ], until: "retry: 1000")
                })
            }.start()
        }
        for _ in 0..<200 where SharedFastCGIServer.server.hub.openStreamCount > 0 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(SharedFastCGIServer.server.hub.openStreamCount == 0)
    }

    @Test func startWithoutSocketOutsideSpawnFcgiFails() {
        let server = FastCGIServer(
            configuration: .init(socketPath: nil), responder: makeApp(), logger: Logger(label: "t"))
        _ = SharedFastCGIServer.server
        #expect(throws: FastCGIServer.StartupError.self) { try server.start() }
        let bad = FastCGIServer(
            configuration: .init(socketPath: "/nonexistent-dir/x.sock"), responder: makeApp(), logger: Logger(label: "t"))
        #expect(throws: FastCGIServer.StartupError.self) { try bad.start() }
    }

    func initializeOverFastCGI() async throws -> String {
        let body = Array(initializeBody.utf8)
        let response = try await SharedFastCGIServer.client.fetch(
            params: baseParams + [
                ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/mcp"), ("CONTENT_TYPE", "application/json"),
                ("CONTENT_LENGTH", String(body.count)),
            ], body: body)
        return response.headers["mcp-session-id"] ?? ""
    }
}
