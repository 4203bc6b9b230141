/// Who may reuse a cached result (`cacheScope`), like HTTP `Cache-Control: public` / `private`.
public struct CacheScope: Sendable, Hashable, CustomStringConvertible {
    /// `"public"` or `"private"`.
    public let rawValue: String

    private init(_ rawValue: String) { self.rawValue = rawValue }

    /// The result holds nothing user-specific: shared caches may serve it across authorization contexts.
    public static let `public` = CacheScope("public")
    /// The result may be reused only within the authorization context that fetched it.
    public static let `private` = CacheScope("private")

    /// The wire string.
    public var description: String { rawValue }
}
