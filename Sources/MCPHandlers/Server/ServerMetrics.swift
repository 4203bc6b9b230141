import CoreMetrics
import Metrics
import Synchronization

/// The server's swift-metrics handles: made once per server (fixed labels) or once per bounded label value
/// (method × outcome, registered tool), never per request.
final class ServerMetrics: Sendable {
    /// Why `initialize` was refused (`mcpfcgi_session_refusals_total{reason}`).
    enum Refusal: String, CaseIterable {
        case storeFull = "store_full"
        case storeUnavailable = "store_unavailable"
        case addressQuota = "address_quota"
        case userQuota = "user_quota"
    }

    /// How a tool call ended (`mcpfcgi_tool_calls_total{outcome}`).
    enum ToolOutcome: String, CaseIterable {
        case success
        case toolError = "tool_error"
        case protocolError = "protocol_error"
        case cancelled
    }

    static let requestsLabel = "mcpfcgi_jsonrpc_requests_total"
    static let toolCallsLabel = "mcpfcgi_tool_calls_total"
    static let toolDurationLabel = "mcpfcgi_tool_call_duration_seconds"
    static let sessionsCreatedLabel = "mcpfcgi_sessions_created_total"
    static let sessionsEndedLabel = "mcpfcgi_sessions_ended_total"
    static let refusalsLabel = "mcpfcgi_session_refusals_total"

    /// The methods counted under their own name (session and stateless eras); any other is `other`.
    static let knownMethods: Set<String> = [
        "initialize", "ping", "tools/list", "tools/call", "resources/list", "resources/templates/list",
        "resources/read", "resources/subscribe", "resources/unsubscribe", "prompts/list", "prompts/get",
        "completion/complete", "logging/setLevel", "server/discover", "subscriptions/listen",
    ]

    /// The error codes counted under their own value; any other is `other_error`.
    static let knownCodes: [Int: String] = Dictionary(
        uniqueKeysWithValues: [
            MCPError.Code.parseError, MCPError.Code.invalidRequest, MCPError.Code.methodNotFound,
            MCPError.Code.invalidParams, MCPError.Code.internalError, MCPError.Code.resourceNotFound,
            MCPError.Code.connectionClosed, MCPError.Code.requestTimeout, MCPError.Code.headerMismatch,
            MCPError.Code.missingRequiredClientCapability, MCPError.Code.unsupportedProtocolVersion,
            MCPError.Code.requestCancelled, MCPError.Code.urlElicitationRequired,
        ].map { ($0, String($0)) })

    /// The `method` label of a request: its method when the server knows it, else `other`.
    static func methodLabel(_ method: String) -> String { knownMethods.contains(method) ? method : "other" }

    /// The `outcome` label: `result`, a known error code, or `other_error`.
    static func outcomeLabel(errorCode: Int?) -> String {
        guard let errorCode else { return "result" }
        return knownCodes[errorCode] ?? "other_error"
    }

    private struct RequestKey: Hashable {
        var method: String
        var outcome: String
    }

    private struct ToolHandles: Sendable {
        var duration: CoreMetrics.Timer
        var outcomes: [ToolOutcome: Counter]
    }

    private let factory: any MetricsFactory
    private let sessionsCreated: Counter
    private let sessionsEnded: [SessionEndReason: Counter]
    private let refusals: [Refusal: Counter]
    private let requests = PlainLock<[RequestKey: Counter]>([:])
    private let tools = PlainLock<[String: ToolHandles]>([:])

    /// Creates the fixed-label handles.
    /// - Parameter factory: the backend (``MCPServer/Configuration/metricsFactory`` or the global one).
    init(factory: any MetricsFactory) {
        self.factory = factory
        sessionsCreated = Counter(label: Self.sessionsCreatedLabel, factory: factory)
        sessionsEnded = Dictionary(
            uniqueKeysWithValues: SessionEndReason.allCases.map {
                ($0, Counter(label: Self.sessionsEndedLabel, dimensions: [("reason", $0.rawValue)], factory: factory))
            })
        refusals = Dictionary(
            uniqueKeysWithValues: Refusal.allCases.map {
                ($0, Counter(label: Self.refusalsLabel, dimensions: [("reason", $0.rawValue)], factory: factory))
            })
    }

    /// Counts one JSON-RPC request.
    /// - Parameters:
    ///   - method: the `method` label (see ``methodLabel(_:)``).
    ///   - errorCode: the JSON-RPC error code it was answered with, nil for a result.
    func recordRequest(method: String, errorCode: Int?) {
        let key = RequestKey(method: method, outcome: Self.outcomeLabel(errorCode: errorCode))
        let counter = requests.withLock { cache in
            if let counter = cache[key] { return counter }
            let counter = Counter(
                label: Self.requestsLabel, dimensions: [("method", key.method), ("outcome", key.outcome)],
                factory: factory)
            cache[key] = counter
            return counter
        }
        counter.increment()
    }

    /// Counts one tool call and records its duration.
    /// - Parameters:
    ///   - tool: a registered tool's name, or `unknown`.
    ///   - outcome: how it ended.
    ///   - nanoseconds: how long it took.
    func recordToolCall(tool: String, outcome: ToolOutcome, nanoseconds: Int64) {
        let handles = tools.withLock { cache in
            if let handles = cache[tool] { return handles }
            let handles = ToolHandles(
                duration: CoreMetrics.Timer(label: Self.toolDurationLabel, dimensions: [("tool", tool)], factory: factory),
                outcomes: Dictionary(
                    uniqueKeysWithValues: ToolOutcome.allCases.map {
                        (
                            $0,
                            Counter(
                                label: Self.toolCallsLabel, dimensions: [("tool", tool), ("outcome", $0.rawValue)],
                                factory: factory)
                        )
                    }))
            cache[tool] = handles
            return handles
        }
        handles.outcomes[outcome]?.increment()
        handles.duration.recordNanoseconds(nanoseconds)
    }

    /// Counts a session stored.
    func recordSessionCreated() { sessionsCreated.increment() }

    /// Counts a session ended.
    func recordSessionEnded(_ reason: SessionEndReason) { sessionsEnded[reason]?.increment() }

    /// Counts an `initialize` refused.
    func recordRefusal(_ refusal: Refusal) { refusals[refusal]?.increment() }
}
