import Foundation
import MCPHTTP
import MCPStreamableHTTP
import MCPHandlers

#if canImport(Glibc)
    import Glibc
#endif

/// A unix-domain socket address (`sockaddr_un`), for the worker's listening socket and for connections to its
/// peers.
struct UnixSocketAddress {
    private var address = sockaddr_un()

    /// The address of `path`, or nil when the path does not fit `sun_path`.
    init?(path: String) {
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in bytes.enumerated() { raw[i] = byte }
        }
    }

    /// Calls `body` (`bind`, `connect`) with the address as a `sockaddr` and its length.
    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        withUnsafePointer(to: address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}
