import Foundation
import MCPHTTP

/// Redirect URI rules: registration accepts https, or http on a loopback host (RFC 8252 §7.3), without
/// fragment or user info; authorization matches exactly, except that a loopback URI's port may differ.
enum RedirectURI {
    /// Why a URI cannot be registered, or nil when it can.
    static func problem(with uri: String) -> String? {
        guard let components = URLComponents(string: uri), let scheme = components.scheme?.lowercased(),
            let host = components.host, !host.isEmpty
        else { return "\(uri) is not an absolute URI" }
        if components.fragment != nil || uri.contains("#") { return "\(uri) must not have a fragment" }
        if components.user != nil || components.password != nil { return "\(uri) must not have user info" }
        switch scheme {
        case "https": return nil
        case "http": return isLoopback(host) ? nil : "http redirect URIs are allowed on loopback hosts only"
        default: return "The \(scheme) scheme is not allowed for redirect URIs"
        }
    }

    /// Whether `requested` is one of `registered` (exact, or equal apart from the port for loopback http).
    static func matches(_ requested: String, registered: [String]) -> Bool {
        if registered.contains(requested) { return true }
        guard let r = URLComponents(string: requested), r.scheme?.lowercased() == "http", let host = r.host,
            isLoopback(host), r.fragment == nil
        else { return false }
        return registered.contains { candidate in
            guard let c = URLComponents(string: candidate) else { return false }
            return c.scheme?.lowercased() == "http" && c.host?.lowercased() == host.lowercased()
                && c.percentEncodedPath == r.percentEncodedPath && c.percentEncodedQuery == r.percentEncodedQuery
                && c.user == nil && r.user == nil
        }
    }

    /// `127.0.0.1`, `[::1]` (or `::1`), `localhost`.
    static func isLoopback(_ host: String) -> Bool {
        ["127.0.0.1", "::1", "[::1]", "localhost"].contains(host.lowercased())
    }

    /// The URI with `parameters` appended to its query.
    static func appending(_ parameters: [(String, String)], to uri: String) -> String {
        let separator = uri.contains("?") ? (uri.hasSuffix("?") || uri.hasSuffix("&") ? "" : "&") : "?"
        return uri + separator + FormParameters.encode(parameters)
    }

    /// The URI's origin as a Content-Security-Policy source for `form-action`: `scheme://host[:port]` when the host
    /// is a DNS name or IPv4 address; just `scheme:` for an IP-literal (`[::1]`), which CSP cannot express (Chromium
    /// ignores such a source); nil for a host with any other character, which could otherwise inject directives
    /// into the policy (such a client's redirect then stays blocked in browsers).
    static func formActionSource(_ uri: String) -> String? {
        guard let c = URLComponents(string: uri), let scheme = c.scheme?.lowercased(),
            ["http", "https"].contains(scheme), let host = c.percentEncodedHost, !host.isEmpty
        else { return nil }
        if host.hasPrefix("[") { return scheme + ":" }
        let labels = host.lowercased().split(separator: ".", omittingEmptySubsequences: false)
        guard
            labels.allSatisfy({ label in
                !label.isEmpty && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
            })
        else { return nil }
        return scheme + "://" + labels.joined(separator: ".") + (c.port.map { ":\($0)" } ?? "")
    }

    /// The host (and port) shown on the consent page.
    static func displayHost(_ uri: String) -> String {
        guard let c = URLComponents(string: uri), let host = c.host else { return uri }
        return c.port.map { "\(host):\($0)" } ?? host
    }
}
