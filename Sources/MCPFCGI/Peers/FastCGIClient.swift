import Foundation
import MCPHTTP
import MCPStreamableHTTP
import MCPHandlers

#if canImport(Glibc)
    import Glibc
#endif

/// A small FastCGI client over a unix socket: one request per connection in the responder role, the way
/// nginx talks to a worker. Workers use it to reach each other for the management API.
///
/// Every call connects, sends `BEGIN_REQUEST`, the parameters and the body, and reads `STDOUT` until
/// `END_REQUEST`, all within ``timeout``. The blocking socket I/O runs on a thread of its own, never on
/// Swift's cooperative pool.
///
/// ```swift
/// let client = FastCGIClient(socketPath: "/run/mcp/w2.sock")
/// let response = try await client.send(params: [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/health")])
/// ```
package struct FastCGIClient: Sendable {
    /// The answer: the CGI `Status`, the other header fields (names lowercased), the body.
    public struct Response: Sendable {
        /// The HTTP status (`Status:` header; 200 when absent).
        public var status: Int
        /// Header fields other than `Status`, by lowercased name (repeated names joined with `, `).
        public var headers: [String: String]
        /// The body.
        public var body: [UInt8]
    }

    /// Why a request got no answer.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        /// What went wrong, for logs.
        public var description: String
    }

    /// The worker's socket.
    public let socketPath: String
    /// The longest a request may take, from connect to `END_REQUEST`. Default 2 s.
    public let timeout: Duration

    /// Creates a client.
    /// - Parameters:
    ///   - socketPath: the worker's unix socket.
    ///   - timeout: the longest a request may take. Default 2 s.
    public init(socketPath: String, timeout: Duration = .seconds(2)) {
        self.socketPath = socketPath
        self.timeout = timeout
    }

    /// Sends one request and waits for the whole answer, on a dedicated thread.
    /// - Parameters:
    ///   - params: the FastCGI parameters (`REQUEST_METHOD`, `REQUEST_URI`, `HTTP_*`, …), in order.
    ///   - body: the request body (`CONTENT_LENGTH` must be among `params` when it is not empty).
    /// - Returns: the answer.
    /// - Throws: ``Failure`` when the socket cannot be reached, the time runs out, or the answer is malformed.
    public func send(params: [(String, String)], body: [UInt8] = []) async throws -> Response {
        // Encoded here: tuples are not Sendable.
        let request = Self.request(requestID: 1, params: params, body: body)
        return try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try self.exchange(request) })
            }
            thread.name = "mcpfcgi-peer"
            thread.start()
        }
    }

    /// The records of one request: `BEGIN_REQUEST` (responder role; the worker closes the connection after
    /// answering), the `PARAMS` stream, the `STDIN` stream.
    package static func request(requestID: UInt16, params: [(String, String)], body: [UInt8]) -> [UInt8] {
        FastCGIRecord.beginRequest(requestID: requestID)
            + FastCGIRecord.stream(.params, requestID: requestID, FastCGIRecord.nameValuePairs(params))
            + FastCGIRecord.stream(.stdin, requestID: requestID, body)
    }

    /// The blocking exchange: connect, write every record, read until `END_REQUEST`.
    private func exchange(_ request: [UInt8]) throws(Failure) -> Response {
        let deadline = ContinuousClock.now + timeout
        let fd = try connectSocket(deadline: deadline)
        defer { close(fd) }
        try writeAll(fd, request, deadline: deadline)

        var stdout: [UInt8] = []
        var decoder = FastCGIRecord.Decoder()
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            try setTimeout(fd, option: SO_RCVTIMEO, deadline: deadline)
            let n = read(fd, &buffer, buffer.count)
            if n < 0, errno == EINTR { continue }
            if n < 0 {
                throw Failure(description: errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : "read: \(Self.error())")
            }
            if n == 0 { throw Failure(description: "connection closed before END_REQUEST") }
            decoder.append(buffer[0..<n])
            while let record = try Self.next(&decoder) {
                switch record.kind {
                case .stdout:
                    guard stdout.count + record.content.count <= Self.maxAnswerSize else {
                        throw Failure(description: "answer larger than \(Self.maxAnswerSize) bytes")
                    }
                    stdout += record.content
                case .endRequest:
                    // Protocol status: 0 = request complete; else refused or overloaded.
                    if let status = record.protocolStatus, status != 0 {
                        throw Failure(description: "request refused (protocol status \(status))")
                    }
                    return try Self.parse(stdout)
                default: break
                }
            }
            if ContinuousClock.now >= deadline { throw Failure(description: "timed out") }
        }
    }

    /// The next whole record of the answer, or nil when more bytes must be read.
    private static func next(_ decoder: inout FastCGIRecord.Decoder) throws(Failure) -> FastCGIRecord? {
        do {
            return try decoder.next()
        } catch {
            throw Failure(description: "malformed answer: \(error)")
        }
    }

    private func connectSocket(deadline: ContinuousClock.Instant) throws(Failure) -> Int32 {
        guard let address = UnixSocketAddress(path: socketPath) else {
            throw Failure(description: "socket path too long")
        }
        #if os(Linux)
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw Failure(description: "socket: \(Self.error())") }
        #if !os(Linux)
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
        do {
            // A unix-socket connect waits (up to SO_SNDTIMEO) while the listener's backlog is full.
            try setTimeout(fd, option: SO_SNDTIMEO, deadline: deadline)
        } catch {
            close(fd)
            throw error
        }
        let connected = address.withSockaddr { connect(fd, $0, $1) }
        guard connected == 0 else {
            let message = "connect \(socketPath): \(Self.error())"
            close(fd)
            throw Failure(description: message)
        }
        return fd
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8], deadline: ContinuousClock.Instant) throws(Failure) {
        var sent = 0
        while sent < bytes.count {
            try setTimeout(fd, option: SO_SNDTIMEO, deadline: deadline)
            let n = bytes[sent...].withUnsafeBytes { raw in
                #if os(Linux)
                    Glibc.send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL))
                #else
                    Darwin.send(fd, raw.baseAddress, raw.count, 0)
                #endif
            }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else {
                throw Failure(description: errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : "write: \(Self.error())")
            }
            sent += n
        }
    }

    /// Sets a socket timeout to what is left until `deadline` (at least 1 ms: 0 would mean "never").
    private func setTimeout(_ fd: Int32, option: Int32, deadline: ContinuousClock.Instant) throws(Failure) {
        let left = deadline - ContinuousClock.now
        guard left > .zero else { throw Failure(description: "timed out") }
        let microseconds = max(1000, left.wholeMicroseconds)
        var value = timeval(tv_sec: .init(microseconds / 1_000_000), tv_usec: .init(microseconds % 1_000_000))
        guard setsockopt(fd, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
            throw Failure(description: "setsockopt: \(Self.error())")
        }
    }

    /// The largest answer read from a peer (a metrics page of many workers is the largest legitimate one); a
    /// peer sending more is answered with a ``Failure``, not buffered.
    static let maxAnswerSize = 16 << 20

    /// Splits the CGI answer into `Status`, header fields and body.
    package static func parse(_ stdout: [UInt8]) throws(Failure) -> Response {
        var headEnd: Int?
        var bodyStart = 0
        var i = 0
        while i + 1 < stdout.count {
            if stdout[i] == 10, stdout[i + 1] == 10 {
                (headEnd, bodyStart) = (i, i + 2)
                break
            }
            if i + 3 < stdout.count, stdout[i] == 13, stdout[i + 1] == 10, stdout[i + 2] == 13, stdout[i + 3] == 10 {
                (headEnd, bodyStart) = (i, i + 4)
                break
            }
            i += 1
        }
        guard let headEnd else { throw Failure(description: "answer without a header block") }
        var status = 200
        var headers: [String: String] = [:]
        for line in String(decoding: stdout[0..<headEnd], as: UTF8.self).split(whereSeparator: { $0 == "\r\n" || $0 == "\n" }) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].drop(while: { $0 == " " || $0 == "\t" })
            if name == "status" {
                guard let code = Int(value.prefix(3)), (100...599).contains(code) else {
                    throw Failure(description: "bad Status: \(value.prefix(40))")
                }
                status = code
            } else if let existing = headers[name] {
                headers[name] = existing + ", " + value
            } else {
                headers[name] = String(value)
            }
        }
        return Response(status: status, headers: headers, body: Array(stdout[bodyStart...]))
    }

    private static func error() -> String { String(cString: strerror(errno)) }
}
