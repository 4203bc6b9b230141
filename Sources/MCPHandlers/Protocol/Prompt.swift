/// A prompt's metadata as `prompts/list` shows it.
public struct Prompt: Sendable, Hashable {
    /// Unique name.
    public var name: String
    /// Optional display name.
    public var title: String?
    /// What the prompt is for.
    public var description: String?
    /// The arguments it takes, in display order.
    public var arguments: [PromptArgument]
    /// Icons a client may show (2025-11-25).
    public var icons: [Icon]

    /// Creates prompt metadata.
    /// - Parameters:
    ///   - name: unique name.
    ///   - title: optional display name.
    ///   - description: what it is for.
    ///   - arguments: the arguments it takes.
    ///   - icons: icons a client may show.
    public init(name: String, title: String? = nil, description: String? = nil, arguments: [PromptArgument] = [],
        icons: [Icon] = []
    ) {
        self.icons = icons
        self.name = name
        self.title = title
        self.description = description
        self.arguments = arguments
    }

    /// The JSON form (`arguments` only when there are some).
    public var value: Value {
        var o: [String: Value] = ["name": .string(name)]
        if let title { o["title"] = .string(title) }
        if let description { o["description"] = .string(description) }
        Icon.add(icons, to: &o)
        if !arguments.isEmpty { o["arguments"] = .array(arguments.map(\.value)) }
        return .object(o)
    }
}
