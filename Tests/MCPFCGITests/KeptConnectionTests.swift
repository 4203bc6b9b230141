import Foundation
import Logging
import Testing

@testable import MCPFCGI

#if canImport(Glibc)
    import Glibc
#endif

/// A FastCGI connection kept open across requests, as nginx keeps one with `fastcgi_keep_conn on` (the
/// `FCGI_KEEP_CONN` flag of `BEGIN_REQUEST`): one request at a time, the next after the previous one's `END_REQUEST`.
final class KeptFastCGIConnection: @unchecked Sendable {
    let fd: Int32
    /// What was read and not consumed yet (records after an answer's END_REQUEST).
    private var decoder = FastCGIRecord.Decoder()

    /// Connects to `socketPath`.
    init(socketPath: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0, let address = UnixSocketAddress(path: socketPath) else { throw POSIXError(.EIO) }
        guard address.withSockaddr({ connect(fd, $0, $1) }) == 0 else {
            close(fd)
            throw POSIXError(.ECONNREFUSED)
        }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// Writes one request (with `FCGI_KEEP_CONN` unless `keep` is false) and reads its answer up to `END_REQUEST`.
    func send(params: [(String, String)], body: [UInt8] = [], keep: Bool = true) throws -> FastCGIClient.Response {
        try write(params: params, body: body, keep: keep)
        return try readResponse()
    }

    /// Writes one request's records.
    func write(params: [(String, String)], body: [UInt8] = [], keep: Bool = true) throws {
        let records = FastCGIRecord.beginRequest(requestID: 1, keepConnection: keep)
            + FastCGIRecord.stream(.params, requestID: 1, FastCGIRecord.nameValuePairs(params))
            + FastCGIRecord.stream(.stdin, requestID: 1, body)
        var sent = 0
        while sent < records.count {
            let n = records[sent...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw POSIXError(.EPIPE) }
            sent += n
        }
    }

    /// Reads an answer up to its `END_REQUEST`.
    func readResponse() throws -> FastCGIClient.Response {
        var stdout: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            while let record = try decoder.next() {
                if record.kind == .stdout { stdout += record.content }
                if record.kind == .endRequest { return try FastCGIClient.parse(stdout) }
            }
            let n = read(fd, &buffer, buffer.count)
            guard n > 0 else { throw POSIXError(n == 0 ? .ECONNRESET : .ETIMEDOUT) }
            decoder.append(buffer[0..<n])
        }
    }

    /// Whether the worker closed its end within `timeout`: reading gives the end of the stream (after any bytes), or
    /// a reset when the worker closed with input of ours unread.
    func closedByWorker(within timeout: Duration = .seconds(5)) -> Bool { bytesBeforeClose(within: timeout) != nil }

    /// What the worker wrote after the last answer read, up to its close within `timeout`; nil when it did not close.
    func bytesBeforeClose(within timeout: Duration = .seconds(5)) -> [UInt8]? {
        let deadline = ContinuousClock.now + timeout
        var bytes: [UInt8] = []
        while let record = try? decoder.next() { bytes += record.encoded() }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let left = deadline - ContinuousClock.now
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard left > .zero, poll(&descriptor, 1, Int32(max(1, left / .milliseconds(1)))) == 1 else { return nil }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n == 0 || (n < 0 && errno == ECONNRESET) { return bytes }
            if n < 0 { return nil }
            bytes += buffer[0..<n]
        }
    }
}

/// Runs blocking client work on a thread of its own: a test blocking the cooperative pool would starve the tasks that
/// answer it.
func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}

let healthParams = baseParams + [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/health")]

/// What follows an answer's END_REQUEST when the worker closes a connection nginx asked to keep: one empty STDOUT
/// record, so that nginx drops the connection instead of caching it.
let announcedClose = FastCGIRecord.header(type: FastCGIRecord.Kind.stdout.rawValue, requestID: 1, contentLength: 0)

/// Waits (bounded) until `condition` holds.
func eventually(_ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(5)
    while !condition() {
        if ContinuousClock.now > deadline { return false }
        try await Task.sleep(for: .milliseconds(5))
    }
    return true
}

/// Persistent FastCGI connections (``FastCGIServer/ConnectionReuse``) against the real libfcgi: kept connections
/// wait in epoll, not in a thread; they end cleanly when the client closes, when the input was not read, at the bound,
/// and when the worker drains.
@Suite(.serialized) struct KeptConnectionTests {
    /// A server of its own (never drained: libfcgi's shutdown flag is process-wide).
    static func startServer(_ reuse: FastCGIServer.ConnectionReuse, threads: Int) throws -> (FastCGIServer, String) {
        let path = NSTemporaryDirectory() + "mcpfcgi-kept-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let server = FastCGIServer(
            configuration: .init(
                socketPath: path, socketMode: 0o600, threads: threads, maxBodySize: 64 * 1024, connectionReuse: reuse),
            responder: makeApp(), logger: Logger(label: "test.kept"))
        try server.start()
        return (server, path)
    }

    @Test func theDefaultKeepsConnections() {
        #expect(FastCGIServer.Configuration().connectionReuse == .keepAlive(maxIdle: 256))
    }

    @Test func manyRequestsTravelOnOneConnection() async throws {
        let (server, path) = try Self.startServer(.keepAlive(maxIdle: 8), threads: 2)
        let statuses = try await onThread {
            let connection = try KeptFastCGIConnection(socketPath: path)
            return try (0..<50).map { _ in try connection.send(params: healthParams).status }
        }
        #expect(statuses == Array(repeating: 200, count: 50))
        // The client closed it: the thread epoll woke closed it too.
        #expect(try await eventually { server.keptConnections?.open == 0 })
    }

    @Test func idleKeptConnectionsPinNoThread() async throws {
        // Three accept threads, twelve idle kept connections: a classic libfcgi worker would have every thread
        // waiting on one of them and answer nothing more.
        let (server, path) = try Self.startServer(.keepAlive(maxIdle: 64), threads: 3)
        let connections = try (0..<12).map { _ in try KeptFastCGIConnection(socketPath: path) }
        let first = try await onThread { try connections.map { try $0.send(params: healthParams).status } }
        #expect(first == Array(repeating: 200, count: 12))
        #expect(try await eventually { server.keptConnections?.idle == 12 })
        // A new connection is still answered, and so is every kept one, in reverse order.
        let fresh = try await SharedFastCGIServer.client(path).fetch(params: healthParams)
        #expect(fresh.status == 200)
        let again = try await onThread { try connections.reversed().map { try $0.send(params: healthParams).status } }
        #expect(again == Array(repeating: 200, count: 12))
        #expect(server.keptConnections?.open == 12)
    }

    @Test func requestsWithoutTheFlagCloseTheirConnection() async throws {
        let path = SharedFastCGIServer.client.socketPath
        let (status, closed) = try await onThread {
            let connection = try KeptFastCGIConnection(socketPath: path)
            let status = try connection.send(params: healthParams, keep: false).status
            return (status, connection.closedByWorker())
        }
        #expect(status == 200)
        #expect(closed)
    }

    @Test func aRefusedBodyIsSkippedAndTheConnectionKept() async throws {
        // 413: the worker does not decode the body but reads it off the connection (up to twice the limit), which
        // then carries the next request.
        let path = SharedFastCGIServer.client.socketPath
        let statuses = try await onThread {
            let connection = try KeptFastCGIConnection(socketPath: path)
            let body = [UInt8](repeating: UInt8(ascii: "x"), count: 70_000)
            let params = baseParams + [
                ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/mcp"), ("CONTENT_TYPE", "application/json"),
                ("CONTENT_LENGTH", String(body.count)),
            ]
            return [try connection.send(params: params, body: body).status, try connection.send(params: healthParams).status]
        }
        #expect(statuses == [413, 200])
    }

    @Test func aBodyTooLargeToSkipClosesTheConnection() async throws {
        // More than twice the limit (64 KiB here): not read, so the connection cannot carry another request.
        let path = SharedFastCGIServer.client.socketPath
        let (status, closed) = try await onThread {
            let connection = try KeptFastCGIConnection(socketPath: path)
            let body = [UInt8](repeating: UInt8(ascii: "x"), count: 140_000)
            let params = baseParams + [
                ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/mcp"), ("CONTENT_TYPE", "application/json"),
                ("CONTENT_LENGTH", String(body.count)),
            ]
            let status = try connection.send(params: params, body: body).status
            return (status, connection.bytesBeforeClose())
        }
        #expect(status == 413)
        #expect(closed == announcedClose)
    }

    @Test func aBodyReadWholeKeepsTheConnection() async throws {
        let path = SharedFastCGIServer.client.socketPath
        let statuses = try await onThread {
            let connection = try KeptFastCGIConnection(socketPath: path)
            let body = Array(initializeBody.utf8)
            let params = baseParams + [
                ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/mcp"), ("CONTENT_TYPE", "application/json"),
                ("CONTENT_LENGTH", String(body.count)), ("HTTP_ACCEPT", "application/json, text/event-stream"),
            ]
            let initialize = try connection.send(params: params, body: body).status
            let health = try connection.send(params: healthParams).status
            return [initialize, health]
        }
        #expect(statuses == [200, 200])
    }

    @Test func idleConnectionsBeyondTheBoundAreClosed() async throws {
        // maxIdle 2 with 2 threads: a thread decides whether to keep a connection before the one answered just
        // before is counted as parked, so the bound is soft by at most one connection per thread (documented on
        // KeptConnectionPool.maxParked): at most 4 of the 10 stay, the others are closed after their answer, which
        // nginx is told.
        let (server, path) = try Self.startServer(.keepAlive(maxIdle: 2), threads: 2)
        let connections = try (0..<10).map { _ in try KeptFastCGIConnection(socketPath: path) }
        let statuses = try await onThread { try connections.map { try $0.send(params: healthParams).status } }
        #expect(statuses == Array(repeating: 200, count: 10))
        let closed = try await onThread { connections.map { $0.bytesBeforeClose(within: .milliseconds(300)) } }
        #expect(closed.prefix(2) == [nil, nil])
        #expect(closed.allSatisfy { $0 == nil || $0 == announcedClose })
        let idle = try #require(server.keptConnections?.idle)
        #expect((2...4).contains(idle))
        #expect(closed.filter { $0 == nil }.count == idle)
    }

    @Test func closeAfterEachRequestClosesEvenWhenAskedToKeep() async throws {
        // One thread: were the kept connection held, the second client would never be answered.
        let (server, path) = try Self.startServer(.closeAfterEachRequest, threads: 1)
        let (status, trailing) = try await onThread {
            let connection = try KeptFastCGIConnection(socketPath: path)
            let status = try connection.send(params: healthParams).status
            return (status, connection.bytesBeforeClose())
        }
        #expect(status == 200)
        // Closed, and announced: one more record right behind END_REQUEST makes nginx drop the connection instead of
        // caching it (it keeps a connection only when END_REQUEST is the last thing it read).
        #expect(trailing == announcedClose)
        #expect(try await SharedFastCGIServer.client(path).fetch(params: healthParams).status == 200)
        #expect(server.keptConnections == nil)
    }

    @Test func aStreamOnAKeptConnectionIsTheHubs() async throws {
        let (server, path) = try Self.startServer(.keepAlive(maxIdle: 8), threads: 2)
        let body = Array(initializeBody.utf8)
        let initialized = try await SharedFastCGIServer.client(path).fetch(
            params: baseParams + [
                ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/mcp"), ("CONTENT_TYPE", "application/json"),
                ("CONTENT_LENGTH", String(body.count)),
            ], body: body)
        let session = try #require(initialized.headers["mcp-session-id"])
        let connection = try KeptFastCGIConnection(socketPath: path)
        // A GET stream: the head is answered, the connection goes to the hub (and leaves the kept connections).
        let records = FastCGIRecord.beginRequest(requestID: 1, keepConnection: true)
            + FastCGIRecord.stream(
                .params, requestID: 1,
                FastCGIRecord.nameValuePairs(
                    baseParams + [
                        ("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/mcp"), ("HTTP_ACCEPT", "text/event-stream"),
                        ("HTTP_MCP_SESSION_ID", session),
                    ]))
            + FastCGIRecord.stream(.stdin, requestID: 1, [])
        _ = records.withUnsafeBytes { write(connection.fd, $0.baseAddress, $0.count) }
        #expect(try await eventually { server.hub.openStreamCount == 1 })
        #expect(server.keptConnections?.open == 0)
        // The client leaves: the hub closes the stream.
        shutdown(connection.fd, Int32(SHUT_RDWR))
        #expect(try await eventually { server.hub.openStreamCount == 0 })
    }

    @Test func aStreamedAnswerGivesItsConnectionBack() async throws {
        // An SSE answer is written by the hub; when it ends, its connection carries nginx's next request.
        let (server, path) = try Self.startServer(.keepAlive(maxIdle: 8), threads: 2)
        let session = try await ServerShutdownTests.initialize(SharedFastCGIServer.client(path))
        let (first, second) = try await onThread {
            let connection = try KeptFastCGIConnection(socketPath: path)
            let body = Array(#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"log3"}}"#.utf8)
            let streamed = try connection.send(
                params: baseParams + [
                    ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/mcp"), ("CONTENT_TYPE", "application/json"),
                    ("CONTENT_LENGTH", String(body.count)), ("HTTP_MCP_SESSION_ID", session),
                    ("HTTP_ACCEPT", "text/event-stream"),
                ], body: body)
            return (streamed, try connection.send(params: healthParams).status)
        }
        #expect(first.status == 200)
        #expect(first.headers["content-type"] == "text/event-stream")
        #expect(String(decoding: first.body, as: UTF8.self).contains(#""text":"logged""#))
        #expect(second == 200)
        #expect(server.hub.openStreamCount == 0)
        #expect(try await eventually { server.keptConnections?.open == 0 })
    }

    @Test func drainingClosesIdleKeptConnections() async {
        await #expect(processExitsWith: .success) {
            let (server, path) = try KeptConnectionTests.startServer(.keepAlive(maxIdle: 64), threads: 2)
            let idle = try (0..<4).map { _ in try KeptFastCGIConnection(socketPath: path) }
            let statuses = try await onThread { try idle.map { try $0.send(params: healthParams).status } }
            guard statuses == Array(repeating: 200, count: 4) else { exit(2) }
            guard try await eventually({ server.keptConnections?.idle == 4 }) else { exit(3) }
            let started = ContinuousClock.now
            try await onThread { server.drain() }
            // Every idle connection was closed (the clients read the end of the stream), without waiting for a
            // deadline.
            guard idle.allSatisfy({ $0.closedByWorker(within: .milliseconds(100)) }) else { exit(4) }
            guard ContinuousClock.now - started < .seconds(5) else { exit(5) }
        }
    }

    @Test func aStreamedAnswerInFlightWhenTheDrainStartsEndsAndClosesItsConnection() async {
        await #expect(processExitsWith: .success) {
            // The answer is streamed by the hub on a kept connection lent to it: the drain waits for it, and the
            // connection is closed after it, announced (the pool is closing).
            let (server, path) = try KeptConnectionTests.startServer(.keepAlive(maxIdle: 8), threads: 2)
            let session = try await ServerShutdownTests.initialize(SharedFastCGIServer.client(path))
            let kept = try KeptFastCGIConnection(socketPath: path)
            let body = Array(#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"slow"}}"#.utf8)
            try kept.write(
                params: baseParams + [
                    ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/mcp"), ("CONTENT_TYPE", "application/json"),
                    ("CONTENT_LENGTH", String(body.count)), ("HTTP_MCP_SESSION_ID", session),
                    ("HTTP_ACCEPT", "text/event-stream"),
                ], body: body)
            guard try await eventually({ server.hub.openStreamCount == 1 }) else { exit(2) }
            let draining = Task.detached { try await onThread { server.drain() } }
            let answer = try await onThread { try kept.readResponse() }
            guard answer.status == 200, String(decoding: answer.body, as: UTF8.self).contains(#""id":7"#) else { exit(3) }
            guard try await onThread({ kept.bytesBeforeClose() }) == announcedClose else { exit(4) }
            try await draining.value
            guard server.isStopped else { exit(5) }
        }
    }

    @Test func aRequestOnItsWayWhenTheDrainStartsIsServed() async {
        await #expect(processExitsWith: .success) {
            // One thread, busy with a slow call, while a kept connection's next request arrives: the drain closes
            // that connection only after serving the request that was already on it.
            let (server, path) = try KeptConnectionTests.startServer(.keepAlive(maxIdle: 8), threads: 1)
            let client = SharedFastCGIServer.client(path)
            let session = try await ServerShutdownTests.initialize(client)
            let kept = try KeptFastCGIConnection(socketPath: path)
            guard try await onThread({ try kept.send(params: healthParams).status }) == 200 else { exit(2) }
            let body = Array(#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"slow"}}"#.utf8)
            async let slow = client.fetch(
                params: baseParams + [
                    ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/mcp"), ("CONTENT_TYPE", "application/json"),
                    ("CONTENT_LENGTH", String(body.count)), ("HTTP_MCP_SESSION_ID", session),
                ], body: body)
            guard try await eventually({ server.inFlightCount == 1 }) else { exit(3) }
            try kept.write(params: healthParams)
            let draining = Task.detached { try await onThread { server.drain() } }
            let answer = try await onThread { try kept.readResponse().status }
            guard answer == 200, kept.closedByWorker() else { exit(4) }
            guard try await slow.status == 200 else { exit(5) }
            try await draining.value
            guard server.isStopped else { exit(6) }
        }
    }
}

extension SharedFastCGIServer {
    /// A client of another server's socket.
    static func client(_ path: String) -> FastCGITestClient { FastCGITestClient(socketPath: path) }
}
