/// Typed `sampling/createMessage`: what a tool asks the client's model and what comes back
/// (``RequestContext/sample(_:maxTokens:systemPrompt:modelPreferences:temperature:stopSequences:includeContext:key:)``).
/// Names as in the official Swift SDK.
public enum Sampling {
    /// One message of the conversation given to the model.
    public struct Message: Sendable, Hashable {
        /// Who speaks.
        public enum Role: String, Sendable, Hashable {
            /// The user.
            case user
            /// The model.
            case assistant
        }

        /// Who speaks.
        public var role: Role
        /// What is said: text, image or audio blocks (``Content/text(_:)``, ``Content/image(data:mimeType:)``,
        /// ``Content/audio(data:mimeType:)``).
        public var content: [Content]

        /// A message of `role` with `content`.
        public init(role: Role, content: [Content]) {
            self.role = role
            self.content = content
        }

        /// A user's text.
        public static func user(_ text: String) -> Message { Message(role: .user, content: [.text(text)]) }
        /// The model's text (an earlier turn).
        public static func assistant(_ text: String) -> Message { Message(role: .assistant, content: [.text(text)]) }

        /// The JSON form (`SamplingMessage`): one block as an object, several as an array.
        public var value: Value {
            let blocks = content.map(\.value)
            return ["role": .string(role.rawValue), "content": blocks.count == 1 ? blocks[0] : .array(blocks)]
        }
    }

    /// What the server prefers in a model; the client decides.
    public struct ModelPreferences: Sendable, Hashable {
        /// Model names or families, in order of preference (`hints[].name`).
        public var hints: [String]
        /// How much cost matters, 0–1.
        public var costPriority: Double?
        /// How much speed matters, 0–1.
        public var speedPriority: Double?
        /// How much capability matters, 0–1.
        public var intelligencePriority: Double?

        /// Creates preferences; every parameter is optional. Priorities are clamped to 0–1.
        public init(
            hints: [String] = [], costPriority: Double? = nil, speedPriority: Double? = nil,
            intelligencePriority: Double? = nil
        ) {
            self.hints = hints
            self.costPriority = costPriority.map { min(1, max(0, $0)) }
            self.speedPriority = speedPriority.map { min(1, max(0, $0)) }
            self.intelligencePriority = intelligencePriority.map { min(1, max(0, $0)) }
        }

        /// The JSON form.
        public var value: Value {
            var o: [String: Value] = [:]
            if !hints.isEmpty { o["hints"] = .array(hints.map { ["name": .string($0)] }) }
            if let costPriority { o["costPriority"] = .double(costPriority) }
            if let speedPriority { o["speedPriority"] = .double(speedPriority) }
            if let intelligencePriority { o["intelligencePriority"] = .double(intelligencePriority) }
            return .object(o)
        }
    }

    /// Which MCP context the client adds to the prompt (`includeContext`).
    public enum ContextInclusion: String, Sendable, Hashable {
        /// None.
        case none
        /// This server's.
        case thisServer
        /// Every server's.
        case allServers
    }

    /// The model's answer (`CreateMessageResult`).
    public struct Result: Sendable, Hashable {
        /// Who speaks (the model: `assistant`).
        public var role: Message.Role
        /// What the model said.
        public var content: [Content]
        /// The model that answered.
        public var model: String
        /// Why it stopped (`endTurn`, `stopSequence`, `maxTokens`, or the client's own), when said.
        public var stopReason: String?

        /// The text of the answer's text blocks, joined; nil when it has none.
        public var text: String? {
            let texts = content.compactMap { block -> String? in
                if case .text(let text) = block { return text }
                return nil
            }
            return texts.isEmpty ? nil : texts.joined()
        }

        /// Reads a client's `CreateMessageResult`.
        /// - Throws: ``MCPError`` -32602 naming what is missing or of an unknown kind.
        public init(_ value: Value) throws(MCPError) {
            guard let role = value["role"]?.stringValue.flatMap(Message.Role.init(rawValue:)) else {
                throw MCPError.invalidParams("The client's sampling result has no valid role: \(value["role"] ?? .null)")
            }
            guard let model = value["model"]?.stringValue else {
                throw MCPError.invalidParams("The client's sampling result names no model")
            }
            let blocks: [Value]
            switch value["content"] {
            case .array(let many): blocks = many
            case .object(let one): blocks = [.object(one)]
            default: throw MCPError.invalidParams("The client's sampling result has no content")
            }
            var content: [Content] = []
            for block in blocks {
                switch (block["type"]?.stringValue, block["text"]?.stringValue, block["data"]?.stringValue, block["mimeType"]?.stringValue) {
                case ("text", let text?, _, _): content.append(.text(text))
                case ("image", _, let data?, let mimeType?): content.append(.image(data: data, mimeType: mimeType))
                case ("audio", _, let data?, let mimeType?): content.append(.audio(data: data, mimeType: mimeType))
                default:
                    throw MCPError.invalidParams(
                        "The client's sampling result has a content block this server does not read: \(block["type"] ?? .null)")
                }
            }
            self.role = role
            self.model = model
            self.content = content
            self.stopReason = value["stopReason"]?.stringValue
        }
    }
}
