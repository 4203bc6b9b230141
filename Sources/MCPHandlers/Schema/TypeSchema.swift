import Foundation

/// JSON Schemas derived from Swift types: a typed tool's `inputSchema` from its argument type, its `outputSchema`
/// from its result type, with nothing written by hand.
///
/// The type is decoded once from a *probe* (a `Decoder` that answers every request with a placeholder and notes what
/// was asked), so the schema follows exactly what the type's `Decodable` conformance reads: stored properties
/// decoded with `decode` are `required`, those decoded with `decodeIfPresent` (optionals) are not; `String`,
/// integers, floating-point numbers, `Bool`, arrays (`items`), nested `Decodable` types (nested objects), string
/// or integer enums that are `CaseIterable` (`enum`), `Date` (`format: date-time`, ISO 8601 text), `URL`
/// (`format: uri`), `UUID` (`format: uuid`), `Data` (base64 text) and ``Value`` (any JSON). A type that
/// conforms to ``SchemaDescribed`` adds its own description and, per field, a description and bounds.
///
/// ```swift
/// struct Forecast: Decodable, SchemaDescribed {
///     enum Units: String, Decodable, CaseIterable { case metric, imperial }
///     var city: String
///     var days: Int?
///     var units: Units?
///     static let fields: [String: FieldSchema] = [
///         "city": "The city, in English",
///         "days": .init("How many days", minimum: 1, maximum: 14),
///     ]
/// }
/// let schema = try TypeSchema.of(Forecast.self)
/// // {"type":"object","properties":{"city":{"type":"string","description":…},"days":{"type":"integer",
/// //  "minimum":1,"maximum":14,…},"units":{"type":"string","enum":["metric","imperial"]}},"required":["city"]}
/// ```
///
/// The derivation runs once, when the tool is registered; a call decodes its arguments as before (`ValueDecoder`,
/// straight from the parsed JSON), so a call costs nothing more. An optional property also accepts `null`
/// (`"type": ["integer", "null"]`), as the decoder does. Dictionaries become `{"type": "object", "properties": {}}`
/// (their keys are not known); a type that decodes itself in its own way gets the schema of what it asks for (a key
/// it tests with `contains` before decoding it is optional; one it reads with `try?` is not seen as optional); a
/// type that contains itself is described once, its inner occurrences as any JSON (`{}`).
public enum TypeSchema {
    /// How deeply nested a type may be (coding-path segments: keys and array levels). 32.
    public static let maximumDepth = 32

    /// The JSON Schema of `type`.
    /// - Parameters:
    ///   - type: a `Decodable` type.
    ///   - optionalsAcceptNull: whether optional properties also accept `null` (`"type": [T, "null"]`). Default
    ///     true; elicitation forms, whose properties have one type each, pass false.
    /// - Returns: the schema (an object schema for a struct or class).
    /// - Throws: ``TypeSchemaError`` when the type cannot be probed (its decoding rejects every placeholder: a
    ///   validating initializer, an enum that is not `CaseIterable`, an enum with associated values), nests deeper
    ///   than ``maximumDepth``, or its ``SchemaDescribed/fields`` name a key it does not decode.
    public static func of<T: Decodable>(_ type: T.Type, optionalsAcceptNull: Bool = true) throws(TypeSchemaError) -> Value {
        let probe = SchemaProbe(codingPath: [], ancestors: [])
        do {
            _ = try probe.decode(T.self)
        } catch let error as TypeSchemaError {
            throw error
        } catch {
            throw TypeSchemaError(
                type: "\(T.self)",
                message:
                    "decoding it from placeholders failed (\(error)); an enum must be CaseIterable with String or Int raw values, or give the tool an explicit schema")
        }
        return probe.recorded.schema(optionalsAcceptNull: optionalsAcceptNull)
    }

    /// The schema of an input object: `of(type)`, which must be an object schema (tool arguments are an object).
    /// A type that reads nothing (an empty struct) takes an empty object; ``Value`` any object.
    /// - Throws: ``TypeSchemaError`` when `type` is not decoded from an object, or as ``of(_:optionalsAcceptNull:)``.
    public static func ofObject<T: Decodable>(_ type: T.Type, optionalsAcceptNull: Bool = true) throws(TypeSchemaError) -> Value {
        if T.self == Value.self { return ["type": "object"] }
        let schema = try of(type, optionalsAcceptNull: optionalsAcceptNull)
        if schema == [:] { return ["type": "object", "properties": [:]] }
        guard schema["type"] == "object" else {
            throw TypeSchemaError(
                type: "\(T.self)", message: "it is not decoded from a JSON object (its schema is \(schema))")
        }
        return schema
    }
}

/// Why a type's schema could not be derived.
public struct TypeSchemaError: Error, Sendable, CustomStringConvertible {
    /// The type.
    public var type: String
    /// What went wrong, and what to do.
    public var message: String

    /// Creates an error.
    public init(type: String, message: String) {
        self.type = type
        self.message = message
    }

    /// One sentence.
    public var description: String { "cannot derive a JSON Schema for \(type): \(message)" }
}

/// A type that describes its fields for ``TypeSchema``: descriptions and bounds, next to its properties.
public protocol SchemaDescribed {
    /// The type's description (the schema's `description`). Default nil.
    static var schemaDescription: String? { get }
    /// Per JSON key (the coding key's string value): a description and bounds. A key the type does not decode is
    /// an error when the schema is derived. Default: none.
    static var fields: [String: FieldSchema] { get }
}

extension SchemaDescribed {
    /// No description.
    public static var schemaDescription: String? { nil }
    /// No field details.
    public static var fields: [String: FieldSchema] { [:] }
}

/// A field's description and bounds, merged into the schema derived from its type.
///
/// A string literal is a description alone: `"city": "The city"`.
public struct FieldSchema: Sendable, Hashable, ExpressibleByStringLiteral {
    /// `description`.
    public var description: String?
    /// `minimum` (numbers).
    public var minimum: Double?
    /// `maximum` (numbers).
    public var maximum: Double?
    /// `minLength` (strings).
    public var minLength: Int?
    /// `maxLength` (strings).
    public var maxLength: Int?
    /// `pattern` (strings; a regular expression, matched anywhere unless anchored): listed for clients and checked
    /// by ``SchemaValidator`` before the handler runs.
    public var pattern: String?
    /// `minItems` (arrays).
    public var minItems: Int?
    /// `maxItems` (arrays).
    public var maxItems: Int?
    /// `default`: the value a client may assume when it leaves the field out.
    public var defaultValue: Value?
    /// Further keywords, added as they stand (`format`, `examples`, the stateless era's `x-mcp-header`, …); they
    /// win over the derived ones.
    public var extra: [String: Value]

    /// Creates a field's details; every parameter is optional.
    public init(
        _ description: String? = nil, minimum: Double? = nil, maximum: Double? = nil, minLength: Int? = nil,
        maxLength: Int? = nil, pattern: String? = nil, minItems: Int? = nil, maxItems: Int? = nil,
        defaultValue: Value? = nil, extra: [String: Value] = [:]
    ) {
        self.extra = extra
        self.description = description
        self.minimum = minimum
        self.maximum = maximum
        self.minLength = minLength
        self.maxLength = maxLength
        self.pattern = pattern
        self.minItems = minItems
        self.maxItems = maxItems
        self.defaultValue = defaultValue
    }

    /// A description alone.
    public init(stringLiteral description: String) { self.init(description) }

    /// `schema` with these details added.
    func applied(to schema: Value) -> Value {
        guard case .object(var members) = schema else { return schema }
        if let description { members["description"] = .string(description) }
        if let minimum { members["minimum"] = Self.number(minimum) }
        if let maximum { members["maximum"] = Self.number(maximum) }
        if let minLength { members["minLength"] = .int(minLength) }
        if let maxLength { members["maxLength"] = .int(maxLength) }
        if let pattern { members["pattern"] = .string(pattern) }
        if let minItems { members["minItems"] = .int(minItems) }
        if let maxItems { members["maxItems"] = .int(maxItems) }
        if let defaultValue { members["default"] = defaultValue }
        members.merge(extra) { $1 }
        return .object(members)
    }

    private static func number(_ d: Double) -> Value {
        if d.rounded() == d, d.magnitude < 0x1p53 { return .int(Int(d)) }
        return .double(d)
    }
}

// MARK: - The probe

/// What one probed value turned out to be; filled in while the type decodes itself.
private final class ProbeRecord {
    enum Shape {
        case unknown
        case scalar(Value)
        case object(properties: [(key: String, record: ProbeRecord, required: Bool)])
        case array(items: [ProbeRecord])
    }
    var shape: Shape = .unknown
    var details: (description: String?, fields: [String: FieldSchema])?
    /// Keys the type tested with `contains` (read only when present: optional).
    var testedKeys: Set<String> = []

    func schema(optionalsAcceptNull: Bool) -> Value {
        var schema: Value
        switch shape {
        case .unknown:
            schema = [:]
        case .scalar(let value):
            schema = value
        case .object(let properties):
            var members: [String: Value] = [:]
            var required: [Value] = []
            for property in properties {
                var child = property.record.schema(optionalsAcceptNull: optionalsAcceptNull)
                if let field = details?.fields[property.key] { child = field.applied(to: child) }
                if !property.required, optionalsAcceptNull { child = Self.acceptingNull(child) }
                members[property.key] = child
                if property.required { required.append(.string(property.key)) }
            }
            var object: [String: Value] = ["type": "object", "properties": .object(members)]
            if !required.isEmpty { object["required"] = .array(required) }
            schema = .object(object)
        case .array(let items):
            let schemas = items.map { $0.schema(optionalsAcceptNull: optionalsAcceptNull) }
            schema = ["type": "array", "items": schemas.allSatisfy({ $0 == schemas.first }) ? schemas.first ?? [:] : [:]]
        }
        if let description = details?.description, case .object(var members) = schema {
            members["description"] = .string(description)
            schema = .object(members)
        }
        return schema
    }

    /// `schema` that also accepts `null` (an optional property: the decoder reads `null` as nil).
    static func acceptingNull(_ schema: Value) -> Value {
        guard case .object(var members) = schema, let type = members["type"]?.stringValue else { return schema }
        members["type"] = [.string(type), "null"]
        if case .array(let choices)? = members["enum"] { members["enum"] = .array(choices + [.null]) }
        return .object(members)
    }
}

/// The key of a probed object, as the type's coding keys spell it.
private struct ProbeKey: CodingKey {
    let stringValue: String
    let intValue: Int?
    init?(stringValue: String) { (self.stringValue, intValue) = (stringValue, nil) }
    init?(intValue: Int) { (stringValue, self.intValue) = ("\(intValue)", intValue) }
}

/// Collections whose element type the probe checks before it decodes one (a type that contains itself).
private protocol ProbedCollection {
    static var probedElement: Any.Type { get }
    static var probedEmpty: Any { get }
}

extension Array: ProbedCollection {
    fileprivate static var probedElement: Any.Type { Element.self }
    fileprivate static var probedEmpty: Any { [Element]() }
}

extension Set: ProbedCollection {
    fileprivate static var probedElement: Any.Type { Element.self }
    fileprivate static var probedEmpty: Any { Set<Element>() }
}

/// The probing decoder: every request is answered with a placeholder and noted in ``recorded``.
private struct SchemaProbe: Decoder, SingleValueDecodingContainer {
    let codingPath: [any CodingKey]
    /// The types being decoded on the way here: one met again is not followed (a type that contains itself).
    let ancestors: [ObjectIdentifier]
    let recorded: ProbeRecord
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// A probe at `codingPath` below `ancestors`, noting into `record` (a new one by default; a key asked twice
    /// notes into the same).
    init(codingPath: [any CodingKey], ancestors: [ObjectIdentifier], record: ProbeRecord = ProbeRecord()) {
        self.codingPath = codingPath
        self.ancestors = ancestors
        self.recorded = record
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        if case .object = recorded.shape {} else { recorded.shape = .object(properties: []) }
        return KeyedDecodingContainer(ObjectProbe<Key>(parent: self))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        if case .array = recorded.shape {} else { recorded.shape = .array(items: []) }
        return ArrayProbe(parent: self)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    func decodeNil() -> Bool { false }

    /// Whether a value of `type` would repeat a type being decoded on the way here.
    func repeats(_ type: Any.Type) -> Bool { ancestors.contains(ObjectIdentifier(type)) }

    /// Every `decode` of every container lands here: the placeholder of `T`, and its schema noted.
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        guard codingPath.count <= TypeSchema.maximumDepth else {
            throw TypeSchemaError(
                type: "\(T.self)",
                message: "it nests deeper than \(TypeSchema.maximumDepth) levels (at \(codingPath.map(\.stringValue).joined(separator: ".")))")
        }
        if let placeholder = Self.scalar(T.self) {
            recorded.shape = .scalar(placeholder.schema)
            return placeholder.value as! T
        }
        if let choices = T.self as? any (CaseIterable & Decodable).Type, let found = Self.enumeration(choices),
            let first = found.first as? T
        {
            recorded.shape = .scalar(found.schema)
            return first
        }
        // A collection of a type being decoded on the way here: described as an array of anything, left empty.
        if let collection = T.self as? any ProbedCollection.Type, repeats(collection.probedElement),
            let empty = collection.probedEmpty as? T
        {
            recorded.shape = .array(items: [])
            return empty
        }
        if let described = T.self as? any SchemaDescribed.Type {
            recorded.details = (described.schemaDescription, described.fields)
        }
        let value = try T(from: SchemaProbe(codingPath: codingPath, ancestors: ancestors + [ObjectIdentifier(T.self)], record: recorded))
        if let details = recorded.details, case .object(let properties) = recorded.shape {
            let decoded = Set(properties.map(\.key))
            if let unknown = details.fields.keys.sorted().first(where: { !decoded.contains($0) }) {
                throw TypeSchemaError(
                    type: "\(T.self)", message: "its fields name \"\(unknown)\", which it does not decode")
            }
            for (key, field) in details.fields.sorted(by: { $0.key < $1.key }) {
                if let pattern = field.pattern, SchemaValidator.regex(pattern) == nil {
                    throw TypeSchemaError(
                        type: "\(T.self)",
                        message: "the pattern of its field \"\(key)\", \(pattern), is not a regular expression")
                }
            }
        }
        return value
    }

    /// A child probe one level down.
    func child(_ key: any CodingKey) -> SchemaProbe { SchemaProbe(codingPath: codingPath + [key], ancestors: ancestors) }

    /// Placeholders and schemas of the types decoded from one JSON scalar (or taken as they stand).
    static func scalar(_ type: Any.Type) -> (value: Any, schema: Value)? {
        switch type {
        case is String.Type: return ("", ["type": "string"])
        case is Bool.Type: return (false, ["type": "boolean"])
        case is Int.Type: return (0, ["type": "integer"])
        case is Int8.Type: return (Int8(0), ["type": "integer", "minimum": .int(Int(Int8.min)), "maximum": .int(Int(Int8.max))])
        case is Int16.Type: return (Int16(0), ["type": "integer", "minimum": .int(Int(Int16.min)), "maximum": .int(Int(Int16.max))])
        case is Int32.Type: return (Int32(0), ["type": "integer", "minimum": .int(Int(Int32.min)), "maximum": .int(Int(Int32.max))])
        case is Int64.Type: return (Int64(0), ["type": "integer"])
        case is UInt.Type: return (UInt(0), ["type": "integer", "minimum": 0])
        case is UInt8.Type: return (UInt8(0), ["type": "integer", "minimum": 0, "maximum": .int(Int(UInt8.max))])
        case is UInt16.Type: return (UInt16(0), ["type": "integer", "minimum": 0, "maximum": .int(Int(UInt16.max))])
        case is UInt32.Type: return (UInt32(0), ["type": "integer", "minimum": 0, "maximum": .int(Int(UInt32.max))])
        case is UInt64.Type: return (UInt64(0), ["type": "integer", "minimum": 0])
        case is Double.Type: return (0.0, ["type": "number"])
        case is Float.Type: return (Float(0), ["type": "number"])
        case is Decimal.Type: return (Decimal(0), ["type": "number"])
        case is Date.Type: return (Date(timeIntervalSince1970: 0), ["type": "string", "format": "date-time"])
        case is URL.Type: return (URL(string: "https://example.com")!, ["type": "string", "format": "uri"])
        case is UUID.Type: return (UUID(), ["type": "string", "format": "uuid"])
        case is Data.Type: return (Data(), ["type": "string", "contentEncoding": "base64"])
        case is Value.Type: return (Value.null, [:])
        default: return nil
        }
    }

    /// The `enum` schema and first case of a `CaseIterable` type with `String` or integer raw values.
    static func enumeration<E: CaseIterable & Decodable>(_ type: E.Type) -> (schema: Value, first: Any)? {
        let cases = Array(E.allCases)
        guard let first = cases.first else { return nil }
        var strings: [Value] = []
        var integers: [Value] = []
        for choice in cases {
            if let raw = (choice as? any RawRepresentable)?.rawValue {
                if let text = raw as? String { strings.append(.string(text)) } else if let number = raw as? Int {
                    integers.append(.int(number))
                }
            }
        }
        if strings.count == cases.count { return (["type": "string", "enum": .array(strings)], first) }
        if integers.count == cases.count { return (["type": "integer", "enum": .array(integers)], first) }
        return nil
    }
}

/// A probed object: each key asked for becomes a property (required when asked with `decode`).
private struct ObjectProbe<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let parent: SchemaProbe
    var codingPath: [any CodingKey] { parent.codingPath }
    var allKeys: [Key] { [] }

    /// Every key is there, but one tested before it is read is optional.
    func contains(_ key: Key) -> Bool {
        parent.recorded.testedKeys.insert(key.stringValue)
        return true
    }

    /// The probe of the value at `name`, noted as a property.
    private func property(_ name: String, required: Bool) -> SchemaProbe {
        let child = parent.child(ProbeKey(stringValue: name)!)
        let required = required && !parent.recorded.testedKeys.contains(name)
        guard case .object(var properties) = parent.recorded.shape else { return child }
        if let index = properties.firstIndex(where: { $0.key == name }) {
            properties[index].required = properties[index].required || required
            parent.recorded.shape = .object(properties: properties)
            return SchemaProbe(codingPath: child.codingPath, ancestors: child.ancestors, record: properties[index].record)
        }
        properties.append((name, child.recorded, required))
        parent.recorded.shape = .object(properties: properties)
        return child
    }

    /// Asked before `decodeIfPresent`'s decode (when it is not answered here): the value is there.
    func decodeNil(forKey key: Key) throws -> Bool { false }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try property(key.stringValue, required: true).decode(type)
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? { try optional(type, key) }

    // The scalar requirements have default implementations of their own (which would call `decode`, making the
    // property required): each is answered here.
    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try optional(type, key) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try optional(type, key) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try optional(type, key) }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try optional(type, key) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try optional(type, key) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try optional(type, key) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try optional(type, key) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try optional(type, key) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try optional(type, key) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try optional(type, key) }

    /// An optional value: noted as a property that is not required; one of a type being decoded on the way here
    /// is left nil (described as any JSON).
    private func optional<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T? {
        let probe = property(key.stringValue, required: false)
        if parent.repeats(T.self) { return nil }
        return try probe.decode(type)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try property(key.stringValue, required: true).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try property(key.stringValue, required: true).unkeyedContainer()
    }

    /// The superclass's data, under "super" (as `ValueDecoder` and `JSONDecoder` read it).
    func superDecoder() throws -> any Decoder { property("super", required: true) }

    func superDecoder(forKey key: Key) throws -> any Decoder { property(key.stringValue, required: true) }
}

/// A probed array: one element is decoded (its schema is `items`; a type that reads several elements of different
/// shapes gets `items` that accept any JSON), then the array ends.
private struct ArrayProbe: UnkeyedDecodingContainer {
    let parent: SchemaProbe
    var codingPath: [any CodingKey] { parent.codingPath }
    var count: Int? { 1 }
    private(set) var currentIndex = 0
    var isAtEnd: Bool { currentIndex >= 1 }

    init(parent: SchemaProbe) { self.parent = parent }

    /// The element's probe, noted among the array's elements.
    private mutating func element() -> SchemaProbe {
        let probe = parent.child(ProbeKey(intValue: currentIndex)!)
        if case .array(let items) = parent.recorded.shape {
            parent.recorded.shape = .array(items: items + [probe.recorded])
        } else {
            parent.recorded.shape = .array(items: [probe.recorded])
        }
        currentIndex += 1
        return probe
    }

    mutating func decodeNil() throws -> Bool { false }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try element().decode(type) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try element().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try element().unkeyedContainer() }

    mutating func superDecoder() throws -> any Decoder { element() }
}
