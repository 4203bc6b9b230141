/// The per-request protocol fields of a stateless (2026-07-28) request, read from `params._meta`.
public struct StatelessRequestMeta: Sendable, Hashable {
    /// `_meta` key of the protocol version (required).
    public static let protocolVersionKey = "io.modelcontextprotocol/protocolVersion"
    /// `_meta` key of the client's name and version (optional).
    public static let clientInfoKey = "io.modelcontextprotocol/clientInfo"
    /// `_meta` key of the client's capabilities for this request (required).
    public static let clientCapabilitiesKey = "io.modelcontextprotocol/clientCapabilities"
    /// `_meta` key of the minimum log level (optional; absent: no `notifications/message` at all).
    public static let logLevelKey = "io.modelcontextprotocol/logLevel"
    /// `_meta` key of the subscription id on `subscriptions/listen` notifications.
    public static let subscriptionIDKey = "io.modelcontextprotocol/subscriptionId"
    /// `_meta` key of the server's name and version on results.
    public static let serverInfoKey = "io.modelcontextprotocol/serverInfo"

    /// The protocol version the request names.
    public var protocolVersion: String
    /// The client's name and version, when given.
    public var clientInfo: Implementation?
    /// The client's capabilities (an object; empty when it declares none).
    public var clientCapabilities: Value
    /// The minimum log level, when the client opted in to log messages.
    public var logLevel: LoggingLevel?
    /// `_meta.progressToken`, when the client asked for progress.
    public var progressToken: Value?

    /// Reads the fields from a request's params.
    /// - Parameter params: the request's `params`.
    /// - Throws: ``MCPError`` -32602 when `_meta`, its protocol version (a string) or its client capabilities
    ///   (an object) is missing, or the log level is not a known level.
    public init(params: Value?) throws(MCPError) {
        guard case .object(let meta)? = params?["_meta"] else {
            throw .invalidParams(
                "params._meta must be an object carrying \"\(Self.protocolVersionKey)\" and "
                    + "\"\(Self.clientCapabilitiesKey)\"")
        }
        let missing = [Self.protocolVersionKey, Self.clientCapabilitiesKey].filter { meta[$0] == nil }
        guard missing.isEmpty else {
            throw .invalidParams("params._meta is missing the required key(s): \(missing.joined(separator: ", "))")
        }
        guard let version = meta[Self.protocolVersionKey]?.stringValue else {
            throw .invalidParams("\"\(Self.protocolVersionKey)\" must be a string")
        }
        guard let capabilities = meta[Self.clientCapabilitiesKey], capabilities.objectValue != nil else {
            throw .invalidParams("\"\(Self.clientCapabilitiesKey)\" must be an object")
        }
        var level: LoggingLevel?
        if let raw = meta[Self.logLevelKey], !raw.isNull {
            guard let name = raw.stringValue, let parsed = LoggingLevel(rawValue: name) else {
                throw .invalidParams("\"\(Self.logLevelKey)\" must be a logging level")
            }
            level = parsed
        }
        self.protocolVersion = version
        self.clientInfo = Implementation(meta[Self.clientInfoKey])
        self.clientCapabilities = capabilities
        self.logLevel = level
        self.progressToken = meta["progressToken"]
    }

    /// Whether params carry a stateless `_meta` (its protocol-version key): how a dual-era transport tells a
    /// 2026-07-28 request from a session-era one when no `MCP-Protocol-Version` header decides.
    /// - Parameter params: a request's params.
    public static func isPresent(in params: Value?) -> Bool {
        params?["_meta"]?[protocolVersionKey] != nil
    }
}
