import HTTPTypes

/// Which `Host` header values the application answers: a request for another host (DNS rebinding, where a
/// hostile name resolves to this server; a misrouted request) is refused with 421 Misdirected Request.
///
/// Host names are compared without the port, case-insensitively, the way nginx matches `server_name`.
/// Requests without a `Host` (a FastCGI caller that sends no `HTTP_HOST`; browsers always send one) and the
/// workers' own peer requests (``HTTPServerRequest/isPeerRequest``) are not checked.
///
/// ```swift
/// var configuration = MCPApplication.Configuration(publicURL: "https://mcp.example.com")
/// configuration.hostPolicy = .publicURL(plus: ["mcp.internal.example"])
/// ```
public struct HostPolicy: Sendable {
    private enum Storage: Sendable {
        case publicURL(plus: Set<String>)
        case only(Set<String>)
        case any
    }
    private let storage: Storage
    private init(_ storage: Storage) { self.storage = storage }

    /// The default: the public URL's host and the loopback names `localhost`, `127.0.0.1` and `[::1]` (so local
    /// health checks work).
    public static let publicURL = HostPolicy(.publicURL(plus: []))

    /// The public URL's host, the loopback names, and these host names (without port).
    /// - Parameter hosts: further names the deployment is reached by.
    public static func publicURL(plus hosts: Set<String>) -> HostPolicy {
        HostPolicy(.publicURL(plus: Set(hosts.map(normalize))))
    }

    /// Exactly these host names (without port); loopback names are not added.
    /// - Parameter hosts: the names.
    public static func only(_ hosts: Set<String>) -> HostPolicy { HostPolicy(.only(Set(hosts.map(normalize)))) }

    /// No check: every `Host` is answered (when a proxy in front already refuses foreign hosts, and the
    /// application is reached only through it).
    public static let any = HostPolicy(.any)

    /// The loopback names allowed by ``publicURL``.
    public static let loopbackNames: Set<String> = ["localhost", "127.0.0.1", "[::1]"]

    /// The allowed host names for a public URL, or nil when any host is allowed.
    package func allowedHosts(publicURL: String) -> Set<String>? {
        switch storage {
        case .any: return nil
        case .only(let hosts): return hosts
        case .publicURL(let extra):
            let origin = OriginPolicy.origin(ofURL: publicURL)
            let authority = origin.range(of: "://").map { String(origin[$0.upperBound...]) } ?? origin
            return Self.loopbackNames.union(extra).union([Self.normalize(authority)])
        }
    }

    /// The host of an authority (`Host` value): lowercased, without port and userinfo; IPv6 in brackets.
    package static func normalize(_ authority: String) -> String {
        var host = Substring(authority.lowercased())
        if let at = host.lastIndex(of: "@") { host = host[host.index(after: at)...] }
        if host.hasPrefix("[") {
            if let close = host.firstIndex(of: "]") { return String(host[...close]) }
            return String(host)
        }
        if let colon = host.firstIndex(of: ":") { host = host[..<colon] }
        while host.hasSuffix(".") { host = host.dropLast() }
        return String(host)
    }

    /// The 421 answer for a request whose `Host` is not allowed.
    package static func misdirected(_ host: String) -> HTTPServerResponse {
        .error(
            .misdirectedRequest, code: "misdirected_request",
            message: "This server does not answer for the host \"\(host.prefix(100))\"; use the server's public URL")
    }
}
