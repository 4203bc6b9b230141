/// Upper bounds on the identifiers a client sends (resource URIs, names, completion values), checked before
/// any lookup or template matching; a longer one is answered with -32602 (invalid params) naming the limit.
///
/// Lengths are counted in bytes of UTF-8. The defaults leave ample room for real identifiers while keeping
/// the work and memory one request can cause (URI template matching, subscription sets, error messages that
/// quote the identifier) small.
///
/// ```swift
/// var configuration = MCPServer.Configuration(serverInfo: .init(name: "files", version: "1.0.0"))
/// configuration.identifierLimits.maxURIBytes = 32 * 1024  // long file:// paths
/// ```
public struct IdentifierLimits: Sendable, Hashable {
    /// The longest resource URI: the `uri` of `resources/read`, `resources/subscribe` and
    /// `resources/unsubscribe`, `ref.uri` of `completion/complete`, and each URI of a `subscriptions/listen`
    /// filter's `resourceSubscriptions`. Default 8192 (8 KiB).
    public var maxURIBytes: Int
    /// The longest name: the tool of `tools/call`, the prompt of `prompts/get` and of a `ref/prompt`, the
    /// argument names of `prompts/get` and `completion/complete` (`argument.name`, `context.arguments`), and
    /// the keys of `inputResponses`. Default 256.
    public var maxNameBytes: Int
    /// The longest completion value: `argument.value` and each value of `context.arguments` of
    /// `completion/complete`. Default 4096.
    public var maxCompletionValueBytes: Int

    /// Creates limits; every parameter has the default documented on its property.
    /// - Parameters:
    ///   - maxURIBytes: the longest resource URI.
    ///   - maxNameBytes: the longest tool, prompt or argument name.
    ///   - maxCompletionValueBytes: the longest completion value.
    public init(maxURIBytes: Int = 8192, maxNameBytes: Int = 256, maxCompletionValueBytes: Int = 4096) {
        self.maxURIBytes = maxURIBytes
        self.maxNameBytes = maxNameBytes
        self.maxCompletionValueBytes = maxCompletionValueBytes
    }

    /// Checks a resource URI against ``maxURIBytes``.
    /// - Throws: ``MCPError`` -32602 when it is longer.
    func checkURI(_ uri: String, _ what: @autoclosure () -> String) throws(MCPError) {
        try Self.check(uri, limit: maxURIBytes, what: what(), setting: "maxURIBytes")
    }

    /// Checks a name against ``maxNameBytes``.
    /// - Throws: ``MCPError`` -32602 when it is longer.
    func checkName(_ name: String, _ what: @autoclosure () -> String) throws(MCPError) {
        try Self.check(name, limit: maxNameBytes, what: what(), setting: "maxNameBytes")
    }

    /// Checks a completion value against ``maxCompletionValueBytes``.
    /// - Throws: ``MCPError`` -32602 when it is longer.
    func checkCompletionValue(_ value: String, _ what: @autoclosure () -> String) throws(MCPError) {
        try Self.check(value, limit: maxCompletionValueBytes, what: what(), setting: "maxCompletionValueBytes")
    }

    private static func check(
        _ value: String, limit: Int, what: @autoclosure () -> String, setting: String
    ) throws(MCPError) {
        let length = value.utf8.count
        guard length > limit else { return }
        throw .invalidParams(
            "\(what()) is too long: \(length) bytes, the limit is \(limit) bytes (IdentifierLimits.\(setting)); "
                + "send a shorter one")
    }
}
