/// A freshness hint for one kind of result (2026-07-28 `CacheableResult`): `ttlMs` and `cacheScope`.
public struct CacheHint: Sendable, Hashable {
    /// How long, in milliseconds, a client may consider the result fresh; 0 means immediately stale.
    public var ttlMs: Int
    /// Who may reuse the cached result.
    public var scope: CacheScope

    /// Creates a hint.
    /// - Parameters:
    ///   - ttlMs: freshness in milliseconds (negative values are treated as 0). Default 0.
    ///   - scope: who may reuse it. Default ``CacheScope/private``.
    public init(ttlMs: Int = 0, scope: CacheScope = .private) {
        self.ttlMs = max(0, ttlMs)
        self.scope = scope
    }

    /// Adds `ttlMs` and `cacheScope` to a result object, keeping values the handler already set.
    func apply(to result: Value) -> Value {
        guard case .object(var object) = result else { return result }
        if object["ttlMs"] == nil { object["ttlMs"] = .int(ttlMs) }
        if object["cacheScope"] == nil { object["cacheScope"] = .string(scope.rawValue) }
        return .object(object)
    }
}
