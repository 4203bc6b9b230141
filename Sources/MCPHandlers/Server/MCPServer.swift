import Foundation
import Logging
import Metrics
import Synchronization

/// An MCP server: its identity, its registries, its sessions, and the protocol logic that answers
/// JSON-RPC messages — with no I/O. A transport (`MCPFCGI`'s `MCPEndpoint`) feeds it messages.
///
/// ```swift
/// let server = MCPServer(configuration: .init(serverInfo: .init(name: "weather", version: "1.0.0")))
/// struct Args: Decodable { let city: String }
/// server.registerTool(
///     name: "get_weather", description: "Current weather",
///     inputSchema: ["type": "object", "properties": ["city": ["type": "string"]], "required": ["city"]]
/// ) { (args: Args, context) in
///     .text("Weather in \(args.city): 22°C")
/// }
/// ```
public final class MCPServer: Sendable {
    /// How the server identifies itself and manages sessions.
    public struct Configuration: Sendable {
        /// `serverInfo` of the initialize result.
        public var serverInfo: Implementation
        /// `instructions` of the initialize result. Default nil.
        public var instructions: String?
        /// Items per page of `tools/list` and the other list methods. Default 100.
        public var pageSize: Int
        /// The longest resource URI, name and completion value a request may carry (-32602 beyond). Default
        /// ``IdentifierLimits/init(maxURIBytes:maxNameBytes:maxCompletionValueBytes:)`` (8 KiB URIs, 256-byte
        /// names, 4 KiB completion values).
        public var identifierLimits: IdentifierLimits
        /// The session-era revisions negotiated, newest first. Default ``ProtocolVersion/sessionEra``.
        public var supportedVersions: [ProtocolVersion]
        /// Where sessions live. Default an ``InMemorySessionStore`` holding up to 10,000 sessions.
        public var sessionStore: any SessionStore
        /// Makes session ids (node prefix, custom generator). Default random base62 ids without prefix.
        public var sessionIDGenerator: SessionIDGenerator
        /// Session quotas per client address and per user, eviction of idle sessions when the store is full,
        /// and the bounds of one session (client metadata, subscriptions). Default ``SessionLimits/init(maxSessionsPerAddress:maxSessionsPerUser:minimumIdleBeforeEviction:maxClientMetadataBytes:maxSubscriptionsPerSession:)``
        /// (500 per address, 100 per user, evict after 5 minutes idle, 16 KiB, 100 subscriptions).
        public var sessionLimits: SessionLimits
        /// Called after a session is committed to the store, in its own task; errors are logged. Default nil.
        public var onSessionInitialized: (@Sendable (_ sessionID: String, _ userID: String?) async throws -> Void)?
        /// How long a server→client request (sampling, elicitation, roots) waits for the client's response
        /// before failing with -32001. Default 60 seconds.
        public var clientRequestTimeout: Duration
        /// The library's logger. Default a logger labelled `mcpfcgi.server`.
        public var logger: Logger
        /// Monotonic clock in seconds, for session activity. Default the system's continuous clock.
        public var now: @Sendable () -> Double
        /// The stateless revisions served by ``MCPServer/handleStateless(_:headers:outbound:user:)``, newest
        /// first; a request naming another gets -32022 listing these. Default ``ProtocolVersion/statelessEra``.
        public var statelessVersions: [ProtocolVersion]
        /// The HMAC-SHA256 key that protects the `requestState` of `input_required` results (stateless era).
        /// Default: 32 random bytes made when the configuration is created, so only this process accepts the
        /// states it issued. Deployments with several workers (spawn-fcgi `-F`, several hosts) must give all
        /// of them the same key (at least 32 random bytes, kept secret), or a retry that reaches another worker
        /// fails with -32602.
        public var requestStateKey: [UInt8]
        /// How long an issued `requestState` stays valid. Default 10 minutes.
        public var requestStateLifetime: Duration
        /// The `ttlMs` / `cacheScope` hints added to cacheable results in the stateless era. Default 0 ms,
        /// private, for every kind.
        public var cacheHints: CacheHints
        /// Wall-clock seconds since 1970, for `requestState` expiry (shared by workers, unlike ``now``).
        /// Default the system clock.
        public var wallClock: @Sendable () -> Double
        /// The swift-metrics backend; nil (default): the process-wide `MetricsSystem.factory`, read when the
        /// server is created, so bootstrap `MetricsSystem` first.
        ///
        /// The server records `mcpfcgi_jsonrpc_requests_total{method,outcome}`,
        /// `mcpfcgi_tool_calls_total{tool,outcome}`, `mcpfcgi_tool_call_duration_seconds{tool}`,
        /// `mcpfcgi_sessions_created_total`, `mcpfcgi_sessions_ended_total{reason}` and
        /// `mcpfcgi_session_refusals_total{reason}`. Every label is bounded: methods the server does not know
        /// are `other`, tools that are not registered `unknown`, error codes outside the MCP and JSON-RPC
        /// ones `other_error`.
        public var metricsFactory: (any MetricsFactory)?
        /// Tasks (2025-11-25 task-augmented `tools/call` of tools registered with a ``TaskSupport``): their store,
        /// ttl bounds, quotas and polling interval. Default ``TaskConfiguration/init(store:limits:defaultTTL:maxTTL:minTTL:pollInterval:resultWaitWithoutStream:clientTaskTTL:)``
        /// (in memory, 32 per session, 100 per user, ttl 10 s – 1 h, default 10 minutes, poll every second).
        public var tasks: TaskConfiguration

        /// Creates a configuration; every parameter but `serverInfo` has the default documented on its property
        /// (`requestStateKey` nil: a random key for this process).
        public init(
            serverInfo: Implementation,
            instructions: String? = nil,
            pageSize: Int = 100,
            identifierLimits: IdentifierLimits = IdentifierLimits(),
            supportedVersions: [ProtocolVersion] = ProtocolVersion.sessionEra,
            sessionStore: any SessionStore = InMemorySessionStore(),
            sessionIDGenerator: SessionIDGenerator = SessionIDGenerator(),
            sessionLimits: SessionLimits = SessionLimits(),
            onSessionInitialized: (@Sendable (_ sessionID: String, _ userID: String?) async throws -> Void)? = nil,
            clientRequestTimeout: Duration = .seconds(60),
            logger: Logger = Logger(label: "mcpfcgi.server"),
            now: @escaping @Sendable () -> Double = MCPServer.monotonicSeconds,
            statelessVersions: [ProtocolVersion] = ProtocolVersion.statelessEra,
            requestStateKey: [UInt8]? = nil,
            requestStateLifetime: Duration = .seconds(600),
            cacheHints: CacheHints = CacheHints(),
            wallClock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 },
            metricsFactory: (any MetricsFactory)? = nil,
            tasks: TaskConfiguration = TaskConfiguration()
        ) {
            self.tasks = tasks
            self.serverInfo = serverInfo
            self.instructions = instructions
            self.pageSize = pageSize
            self.identifierLimits = identifierLimits
            self.supportedVersions = supportedVersions
            self.sessionStore = sessionStore
            self.sessionIDGenerator = sessionIDGenerator
            self.sessionLimits = sessionLimits
            self.onSessionInitialized = onSessionInitialized
            self.clientRequestTimeout = clientRequestTimeout
            self.logger = logger
            self.now = now
            self.statelessVersions = statelessVersions
            self.requestStateKey = requestStateKey ?? RequestStateCodec.randomKey()
            self.requestStateLifetime = requestStateLifetime
            self.cacheHints = cacheHints
            self.wallClock = wallClock
            self.metricsFactory = metricsFactory
        }
    }

    /// The configuration this server was made with.
    public let configuration: Configuration
    /// The server→client requests waiting for the client's response; see ``handleResponse(_:session:)``.
    package let pendingRequests = PendingRequests()
    // Plain locks: every request reads the registries, from every accept thread (see PlainLock).
    let tools = PlainLock(ToolRegistry())
    let resources = PlainLock(ResourceRegistry())
    let prompts = PlainLock(PromptRegistry())
    let subscriptions = PlainLock(SubscriptionIndex())
    let inFlight = InFlightRequests()
    let notificationSink = Mutex<NotificationSink?>(nil)
    /// Where requests to a client that no request carries go (a task's elicitation): the session's GET stream.
    let clientMessageSink = Mutex<ClientMessageSink?>(nil)
    /// The tasks this process runs.
    let runningTasks = RunningTasks()
    let requestStateCodec: RequestStateCodec
    let metrics: ServerMetrics
    /// The open `subscriptions/listen` streams (stateless era); change notifications are published to it.
    public let subscriptionHub = SubscriptionHub()
    /// The node id of the deployment that serves this server (its application's), used when
    /// ``Configuration/sessionIDGenerator`` has none of its own; see ``adoptNodeID(_:)``.
    private let deploymentNodeID = Mutex<String?>(nil)

    /// Creates a server.
    /// - Parameter configuration: identity and session settings.
    public init(configuration: Configuration) {
        self.configuration = configuration
        self.requestStateCodec = RequestStateCodec(key: configuration.requestStateKey)
        self.metrics = ServerMetrics(factory: configuration.metricsFactory ?? MetricsSystem.factory)
        configuration.sessionStore.setSharedSessionEvents(sharedSessionEvents(onEnd: { _ in }))
        let running = runningTasks
        configuration.tasks.store.setTerminalElsewhereHandler { id in running.cancel(id) }
    }

    /// The handlers a shared session store calls (``SharedSessionEvents``): a loaded session's subscriptions join
    /// the index; a session removed elsewhere is ended here without being counted again, then `onEnd` runs (the
    /// transport closes its streams).
    /// - Parameter onEnd: what else to do for a session this call ended.
    package func sharedSessionEvents(onEnd: @escaping @Sendable (Session) -> Void) -> SharedSessionEvents {
        SharedSessionEvents(
            loaded: { [weak self] session in
                guard let self, !session.isEnded else { return }
                let uris = session.subscriptions
                self.subscriptions.withLock { index in for uri in uris { index.add(uri: uri, sessionID: session.id) } }
            },
            removedElsewhere: { [weak self] session, reason in
                guard let self, self.end(session, reason: reason, counted: false) else { return }
                onEnd(session)
            })
    }

    /// Creates a server with default settings.
    /// - Parameters:
    ///   - name: `serverInfo.name`.
    ///   - version: `serverInfo.version`.
    public convenience init(name: String, version: String) {
        self.init(configuration: Configuration(serverInfo: Implementation(name: name, version: version)))
    }

    /// The session store.
    public var sessions: any SessionStore { configuration.sessionStore }

    /// The node id this server's session ids start with: its generator's own, else the one adopted from the
    /// application that serves it, else nil.
    public var nodeID: String? { configuration.sessionIDGenerator.nodeID ?? deploymentNodeID.withLock { $0 } }

    /// Takes the deployment's node id (the application's `Configuration.nodeID`, given once there) for the ids of
    /// sessions created from now on, unless ``Configuration/sessionIDGenerator`` names its own or another
    /// application adopted one first (nginx routes a session by its id's prefix, so the first one stays).
    /// - Parameter nodeID: the deployment's node id (nil leaves the server as it is).
    /// - Returns: false when the server keeps a different node id, true otherwise.
    @discardableResult package func adoptNodeID(_ nodeID: String?) -> Bool {
        guard let nodeID else { return true }
        if let own = configuration.sessionIDGenerator.nodeID { return own == nodeID }
        return deploymentNodeID.withLock { adopted in
            if let adopted { return adopted == nodeID }
            adopted = nodeID
            return true
        }
    }

    /// Seconds since 1970 on the system's wall clock.
    @Sendable public static func wallClockSeconds() -> Double { Date().timeIntervalSince1970 }

    /// Seconds on the system's continuous (monotonic) clock.
    @Sendable public static func monotonicSeconds() -> Double {
        (ContinuousClock.now - Self.epoch).secondsValue
    }
    private static let epoch = ContinuousClock.now

    // MARK: Tools

    /// Registers (or replaces) a tool with a handler that takes the raw arguments object.
    /// - Parameters:
    ///   - tool: the tool's metadata.
    ///   - handler: the implementation.
    /// Sends `notifications/tools/list_changed` to every session (see ``setNotificationSink(_:)``).
    public func registerTool(_ tool: Tool, handler: @escaping ToolHandler) {
        tools.withLock { $0.register(tool, handler: handler) }
        listChanged("tools")
    }

    /// Registers (or replaces) a tool whose arguments are decoded into `Arguments`; its input schema is derived
    /// from `Arguments` (``TypeSchema``) unless one is given.
    ///
    /// ```swift
    /// struct Greeting: Decodable, SchemaDescribed {
    ///     var name: String
    ///     var times: Int?
    ///     static let fields: [String: FieldSchema] = ["times": .init("How often", minimum: 1, maximum: 5)]
    /// }
    /// server.registerTool(name: "greet", description: "Greets someone") { (greeting: Greeting, _) in
    ///     .text(String(repeating: "Hello, \(greeting.name)! ", count: greeting.times ?? 1))
    /// }
    /// ```
    ///
    /// Arguments are first checked against the input schema (-32602 naming the field), then decoded straight from
    /// the parsed JSON (dates as ISO 8601 text, as the derived schema says); a decoding failure is answered with
    /// -32602 too.
    /// - Parameters:
    ///   - name: the tool's name.
    ///   - title: optional display name.
    ///   - description: what it does.
    ///   - inputSchema: JSON Schema of the arguments; nil (default): derived from `Arguments`.
    ///   - outputSchema: JSON Schema of `structuredContent`.
    ///   - annotations: behaviour hints.
    ///   - taskSupport: whether it runs as a task (2025-11-25 tasks); nil (default): never.
    ///   - icons: icons a client may show.
    ///   - handler: the implementation.
    /// - Precondition: with no `inputSchema`, `Arguments` is decoded from a JSON object and its schema can be
    ///   derived; otherwise the registration stops the process with a message that says why (a programming error,
    ///   found at start).
    public func registerTool<Arguments: Decodable & SendableMetatype>(
        name: String, title: String? = nil, description: String? = nil,
        inputSchema: Value? = nil, outputSchema: Value? = nil,
        annotations: Tool.Annotations? = nil, taskSupport: TaskSupport? = nil, icons: [Icon] = [],
        handler: @escaping @Sendable (Arguments, RequestContext) async throws -> ToolResult
    ) {
        let tool = Tool(
            name: name, title: title, description: description,
            inputSchema: inputSchema ?? Self.derivedSchema(of: Arguments.self, tool: name),
            outputSchema: outputSchema, annotations: annotations, taskSupport: taskSupport, icons: icons)
        registerTool(tool) { arguments, context in
            try await handler(try Self.decodeArguments(arguments, as: Arguments.self, tool: name), context)
        }
    }

    /// Registers (or replaces) a tool with typed arguments and a typed result: `outputSchema` is derived from
    /// `Output` (unless given), and each result is returned as `structuredContent` plus its JSON text in a text
    /// block (for clients that do not read structured output, as the specification recommends).
    ///
    /// ```swift
    /// struct Weather: Codable { var city: String; var celsius: Double }
    /// server.registerTool(name: "weather") { (query: Query, _) -> Weather in
    ///     Weather(city: query.city, celsius: 21.5)
    /// }
    /// ```
    /// - Parameters:
    ///   - name: the tool's name.
    ///   - title: optional display name.
    ///   - description: what it does.
    ///   - inputSchema: JSON Schema of the arguments; nil (default): derived from `Arguments`.
    ///   - outputSchema: JSON Schema of the result; nil (default): derived from `Output`.
    ///   - annotations: behaviour hints.
    ///   - taskSupport: whether it runs as a task (2025-11-25 tasks); nil (default): never.
    ///   - icons: icons a client may show.
    ///   - handler: the implementation; what it throws is answered as for any tool.
    /// - Precondition: as for the other typed registration, and `Output` is encoded as a JSON object.
    public func registerTool<Arguments: Decodable & SendableMetatype, Output: Codable & Sendable>(
        name: String, title: String? = nil, description: String? = nil,
        inputSchema: Value? = nil, outputSchema: Value? = nil,
        annotations: Tool.Annotations? = nil, taskSupport: TaskSupport? = nil, icons: [Icon] = [],
        handler: @escaping @Sendable (Arguments, RequestContext) async throws -> Output
    ) {
        let tool = Tool(
            name: name, title: title, description: description,
            inputSchema: inputSchema ?? Self.derivedSchema(of: Arguments.self, tool: name),
            outputSchema: outputSchema ?? Self.derivedSchema(of: Output.self, tool: name),
            annotations: annotations, taskSupport: taskSupport, icons: icons)
        registerTool(tool) { arguments, context in
            let output = try await handler(try Self.decodeArguments(arguments, as: Arguments.self, tool: name), context)
            let structured: Value
            do {
                structured = try Self.encodeOutput(output)
            } catch {
                throw MCPError(code: MCPError.Code.internalError, message: "Tool \(name) returned a result it cannot encode: \(error)")
            }
            return ToolResult(content: [.text(String(decoding: JSONWriter.encode(structured), as: UTF8.self))], structuredContent: structured)
        }
    }

    /// The object schema of `type`, or a stop (in every build configuration) that says why there is none.
    static func derivedSchema<T: Decodable>(of type: T.Type, tool: String) -> Value {
        do {
            return try TypeSchema.ofObject(type)
        } catch {
            fatalError("cannot register tool \(tool): \(error)")
        }
    }

    /// Typed arguments, decoded straight from the parsed JSON; -32602 when they do not fit.
    static func decodeArguments<T: Decodable>(_ arguments: [String: Value], as type: T.Type, tool: String) throws -> T {
        do {
            return try ValueDecoder(iso8601Dates: true).decode(T.self, from: .object(arguments))
        } catch {
            throw MCPError.invalidParams("Invalid arguments for tool \(tool): \(describe(error))")
        }
    }

    /// A typed result as JSON (dates as ISO 8601 text, as the derived schema says).
    static func encodeOutput(_ output: some Encodable) throws -> Value {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return try JSONParser().parse(try encoder.encode(output))
    }

    /// Removes a tool; when it was registered, sends `notifications/tools/list_changed` to every session.
    /// - Returns: whether it was registered.
    @discardableResult public func removeTool(named name: String) -> Bool {
        let removed = tools.withLock { $0.remove(name) }
        if removed { listChanged("tools") }
        return removed
    }

    /// The registered tools' metadata, in registration order.
    public var registeredTools: [Tool] { tools.withLock { $0.entries.map(\.tool) } }

    // MARK: Capabilities and lifecycle

    /// The server capabilities, derived from what is registered: `logging` always; `tools`, `resources`
    /// (with `subscribe`) and `prompts` (each with `listChanged`) when some are registered; `completions`
    /// when prompts, resource templates or completion handlers are; `tasks` (`list`, `cancel`,
    /// `requests.tools.call`) when a tool runs as a task (2025-11-25 only: the stateless era has no tasks).
    public var capabilities: Value {
        var caps: [String: Value] = ["logging": [:]]
        if !tools.withLock({ $0.isEmpty }) { caps["tools"] = ["listChanged": true] }
        let (hasResources, resourceCompletions) = resources.withLock {
            (!$0.isEmpty, !$0.templates.isEmpty || $0.hasCompletions)
        }
        if hasResources { caps["resources"] = ["subscribe": true, "listChanged": true] }
        let (hasPrompts, promptCompletions) = prompts.withLock { (!$0.isEmpty, $0.hasCompletions) }
        if hasPrompts { caps["prompts"] = ["listChanged": true] }
        if hasPrompts || promptCompletions || resourceCompletions { caps["completions"] = [:] }
        if runsTasks { caps["tasks"] = ["list": [:], "cancel": [:], "requests": ["tools": ["call": [:]]]] }
        return .object(caps)
    }

    /// Why a session could not be created.
    public enum SessionCreationError: Error, Equatable, Sendable {
        /// The store refused the session: it holds its maximum number of live sessions and none has been idle
        /// long enough to be evicted (``SessionLimits/minimumIdleBeforeEviction``).
        case capacityReached
        /// The session store could not be reached (the description says why).
        case storeUnavailable(String)
        /// The client's address holds ``SessionLimits/maxSessionsPerAddress`` (`limit`) live sessions already.
        case addressQuotaReached(limit: Int)
        /// The user holds ``SessionLimits/maxSessionsPerUser`` (`limit`) live sessions already.
        case userQuotaReached(limit: Int)
        /// `clientInfo` and `capabilities` take more than ``SessionLimits/maxClientMetadataBytes`` (`limit`).
        case clientMetadataTooLarge(limit: Int)

        /// The JSON-RPC code `MCPEndpoint` answers the refusal with (for metrics and spans): -32603 for a full
        /// or unreachable store, -32000 over a quota, -32602 for oversized client metadata.
        var jsonRPCCode: Int {
            switch self {
            case .capacityReached, .storeUnavailable: MCPError.Code.internalError
            case .addressQuotaReached, .userQuotaReached: MCPError.Code.connectionClosed
            case .clientMetadataTooLarge: MCPError.Code.invalidParams
            }
        }
    }

    /// Answers `initialize` for a client of unknown address: ``initialize(_:owner:clientAddress:)`` without
    /// the per-address quota.
    /// - Parameters:
    ///   - request: the initialize request.
    ///   - owner: the authenticated user the session will be bound to.
    /// - Returns: the initialize result and the new session.
    /// - Throws: as ``initialize(_:owner:clientAddress:)``.
    public func initialize(_ request: JSONRPCRequest, owner: String?) async throws(SessionCreationError) -> (
        result: Value, session: Session
    ) {
        let (result, session, _) = try await initialize(request, owner: owner, clientAddress: nil)
        return (result, session)
    }

    /// Answers `initialize`: negotiates the revision, creates and stores the session under
    /// ``Configuration/sessionLimits`` (evicting an idle session when the store is full), then calls
    /// ``Configuration/onSessionInitialized`` in its own task.
    ///
    /// An evicted session is ended here (``end(_:reason:)``, reason ``SessionEndReason/evicted``); the
    /// transport closes its streams (the evicted sessions are returned for that).
    ///
    /// Observed like every request (a span, `mcpfcgi_jsonrpc_requests_total{method="initialize"}`); a stored
    /// session counts in `mcpfcgi_sessions_created_total`, a refusal for capacity, store or quota in
    /// `mcpfcgi_session_refusals_total{reason}`.
    /// - Parameters:
    ///   - request: the initialize request.
    ///   - owner: the authenticated user the session will be bound to (counted against
    ///     ``SessionLimits/maxSessionsPerUser``).
    ///   - clientAddress: the key of the client's address (counted against
    ///     ``SessionLimits/maxSessionsPerAddress``), nil when unknown.
    /// - Returns: the initialize result, the new session, and the sessions evicted to make room for it.
    /// - Throws: ``SessionCreationError/capacityReached`` when the store is full,
    ///   ``SessionCreationError/addressQuotaReached(limit:)`` / ``SessionCreationError/userQuotaReached(limit:)``
    ///   over a quota, ``SessionCreationError/clientMetadataTooLarge(limit:)`` for oversized client metadata,
    ///   ``SessionCreationError/storeUnavailable(_:)`` when the store cannot be reached.
    public func initialize(_ request: JSONRPCRequest, owner: String?, clientAddress: String?)
        async throws(SessionCreationError) -> (result: Value, session: Session, evicted: [Session])
    {
        let created = await observed(request, outcome: Self.initializeOutcome) {
            () async -> Result<(result: Value, session: Session, evicted: [Session]), SessionCreationError> in
            do throws(SessionCreationError) {
                return .success(try await createSession(request, owner: owner, clientAddress: clientAddress))
            } catch {
                return .failure(error)
            }
        }
        switch created {
        case .success(let (result, session, evicted)):
            metrics.recordSessionCreated()
            return (result, session, evicted)
        case .failure(let error):
            switch error {
            case .capacityReached: metrics.recordRefusal(.storeFull)
            case .storeUnavailable: metrics.recordRefusal(.storeUnavailable)
            case .addressQuotaReached: metrics.recordRefusal(.addressQuota)
            case .userQuotaReached: metrics.recordRefusal(.userQuota)
            case .clientMetadataTooLarge: break
            }
            throw error
        }
    }

    private static func initializeOutcome(
        _ created: Result<(result: Value, session: Session, evicted: [Session]), SessionCreationError>
    ) -> ObservedOutcome {
        switch created {
        case .success: ObservedOutcome(.success([:]))
        case .failure(let error): ObservedOutcome(errorCode: error.jsonRPCCode, message: "\(error)")
        }
    }

    private func createSession(_ request: JSONRPCRequest, owner: String?, clientAddress: String?)
        async throws(SessionCreationError) -> (result: Value, session: Session, evicted: [Session])
    {
        let params = request.params
        let limits = configuration.sessionLimits
        let clientInfo = params?["clientInfo"]
        let clientCapabilities = params?["capabilities"] ?? [:]
        // Kept for the session's lifetime: bounded (the request body alone may be megabytes).
        var metadataBytes = 0
        for part in [clientInfo, clientCapabilities] {
            if let part { metadataBytes += JSONWriter.encode(part).count }
        }
        guard metadataBytes <= limits.maxClientMetadataBytes else {
            throw .clientMetadataTooLarge(limit: limits.maxClientMetadataBytes)
        }
        let version = ProtocolVersion.negotiate(
            requested: params?["protocolVersion"]?.stringValue, supported: configuration.supportedVersions)
        let store = configuration.sessionStore
        var session: Session
        var evicted: [Session] = []
        repeat {
            let id: String
            let rejection: SessionIDGenerator.Rejection?
            do {
                var generator = configuration.sessionIDGenerator
                if generator.nodeID == nil { generator.nodeID = deploymentNodeID.withLock { $0 } }
                (id, rejection) = try await generator.next(isTaken: { try await store.contains(id: $0) })
            } catch { throw .storeUnavailable(String(describing: error)) }
            if let rejection {
                configuration.logger.warning(
                    "custom session id generator refused; using a random id",
                    metadata: ["reason": "\(rejection)"])
            }
            let now = configuration.now()
            session = Session(
                id: id, protocolVersion: version, clientInfo: Implementation(clientInfo),
                clientCapabilities: clientCapabilities, owner: owner, clientAddress: clientAddress, now: now)
            let outcome: SessionInsertion
            do { outcome = try await store.insert(session, limits: limits, now: now) } catch {
                throw .storeUnavailable(String(describing: error))
            }
            switch outcome {
            case .inserted(let removed): evicted = removed
            case .duplicateID: continue
            case .addressQuotaReached(let limit): throw .addressQuotaReached(limit: limit)
            case .userQuotaReached(let limit): throw .userQuotaReached(limit: limit)
            case .full: throw .capacityReached
            }
            break
        } while true
        for session in evicted {
            end(session, reason: .evicted)
            configuration.logger.info(
                "idle session evicted to make room", metadata: ["mcp.session.id": "\(session.id)"])
        }
        if let hook = configuration.onSessionInitialized {
            let logger = configuration.logger
            let id = session.id
            Task {
                do {
                    try await hook(id, owner)
                } catch {
                    logger.error(
                        "onSessionInitialized failed", metadata: ["mcp.session.id": "\(id)", "error": "\(error)"])
                }
            }
        }
        var result: [String: Value] = [
            "protocolVersion": .string(version.rawValue),
            "capabilities": version >= .v2025_11_25 ? capabilities : Self.withoutTasks(capabilities),
            "serverInfo": configuration.serverInfo.value,
        ]
        if let instructions = configuration.instructions { result["instructions"] = .string(instructions) }
        return (.object(result), session, evicted)
    }

    // MARK: Dispatch

    /// Answers one request (anything but `initialize`, which creates a session: see ``initialize(_:owner:)``).
    ///
    /// The work runs in a child task registered under (session id or `""`, request id), so
    /// `notifications/cancelled` (see ``handle(_:session:)``) or ``cancelRequest(_:sessionID:reason:)`` can
    /// cancel it; cancelling the calling task cancels it too. A cancelled request still returns, with
    /// ``MCPError/requestCancelled(_:)`` (-32800): the transport must not send that to the client.
    ///
    /// Each request runs in a span (kind server) named after its method, or `tools/call <tool>` for a
    /// registered tool, child of the current `ServiceContext` (the HTTP request's span) or of the trace
    /// context in `params._meta` (`traceparent`, `tracestate`) when the client sends one; attributes
    /// `mcp.method.name`, `jsonrpc.request.id`, `gen_ai.tool.name`, and `error.type` (the JSON-RPC code, or
    /// `tool_error`) with an error status when it fails. It counts in `mcpfcgi_jsonrpc_requests_total`, a
    /// tool call also in `mcpfcgi_tool_calls_total` and `mcpfcgi_tool_call_duration_seconds`
    /// (``Configuration/metricsFactory``).
    /// - Parameters:
    ///   - request: the request.
    ///   - context: its context.
    /// - Returns: the result, or the JSON-RPC error to answer with.
    public func handle(_ request: JSONRPCRequest, context: RequestContext) async -> Result<Value, MCPError> {
        var context = context
        if let ttl = configuration.tasks.clientTaskTTL, Self.speaksTasks(context) { context.clientTaskTTL = ttl }
        let prepared = context
        return await observed(request, outcome: ObservedOutcome.init) { await answer(request, context: prepared) }
    }

    /// ``handle(_:context:)`` without its span and metrics.
    private func answer(_ request: JSONRPCRequest, context: RequestContext) async -> Result<Value, MCPError> {
        let key = InFlightRequests.Key(sessionID: context.session?.id ?? "", requestID: request.id)
        // A structured child (not `Task {}`): it is allocated with the caller's task, inherits its executor
        // preference (the FastCGI accept thread runs it with no hop) and its cancellation; `notifications/cancelled`
        // cancels the child alone, through the handle it registers while it runs.
        let canceller = ChildTaskCanceller()
        let token = inFlight.begin(key) { canceller.cancel() }
        // A request that got its session just before the session ended: registered before this check, so either
        // the end's `cancelAll` sees it or this check sees the end. Either way it is cancelled, like every request
        // in flight when a session ends.
        if let session = context.session, session.isEnded { inFlight.cancel(key, reason: "session ended") }
        async let work = canceller.run { await self.dispatch(request, context: context) }
        let result = await work
        let outcome = inFlight.end(key, token: token)
        if outcome.cancelled { return .failure(.requestCancelled(outcome.reason)) }
        if Task.isCancelled, case .success = result { return .failure(.requestCancelled()) }
        return result
    }

    /// Cancels a request in flight, as `notifications/cancelled` does.
    /// - Parameters:
    ///   - id: the request's id.
    ///   - sessionID: its session's id; nil for a request without a session.
    ///   - reason: why, if known.
    /// - Returns: false when no such request is in flight.
    @discardableResult public func cancelRequest(_ id: RequestID, sessionID: String?, reason: String? = nil) -> Bool {
        inFlight.cancel(InFlightRequests.Key(sessionID: sessionID ?? "", requestID: id), reason: reason)
    }

    /// The number of requests being answered.
    public var inFlightRequestCount: Int { inFlight.count }

    func dispatch(_ request: JSONRPCRequest, context: RequestContext) async -> Result<Value, MCPError> {
        do {
            let params = request.params
            switch request.method {
            case "ping":
                return .success([:])
            case "tools/list":
                return .success(try listTools(params, tasks: Self.speaksTasks(context)))
            case "tools/call":
                return .success(try await callTool(params, context: context))
            case "resources/list":
                return .success(try listResources(params))
            case "resources/templates/list":
                return .success(try listResourceTemplates(params))
            case "resources/read":
                return .success(try await readResource(params, context: context))
            case "resources/subscribe":
                return .success(try subscribe(params, session: context.session))
            case "resources/unsubscribe":
                return .success(try unsubscribe(params, session: context.session))
            case "prompts/list":
                return .success(try listPrompts(params))
            case "prompts/get":
                return .success(try await getPrompt(params, context: context))
            case "completion/complete":
                return .success(try await complete(params, context: context))
            case "logging/setLevel":
                return .success(try setLogLevel(params, session: context.session))
            case "tasks/get", "tasks/result", "tasks/list", "tasks/cancel":
                guard Self.speaksTasks(context), runsTasks else { return .failure(.methodNotFound(request.method)) }
                return .success(try await answerTaskRequest(request.method, params: params, context: context))
            case "initialize":
                return .failure(.invalidRequest("The session is already initialized"))
            default:
                return .failure(.methodNotFound(request.method))
            }
        } catch let error as MCPError {
            return .failure(error)
        } catch is CancellationError {
            return .failure(.requestCancelled())
        } catch {
            context.logger.error("unexpected error", metadata: ["error": "\(error)"])
            return .failure(.internalError())
        }
    }

    /// Handles a notification from the client; unknown ones are ignored.
    ///
    /// - `notifications/initialized` marks the session initialized.
    /// - `notifications/cancelled {requestId, reason?}` cancels that request of this session, if in flight.
    /// - Parameters:
    ///   - notification: the notification.
    ///   - session: its session.
    public func handle(_ notification: JSONRPCNotification, session: Session?) {
        switch notification.method {
        case "notifications/initialized":
            session?.markInitialized()
        case "notifications/cancelled":
            guard let raw = notification.params?["requestId"], let id = RequestID(raw) else { return }
            cancelRequest(id, sessionID: session?.id, reason: notification.params?["reason"]?.stringValue)
        default:
            break
        }
    }

    /// Resolves a server→client request with the client's response (see `pendingRequests`).
    ///
    /// A response to a request that was sent to another session, or that nobody waits for (timed out,
    /// cancelled, unknown), is ignored.
    /// - Parameters:
    ///   - message: a `.response` or `.errorResponse`; anything else is ignored.
    ///   - session: the session the response came with.
    /// - Returns: whether a waiting request was resolved.
    @discardableResult public func handleResponse(_ message: JSONRPCMessage, session: Session?) -> Bool {
        switch message {
        case .response(let id, let result):
            return pendingRequests.resolve(id: id, with: .success(result), fromSession: session?.id)
        case .errorResponse(let id?, let error):
            return pendingRequests.resolve(id: id, with: .failure(error), fromSession: session?.id)
        default:
            return false
        }
    }

    /// Sends a request to the client and waits for its response: makes an id, registers the waiter, calls
    /// `send` with the request, and waits up to ``Configuration/clientRequestTimeout``.
    /// - Parameters:
    ///   - method: e.g. `sampling/createMessage`.
    ///   - params: the request's params.
    ///   - session: the session it goes to; only a response from that session resolves it.
    ///   - send: delivers the request to the client.
    /// - Returns: the client's `result`.
    /// - Throws: ``MCPError`` as `PendingRequests/request(id:timeout:sessionID:send:)` does.
    public func requestClient(
        _ method: String, params: Value?, session: Session?, send: @Sendable (JSONRPCRequest) async throws -> Void
    ) async throws(MCPError) -> Value {
        let request = JSONRPCRequest(id: pendingRequests.makeID(), method: method, params: params)
        return try await pendingRequests.request(
            id: request.id, timeout: configuration.clientRequestTimeout, sessionID: session?.id
        ) { try await send(request) }
    }

    // MARK: Ending sessions

    /// Ends a session in one step: removes it from the store, then ends it (``end(_:reason:)``). DELETE uses it;
    /// the transport closes the session's streams when it returns the session.
    /// - Parameters:
    ///   - id: the session's id.
    ///   - reason: why it ends. Default ``SessionEndReason/deleted``.
    /// - Returns: the session when this call ended it; nil when no live session has that id (unknown, or ended
    ///   already by a racing path: DELETE while the sweeper expires it).
    /// - Throws: what the store throws when it cannot be reached; then nothing changed.
    public func endSession(id: String, reason: SessionEndReason = .deleted) async throws -> Session? {
        guard let removed = try await sessions.remove(id: id) else { return nil }
        return end(removed, reason: reason) ? removed : nil
    }

    /// Ends every session idle for at least `seconds` (nothing in flight, see
    /// ``Session/isIdle(forAtLeast:now:)``): removes them from the store, then ends each (``end(_:reason:)``).
    /// The idle sweep (reason ``SessionEndReason/expired``) and the management cleanup
    /// (``SessionEndReason/cleanedUp``) use it.
    /// - Parameters:
    ///   - seconds: the inactivity threshold.
    ///   - reason: why they end. Default ``SessionEndReason/expired``.
    /// - Returns: the sessions this call ended (not those a racing path ended first).
    /// - Throws: what the store throws when it cannot be reached; then nothing changed.
    public func endIdleSessions(olderThan seconds: Double, reason: SessionEndReason = .expired) async throws
        -> [Session]
    {
        let removed = try await sessions.removeIdle(olderThan: seconds, now: configuration.now())
        return removed.filter { end($0, reason: reason) }
    }

    /// The end of a session that is out of the store, the one step every path takes (DELETE, idle sweep,
    /// management cleanup, eviction): moves it to `ended(reason)` (``SessionLifecycle``) and, only when this call
    /// did, cleans up: counts `mcpfcgi_sessions_ended_total{reason}`, forgets its resource subscriptions and
    /// cancels its requests in flight. Two paths racing to end it clean up once: the second gets false.
    /// - Parameters:
    ///   - session: the session, removed from the store.
    ///   - reason: why it ends.
    /// - Returns: whether this call ended it (the transport then closes its streams).
    @discardableResult public func end(_ session: Session, reason: SessionEndReason) -> Bool {
        end(session, reason: reason, counted: true)
    }

    /// ``end(_:reason:)``; `counted` false for a session a shared store reports as removed elsewhere (the process
    /// that removed it counted its end).
    package func end(_ session: Session, reason: SessionEndReason, counted: Bool) -> Bool {
        guard case .cleanUp = session.end(reason: reason) else { return false }
        if counted { metrics.recordSessionEnded(reason) }
        // After the phase changed: a racing `resources/subscribe` either is in this set or sees the end.
        let uris = session.subscriptions
        subscriptions.withLock { index in index.removeSession(session.id, uris: uris) }
        inFlight.cancelAll(sessionID: session.id, reason: "session ended")
        endTasks(ofSession: session.id)
        return true
    }

    /// ``end(_:reason:)`` under its older name, with reason ``SessionEndReason/deleted`` by default.
    /// - Parameters:
    ///   - session: the session, removed from the store.
    ///   - reason: why it ended. Default ``SessionEndReason/deleted`` (removed on purpose, by its client or the
    ///     application).
    /// - Returns: whether this call ended it.
    @discardableResult public func sessionEnded(_ session: Session, reason: SessionEndReason = .deleted) -> Bool {
        end(session, reason: reason)
    }

    private func listTools(_ params: Value?, tasks: Bool) throws(MCPError) -> Value {
        var all = tools.withLock { $0.entries.map(\.tool) }
        // Only 2025-11-25 has tasks (2026-07-28 moved them to an extension this server does not offer): elsewhere no
        // `execution`.
        if !tasks { all = all.map { tool in var tool = tool; tool.taskSupport = nil; return tool } }
        let (page, next) = try Pagination.page(all, cursor: params?["cursor"], pageSize: configuration.pageSize)
        var result: [String: Value] = ["tools": .array(page.map(\.value))]
        if let next { result["nextCursor"] = .string(next) }
        return .object(result)
    }

    private func callTool(_ params: Value?, context: RequestContext) async throws -> Value {
        guard let name = params?["name"]?.stringValue else {
            throw MCPError.invalidParams("tools/call needs a string \"name\"")
        }
        try configuration.identifierLimits.checkName(name, "tools/call \"name\"")
        guard let entry = tools.withLock({ $0.entry(named: name) }) else {
            throw MCPError.invalidParams("Unknown tool: \(name)")
        }
        let argumentsValue = params?["arguments"] ?? .object([:])
        guard case .object(let arguments) = argumentsValue else {
            throw MCPError.invalidParams("tools/call \"arguments\" must be an object")
        }
        if let problem = SchemaValidator().firstViolation(of: argumentsValue, against: entry.tool.inputSchema) {
            throw MCPError.invalidParams("Invalid arguments for tool \(name): \(problem)")
        }
        if Self.speaksTasks(context) {
            let support = entry.tool.taskSupport ?? .forbidden
            if let task = params?["task"], !task.isNull {
                guard support != .forbidden else {
                    throw MCPError(
                        code: MCPError.Code.methodNotFound,
                        message: "Tool \(name) does not run as a task: call it without params.task")
                }
                return try await startTask(entry, arguments: arguments, task: task, context: context)
            }
            if support == .required {
                throw MCPError(
                    code: MCPError.Code.methodNotFound,
                    message: "Tool \(name) runs only as a task: call it with params.task (e.g. {\"ttl\": 60000})")
            }
        }
        return try await runTool(entry, arguments: arguments, context: context)
    }

    /// Runs a tool's handler: ``MCPError`` and cancellation pass through, anything else becomes a result with
    /// `isError`.
    func runTool(_ entry: ToolRegistry.Entry, arguments: [String: Value], context: RequestContext) async throws -> Value {
        do {
            return try await entry.handler(arguments, context).value
        } catch let error as MCPError {
            throw error
        } catch is CancellationError {
            throw MCPError.requestCancelled()
        } catch {
            return ToolResult.error(Self.describe(error)).value
        }
    }

    private func setLogLevel(_ params: Value?, session: Session?) throws(MCPError) -> Value {
        guard let raw = params?["level"]?.stringValue, let level = LoggingLevel(rawValue: raw) else {
            throw MCPError.invalidParams("logging/setLevel needs a valid \"level\"")
        }
        session?.logLevel = level
        return [:]
    }

    /// Runs a resource, prompt or completion handler: ``MCPError`` passes through, cancellation becomes
    /// -32800, anything else is logged and becomes a bare -32603 (no internals leak to the client).
    func runHandler<T>(
        _ what: String, context: RequestContext, _ body: () async throws -> T
    ) async throws(MCPError) -> T {
        do {
            return try await body()
        } catch let error as MCPError {
            throw error
        } catch is CancellationError {
            throw .requestCancelled()
        } catch {
            context.logger.error("\(what) failed", metadata: ["error": "\(error)"])
            throw .internalError()
        }
    }

    static func describe(_ error: any Error) -> String {
        if let localized = error as? LocalizedError, let text = localized.errorDescription { return text }
        return String(describing: error)
    }
}
