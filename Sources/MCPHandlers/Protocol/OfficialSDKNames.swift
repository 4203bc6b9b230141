// The official Swift SDK's (modelcontextprotocol/swift-sdk) names for the types this library names otherwise, so code
// and habits carry over: `Tool.Content`, `CallTool.Result`, `Prompt.Argument`, `Prompt.Message`, `Resource.Content`,
// `Resource.Template`. `Tool`, `Tool.Annotations`, `Prompt`, `Resource` and `Icon` have the same names already.

extension Tool {
    /// A content block of a tool result (the official Swift SDK's name for ``Content``).
    public typealias Content = MCPHandlers.Content
}

/// The official Swift SDK's `tools/call` namespace.
public enum CallTool {
    /// What a tool call returns (``ToolResult``).
    public typealias Result = ToolResult
}

extension Prompt {
    /// An argument a prompt takes (``PromptArgument``).
    public typealias Argument = PromptArgument
    /// A message of a rendered prompt (``PromptMessage``).
    public typealias Message = PromptMessage
}

extension Resource {
    /// The contents of a read resource (``ResourceContents``).
    public typealias Content = ResourceContents
    /// A resource template (``ResourceTemplate``).
    public typealias Template = ResourceTemplate
}
