/// A JSON value: the vocabulary every MCP message is made of.
///
/// The same name and shape as the official MCP Swift SDK's `Value`, so its users feel at home.
/// Numbers without a fraction or exponent that fit in `Int` are `.int`; every other number is `.double`.
///
/// ```swift
/// let v: Value = ["name": "echo", "arguments": ["text": "hi"], "count": 2]
/// v["arguments"]?["text"]?.stringValue // "hi"
/// ```
public enum Value: Sendable, Hashable {
    /// JSON `null`.
    case null
    /// JSON `true` or `false`.
    case bool(Bool)
    /// A JSON number without fraction or exponent that fits in `Int`.
    case int(Int)
    /// Any other JSON number.
    case double(Double)
    /// A JSON string.
    case string(String)
    /// A JSON array.
    case array([Value])
    /// A JSON object.
    case object([String: Value])
}

extension Value {
    /// The string, when this is `.string`.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The integer, when this is `.int`, or a `.double` with no fractional part that fits in `Int`.
    public var intValue: Int? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9.0e15: return Int(d)
        default: return nil
        }
    }

    /// The number as a `Double`, when this is `.int` or `.double`.
    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    /// The boolean, when this is `.bool`.
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The elements, when this is `.array`.
    public var arrayValue: [Value]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The members, when this is `.object`.
    public var objectValue: [String: Value]? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// Whether this is `.null`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The member named `key`, when this is an object that has it.
    public subscript(key: String) -> Value? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// The JSON type name of this value as JSON Schema spells it (`"integer"` for `.int`).
    public var jsonTypeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int: return "integer"
        case .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

extension Value: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    /// Creates `.null`.
    public init(nilLiteral: ()) { self = .null }
    /// Creates `.bool`.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// Creates `.int`.
    public init(integerLiteral value: Int) { self = .int(value) }
    /// Creates `.double`.
    public init(floatLiteral value: Double) { self = .double(value) }
    /// Creates `.string`.
    public init(stringLiteral value: String) { self = .string(value) }
    /// Creates `.array`.
    public init(arrayLiteral elements: Value...) { self = .array(elements) }
    /// Creates `.object`; a repeated key keeps its last value.
    public init(dictionaryLiteral elements: (String, Value)...) {
        var object: [String: Value] = [:]
        object.reserveCapacity(elements.count)
        for (k, v) in elements { object[k] = v }
        self = .object(object)
    }
}

extension Value: CustomStringConvertible {
    /// The compact JSON text of this value.
    public var description: String { String(decoding: JSONWriter.encode(self), as: UTF8.self) }
}
