import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A minimal FastCGI client (responder role, one request per connection), standing in for nginx below
/// the level under test: it speaks the wire records to the real libfcgi inside ``FastCGIServer``.
struct FastCGITestClient: Sendable {
    let socketPath: String

    struct Response: Sendable {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
    }

    /// Sends a request, reads until the response contains `marker`, then closes the connection.
    func sendAndHangUp(params: [(String, String)], until marker: String) throws {
        let fd = try connectAndSend(params: params, body: [], requestID: 1)
        defer { close(fd) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !String(decoding: received, as: UTF8.self).contains(marker) {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { throw POSIXError(.ECONNRESET) }
            received += buffer[0..<n]
        }
    }

    func send(params: [(String, String)], body: [UInt8] = [], requestID: UInt16 = 1) throws -> Response {
        let fd = try connectAndSend(params: params, body: body, requestID: requestID)
        defer { close(fd) }
        return try readResponse(fd)
    }

    func connectAndSend(params: [(String, String)], body: [UInt8], requestID: UInt16) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(socketPath.utf8)
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            throw POSIXError(.ECONNREFUSED)
        }

        var out: [UInt8] = []
        out += record(type: 1, id: requestID, content: [0, 1, 0, 0, 0, 0, 0, 0])
        var encoded: [UInt8] = []
        for (name, value) in params {
            encoded += length(name.utf8.count) + length(value.utf8.count) + Array(name.utf8) + Array(value.utf8)
        }
        out += record(type: 4, id: requestID, content: encoded)
        out += record(type: 4, id: requestID, content: [])
        var offset = 0
        while offset < body.count {
            let chunk = Array(body[offset..<min(body.count, offset + 60_000)])
            out += record(type: 5, id: requestID, content: chunk)
            offset += chunk.count
        }
        out += record(type: 5, id: requestID, content: [])
        try writeAll(fd, out)
        return fd
    }

    private func readResponse(_ fd: Int32) throws -> Response {
        var stdout: [UInt8] = []
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var ended = false
        while !ended {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            received += buffer[0..<n]
            while received.count >= 8 {
                let contentLength = Int(received[4]) << 8 | Int(received[5])
                let total = 8 + contentLength + Int(received[6])
                guard received.count >= total else { break }
                let type = received[1]
                if type == 6 { stdout += received[8..<(8 + contentLength)] }
                if type == 3 { ended = true }
                received.removeFirst(total)
            }
        }
        return parse(stdout)
    }

    private func parse(_ stdout: [UInt8]) -> Response {
        let separator: [UInt8] = [13, 10, 13, 10]
        var split = stdout.count
        for i in 0..<max(0, stdout.count - 3) where Array(stdout[i..<(i + 4)]) == separator {
            split = i
            break
        }
        let head = String(decoding: stdout[0..<split], as: UTF8.self)
        let body = split + 4 <= stdout.count ? Array(stdout[(split + 4)...]) : []
        var status = 200
        var headers: [String: String] = [:]
        for line in head.components(separatedBy: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = String(line[..<colon]).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name == "status" { status = Int(value.prefix(3)) ?? 0 } else { headers[name] = value }
        }
        return Response(status: status, headers: headers, body: body)
    }

    private func record(type: UInt8, id: UInt16, content: [UInt8]) -> [UInt8] {
        [1, type, UInt8(id >> 8), UInt8(id & 0xFF), UInt8(content.count >> 8), UInt8(content.count & 0xFF), 0, 0]
            + content
    }

    private func length(_ n: Int) -> [UInt8] {
        n < 128 ? [UInt8(n)] : [UInt8((n >> 24) | 0x80), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)]
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw POSIXError(.EPIPE) }
            sent += n
        }
    }
}
