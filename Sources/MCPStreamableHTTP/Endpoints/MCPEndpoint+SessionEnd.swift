import MCPHandlers

/// Ending sessions at the transport: the server's one end step (``MCPHandlers/MCPServer/end(_:reason:)``),
/// then the session's SSE streams closed, by the one caller that ended it.
extension MCPEndpoint {
    /// Ends a session in one step: removes it from the store, ends it (cancels its requests, forgets its
    /// subscriptions, counts `mcpfcgi_sessions_ended_total{reason}`) and closes its SSE streams. `DELETE /mcp`
    /// uses it; an application may too. Racing with another end (the idle sweep), one of them ends it.
    /// - Parameters:
    ///   - id: the session's id.
    ///   - reason: why it ends. Default `SessionEndReason/deleted`.
    /// - Returns: the session when this call ended it; nil when no live session has that id (its requests get
    ///   404).
    /// - Throws: what the session store throws when it cannot be reached; then nothing changed.
    @discardableResult public func endSession(id: String, reason: SessionEndReason = .deleted) async throws
        -> Session?
    {
        guard let ended = try await server.endSession(id: id, reason: reason) else { return nil }
        streams.remove(sessionID: ended.id)
        return ended
    }

    /// Ends every session idle for at least `seconds` as ``endSession(id:reason:)`` does: the idle sweep and the
    /// management cleanup (``SessionSweeper``).
    /// - Parameters:
    ///   - seconds: the inactivity threshold (0: every session with nothing in flight).
    ///   - reason: why they end (``MCPHandlers/SessionEndReason/expired`` or
    ///     ``MCPHandlers/SessionEndReason/cleanedUp``).
    /// - Returns: the sessions this call ended.
    /// - Throws: what the session store throws when it cannot be reached; then nothing changed.
    func endIdleSessions(olderThan seconds: Double, reason: SessionEndReason) async throws -> [Session] {
        let ended = try await server.endIdleSessions(olderThan: seconds, reason: reason)
        for session in ended { streams.remove(sessionID: session.id) }
        return ended
    }
}
