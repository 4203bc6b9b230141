/// One argument of a ``Prompt``. Argument values are always strings on the wire.
public struct PromptArgument: Sendable, Hashable {
    /// The argument's name, the key in `prompts/get`'s `arguments`.
    public var name: String
    /// Optional display name.
    public var title: String?
    /// What to pass.
    public var description: String?
    /// Whether `prompts/get` must carry it (a missing one is answered with -32602).
    public var required: Bool

    /// Creates an argument.
    /// - Parameters:
    ///   - name: the argument's name.
    ///   - title: optional display name.
    ///   - description: what to pass.
    ///   - required: whether it must be given (default false).
    public init(name: String, title: String? = nil, description: String? = nil, required: Bool = false) {
        self.name = name
        self.title = title
        self.description = description
        self.required = required
    }

    /// The JSON form (`required` only when true).
    public var value: Value {
        var o: [String: Value] = ["name": .string(name)]
        if let title { o["title"] = .string(title) }
        if let description { o["description"] = .string(description) }
        if required { o["required"] = true }
        return .object(o)
    }
}
