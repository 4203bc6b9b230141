/// Which browser origins may call the server (DNS-rebinding protection): a request whose `Origin`
/// header is present and not allowed is refused with 403.
public struct OriginPolicy: Sendable {
    /// Origins allowed exactly (scheme://host[:port], lowercase).
    public var allowedOrigins: Set<String>
    /// Whether any `http(s)://localhost|127.0.0.1|[::1][:port]` origin is allowed. Default true.
    public var allowLoopback: Bool

    /// Creates a policy.
    /// - Parameters:
    ///   - allowedOrigins: origins allowed exactly; the public URL's origin belongs here.
    ///   - allowLoopback: whether loopback origins on any port are allowed.
    public init(allowedOrigins: Set<String> = [], allowLoopback: Bool = true) {
        self.allowedOrigins = Set(allowedOrigins.map { Self.normalize($0) })
        self.allowLoopback = allowLoopback
    }

    /// Whether a request with this `Origin` header (nil when absent) may proceed.
    public func allows(_ origin: String?) -> Bool {
        guard let origin else { return true }
        let normalized = Self.normalize(origin)
        if allowedOrigins.contains(normalized) { return true }
        return allowLoopback && Self.isLoopback(normalized)
    }

    /// The origin (`scheme://host[:port]`) of a URL string, lowercase, without path.
    public static func origin(ofURL url: String) -> String {
        let lower = url.lowercased()
        guard let schemeEnd = lower.range(of: "://") else { return lower }
        let rest = lower[schemeEnd.upperBound...]
        let hostEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        return String(lower[..<schemeEnd.upperBound]) + rest[..<hostEnd]
    }

    package static func normalize(_ origin: String) -> String {
        var o = origin.lowercased()
        while o.hasSuffix("/") { o.removeLast() }
        return o
    }

    static func isLoopback(_ origin: String) -> Bool {
        let rest: Substring
        if origin.hasPrefix("http://") {
            rest = origin.dropFirst(7)
        } else if origin.hasPrefix("https://") {
            rest = origin.dropFirst(8)
        } else {
            return false
        }
        for host in ["localhost", "127.0.0.1", "[::1]"] where rest.hasPrefix(host) {
            let after = rest.dropFirst(host.count)
            if after.isEmpty { return true }
            if after.first == ":", after.dropFirst().allSatisfy(\.isNumber), after.count > 1 { return true }
        }
        return false
    }
}
