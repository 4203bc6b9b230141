/// An RFC 6570 URI template restricted to simple string expansion (`{var}`, `{var1,var2}`), which is what
/// resource templates use: it matches URIs against the template and expands variables into URIs.
///
/// Matching semantics (the whole URI must match; bytes of UTF-8, no normalisation):
/// - literal text matches itself exactly (case-sensitive);
/// - an expression matches one or more characters other than `/`, `?` and `#`; the value of a multi-variable
///   expression is split at `,` (empty pieces dropped) and must have from one piece to as many pieces as the
///   expression has variables, which take them in order (a variable without a piece is absent);
/// - when a URI can be split in several ways, the first expression takes the longest value that still lets the
///   rest match, then the second, and so on (leftmost-greedy, as a backtracking regex `([^/?#]+)` would):
///   `file:///{name}.{ext}` gives `file:///a.b.c` the name `a.b` and the extension `c`;
/// - matched values are percent-decoded (a `%` not followed by two hex digits stays as it is).
///
/// Expressions with an operator (`{+path}`, `{?q}`, …) or a modifier (`{var*}`, `{var:3}`) are not supported
/// and are matched as literal text.
///
/// Complexity: matching simulates the template's automaton over the URI in one left-to-right pass, carrying the
/// set of live states (a Thompson/Pike NFA simulation, no backtracking): for a URI of n bytes and a template
/// with s states (one per literal byte, two per single-variable expression, 2·(v+1) per expression of v
/// variables) and k expressions it takes O(n · s · k) time (each live state carries the k capture ends) and
/// O(s · k) memory — linear in the URI for a given template, whatever the number of expressions per segment.
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
    let parts: [Part]
    let automaton: Automaton

    enum Part: Sendable, Hashable {
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
        // The first "}" after the last "{" looked at (bytes.count: none), searched again only once passed, and
        // expression bodies are checked up to their first bad byte: parsing is linear in the template.
        var close = -1
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "{"), close <= i {
                close = bytes[(i + 1)...].firstIndex(of: UInt8(ascii: "}")) ?? bytes.count
            }
            if bytes[i] == UInt8(ascii: "{"), close < bytes.count, let names = Self.simpleNames(bytes[(i + 1)..<close]) {
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
        self.automaton = Automaton(parts)
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
        var steps = 0
        return match(uri, steps: &steps)
    }

    /// ``match(_:)``, counting the automaton's steps (one per state entered or advanced) into `steps`: what the
    /// tests use to check that matching stays linear in the URI's length.
    func match(_ uri: String, steps: inout Int) -> [String: String]? {
        let bytes = Array(uri.utf8)
        guard let ends = automaton.run(bytes, steps: &steps) else { return nil }
        var captures: [String: String] = [:]
        var position = 0
        var expression = 0
        for part in parts {
            switch part {
            case .literal(let literal): position += literal.count
            case .expression(let names):
                let raw = bytes[position..<ends[expression]]
                let values = names.count == 1 ? [raw] : raw.split(separator: UInt8(ascii: ","))
                for (name, value) in zip(names, values) { captures[name] = Self.percentDecode(value) }
                position = ends[expression]
                expression += 1
            }
        }
        return captures
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
        var names: [String] = []
        var start = body.startIndex
        for index in body.indices {
            let byte = body[index]
            if byte == UInt8(ascii: ",") {
                guard index > start else { return nil }
                names.append(String(decoding: body[start..<index], as: UTF8.self))
                start = index + 1
            } else if !isVariableCharacter(byte) {
                return nil
            }
        }
        guard start < body.endIndex else { return nil }
        names.append(String(decoding: body[start...], as: UTF8.self))
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

    static func isDelimiter(_ byte: UInt8) -> Bool {
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
