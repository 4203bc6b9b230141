/// A tool's metadata as `tools/list` shows it.
public struct Tool: Sendable, Hashable {
    /// Unique name.
    public var name: String
    /// Optional display name.
    public var title: String?
    /// What the tool does, for the model.
    public var description: String?
    /// JSON Schema of the arguments (an object schema).
    public var inputSchema: Value
    /// JSON Schema of `structuredContent`, when the tool returns structured output.
    public var outputSchema: Value?
    /// Behaviour hints for clients (`readOnlyHint`, `destructiveHint`, `idempotentHint`, `openWorldHint`,
    /// `title`).
    public var annotations: Annotations?
    /// Whether the tool runs as a task (2025-11-25 `execution.taskSupport`); nil: not declared, which means
    /// ``TaskSupport/forbidden``.
    public var taskSupport: TaskSupport?
    /// Icons a client may show (2025-11-25).
    public var icons: [Icon]

    /// Creates tool metadata.
    /// - Parameters:
    ///   - name: unique name.
    ///   - title: optional display name.
    ///   - description: what the tool does.
    ///   - inputSchema: JSON Schema of the arguments; defaults to an object with no properties.
    ///   - outputSchema: JSON Schema of `structuredContent`.
    ///   - annotations: behaviour hints.
    ///   - taskSupport: whether it runs as a task; nil (default): not declared (forbidden).
    ///   - icons: icons a client may show.
    public init(
        name: String, title: String? = nil, description: String? = nil,
        inputSchema: Value = ["type": "object", "properties": [:]],
        outputSchema: Value? = nil, annotations: Annotations? = nil, taskSupport: TaskSupport? = nil,
        icons: [Icon] = []
    ) {
        self.icons = icons
        self.taskSupport = taskSupport
        self.name = name
        self.title = title
        self.description = description
        self.inputSchema = inputSchema
        self.outputSchema = outputSchema
        self.annotations = annotations
    }

    /// The JSON form.
    public var value: Value {
        var o: [String: Value] = ["name": .string(name), "inputSchema": inputSchema]
        if let title { o["title"] = .string(title) }
        if let description { o["description"] = .string(description) }
        if let outputSchema { o["outputSchema"] = outputSchema }
        if let annotations, !annotations.isEmpty { o["annotations"] = annotations.value }
        Icon.add(icons, to: &o)
        if let taskSupport { o["execution"] = ["taskSupport": .string(taskSupport.rawValue)] }
        return .object(o)
    }
}

extension Tool {
    /// Hints about a tool's behaviour, for clients (`ToolAnnotations`). Hints, not guarantees: a client must not
    /// trust them from a server it does not trust. Names as in the official Swift SDK.
    public struct Annotations: Sendable, Hashable {
        /// A display name for the tool.
        public var title: String?
        /// Whether the tool leaves its environment unchanged (unset means false).
        public var readOnlyHint: Bool?
        /// Whether the tool may destroy or overwrite (meaningful when not read-only; unset means true).
        public var destructiveHint: Bool?
        /// Whether calling it again with the same arguments has no further effect (meaningful when not read-only;
        /// unset means false).
        public var idempotentHint: Bool?
        /// Whether it reaches an open world of external entities, as a web search does (unset means true).
        public var openWorldHint: Bool?

        /// Creates hints; every parameter is optional (unset: the specification's default).
        public init(
            title: String? = nil, readOnlyHint: Bool? = nil, destructiveHint: Bool? = nil,
            idempotentHint: Bool? = nil, openWorldHint: Bool? = nil
        ) {
            self.title = title
            self.readOnlyHint = readOnlyHint
            self.destructiveHint = destructiveHint
            self.idempotentHint = idempotentHint
            self.openWorldHint = openWorldHint
        }

        /// Whether no hint is set.
        public var isEmpty: Bool { self == Annotations() }

        /// The JSON form (unset hints left out).
        public var value: Value {
            var o: [String: Value] = [:]
            if let title { o["title"] = .string(title) }
            if let readOnlyHint { o["readOnlyHint"] = .bool(readOnlyHint) }
            if let destructiveHint { o["destructiveHint"] = .bool(destructiveHint) }
            if let idempotentHint { o["idempotentHint"] = .bool(idempotentHint) }
            if let openWorldHint { o["openWorldHint"] = .bool(openWorldHint) }
            return .object(o)
        }
    }
}

/// Whether a tool may run as a task (`execution.taskSupport`, 2025-11-25).
public enum TaskSupport: String, Sendable, Hashable {
    /// Never as a task: a task-augmented call is refused with -32601 (the default when undeclared).
    case forbidden
    /// Either way: a call with `params.task` runs as a task, one without answers directly.
    case optional
    /// Only as a task: a plain call is refused with -32601.
    case required
}

/// What a tool call returns: content blocks, optional structured output, and whether it failed.
public struct ToolResult: Sendable, Hashable {
    /// The content blocks.
    public var content: [Content]
    /// Structured output (must match the tool's `outputSchema` when it has one).
    public var structuredContent: Value?
    /// `true` when the tool failed (the failure is reported to the model, not as a protocol error).
    public var isError: Bool

    /// Creates a result.
    public init(content: [Content], structuredContent: Value? = nil, isError: Bool = false) {
        self.content = content
        self.structuredContent = structuredContent
        self.isError = isError
    }

    /// A result with one text block.
    public static func text(_ text: String) -> ToolResult { ToolResult(content: [.text(text)]) }

    /// A failed result with one text block.
    public static func error(_ message: String) -> ToolResult { ToolResult(content: [.text(message)], isError: true) }

    /// The JSON form (`CallToolResult`).
    public var value: Value {
        var o: [String: Value] = ["content": .array(content.map(\.value))]
        if let structuredContent { o["structuredContent"] = structuredContent }
        if isError { o["isError"] = true }
        return .object(o)
    }
}
