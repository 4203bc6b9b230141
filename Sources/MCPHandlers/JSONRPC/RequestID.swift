/// A JSON-RPC request id: a string or an integer, echoed back exactly as the client sent it.
public enum RequestID: Sendable, Hashable, CustomStringConvertible {
    /// A string id.
    case string(String)
    /// An integer id.
    case number(Int)

    /// The id as a JSON value.
    public var value: Value {
        switch self {
        case .string(let s): return .string(s)
        case .number(let n): return .int(n)
        }
    }

    /// Reads an id from JSON: strings and integers are ids; anything else is not.
    /// - Parameter value: the `id` member of a message.
    public init?(_ value: Value) {
        switch value {
        case .string(let s): self = .string(s)
        case .int(let n): self = .number(n)
        default: return nil
        }
    }

    /// The id as text (for logs).
    public var description: String {
        switch self {
        case .string(let s): return s
        case .number(let n): return String(n)
        }
    }
}
