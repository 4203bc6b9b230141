import Foundation

/// Decodes `Decodable` types straight from a parsed ``Value``: typed tool arguments without writing the JSON out and
/// parsing it again.
///
/// It follows `JSONDecoder`'s default strategies, so a type decodes the same either way: integers are range-checked
/// (a `.double` with no fraction counts as an integer), `Double` and `Float` accept integers, `Bool` and `String`
/// accept only their own JSON type, a missing key or `null` decodes an optional as nil, `Data` is base64, `URL` a
/// string, `Date` seconds since 2001 (`Date`'s own encoding; ISO 8601 text with ``iso8601Dates``, as typed tools use), and ``Value`` itself is taken as it stands. Errors are
/// `DecodingError`s with `JSONDecoder`'s messages and the coding path to the offending value.
///
/// ```swift
/// struct Arguments: Decodable { var city: String; var days: Int? }
/// let arguments = try ValueDecoder().decode(Arguments.self, from: ["city": "Oslo"])
/// ```
package struct ValueDecoder: Sendable {
    /// Whether a `Date` is ISO 8601 text (`2026-12-05T10:00:00Z`, fractional seconds allowed) rather than
    /// `Date`'s own encoding: what typed tools use, as their schemas say `format: date-time`.
    package var iso8601Dates: Bool

    /// A decoder.
    /// - Parameter iso8601Dates: whether dates are ISO 8601 text. Default false (`JSONDecoder`'s default).
    package init(iso8601Dates: Bool = false) { self.iso8601Dates = iso8601Dates }

    /// Decodes `type` from `value`.
    /// - Throws: `DecodingError` when `value` does not have `type`'s shape.
    package func decode<T: Decodable>(_ type: T.Type = T.self, from value: Value) throws -> T {
        try ValueDecoding(value: value, codingPath: [], iso8601Dates: iso8601Dates).decode(type)
    }
}

/// One value being decoded at one coding path: the `Decoder` and its single-value container.
private struct ValueDecoding: Decoder, SingleValueDecodingContainer {
    let value: Value
    let codingPath: [any CodingKey]
    let iso8601Dates: Bool
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else {
            throw mismatch([String: Any].self, container: "keyed")
        }
        return KeyedDecodingContainer(ObjectContainer<Key>(members: members, codingPath: codingPath, iso8601Dates: iso8601Dates))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = value else { throw mismatch([Any].self, container: "unkeyed") }
        return ArrayContainer(elements: elements, codingPath: codingPath, iso8601Dates: iso8601Dates)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    func decodeNil() -> Bool { value == .null }

    /// Every `decode` requirement of the container protocols lands here (a generic witness serves them all).
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if let scalar = T.self as? any ValueScalar.Type { return try scalar.decodeScalar(from: self) as! T }
        switch T.self {
        case is Value.Type: return value as! T
        case is Date.Type where iso8601Dates:
            let text = try decode(String.self)
            guard let date = Self.iso8601Date(text) else { throw corrupted("Expected date string to be ISO8601-formatted.") }
            return date as! T
        case is Data.Type:
            guard let data = Data(base64Encoded: try decode(String.self)) else {
                throw corrupted("Encountered Data is not valid Base64.")
            }
            return data as! T
        case is URL.Type:
            guard let url = URL(string: try decode(String.self)) else { throw corrupted("Invalid URL string.") }
            return url as! T
        case is Decimal.Type:
            switch value {
            case .int(let i): return Decimal(i) as! T
            case .double(let d): return Decimal(string: "\(d)").map { $0 as! T } ?? (Decimal(d) as! T)
            default: throw mismatch(Decimal.self)
            }
        default:
            return try T(from: self)
        }
    }

    /// An ISO 8601 date-time, with or without fractional seconds.
    static func iso8601Date(_ text: String) -> Date? {
        if let date = try? Date.ISO8601FormatStyle().parse(text) { return date }
        return try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)
    }

    /// The integer, when it fits in `I`.
    func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        switch value {
        case .int(let i):
            guard let exact = I(exactly: i) else { throw corrupted("Number \(i) is not representable in \(I.self).") }
            return exact
        case .double(let d):
            // Beyond 2^53 a double no longer holds every integer: the parser's rounding would pass unnoticed.
            guard d.magnitude < 0x1p53, let exact = I(exactly: d) else {
                throw corrupted("Number \(d) is not representable in \(I.self).")
            }
            return exact
        default: throw mismatch(I.self)
        }
    }

    /// The number as a `Double` (integers included).
    func number(_ type: Any.Type) throws -> Double {
        switch value {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: throw mismatch(type)
        }
    }

    func corrupted(_ description: String) -> DecodingError {
        .dataCorrupted(DecodingError.Context(codingPath: codingPath, debugDescription: description))
    }

    /// `valueNotFound` for `null`, `typeMismatch` for another JSON type, with `JSONDecoder`'s wording.
    func mismatch(_ type: Any.Type, container: String? = nil) -> DecodingError {
        let found: String
        switch value {
        case .null:
            let description =
                container.map { "Cannot get \($0) decoding container -- found null value instead" }
                ?? "Cannot get value of type \(type) -- found null value instead"
            return .valueNotFound(type, DecodingError.Context(codingPath: codingPath, debugDescription: description))
        case .bool: found = "bool"
        case .int, .double: found = "number"
        case .string: found = "a string"
        case .array: found = "an array"
        case .object: found = "a dictionary"
        }
        return .typeMismatch(
            type,
            DecodingError.Context(codingPath: codingPath, debugDescription: "Expected to decode \(type) but found \(found) instead."))
    }
}

/// The types a single-value container decodes itself rather than through `init(from:)`.
private protocol ValueScalar {
    static func decodeScalar(from decoding: ValueDecoding) throws -> Self
}

extension ValueScalar where Self: FixedWidthInteger {
    fileprivate static func decodeScalar(from decoding: ValueDecoding) throws -> Self { try decoding.integer(Self.self) }
}

extension Int: ValueScalar {}
extension Int8: ValueScalar {}
extension Int16: ValueScalar {}
extension Int32: ValueScalar {}
extension Int64: ValueScalar {}
extension UInt: ValueScalar {}
extension UInt8: ValueScalar {}
extension UInt16: ValueScalar {}
extension UInt32: ValueScalar {}
extension UInt64: ValueScalar {}

extension Double: ValueScalar {
    fileprivate static func decodeScalar(from decoding: ValueDecoding) throws -> Double { try decoding.number(Double.self) }
}

extension Float: ValueScalar {
    fileprivate static func decodeScalar(from decoding: ValueDecoding) throws -> Float {
        let number = try decoding.number(Float.self)
        guard Float(number).isFinite else {
            throw decoding.corrupted("Number \(number) is not representable in Float.")
        }
        return Float(number)
    }
}

extension Bool: ValueScalar {
    fileprivate static func decodeScalar(from decoding: ValueDecoding) throws -> Bool {
        guard case .bool(let b) = decoding.value else { throw decoding.mismatch(Bool.self) }
        return b
    }
}

extension String: ValueScalar {
    fileprivate static func decodeScalar(from decoding: ValueDecoding) throws -> String {
        guard case .string(let s) = decoding.value else { throw decoding.mismatch(String.self) }
        return s
    }
}

/// An array element's place in a coding path (`JSONDecoder` names it "Index n").
private struct IndexKey: CodingKey {
    let intValue: Int?
    let stringValue: String
    init(_ index: Int) { (intValue, stringValue) = (index, "Index \(index)") }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.init(intValue) }
}

/// A JSON object's members, by key.
private struct ObjectContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [String: Value]
    let codingPath: [any CodingKey]
    let iso8601Dates: Bool

    var allKeys: [Key] { members.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { members[key.stringValue] != nil }

    /// The member at `key`, as a decoder one level down.
    private func member(_ key: Key) throws -> ValueDecoding {
        guard let value = members[key.stringValue] else {
            throw DecodingError.keyNotFound(
                key,
                DecodingError.Context(
                    codingPath: codingPath, debugDescription: "No value associated with key \(key) (\"\(key.stringValue)\")."))
        }
        return ValueDecoding(value: value, codingPath: codingPath + [key], iso8601Dates: iso8601Dates)
    }

    func decodeNil(forKey key: Key) throws -> Bool { try member(key).decodeNil() }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try member(key).decode(type) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try member(key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try member(key).unkeyedContainer()
    }

    /// `JSONDecoder`'s convention: the superclass's data under "super", `null` when absent.
    func superDecoder() throws -> any Decoder {
        ValueDecoding(value: members["super"] ?? .null, codingPath: codingPath + [SuperKey()], iso8601Dates: iso8601Dates)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        ValueDecoding(value: members[key.stringValue] ?? .null, codingPath: codingPath + [key], iso8601Dates: iso8601Dates)
    }
}

/// The "super" key of ``ObjectContainer/superDecoder()``.
private struct SuperKey: CodingKey {
    var stringValue: String { "super" }
    var intValue: Int? { nil }
    init() {}
    init?(stringValue: String) { self.init() }
    init?(intValue: Int) { nil }
}

/// A JSON array's elements, in order.
private struct ArrayContainer: UnkeyedDecodingContainer {
    let elements: [Value]
    let codingPath: [any CodingKey]
    let iso8601Dates: Bool
    private(set) var currentIndex = 0

    init(elements: [Value], codingPath: [any CodingKey], iso8601Dates: Bool) {
        self.elements = elements
        self.codingPath = codingPath
        self.iso8601Dates = iso8601Dates
    }

    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    /// The next element, as a decoder one level down; the index moves on only when decoding it succeeds.
    private mutating func next<T>(_ type: T.Type, _ body: (ValueDecoding) throws -> T) throws -> T {
        guard !isAtEnd else { throw atEnd(type) }
        let decoded = try body(
            ValueDecoding(
                value: elements[currentIndex], codingPath: codingPath + [IndexKey(currentIndex)], iso8601Dates: iso8601Dates))
        currentIndex += 1
        return decoded
    }

    private func atEnd(_ type: Any.Type) -> DecodingError {
        .valueNotFound(
            type,
            DecodingError.Context(codingPath: codingPath + [IndexKey(currentIndex)], debugDescription: "Unkeyed container is at end."))
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { throw atEnd(Any?.self) }
        guard elements[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next(type) { try $0.decode(type) } }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try next(KeyedDecodingContainer<NestedKey>.self) { try $0.container(keyedBy: type) }
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try next((any UnkeyedDecodingContainer).self) { try $0.unkeyedContainer() }
    }

    mutating func superDecoder() throws -> any Decoder {
        try next((any Decoder).self) { $0 }
    }
}
