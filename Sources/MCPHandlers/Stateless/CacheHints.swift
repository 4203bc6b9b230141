/// The freshness hints the stateless era (2026-07-28) adds to cacheable results, one per registry.
///
/// The session era's results are left as they were: `ttlMs` and `cacheScope` are not part of those revisions.
public struct CacheHints: Sendable, Hashable {
    /// `tools/list`.
    public var tools: CacheHint
    /// `prompts/list`.
    public var prompts: CacheHint
    /// `resources/list`.
    public var resources: CacheHint
    /// `resources/templates/list`.
    public var resourceTemplates: CacheHint
    /// `resources/read`.
    public var resourceRead: CacheHint
    /// `server/discover`.
    public var discover: CacheHint

    /// Creates the hints; every one defaults to `ttlMs` 0 (always revalidate) and `private`.
    /// - Parameters:
    ///   - tools: for `tools/list`.
    ///   - prompts: for `prompts/list`.
    ///   - resources: for `resources/list`.
    ///   - resourceTemplates: for `resources/templates/list`.
    ///   - resourceRead: for `resources/read`.
    ///   - discover: for `server/discover`.
    public init(
        tools: CacheHint = CacheHint(), prompts: CacheHint = CacheHint(), resources: CacheHint = CacheHint(),
        resourceTemplates: CacheHint = CacheHint(), resourceRead: CacheHint = CacheHint(),
        discover: CacheHint = CacheHint()
    ) {
        self.tools = tools
        self.prompts = prompts
        self.resources = resources
        self.resourceTemplates = resourceTemplates
        self.resourceRead = resourceRead
        self.discover = discover
    }

    /// The hint for a method's result; nil for methods whose results are not cacheable.
    public func hint(for method: String) -> CacheHint? {
        switch method {
        case "tools/list": return tools
        case "prompts/list": return prompts
        case "resources/list": return resources
        case "resources/templates/list": return resourceTemplates
        case "resources/read": return resourceRead
        case "server/discover": return discover
        default: return nil
        }
    }
}
