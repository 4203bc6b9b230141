import Logging
import Synchronization

/// Everything a handler knows about the request it serves, and its ways to talk back to the client
/// before its result: progress, log messages, notifications and requests to the client.
public struct RequestContext: Sendable {
    /// The JSON-RPC id of the request.
    public let requestID: RequestID
    /// The session, in the session era.
    public let session: Session?
    /// The authenticated user, when auth is on.
    public let user: String?
    /// The protocol revision of this request.
    public let protocolVersion: ProtocolVersion
    /// The client's declared capabilities.
    public let clientCapabilities: Value
    /// `params._meta.progressToken`, when the client asked for progress.
    public let progressToken: Value?
    /// A logger carrying `jsonrpc.id` and `mcp.session.id` metadata.
    ///
    /// Built on each access: the metadata is attached only when a handler actually logs (log handlers such
    /// as `StreamLogHandler` re-render their metadata on every change, which a request that logs nothing
    /// should not pay for).
    public var logger: Logger {
        var logger = baseLogger
        logger[metadataKey: "jsonrpc.id"] = "\(requestID)"
        if let session { logger[metadataKey: "mcp.session.id"] = "\(session.id)" }
        return logger
    }
    private let baseLogger: Logger
    /// The client's name and version: from `_meta` in the stateless era, from `initialize` in the session era.
    public let clientInfo: Implementation?
    /// The minimum log level `_meta` asked for (stateless era); nil there means no log messages at all.
    /// In the session era the session's level (`logging/setLevel`) applies instead.
    public let logLevel: LoggingLevel?
    let outbound: any ServerOutbound
    let inputRound: InputRound?
    /// The task this context runs, when the request was task-augmented (2025-11-25 tasks).
    var runningTask: RunningTaskReference?
    /// The `ttl` of the tasks this context asks the client to run its requests as (elicitation, sampling), when
    /// the server allows it (``TaskConfiguration/clientTaskTTL``) and the session speaks tasks; see
    /// ``requestInputs(_:)``.
    var clientTaskTTL: Duration?
    /// The id of the task this handler runs as (a task-augmented `tools/call`); nil for a plain request.
    public var taskID: String? { runningTask?.id }
    private let lastProgress: ProgressTracker?

    /// Creates a context.
    /// - Parameters:
    ///   - requestID: the request's id.
    ///   - session: the session, in the session era.
    ///   - user: the authenticated user.
    ///   - protocolVersion: the request's revision.
    ///   - clientCapabilities: the client's capabilities.
    ///   - progressToken: the request's progress token.
    ///   - logger: the logger to use.
    ///   - outbound: where notifications and server→client requests go.
    public init(
        requestID: RequestID, session: Session?, user: String?, protocolVersion: ProtocolVersion,
        clientCapabilities: Value, progressToken: Value?, logger: Logger, outbound: any ServerOutbound
    ) {
        self.requestID = requestID
        self.session = session
        self.user = user
        self.protocolVersion = protocolVersion
        self.clientCapabilities = clientCapabilities
        self.progressToken = progressToken
        self.baseLogger = logger
        self.outbound = outbound
        self.lastProgress = progressToken == nil ? nil : ProgressTracker()
        self.clientInfo = session?.clientInfo
        self.logLevel = nil
        self.inputRound = nil
    }

    /// A stateless-era context: no session; capabilities, client info and log level from `_meta`; input
    /// requests answered from `inputRound` or turned into an `input_required` result.
    init(
        requestID: RequestID, user: String?, protocolVersion: ProtocolVersion, meta: StatelessRequestMeta,
        logger: Logger, outbound: any ServerOutbound, inputRound: InputRound
    ) {
        self.requestID = requestID
        self.session = nil
        self.user = user
        self.protocolVersion = protocolVersion
        self.clientCapabilities = meta.clientCapabilities
        self.progressToken = meta.progressToken
        self.baseLogger = logger
        self.outbound = outbound
        self.lastProgress = meta.progressToken == nil ? nil : ProgressTracker()
        self.clientInfo = meta.clientInfo
        self.logLevel = meta.logLevel
        self.inputRound = inputRound
    }

    /// The era of this request: ``ProtocolEra/stateless`` when it came through
    /// ``MCPServer/handleStateless(_:headers:outbound:user:)``.
    public var era: ProtocolEra { inputRound == nil ? .session : .stateless }

    /// Sends `notifications/progress` when the client asked for progress; otherwise does nothing.
    /// Progress must increase: a value not above the last one sent is dropped.
    /// - Parameters:
    ///   - progress: the progress so far.
    ///   - total: the total, when known.
    ///   - message: a human-readable status.
    ///
    /// In a task, `message` also becomes the task's `statusMessage` (what `tasks/get` shows), whether or not the
    /// client asked for progress.
    public func reportProgress(_ progress: Double, total: Double? = nil, message: String? = nil) async {
        if let runningTask, let message { await runningTask.server.setTaskMessage(runningTask.id, message) }
        guard let progressToken, let lastProgress else { return }
        guard lastProgress.advance(to: progress) else { return }
        var params: [String: Value] = ["progressToken": progressToken, "progress": .double(progress)]
        if let total { params["total"] = .double(total) }
        if let message { params["message"] = .string(message) }
        await outbound.send(JSONRPCNotification(method: "notifications/progress", params: .object(params)))
    }

    /// Sends `notifications/message` when the log level lets it through: in the stateless era only when
    /// `_meta` set a level and `level` is at or above it; in the session era unless below the session's level.
    /// - Parameters:
    ///   - level: the severity.
    ///   - data: the message (any JSON).
    ///   - loggerName: the optional `logger` field.
    public func log(_ level: LoggingLevel, _ data: Value, loggerName: String? = nil) async {
        if era == .stateless {
            guard let minimum = logLevel, level >= minimum else { return }
        } else if let minimum = session?.logLevel, level < minimum {
            return
        }
        var params: [String: Value] = ["level": .string(level.rawValue), "data": data]
        if let loggerName { params["logger"] = .string(loggerName) }
        await outbound.send(JSONRPCNotification(method: "notifications/message", params: .object(params)))
    }

    /// Closes the connection carrying this request's SSE stream (after its priming event) while the
    /// request goes on; the client resumes with `Last-Event-ID` and gets the rest. Used to test clients'
    /// reconnection, and to shed long-lived connections.
    public func closeStream() async {
        await outbound.closeStream()
    }

    /// Sends any notification to the client, on this request's stream.
    public func notify(_ notification: JSONRPCNotification) async {
        await outbound.send(notification)
    }

    /// Sends a request to the client and waits for its result.
    ///
    /// In the stateless era there are no server→client requests: `elicitation/create`,
    /// `sampling/createMessage` and `roots/list` become input requests (as ``requestInputs(_:)`` does, with a
    /// key derived from the call order); any other method fails.
    /// - Parameters:
    ///   - method: e.g. `sampling/createMessage`.
    ///   - params: the request's params.
    /// - Returns: the client's `result`.
    /// - Throws: ``MCPError``: the client's error, a timeout, or that this transport cannot carry the request.
    public func request(_ method: String, params: Value?) async throws(MCPError) -> Value {
        if inputRound != nil {
            let input = InputRequest(method: method, params: params)
            guard input.requiredCapability != nil else {
                throw .internalError("\(method) cannot be sent to the client in the stateless era")
            }
            return try await ask(input)
        }
        return try await outbound.request(method, params: params)
    }
}

/// Where a request's notifications and server→client requests go; provided by the transport.
public protocol ServerOutbound: Sendable {
    /// Delivers a notification related to the current request.
    func send(_ notification: JSONRPCNotification) async
    /// Sends a request to the client and waits for its result.
    /// - Throws: ``MCPError`` when the client answers with an error, times out, or cannot be reached.
    func request(_ method: String, params: Value?) async throws(MCPError) -> Value
    /// Closes the HTTP connection carrying this request's stream without ending the stream: the client
    /// reconnects with `Last-Event-ID` and receives what follows. Transports without streams do nothing.
    func closeStream() async
    /// Whether messages sent here reach the client before the result (a stream): a running task sends its
    /// requests and notifications through a waiting `tasks/result` request only when its outbound can.
    var reachesClient: Bool { get }
}

extension ServerOutbound {
    /// Does nothing: the transport has no stream to close.
    public func closeStream() async {}
    /// True: an outbound carries messages unless it says otherwise.
    public var reachesClient: Bool { true }
}

/// A ``ServerOutbound`` for contexts where nothing can reach the client before the result (a plain
/// JSON response): notifications are dropped, requests fail with a clear error.
public struct DiscardingOutbound: ServerOutbound {
    /// Creates one.
    public init() {}
    /// False: nothing reaches the client before the result.
    public var reachesClient: Bool { false }
    /// Drops the notification.
    public func send(_ notification: JSONRPCNotification) async {}
    /// Fails: a JSON response cannot carry a request to the client.
    public func request(_ method: String, params: Value?) async throws(MCPError) -> Value {
        throw MCPError(
            code: MCPError.Code.internalError,
            message: "\(method) needs a response stream to the client; this request has none")
    }
}

/// The task a context runs (see ``RequestContext/taskID``).
struct RunningTaskReference: Sendable {
    let id: String
    let server: MCPServer
}

/// The last progress value sent for one request; progress must increase.
final class ProgressTracker: Sendable {
    private let last = Mutex(-Double.infinity)

    /// Records `progress` and returns true when it is above the last value.
    func advance(to progress: Double) -> Bool {
        last.withLock { last in
            guard progress > last else { return false }
            last = progress
            return true
        }
    }
}
