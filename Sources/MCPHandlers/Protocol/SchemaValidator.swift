import Foundation
import Synchronization

/// Checks a JSON value against the subset of JSON Schema that tool input schemas use:
/// `type` (one or several), `required`, `properties`, `items`, `enum`, `minimum`/`maximum`,
/// `minLength`/`maxLength`, `pattern`, `additionalProperties: false`.
///
/// Keywords outside this subset are ignored (they never reject a value), and so is a `pattern` that is not a regular
/// expression (a mistake in the server's schema, not the client's; typed tools refuse one at registration). A
/// `pattern` is matched as JSON Schema says — anywhere in the string unless anchored, with ECMA-262's meaning where
/// ICU's regular expressions (`NSRegularExpression`) differ: `$` is the very end (never before a final line break),
/// `\d` and `\w` are ASCII. Each pattern is compiled once per process. `maxLength` is checked first, so a schema that
/// bounds its strings also bounds the cost of matching them.
public struct SchemaValidator: Sendable {
    /// Creates a validator.
    public init() {}

    /// The first problem found, as a human-readable sentence naming the path; nil when the value conforms.
    /// - Parameters:
    ///   - value: the instance.
    ///   - schema: the schema.
    ///   - path: the instance's path for messages (defaults to `arguments`).
    public func firstViolation(of value: Value, against schema: Value, path: String = "arguments") -> String? {
        violation(of: value, against: schema, path: { path })
    }

    /// ``firstViolation(of:against:path:)`` with the path made only for a message: a value that conforms costs no
    /// string per member.
    private func violation(of value: Value, against schema: Value, path: () -> String) -> String? {
        guard case .object(let s) = schema else { return nil }
        if let type = s["type"] {
            // Checked without building the list of allowed types (made only for the message).
            let conforms: Bool
            switch type {
            case .string(let t): conforms = matches(value, type: t)
            case .array(let ts):
                conforms =
                    !ts.contains { $0.stringValue != nil }
                    || ts.contains { $0.stringValue.map { matches(value, type: $0) } ?? false }
            default: conforms = true
            }
            if !conforms {
                let allowed = type.stringValue.map { [$0] } ?? type.arrayValue?.compactMap(\.stringValue) ?? []
                return "\(path()) must be of type \(allowed.joined(separator: " or ")), got \(value.jsonTypeName)"
            }
        }
        if let options = s["enum"]?.arrayValue, !options.contains(where: { sameJSON($0, value) }) {
            return "\(path()) must be one of \(Value.array(options))"
        }
        switch value {
        case .object(let members):
            for name in s["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where members[name] == nil {
                return "\(path()).\(name) is required"
            }
            let properties = s["properties"]?.objectValue ?? [:]
            for (name, member) in members {
                if let propertySchema = properties[name] {
                    if let problem = violation(of: member, against: propertySchema, path: { "\(path()).\(name)" }) {
                        return problem
                    }
                } else if s["additionalProperties"] == .bool(false) {
                    return "\(path()).\(name) is not allowed"
                }
            }
        case .array(let elements):
            if let items = s["items"] {
                for (i, element) in elements.enumerated() {
                    if let problem = violation(of: element, against: items, path: { "\(path())[\(i)]" }) {
                        return problem
                    }
                }
            }
        case .string(let string):
            let count = string.count
            if let min = s["minLength"]?.intValue, count < min { return "\(path()) is shorter than \(min)" }
            if let max = s["maxLength"]?.intValue, count > max { return "\(path()) is longer than \(max)" }
            if let pattern = s["pattern"]?.stringValue, let regex = Self.regex(pattern),
                regex.firstMatch(in: string, range: NSRange(string.startIndex..., in: string)) == nil
            {
                return "\(path()) must match the pattern \(pattern)"
            }
        case .int, .double:
            let number = value.doubleValue ?? 0
            if let min = s["minimum"]?.doubleValue, number < min { return "\(path()) must be ≥ \(min)" }
            if let max = s["maximum"]?.doubleValue, number > max { return "\(path()) must be ≤ \(max)" }
        default:
            break
        }
        return nil
    }

    /// Compiled patterns, by source (nil: not a regular expression). Schemas are the server's, so their patterns are
    /// few; the cache stops growing at ``maximumCachedPatterns`` (beyond it a pattern is compiled for each check).
    private static let patterns = Mutex<[String: NSRegularExpression?]>([:])
    /// The most patterns kept compiled. 1,024.
    static let maximumCachedPatterns = 1_024

    /// The compiled `pattern`, or nil when it is not a regular expression.
    static func regex(_ pattern: String) -> NSRegularExpression? {
        if let cached = patterns.withLock({ $0[pattern] }) { return cached }
        let compiled = try? NSRegularExpression(pattern: icuPattern(pattern))
        patterns.withLock { cache in
            if cache.count < maximumCachedPatterns { cache[pattern] = compiled }
        }
        return compiled
    }

    /// `pattern` (ECMA-262, as JSON Schema means it) in ICU's syntax: an unescaped `$` outside a class becomes
    /// "the end, with nothing after" (ICU's also matches before a final line break), `\d` `\D` `\w` `\W` become their
    /// ASCII classes (ICU's are Unicode). Inside a class, `\d` and `\w` become their ASCII ranges; `\D` and `\W` stay
    /// (stricter there, never looser).
    static func icuPattern(_ pattern: String) -> String {
        var out = ""
        var inClass = false
        var characters = pattern.makeIterator()
        while let character = characters.next() {
            switch character {
            case "\\":
                guard let escaped = characters.next() else {
                    out.append(character)
                    continue
                }
                switch (escaped, inClass) {
                case ("d", false): out += "[0-9]"
                case ("D", false): out += "[^0-9]"
                case ("w", false): out += "[A-Za-z0-9_]"
                case ("W", false): out += "[^A-Za-z0-9_]"
                case ("d", true): out += "0-9"
                case ("w", true): out += "A-Za-z0-9_"
                default:
                    out.append(character)
                    out.append(escaped)
                }
            case "[" where !inClass:
                inClass = true
                out.append(character)
            case "[":
                out += "\\["  // a literal in ECMA-262; a nested set in ICU
            case "]" where inClass:
                inClass = false
                out.append(character)
            case "$" where !inClass:
                out += "(?![\\s\\S])"
            default:
                out.append(character)
            }
        }
        return out
    }

    private func matches(_ value: Value, type: String) -> Bool {
        switch (type, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("null", .null):
            return true
        case ("integer", .int): return true
        case ("integer", .double(let d)): return d.rounded() == d
        case ("number", .int), ("number", .double): return true
        default: return false
        }
    }

    private func sameJSON(_ a: Value, _ b: Value) -> Bool {
        if let x = a.doubleValue, let y = b.doubleValue { return x == y }
        return a == b
    }
}
