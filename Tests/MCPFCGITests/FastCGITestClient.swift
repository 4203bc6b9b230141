import Foundation

@testable import MCPFCGI

#if canImport(Glibc)
    import Glibc
#endif

/// A minimal FastCGI client (responder role, one request per connection), standing in for nginx below
/// the level under test: it speaks the wire records to the real libfcgi inside ``FastCGIServer``.
struct FastCGITestClient: Sendable {
    let socketPath: String

    typealias Response = FastCGIClient.Response

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

        let out = FastCGIClient.request(requestID: requestID, params: params, body: body)
        try writeAll(fd, out)
        return fd
    }

    private func readResponse(_ fd: Int32) throws -> Response {
        var stdout: [UInt8] = []
        var decoder = FastCGIRecord.Decoder()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        reading: while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            decoder.append(buffer[0..<n])
            while let record = try decoder.next() {
                if record.kind == .stdout { stdout += record.content }
                if record.kind == .endRequest { break reading }
            }
        }
        return try FastCGIClient.parse(stdout)
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
