import Foundation

extension Value: Codable {
    /// Decodes any JSON value.
    /// - Throws: `DecodingError` when the decoder holds something that is not JSON.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? container.decode(Int.self) {
            self = .int(i)
        } else if let d = try? container.decode(Double.self) {
            self = .double(d)
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else if let a = try? container.decode([Value].self) {
            self = .array(a)
        } else if let o = try? container.decode([String: Value].self) {
            self = .object(o)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a JSON value")
        }
    }

    /// Encodes this value.
    /// - Throws: what the encoder throws.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .int(let i): try container.encode(i)
        case .double(let d): try container.encode(d)
        case .string(let s): try container.encode(s)
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }

    /// The JSON value of an `Encodable`.
    /// - Parameter encodable: the value to convert.
    /// - Throws: `EncodingError` from `JSONEncoder`, or ``JSONParseError`` (which cannot happen for its output).
    public init(encoding encodable: some Encodable) throws {
        let data = try JSONEncoder().encode(encodable)
        self = try JSONParser().parse(data)
    }

    /// Decodes this value as `T`, straight from the value (`ValueDecoder`, with `JSONDecoder`'s conventions).
    /// - Parameter type: the type to decode.
    /// - Returns: the decoded value.
    /// - Throws: `DecodingError` when the value does not have `T`'s shape.
    public func decode<T: Decodable>(as type: T.Type = T.self) throws -> T {
        try ValueDecoder().decode(T.self, from: self)
    }
}
