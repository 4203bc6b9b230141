import MCPHTTP
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An IPv4 or IPv6 address and the range it belongs to, so outgoing requests to URLs chosen by strangers can
/// refuse internal networks (loopback, private, link-local cloud metadata, …) — see ``RestrictedHTTPFetcher``.
///
/// IPv6 forms that carry an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4
/// `2002:AABB:CCDD::`) are classified by the IPv4 address they carry.
struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// The range an address belongs to; only ``global`` may be fetched by default.
    struct Category: Hashable, Sendable, CustomStringConvertible {
        private enum Storage: String {
            case global = "public"
            case unspecified, loopback
            case `private` = "private (RFC 1918 / unique local)"
            case sharedAddressSpace = "shared address space (carrier-grade NAT, 100.64.0.0/10)"
            case linkLocal = "link-local (cloud metadata)"
            case multicast, broadcast, reserved
        }
        private let storage: Storage
        private init(_ storage: Storage) { self.storage = storage }

        /// Globally routable unicast.
        static let global = Category(.global)
        /// `0.0.0.0/8`, `::`.
        static let unspecified = Category(.unspecified)
        /// `127.0.0.0/8`, `::1`.
        static let loopback = Category(.loopback)
        /// `10/8`, `172.16/12`, `192.168/16`, `fc00::/7`, `fec0::/10`, `64:ff9b:1::/48`.
        static let `private` = Category(.private)
        /// `100.64.0.0/10` (carrier-grade NAT).
        static let sharedAddressSpace = Category(.sharedAddressSpace)
        /// `169.254.0.0/16` (where cloud metadata services answer), `fe80::/10`.
        static let linkLocal = Category(.linkLocal)
        /// `224.0.0.0/4`, `ff00::/8`.
        static let multicast = Category(.multicast)
        /// `255.255.255.255`.
        static let broadcast = Category(.broadcast)
        /// Documentation, benchmarking, protocol-assignment and future-use ranges; IPv6 outside `2000::/3`.
        static let reserved = Category(.reserved)

        /// The range's name, for error messages.
        var description: String { storage.rawValue }
    }

    private enum Storage: Hashable {
        case v4(UInt32)
        case v6([UInt8])
    }
    private let storage: Storage

    /// An IPv4 address from its 32 bits (host order).
    init(v4 bits: UInt32) { storage = .v4(bits) }

    /// An IPv6 address from its 16 bytes; nil for any other length.
    init?(v6 bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        storage = .v6(bytes)
    }

    /// Parses dotted-quad IPv4 or IPv6 text (brackets allowed, no zone); nil for anything else.
    init?(_ text: String) {
        var text = Substring(text)
        if text.hasPrefix("["), text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, String(text), &v4) == 1 {
            self.init(v4: UInt32(bigEndian: v4.s_addr))
        } else if inet_pton(AF_INET6, String(text), &v6) == 1 {
            self.init(v6: withUnsafeBytes(of: &v6) { Array($0) })
        } else {
            return nil
        }
    }

    /// The address in a socket address (`AF_INET` or `AF_INET6`); nil for other families.
    init?(_ address: UnsafePointer<sockaddr>) {
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            let bits = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr }
            self.init(v4: UInt32(bigEndian: bits))
        case AF_INET6:
            var raw = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
            self.init(v6: withUnsafeBytes(of: &raw) { Array($0) })
        default:
            return nil
        }
    }

    /// Whether this is an IPv6 address.
    var isIPv6: Bool { if case .v6 = storage { true } else { false } }

    /// The usual text form (`192.0.2.1`, `2001:db8::1`).
    var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch storage {
        case .v4(let bits):
            var raw = in_addr(s_addr: bits.bigEndian)
            inet_ntop(AF_INET, &raw, &buffer, socklen_t(buffer.count))
        case .v6(let bytes):
            var raw = in6_addr()
            withUnsafeMutableBytes(of: &raw) { $0.copyBytes(from: bytes) }
            inet_ntop(AF_INET6, &raw, &buffer, socklen_t(buffer.count))
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The range this address belongs to.
    var category: Category {
        switch storage {
        case .v4(let bits): Self.category(v4: bits)
        case .v6(let bytes): Self.category(v6: bytes)
        }
    }

    /// Whether the address is globally routable (``Category/global``).
    var isGlobal: Bool { category == .global }

    private static func category(v4 a: UInt32) -> Category {
        func within(_ network: UInt32, _ prefix: UInt32) -> Bool {
            a >> (32 - prefix) == network >> (32 - prefix)
        }
        if a == 0xFFFF_FFFF { return .broadcast }
        if within(0x0000_0000, 8) { return .unspecified }  // 0.0.0.0/8 "this network"
        if within(0x7F00_0000, 8) { return .loopback }  // 127/8
        if within(0x0A00_0000, 8) || within(0xAC10_0000, 12) || within(0xC0A8_0000, 16) { return .private }
        if within(0x6440_0000, 10) { return .sharedAddressSpace }  // 100.64/10
        if within(0xA9FE_0000, 16) { return .linkLocal }  // 169.254/16
        if within(0xE000_0000, 4) { return .multicast }  // 224/4
        let reserved: [(UInt32, UInt32)] = [
            (0xC000_0000, 24),  // 192.0.0.0/24 IETF protocol assignments
            (0xC000_0200, 24),  // 192.0.2.0/24 TEST-NET-1
            (0xC058_6300, 24),  // 192.88.99.0/24 6to4 relay anycast
            (0xC612_0000, 15),  // 198.18.0.0/15 benchmarking
            (0xC633_6400, 24),  // 198.51.100.0/24 TEST-NET-2
            (0xCB00_7100, 24),  // 203.0.113.0/24 TEST-NET-3
            (0xF000_0000, 4),  // 240/4 future use
        ]
        if reserved.contains(where: { within($0.0, $0.1) }) { return .reserved }
        return .global
    }

    private static func category(v6 b: [UInt8]) -> Category {
        func embeddedV4(at offset: Int) -> UInt32 {
            b[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
        }
        func starts(with prefix: [UInt8]) -> Bool { b.starts(with: prefix) }
        let zero12 = [UInt8](repeating: 0, count: 12)
        if b == [UInt8](repeating: 0, count: 16) { return .unspecified }
        if b == zero12 + [0, 0, 0, 1] { return .loopback }
        if starts(with: [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF]) {  // ::ffff:0:0/96 IPv4-mapped
            return category(v4: embeddedV4(at: 12))
        }
        if starts(with: [0, 0x64, 0xFF, 0x9B] + [UInt8](repeating: 0, count: 8)) {  // 64:ff9b::/96 NAT64
            return category(v4: embeddedV4(at: 12))
        }
        if starts(with: [0, 0x64, 0xFF, 0x9B, 0, 1]) { return .private }  // 64:ff9b:1::/48 local-use NAT64
        if starts(with: [0x20, 0x02]) { return category(v4: embeddedV4(at: 2)) }  // 2002::/16 6to4
        if b[0] == 0xFF { return .multicast }  // ff00::/8
        if b[0] & 0xFE == 0xFC { return .private }  // fc00::/7 unique local
        if b[0] == 0xFE, b[1] & 0xC0 == 0x80 { return .linkLocal }  // fe80::/10
        if b[0] == 0xFE, b[1] & 0xC0 == 0xC0 { return .private }  // fec0::/10 site-local (deprecated)
        if b[0] & 0xE0 != 0x20 { return .reserved }  // outside 2000::/3 global unicast (incl. ::/96, 100::/64)
        if starts(with: [0x20, 0x01, 0x0D, 0xB8]) { return .reserved }  // 2001:db8::/32 documentation
        if starts(with: [0x20, 0x01]), b[2] & 0xFE == 0 { return .reserved }  // 2001::/23 (Teredo, ORCHID, …)
        if starts(with: [0x3F, 0xFF]), b[2] & 0xF0 == 0 { return .reserved }  // 3fff::/20 documentation
        return .global
    }
}
