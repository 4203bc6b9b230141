/// One message of a prompt: who says it and what.
public struct PromptMessage: Sendable, Hashable {
    /// Who speaks a message.
    public enum Role: String, Sendable, Hashable, CaseIterable {
        /// The user.
        case user
        /// The model.
        case assistant
    }

    /// The speaker.
    public var role: Role
    /// The content block.
    public var content: Content

    /// Creates a message.
    /// - Parameters:
    ///   - role: the speaker.
    ///   - content: the content block.
    public init(role: Role, content: Content) {
        self.role = role
        self.content = content
    }

    /// A message from the user.
    public static func user(_ content: Content) -> PromptMessage { PromptMessage(role: .user, content: content) }

    /// A message from the model.
    public static func assistant(_ content: Content) -> PromptMessage {
        PromptMessage(role: .assistant, content: content)
    }

    /// The JSON form: `{"role":…, "content":{…}}`.
    public var value: Value { ["role": .string(role.rawValue), "content": content.value] }
}
