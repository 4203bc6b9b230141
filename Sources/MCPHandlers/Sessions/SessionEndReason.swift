/// Why a session ended, for ``MCPServer/sessionEnded(_:reason:)`` and the
/// `mcpfcgi_sessions_ended_total{reason}` counter (the raw value is the label).
public enum SessionEndReason: String, Sendable, CaseIterable {
    /// Its client ended it (`DELETE /mcp`), or the application removed it on purpose.
    case deleted
    /// It was idle longer than the idle timeout (the background sweep).
    case expired
    /// The management API removed it (`POST /management/cleanup`).
    case cleanedUp = "cleaned_up"
    /// The store was full and it was the least recently used idle session.
    case evicted
}
