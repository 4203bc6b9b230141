import Foundation
import MCPHTTP

/// Parameters of an `application/x-www-form-urlencoded` body or a query string. A parameter sent more than once
/// is remembered so that endpoints can refuse it (RFC 6749 §3.1, §3.2).
struct FormParameters: Sendable {
    private(set) var values: [String: String] = [:]
    private(set) var repeated: Set<String> = []

    /// Parses `a=b&c=d` (`+` is a space, `%XX` escapes are decoded). Undecodable pairs are ignored.
    init(parsing text: some StringProtocol) {
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]) else { continue }
            let value = parts.count > 1 ? Self.decode(parts[1]) : ""
            guard let value else { continue }
            if values[name] != nil { repeated.insert(name) }
            values[name] = value
        }
    }

    /// Parses a body.
    init(body: [UInt8]) { self.init(parsing: String(decoding: body, as: UTF8.self)) }

    init(_ values: [String: String]) { self.values = values }

    subscript(name: String) -> String? { values[name] }

    /// A non-empty value, or nil.
    func nonEmpty(_ name: String) -> String? {
        guard let value = values[name], !value.isEmpty else { return nil }
        return value
    }

    /// Throws `invalid_request` when one of `names` was repeated.
    func requireSingle(_ names: [String]) throws(OAuthError) {
        for name in names where repeated.contains(name) {
            throw .invalidRequest("Parameter \(name) was sent more than once")
        }
    }

    static func decode(_ raw: some StringProtocol) -> String? {
        String(raw).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    /// Form-encodes one component (RFC 3986 unreserved characters are kept).
    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }

    /// `name=value&…` in the given order.
    static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&")
    }

    private static let unreserved = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
}
