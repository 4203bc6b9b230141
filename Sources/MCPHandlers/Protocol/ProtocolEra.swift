/// The two ways MCP revisions carry a conversation.
public enum ProtocolEra: Sendable, Hashable {
    /// `initialize` + `Mcp-Session-Id` (2025-11-25 and older): the server keeps per-session state and may
    /// send requests to the client on a stream.
    case session
    /// Per-request `_meta` (2026-07-28 and later): no sessions, `server/discover`, multi round-trip requests
    /// (`input_required`) instead of server→client requests, `subscriptions/listen` for change notifications.
    case stateless
}
