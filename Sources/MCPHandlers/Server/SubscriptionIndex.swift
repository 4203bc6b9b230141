/// Which sessions subscribed to which resource URI: the server-side index behind
/// ``MCPServer/notifyResourceUpdated(uri:)`` (each ``Session`` keeps its own set too).
struct SubscriptionIndex: Sendable {
    private var sessionsByURI: [String: Set<String>] = [:]

    mutating func add(uri: String, sessionID: String) { sessionsByURI[uri, default: []].insert(sessionID) }

    mutating func remove(uri: String, sessionID: String) {
        guard var ids = sessionsByURI[uri] else { return }
        ids.remove(sessionID)
        sessionsByURI[uri] = ids.isEmpty ? nil : ids
    }

    /// Drops every subscription of a session.
    mutating func removeSession(_ sessionID: String, uris: some Sequence<String>) {
        for uri in uris { remove(uri: uri, sessionID: sessionID) }
    }

    func sessions(subscribedTo uri: String) -> Set<String> { sessionsByURI[uri] ?? [] }
}
