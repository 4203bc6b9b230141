import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A plain-HTTP server on 127.0.0.1 for outgoing-fetch tests: every connection gets the same scripted answer,
/// written by a thread of its own. It counts connections and the body bytes it managed to send.
final class ScriptedHTTPServer: Sendable {
    enum Answer: Sendable {
        /// 200 with the body and its Content-Length.
        case document(String)
        /// A 302 to the location.
        case redirect(String)
        /// 200 without Content-Length, body bytes until the client goes away.
        case endless
        /// 200 announcing `length` bytes, then one byte every `interval`.
        case drip(length: Int, interval: Duration)
    }

    let port: Int
    private let listener: Int32
    private let answer: Answer
    private let counters = Mutex((connections: 0, bodyBytes: 0))

    /// Connections accepted so far.
    var connections: Int { counters.withLock { $0.connections } }
    /// Body bytes written so far (over all connections).
    var bodyBytesSent: Int { counters.withLock { $0.bodyBytes } }

    init(_ answer: Answer) throws {
        self.answer = answer
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard fd >= 0, bound == 0, listen(fd, 16) == 0 else { throw POSIXError(.EADDRNOTAVAIL) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// Stops accepting (connections in progress end when their client leaves).
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            counters.withLock { $0.connections += 1 }
            let thread = Thread { [self] in serve(client) }
            thread.start()
        }
    }

    private func serve(_ fd: Int32) {
        defer { close(fd) }
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !request.contains(10) || !String(decoding: request, as: UTF8.self).contains("\r\n\r\n") {
            let n = read(fd, &buffer, buffer.count)
            guard n > 0 else { return }
            request += buffer[0..<n]
        }
        switch answer {
        case .document(let body):
            _ = write(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
            _ = write(fd, body, countsAsBody: true)
        case .redirect(let location):
            _ = write(fd, "HTTP/1.1 302 Found\r\nLocation: \(location)\r\nContent-Length: 0\r\n\r\n")
        case .endless:
            _ = write(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
            let chunk = String(repeating: " ", count: 1024)
            while write(fd, chunk, countsAsBody: true) {}
        case .drip(let length, let interval):
            _ = write(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(length)\r\n\r\n")
            for _ in 0..<length {
                guard write(fd, " ", countsAsBody: true) else { return }
                Thread.sleep(forTimeInterval: Double(interval.components.attoseconds) / 1e18
                    + Double(interval.components.seconds))
            }
        }
    }

    private func write(_ fd: Int32, _ text: String, countsAsBody: Bool = false) -> Bool {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return false }
            sent += n
            if countsAsBody { counters.withLock { $0.bodyBytes += n } }
        }
        return true
    }
}
