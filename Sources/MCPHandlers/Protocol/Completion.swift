/// The answer to `completion/complete`: suggested values for one argument, most relevant first.
public struct Completion: Sendable, Hashable {
    /// The most values one response carries (the specification's limit).
    public static let maximumValues = 100

    /// The suggestions, most relevant first; only the first ``maximumValues`` are sent.
    public var values: [String]
    /// How many matches exist in all, when known.
    public var total: Int?
    /// Whether more matches exist than were sent.
    public var hasMore: Bool?

    /// Creates a completion.
    /// - Parameters:
    ///   - values: the suggestions, most relevant first.
    ///   - total: how many matches exist in all.
    ///   - hasMore: whether more exist than were sent.
    public init(values: [String], total: Int? = nil, hasMore: Bool? = nil) {
        self.values = values
        self.total = total
        self.hasMore = hasMore
    }

    /// No suggestions.
    public static let empty = Completion(values: [])

    /// The candidates that start with `prefix` (ignoring case), in the candidates' order.
    /// - Parameters:
    ///   - prefix: what the user typed so far.
    ///   - candidates: every possible value.
    public static func matching(_ prefix: String, in candidates: [String]) -> Completion {
        let needle = prefix.lowercased()
        let hits = candidates.filter { $0.lowercased().hasPrefix(needle) }
        return Completion(values: hits, total: hits.count, hasMore: hits.count > maximumValues)
    }

    /// The JSON form (`{"values":[…≤100], "total"?, "hasMore"?}`); when more than 100 values are given,
    /// `total` defaults to their count and `hasMore` to true.
    public var value: Value {
        let sent = values.prefix(Self.maximumValues)
        let truncated = sent.count < values.count
        var o: [String: Value] = ["values": .array(sent.map { .string($0) })]
        if let total = total ?? (truncated ? values.count : nil) { o["total"] = .int(total) }
        if let hasMore = hasMore ?? (truncated ? true : nil) { o["hasMore"] = .bool(hasMore) }
        return .object(o)
    }
}
