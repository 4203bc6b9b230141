#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// How a client address counts for per-address limits (`SessionLimits/maxSessionsPerAddress`).
public enum ClientAddress {
    /// The key `address` (nginx's `REMOTE_ADDR`) is counted under: an IPv4 address as it is; an IPv6 address
    /// by its /64 prefix (`2001:db8:1:2::/64`), since one host or customer usually holds a whole /64 and could
    /// otherwise take a new address per session; an IPv4-mapped IPv6 address as its IPv4 address. Anything
    /// else (a unix socket path, a name) as it is; nil for nil or empty.
    /// - Parameter address: the client's address.
    public static func quotaKey(_ address: String?) -> String? {
        guard let address, !address.isEmpty else { return nil }
        guard address.contains(":") else { return address }
        var bytes = [UInt8](repeating: 0, count: 16)
        guard inet_pton(AF_INET6, address, &bytes) == 1 else { return address }
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
            return bytes[12..<16].map(String.init).joined(separator: ".")
        }
        var groups: [String] = []
        for i in stride(from: 0, to: 8, by: 2) {
            groups.append(String(UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]), radix: 16))
        }
        return groups.joined(separator: ":") + "::/64"
    }
}
