/// An RFC 6570 URI template restricted to simple string expansion (`{var}`, `{var1,var2}`), which is what
/// resource templates use: it matches URIs against the template and expands variables into URIs.
///
/// A variable matches one or more characters other than `/`, `?` and `#` (the values of a multi-variable
/// expression are separated by `,`); matched values are percent-decoded. Expressions with an operator
/// (`{+path}`, `{?q}`, …) or a modifier (`{var*}`, `{var:3}`) are not supported and are matched as literal
/// text.
///
/// ```swift
/// let template = URITemplate("test://template/{id}/data")
/// template.match("test://template/42/data")  // ["id": "42"]
/// template.expand(["id": "a b"])              // "test://template/a%20b/data"
/// ```
public struct URITemplate: Sendable, Hashable {
    /// The template text.
    public let template: String
    /// The variable names, in order of appearance.
    public let variableNames: [String]
    private let parts: [Part]

    private enum Part: Sendable, Hashable {
        case literal([UInt8])
        case expression([String])
    }

    /// Parses a template; never fails (unsupported expressions become literal text).
    /// - Parameter template: the RFC 6570 template.
    public init(_ template: String) {
        self.template = template
        var parts: [Part] = []
        var literal: [UInt8] = []
        let bytes = Array(template.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "{"), let close = bytes[(i + 1)...].firstIndex(of: UInt8(ascii: "}")),
                let names = Self.simpleNames(bytes[(i + 1)..<close])
            {
                if !literal.isEmpty { parts.append(.literal(literal)) }
                literal = []
                parts.append(.expression(names))
                i = close + 1
            } else {
                literal.append(bytes[i])
                i += 1
            }
        }
        if !literal.isEmpty { parts.append(.literal(literal)) }
        self.parts = parts
        self.variableNames = parts.flatMap { part -> [String] in
            if case .expression(let names) = part { return names }
            return []
        }
    }

    /// The variables of `uri` when it matches the template, else nil.
    /// - Parameter uri: a concrete URI.
    /// - Returns: each variable's percent-decoded value (a variable left out of a multi-variable
    ///   expression is absent).
    public func match(_ uri: String) -> [String: String]? {
        var captures: [String: String] = [:]
        return Self.match(Array(uri.utf8), from: 0, parts: parts[...], captures: &captures) ? captures : nil
    }

    /// The URI for these variable values; values are percent-encoded (all but unreserved characters) and
    /// a missing variable expands to nothing.
    /// - Parameter variables: the values by variable name.
    public func expand(_ variables: [String: String]) -> String {
        var out = ""
        for part in parts {
            switch part {
            case .literal(let bytes): out += String(decoding: bytes, as: UTF8.self)
            case .expression(let names):
                out += names.compactMap { variables[$0].map(Self.percentEncode) }.joined(separator: ",")
            }
        }
        return out
    }

    // MARK: Parsing and matching

    /// The names of a simple expression's body, or nil when it has an operator, a modifier or a bad name.
    private static func simpleNames(_ body: ArraySlice<UInt8>) -> [String]? {
        guard !body.isEmpty else { return nil }
        var names: [String] = []
        for name in body.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            guard !name.isEmpty, name.allSatisfy(isVariableCharacter) else { return nil }
            names.append(String(decoding: name, as: UTF8.self))
        }
        return names
    }

    private static func isVariableCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "%"):
            return true
        default: return false
        }
    }

    private static func match(
        _ uri: [UInt8], from start: Int, parts: ArraySlice<Part>, captures: inout [String: String]
    ) -> Bool {
        guard let part = parts.first else { return start == uri.count }
        let rest = parts.dropFirst()
        switch part {
        case .literal(let literal):
            guard uri.count - start >= literal.count, uri[start..<(start + literal.count)].elementsEqual(literal)
            else { return false }
            return match(uri, from: start + literal.count, parts: rest, captures: &captures)
        case .expression(let names):
            var limit = start
            while limit < uri.count, !isDelimiter(uri[limit]) { limit += 1 }
            guard limit > start else { return false }
            // Longest first, shorter on failure: the literal that follows decides where the value ends.
            for end in stride(from: limit, to: start, by: -1) {
                var attempt = captures
                let raw = uri[start..<end]
                let values = names.count == 1 ? [raw] : raw.split(separator: UInt8(ascii: ","))
                guard !values.isEmpty, values.count <= names.count else { continue }
                for (name, value) in zip(names, values) { attempt[name] = percentDecode(value) }
                if match(uri, from: end, parts: rest, captures: &attempt) {
                    captures = attempt
                    return true
                }
            }
            return false
        }
    }

    private static func isDelimiter(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "/") || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "#")
    }

    private static func percentDecode(_ bytes: ArraySlice<UInt8>) -> String {
        guard bytes.contains(UInt8(ascii: "%")) else { return String(decoding: bytes, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        while i < bytes.endIndex {
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.endIndex,
                let high = hexValue(bytes[i + 1]), let low = hexValue(bytes[i + 2])
            {
                out.append(high << 4 | low)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    private static func percentEncode(_ value: String) -> String {
        var out: [UInt8] = []
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
