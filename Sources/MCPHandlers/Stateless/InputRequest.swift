/// One request for input from the client: an `elicitation/create`, `sampling/createMessage` or `roots/list`
/// that a handler needs answered before it can finish.
///
/// In the session era the server sends it to the client and waits; in the stateless era (2026-07-28) it
/// becomes an entry of an `input_required` result's `inputRequests`, keyed by ``key``, and the client's
/// answer comes back in the retry's `inputResponses` under the same key.
///
/// ```swift
/// let answers = try await context.requestInputs([
///     .elicit(key: "user_name", ["message": "What is your name?", "requestedSchema": schema]),
///     .listRoots(key: "roots_request"),
/// ])
/// ```
public struct InputRequest: Sendable, Hashable {
    /// The key of this request in `inputRequests` / `inputResponses`; nil lets the context derive one from
    /// the call order (`elicitation-1`, `sampling-2`, …), which is stable because a handler is re-run from
    /// the start on every retry.
    public var key: String?
    /// `elicitation/create`, `sampling/createMessage` or `roots/list`.
    public var method: String
    /// The request's params.
    public var params: Value?

    /// Creates a request.
    /// - Parameters:
    ///   - key: its key, or nil for a key derived from the call order.
    ///   - method: the client method.
    ///   - params: its params.
    public init(key: String? = nil, method: String, params: Value? = nil) {
        self.key = key
        self.method = method
        self.params = params
    }

    /// An `elicitation/create` request.
    /// - Parameters:
    ///   - key: its key (nil: derived from the call order).
    ///   - params: `message`, `requestedSchema` (form mode) or `url` (url mode).
    public static func elicit(key: String? = nil, _ params: Value) -> InputRequest {
        InputRequest(key: key, method: "elicitation/create", params: params)
    }

    /// A `sampling/createMessage` request.
    /// - Parameters:
    ///   - key: its key (nil: derived from the call order).
    ///   - params: `messages`, `maxTokens`, ….
    public static func createMessage(key: String? = nil, _ params: Value) -> InputRequest {
        InputRequest(key: key, method: "sampling/createMessage", params: params)
    }

    /// A `roots/list` request.
    /// - Parameter key: its key (nil: derived from the call order).
    public static func listRoots(key: String? = nil) -> InputRequest {
        InputRequest(key: key, method: "roots/list", params: nil)
    }

    /// The client capability the request needs: `elicitation`, `sampling` or `roots` (nil for other methods).
    public var requiredCapability: String? {
        switch method {
        case "elicitation/create": return "elicitation"
        case "sampling/createMessage": return "sampling"
        case "roots/list": return "roots"
        default: return nil
        }
    }

    /// The `{method, params}` object of an `inputRequests` entry.
    public var value: Value {
        var object: [String: Value] = ["method": .string(method)]
        if let params { object["params"] = params }
        return .object(object)
    }
}
