/// Checks a JSON value against the subset of JSON Schema that tool input schemas use:
/// `type` (one or several), `required`, `properties`, `items`, `enum`, `minimum`/`maximum`,
/// `minLength`/`maxLength`, `additionalProperties: false`.
///
/// Keywords outside this subset are ignored (they never reject a value).
public struct SchemaValidator: Sendable {
    /// Creates a validator.
    public init() {}

    /// The first problem found, as a human-readable sentence naming the path; nil when the value conforms.
    /// - Parameters:
    ///   - value: the instance.
    ///   - schema: the schema.
    ///   - path: the instance's path for messages (defaults to `arguments`).
    public func firstViolation(of value: Value, against schema: Value, path: String = "arguments") -> String? {
        guard case .object(let s) = schema else { return nil }
        if let type = s["type"] {
            let allowed: [String]
            switch type {
            case .string(let t): allowed = [t]
            case .array(let ts): allowed = ts.compactMap(\.stringValue)
            default: allowed = []
            }
            if !allowed.isEmpty, !allowed.contains(where: { matches(value, type: $0) }) {
                return "\(path) must be of type \(allowed.joined(separator: " or ")), got \(value.jsonTypeName)"
            }
        }
        if let options = s["enum"]?.arrayValue, !options.contains(where: { sameJSON($0, value) }) {
            return "\(path) must be one of \(Value.array(options))"
        }
        switch value {
        case .object(let members):
            for name in s["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where members[name] == nil {
                return "\(path).\(name) is required"
            }
            let properties = s["properties"]?.objectValue ?? [:]
            for (name, member) in members {
                if let propertySchema = properties[name] {
                    if let problem = firstViolation(of: member, against: propertySchema, path: "\(path).\(name)") {
                        return problem
                    }
                } else if s["additionalProperties"] == .bool(false) {
                    return "\(path).\(name) is not allowed"
                }
            }
        case .array(let elements):
            if let items = s["items"] {
                for (i, element) in elements.enumerated() {
                    if let problem = firstViolation(of: element, against: items, path: "\(path)[\(i)]") {
                        return problem
                    }
                }
            }
        case .string(let string):
            let count = string.count
            if let min = s["minLength"]?.intValue, count < min { return "\(path) is shorter than \(min)" }
            if let max = s["maxLength"]?.intValue, count > max { return "\(path) is longer than \(max)" }
        case .int, .double:
            let number = value.doubleValue ?? 0
            if let min = s["minimum"]?.doubleValue, number < min { return "\(path) must be ≥ \(min)" }
            if let max = s["maximum"]?.doubleValue, number > max { return "\(path) must be ≤ \(max)" }
        default:
            break
        }
        return nil
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
