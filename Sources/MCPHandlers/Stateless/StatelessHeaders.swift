/// The HTTP headers of a stateless (2026-07-28) POST that mirror its body, for ``MCPServer/handleStateless(_:headers:outbound:user:)``
/// to check: `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name`. A header absent from the request is nil.
///
/// Transports without headers (stdio, in-process) pass nil instead of a value of this type: nothing is checked.
public struct StatelessHeaders: Sendable, Hashable {
    /// `MCP-Protocol-Version`.
    public var protocolVersion: String?
    /// `Mcp-Method`.
    public var method: String?
    /// `Mcp-Name`, as received (a `=?base64?…?=` value is decoded before comparing).
    public var name: String?
    /// Every `Mcp-Param-{Name}` header, keyed by `{Name}` lowercased, values as received.
    public var params: [String: String]

    /// Creates the header set.
    /// - Parameters:
    ///   - protocolVersion: `MCP-Protocol-Version`.
    ///   - method: `Mcp-Method`.
    ///   - name: `Mcp-Name`.
    ///   - params: the `Mcp-Param-{Name}` headers, keyed by `{Name}` (any case).
    public init(
        protocolVersion: String? = nil, method: String? = nil, name: String? = nil, params: [String: String] = [:]
    ) {
        self.protocolVersion = protocolVersion
        self.method = method
        self.name = name
        var lowered: [String: String] = [:]
        for (key, value) in params { lowered[key.lowercased()] = value }
        self.params = lowered
    }
}
