import HTTPTypes
import Logging
import MCPHandlers
import Metrics
import Synchronization
import MCPHTTP
import MCPOAuth

/// The Streamable HTTP endpoint (`/mcp`): turns HTTP requests into JSON-RPC messages for an
/// ``MCPHandlers/MCPServer`` and its answers back into HTTP responses, enforcing the transport's
/// session, header and origin rules.
public struct MCPEndpoint: Sendable {
    /// Transport settings of the endpoint.
    public struct Configuration: Sendable {
        /// Which `Origin` headers are accepted. Default: loopback only (the application adds its public origin).
        public var originPolicy: OriginPolicy
        /// `Retry-After` seconds sent with 503 when the session store is full. Default 5.
        public var retryAfterWhenFull: Int
        /// `Retry-After` seconds sent with 429 when the client's address or user holds its session quota
        /// (``MCPHandlers/SessionLimits``). Default 60.
        public var retryAfterWhenQuotaReached: Int
        /// The key a request's client address is counted under for ``MCPHandlers/SessionLimits/maxSessionsPerAddress``,
        /// nil for none. Default ``ClientAddress/quotaKey(_:)`` of nginx's `REMOTE_ADDR` (never a forwarded header):
        /// the IPv4 address, or the /64 prefix of an IPv6 address (one host usually has a whole /64).
        public var clientAddressKey: @Sendable (HTTPServerRequest) -> String?
        /// Whether request answers may be SSE streams (`.automatic`) or are always JSON (`.jsonOnly`).
        /// Default `.automatic`.
        public var responseMode: ResponseMode
        /// A handler still running after this long has its answer switched to SSE (when the client accepts
        /// it), which frees the accept thread. nil: only when the handler sends something. Default 500 ms.
        public var streamingThreshold: Duration?
        /// Whether `GET /mcp` opens streams for server-initiated messages; false answers 405. Default true.
        public var allowsStandaloneStreams: Bool
        /// Events kept per stream for `Last-Event-ID` resumption. Default 256.
        public var replayBufferSize: Int
        /// How long events are kept for resumption. Default 5 minutes.
        public var replayBufferAge: Duration
        /// The `retry:` delay announced on every stream, in milliseconds. Default 1000.
        public var retryMilliseconds: Int
        /// Streams remembered per session (connected ones are never dropped), and the most GET streams one
        /// session may have open at once: one more is refused with 429 and -32000. Default 64.
        public var maxStreamsPerSession: Int
        /// How long a request whose stream lost its client waits for a resume before its handler is
        /// cancelled. Default 2 s.
        public var resumeGracePeriod: Duration
        /// The most messages one JSON-RPC batch may hold (sessions of 2025-03-26); a longer batch is refused whole
        /// with 400 and `-32600`. Default 100.
        public var maxBatchSize: Int
        /// The authenticated user of a request, or nil for an anonymous one. A session created by an
        /// authenticated `initialize` is bound to that user (``MCPHandlers/Session/owner``): a later request
        /// on it by another user is refused with 403, an anonymous one with 401. Session ids are never
        /// taken as proof of identity. Default: the OAuth-authenticated user (``HTTPServerRequest/authenticatedUser``),
        /// else the user nginx authenticated (``HTTPServerRequest/remoteUser``).
        public var resolveUser: @Sendable (HTTPServerRequest) async -> String?
        /// The seed's `resolveUserId`: given the request's context (path, headers, the token's claims when
        /// auth is on), the user id sessions are bound to; nil refuses the request with 403 (e.g. a user of
        /// another tenant). When set, it replaces ``resolveUser``. Default nil.
        public var resolveUserID: (@Sendable (UserContext) async -> String?)?
        /// The swift-metrics backend; nil (default): the process-wide `MetricsSystem.factory`, read when the
        /// endpoint is created, so bootstrap `MetricsSystem` first. ``MCPApplication`` sets its own
        /// ``MCPApplication/Configuration/metricsFactory`` here when this is nil.
        ///
        /// The endpoint records `mcpfcgi_sse_replayed_events_total`: the events sent again to a client that
        /// resumed a stream with `Last-Event-ID`.
        public var metricsFactory: (any MetricsFactory)?

        /// How request answers are sent.
        public struct ResponseMode: Sendable, Equatable {
            let streams: Bool
            /// JSON, or SSE when the handler sends anything before its result.
            public static let automatic = ResponseMode(streams: true)
            /// Always JSON; notifications before the result are dropped, requests to the client fail.
            public static let jsonOnly = ResponseMode(streams: false)
        }

        /// Creates a configuration; every parameter has the default documented on its property.
        public init(
            originPolicy: OriginPolicy = OriginPolicy(), retryAfterWhenFull: Int = 5,
            responseMode: ResponseMode = .automatic, streamingThreshold: Duration? = .milliseconds(500),
            allowsStandaloneStreams: Bool = true, replayBufferSize: Int = 256, replayBufferAge: Duration = .seconds(300),
            retryMilliseconds: Int = 1000, maxStreamsPerSession: Int = 64, resumeGracePeriod: Duration = .seconds(2),
            maxBatchSize: Int = 100, retryAfterWhenQuotaReached: Int = 60,
            clientAddressKey: @escaping @Sendable (HTTPServerRequest) -> String? = {
                ClientAddress.quotaKey($0.remoteAddress)
            },
            resolveUser: @escaping @Sendable (HTTPServerRequest) async -> String? = {
                $0.authenticatedUser ?? $0.remoteUser
            }
        ) {
            self.originPolicy = originPolicy
            self.retryAfterWhenFull = retryAfterWhenFull
            self.responseMode = responseMode
            self.streamingThreshold = streamingThreshold
            self.allowsStandaloneStreams = allowsStandaloneStreams
            self.replayBufferSize = replayBufferSize
            self.replayBufferAge = replayBufferAge
            self.retryMilliseconds = retryMilliseconds
            self.maxStreamsPerSession = maxStreamsPerSession
            self.resumeGracePeriod = resumeGracePeriod
            self.maxBatchSize = maxBatchSize
            self.retryAfterWhenQuotaReached = retryAfterWhenQuotaReached
            self.clientAddressKey = clientAddressKey
            self.resolveUser = resolveUser
            self.resolveUserID = nil
            self.metricsFactory = nil
        }
    }

    /// The MCP server behind the endpoint.
    public let server: MCPServer
    /// The endpoint's settings.
    public let configuration: Configuration
    let logger: Logger
    /// The SSE streams of every session.
    let streams: StreamRegistry
    /// Switches long-running answers to SSE after ``Configuration/streamingThreshold``.
    let deadlines: StreamingDeadlines?

    /// Creates the endpoint.
    /// - Parameters:
    ///   - server: the MCP server.
    ///   - configuration: transport settings.
    ///   - logger: where transport events are logged.
    public init(server: MCPServer, configuration: Configuration = Configuration(), logger: Logger) {
        self.server = server
        self.configuration = configuration
        self.logger = logger
        let streams = StreamRegistry(
            limits: EventStream.Limits(
                maxEvents: configuration.replayBufferSize, maxAge: configuration.replayBufferAge,
                retryMilliseconds: configuration.retryMilliseconds,
                replayedEvents: Counter(
                    label: EventStream.replayedEventsLabel,
                    factory: configuration.metricsFactory ?? MetricsSystem.factory)),
            maxStreamsPerSession: configuration.maxStreamsPerSession)
        self.streams = streams
        self.deadlines = configuration.streamingThreshold.map(StreamingDeadlines.init(threshold:))
        server.setNotificationSink { sessionID, notification in
            if let sessionID {
                streams.existingStreams(for: sessionID)?.sendOnStandalone(notification.value)
            } else {
                streams.forEachSession { $0.sendOnStandalone(notification.value) }
            }
        }
    }

    /// The number of live sessions.
    /// - Throws: what the session store throws when it cannot be reached.
    public var activeSessionCount: Int { get async throws { try await server.sessions.count } }

    /// Ends what the transport and the server hold for a session that was removed from the store (deleted
    /// by its client, expired, cleaned up): closes its SSE streams, cancels its requests in flight and
    /// forgets its resource subscriptions.
    /// - Parameters:
    ///   - session: the session that was removed.
    ///   - reason: why it ended (the `reason` of `mcpfcgi_sessions_ended_total`). Default
    ///     ``MCPHandlers/SessionEndReason/deleted`` (removed on purpose, by its client or the application).
    public func sessionEnded(_ session: Session, reason: SessionEndReason = .deleted) {
        streams.remove(sessionID: session.id)
        server.sessionEnded(session, reason: reason)
    }

    /// Answers `POST /mcp`: one JSON-RPC message.
    public func post(_ request: HTTPServerRequest) async -> HTTPServerResponse {
        if let refusal = checkOrigin(request) { return refusal }
        let user: String?
        switch await resolveUser(of: request) {
        case .success(let resolved): user = resolved
        case .failure(let refusal): return refusal.response
        }
        let fields = request.head.headerFields
        guard Self.isJSONContentType(fields.value(.contentType)) else {
            return transportError(.unsupportedMediaType, "Content-Type must be application/json")
        }
        // Parsed once per request; the answer's form (JSON or SSE) depends on it.
        let acceptedTypes = Self.acceptedTypes(fields.value(.accept))
        guard acceptedTypes.json || acceptedTypes.sse else {
            return transportError(.notAcceptable, "Accept must allow application/json or text/event-stream")
        }
        let parsed: Value
        do {
            parsed = try JSONParser().parse(request.body)
        } catch {
            return rpcError(.badRequest, id: nil, .parseError("Parse error: \(error)"))
        }
        if isStateless(request, message: parsed) {
            return await postStateless(parsed, request: request, accepted: acceptedTypes, user: user)
        }
        if case .array(let batch) = parsed {
            return await postBatch(batch, request: request, user: user)
        }
        let message: JSONRPCMessage
        do {
            message = try JSONRPCMessage(parsed)
        } catch {
            return rpcError(.badRequest, id: error.id, error.error)
        }
        if case .request(let r) = message, r.method == "initialize" {
            return await initialize(r, request: request, owner: user)
        }
        let session: Session
        switch await lookUpSession(request, user: user, id: message.requestID) {
        case .success(let found): session = found
        case .failure(let refusal): return refusal.response
        }
        switch message {
        case .notification(let notification):
            server.handle(notification, session: session)
            return accepted()
        case .response, .errorResponse:
            server.handleResponse(message, session: session)
            return accepted()
        case .request(let rpc):
            return await answer(rpc, session: session, accepted: acceptedTypes)
        }
    }

    /// Runs one request and answers with JSON or, when the handler streams, with SSE.
    private func answer(_ rpc: JSONRPCRequest, session: Session, accepted: (json: Bool, sse: Bool)) async
        -> HTTPServerResponse
    {
        let (json, sse) = accepted
        let canStream = configuration.responseMode.streams && sse
        let handler = TaskHandle()
        let grace = configuration.resumeGracePeriod
        let streams = self.streams
        var openStream: (@Sendable () -> EventStream)? = nil
        if canStream {
            openStream = {
                let stream = streams.streams(for: session.id).open(isStandalone: false)
                // A client that left and did not resume in time has nobody to answer: cancel the handler.
                stream.onAbandoned(after: grace) { handler.cancel() }
                return stream
            }
        }
        let exchange = PostExchange(requestID: rpc.id, openStream: openStream, server: server, sessionID: session.id)
        let context = requestContext(rpc, session: session, outbound: exchange)
        let server = self.server
        guard canStream else {
            // The answer is JSON whatever the handler does (notifications are dropped, requests to the client
            // fail): run the handler right here, in the request's own task, with no task to start and no
            // decision to wait for.
            session.beginActivity()
            let outcome = await server.handle(rpc, context: context)
            session.endActivity(now: server.configuration.now())
            exchange.complete(outcome)
            return await httpAnswer(exchange, id: rpc.id, status: { .ok })
        }
        // A client that takes only SSE gets a stream, decided before the handler runs (it could finish first).
        if !json { exchange.streamIfPossible() }
        session.beginActivity()
        // Runs on the accept thread while the answer is being decided (no thread hop for a quick handler),
        // on the global executor after it (a streamed answer's handler outlives the accept thread's turn).
        handler.set(
            Task(executorPreference: RequestExecutor.current) {
                let outcome = await server.handle(rpc, context: context)
                session.endActivity(now: server.configuration.now())
                exchange.complete(outcome)
            })
        if json, !exchange.isDecided { deadlines?.watch(exchange) }
        return await httpAnswer(exchange, id: rpc.id, status: { .ok })
    }

    /// The HTTP form of an answer once decided: the JSON-RPC response as JSON with `status`, or the SSE
    /// stream (shared by both protocol eras).
    func httpAnswer(_ exchange: PostExchange, id: RequestID, status: () -> HTTPResponse.Status) async
        -> HTTPServerResponse
    {
        switch await exchange.decision() {
        case .json(.success(let result)):
            return .jsonBytes(status(), JSONRPCResponse.success(id: id, result: result), headerFields: noStore)
        case .json(.failure(let error)):
            return .jsonBytes(status(), JSONRPCResponse.failure(id: id, error: error), headerFields: noStore)
        case .stream:
            return .eventStream(exchange.connection, headerFields: noStore)
        }
    }

    /// The context a session's request runs in: the session's user, version and capabilities, the request's
    /// progress token.
    private func requestContext(_ rpc: JSONRPCRequest, session: Session, outbound: any ServerOutbound)
        -> RequestContext
    {
        RequestContext(
            requestID: rpc.id, session: session, user: session.owner, protocolVersion: session.protocolVersion,
            clientCapabilities: session.clientCapabilities, progressToken: rpc.params?["_meta"]?["progressToken"],
            logger: logger, outbound: outbound)
    }

    /// A JSON-RPC batch: allowed only in sessions that negotiated 2025-03-26; answered with a JSON array.
    private func postBatch(_ batch: [Value], request: HTTPServerRequest, user: String?) async -> HTTPServerResponse {
        let session: Session
        switch await lookUpSession(request, user: user, id: nil) {
        case .success(let found): session = found
        case .failure(let refusal):
            if request.head.headerFields.value(.mcpSessionID) == nil {
                return rpcError(.badRequest, id: nil, .invalidRequest("JSON-RPC batches are not supported"))
            }
            return refusal.response
        }
        guard session.protocolVersion.allowsBatches else {
            return rpcError(
                .badRequest, id: nil,
                .invalidRequest("JSON-RPC batches are not supported in protocol \(session.protocolVersion)"))
        }
        guard !batch.isEmpty else { return rpcError(.badRequest, id: nil, .invalidRequest("Empty batch")) }
        guard batch.count <= configuration.maxBatchSize else {
            return rpcError(
                .badRequest, id: nil,
                .invalidRequest(
                    "A batch of \(batch.count) messages exceeds the limit of \(configuration.maxBatchSize); send fewer"))
        }
        var responses: [Value] = []
        for element in batch {
            let message: JSONRPCMessage
            do {
                message = try JSONRPCMessage(element)
            } catch {
                responses.append(JSONRPCMessage.errorResponse(id: error.id, error: error.error).value)
                continue
            }
            switch message {
            case .notification(let notification): server.handle(notification, session: session)
            case .response, .errorResponse: server.handleResponse(message, session: session)
            case .request(let rpc):
                if rpc.method == "initialize" {
                    responses.append(
                        JSONRPCMessage.errorResponse(id: rpc.id, error: .invalidRequest("initialize cannot be batched"))
                            .value)
                    continue
                }
                session.beginActivity()
                let context = requestContext(rpc, session: session, outbound: DiscardingOutbound())
                let outcome = await server.handle(rpc, context: context)
                session.endActivity(now: server.configuration.now())
                switch outcome {
                case .success(let result): responses.append(JSONRPCMessage.response(id: rpc.id, result: result).value)
                case .failure(let error): responses.append(JSONRPCMessage.errorResponse(id: rpc.id, error: error).value)
                }
            }
        }
        if responses.isEmpty { return accepted() }
        return .json(.ok, .array(responses), headerFields: noStore)
    }

    /// Answers `GET /mcp`: a stream for server-initiated messages, or the resumption of a stream
    /// (`Last-Event-ID`), replaying exactly the events after that id.
    public func get(_ request: HTTPServerRequest) async -> HTTPServerResponse {
        if let refusal = checkOrigin(request) { return refusal }
        let user: String?
        switch await resolveUser(of: request) {
        case .success(let resolved): user = resolved
        case .failure(let refusal): return refusal.response
        }
        let statelessVersion = request.head.headerFields.value(.mcpProtocolVersion).map {
            !ProtocolVersion.sessionEra.contains(ProtocolVersion(rawValue: $0))
        } ?? false
        guard configuration.allowsStandaloneStreams, configuration.responseMode.streams, !statelessVersion else {
            var response = HTTPServerResponse.error(
                .methodNotAllowed, code: "method_not_allowed", message: "This server offers no GET stream")
            response.head.headerFields[.allow] = "DELETE, POST"
            return response
        }
        let fields = request.head.headerFields
        guard Self.acceptedTypes(fields.value(.accept)).sse, fields.value(.accept) != nil else {
            return transportError(.notAcceptable, "Accept must include text/event-stream")
        }
        let session: Session
        switch await lookUpSession(request, user: user, id: nil) {
        case .success(let found): session = found
        case .failure(let refusal): return refusal.response
        }
        let sessionStreams = streams.streams(for: session.id)
        let connection = ResponseStream(isStandalone: true)
        var resuming: (stream: Int, sequence: Int)? = nil
        let lastEventID = fields[HTTPField.Name("Last-Event-ID")!]
        if let lastEventID {
            guard let parsed = SessionStreams.parseEventID(lastEventID) else {
                return transportError(.badRequest, "Unknown Last-Event-ID: \(lastEventID)")
            }
            resuming = parsed
        }
        switch sessionStreams.attachStandalone(connection, resuming: resuming) {
        case .attached: break
        case .unknownStream:
            return transportError(.badRequest, "Unknown Last-Event-ID: \(lastEventID ?? "")")
        case .cannotResume:
            return transportError(.badRequest, "Cannot resume after Last-Event-ID \(lastEventID ?? "")")
        case .tooManyStreams(let limit):
            logger.notice(
                "GET stream refused: too many open on the session",
                metadata: ["mcp.session.id": "\(session.id)", "http.request.id": "\(request.requestID)"])
            return transportError(
                .tooManyRequests,
                "This session has \(limit) GET streams open, the most allowed; close one before opening another")
        }
        // The stream is activity until it ends, whichever side ends it (client gone, stream resumed on
        // another connection, session ended): only then may the session become idle and expire.
        let activity = StreamActivity(session: session, now: server.configuration.now)
        connection.onClose { activity.end() }
        Task {
            await connection.waitUntilFinished()
            activity.end()
        }
        return .eventStream(connection, headerFields: noStore)
    }

    /// A GET stream's share of its session's activity: begun when the stream opens, ended once.
    private final class StreamActivity: Sendable {
        private let session: Session
        private let now: @Sendable () -> Double
        private let ended = Mutex(false)

        init(session: Session, now: @escaping @Sendable () -> Double) {
            self.session = session
            self.now = now
            session.beginActivity()
        }

        func end() {
            guard !ended.withLock({ ended in defer { ended = true }; return ended }) else { return }
            session.endActivity(now: now())
        }
    }

    /// The response that ends a request before its handler runs (403, 404, …).
    struct Refusal: Error {
        var response: HTTPServerResponse
    }

    /// The session named by `Mcp-Session-Id`, or the 400/404 to answer with; then checks that the session
    /// belongs to the request's user (401/403) and `MCP-Protocol-Version` (400).
    private func lookUpSession(_ request: HTTPServerRequest, user: String?, id: RequestID?) async
        -> Result<Session, Refusal>
    {
        let fields = request.head.headerFields
        guard let sessionID = fields.value(.mcpSessionID) else {
            return .failure(Refusal(response: rpcError(
                .badRequest, id: id,
                MCPError(code: MCPError.Code.connectionClosed, message: "Bad Request: Mcp-Session-Id header is required"))))
        }
        let found: Session?
        do { found = try await server.sessions.session(id: sessionID) } catch {
            return .failure(Refusal(response: storeUnavailable(request, id: id, error)))
        }
        guard let session = found else {
            return .failure(Refusal(response: rpcError(
                .notFound, id: id, MCPError(code: MCPError.Code.connectionClosed, message: "Session not found"))))
        }
        if let refusal = checkOwner(of: session, user: user, request: request, id: id) {
            return .failure(Refusal(response: refusal))
        }
        if let version = fields.value(.mcpProtocolVersion),
            !server.configuration.supportedVersions.contains(ProtocolVersion(rawValue: version))
        {
            return .failure(Refusal(response: rpcError(
                .badRequest, id: id,
                MCPError(code: MCPError.Code.connectionClosed, message: "Unsupported MCP-Protocol-Version: \(version)"))))
        }
        return .success(session)
    }

    /// The request's user, resolved once per request: ``Configuration/resolveUserID`` when set (nil refuses the
    /// request with 403), else ``Configuration/resolveUser``.
    func resolveUser(of request: HTTPServerRequest) async -> Result<String?, Refusal> {
        guard let resolveUserID = configuration.resolveUserID else {
            return .success(await configuration.resolveUser(request))
        }
        if let user = await resolveUserID(UserContext(request)) { return .success(user) }
        logger.notice("request refused by resolveUserID", metadata: ["http.request.id": "\(request.requestID)"])
        return .failure(Refusal(response: rpcError(
            .forbidden, id: nil, MCPError(code: MCPError.Code.connectionClosed, message: "Forbidden: user not accepted here"))))
    }

    /// Whether the request's user may use the session: 401 when the session has an owner and the request
    /// is anonymous, 403 when it comes from another user, nil when it may.
    private func checkOwner(of session: Session, user: String?, request: HTTPServerRequest, id: RequestID?)
        -> HTTPServerResponse?
    {
        guard let owner = session.owner else { return nil }
        guard let user else {
            logger.notice(
                "anonymous request on an owned session refused",
                metadata: ["mcp.session.id": "\(session.id)", "http.request.id": "\(request.requestID)"])
            return rpcError(
                .unauthorized, id: id,
                MCPError(code: MCPError.Code.connectionClosed, message: "Unauthorized: this session requires authentication"))
        }
        guard user == owner else {
            logger.notice(
                "request by another user on an owned session refused",
                metadata: ["mcp.session.id": "\(session.id)", "http.request.id": "\(request.requestID)"])
            return rpcError(
                .forbidden, id: id,
                MCPError(code: MCPError.Code.connectionClosed, message: "Forbidden: the session belongs to another user"))
        }
        return nil
    }

    /// Answers `DELETE /mcp`: ends the session named by `Mcp-Session-Id` (only its owner may, when it has one).
    public func delete(_ request: HTTPServerRequest) async -> HTTPServerResponse {
        if let refusal = checkOrigin(request) { return refusal }
        let user: String?
        switch await resolveUser(of: request) {
        case .success(let resolved): user = resolved
        case .failure(let refusal): return refusal.response
        }
        guard let sessionID = request.head.headerFields.value(.mcpSessionID) else {
            return rpcError(
                .badRequest, id: nil,
                MCPError(code: MCPError.Code.connectionClosed, message: "Bad Request: Mcp-Session-Id header is required"))
        }
        let found: Session?
        do { found = try await server.sessions.session(id: sessionID) } catch {
            return storeUnavailable(request, id: nil, error)
        }
        guard let session = found else {
            return rpcError(
                .notFound, id: nil, MCPError(code: MCPError.Code.connectionClosed, message: "Session not found"))
        }
        if let refusal = checkOwner(of: session, user: user, request: request, id: nil) { return refusal }
        let removed: Session?
        do { removed = try await server.sessions.remove(id: sessionID) } catch {
            return storeUnavailable(request, id: nil, error)
        }
        guard let removed else {
            return rpcError(
                .notFound, id: nil, MCPError(code: MCPError.Code.connectionClosed, message: "Session not found"))
        }
        sessionEnded(removed, reason: .deleted)
        logger.debug("session ended by client", metadata: ["mcp.session.id": "\(sessionID)"])
        return HTTPServerResponse(status: .ok, headerFields: noStore)
    }

    private func initialize(_ rpc: JSONRPCRequest, request: HTTPServerRequest, owner: String?) async
        -> HTTPServerResponse
    {
        let address = configuration.clientAddressKey(request)
        do throws(MCPServer.SessionCreationError) {
            let (result, session, evicted) = try await server.initialize(rpc, owner: owner, clientAddress: address)
            // The server ended what it held for them; their clients get 404 from now on and initialize again.
            for gone in evicted { streams.remove(sessionID: gone.id) }
            var fields = noStore
            fields[.mcpSessionID] = session.id
            logger.debug(
                "session created",
                metadata: ["mcp.session.id": "\(session.id)", "http.request.id": "\(request.requestID)"])
            return .jsonBytes(.ok, JSONRPCResponse.success(id: rpc.id, result: result), headerFields: fields)
        } catch {
            switch error {
            case .capacityReached:
                var response = rpcError(
                    .serviceUnavailable, id: rpc.id,
                    .internalError("Too many live sessions and none idle long enough to end; try again later"))
                response.head.headerFields[.retryAfter] = String(configuration.retryAfterWhenFull)
                logger.warning(
                    "session store full; initialize refused", metadata: ["http.request.id": "\(request.requestID)"])
                return response
            case .storeUnavailable(let reason):
                return storeUnavailable(request, id: rpc.id, reason)
            case .addressQuotaReached(let limit):
                return quotaReached(
                    request, id: rpc.id, address: address,
                    "Too many sessions from your address: at most \(limit) may be live at once; end unused ones "
                        + "(DELETE /mcp with their Mcp-Session-Id) or retry once they have expired")
            case .userQuotaReached(let limit):
                return quotaReached(
                    request, id: rpc.id, address: address,
                    "Too many sessions for your user: at most \(limit) may be live at once; end unused ones "
                        + "(DELETE /mcp with their Mcp-Session-Id) or retry once they have expired")
            case .clientMetadataTooLarge(let limit):
                return rpcError(
                    .badRequest, id: rpc.id,
                    .invalidParams("clientInfo and capabilities take more than \(limit) bytes of JSON; send less"))
            }
        }
    }

    /// 429 with `Retry-After` and -32000 when the client's address or user holds its session quota.
    private func quotaReached(_ request: HTTPServerRequest, id: RequestID, address: String?, _ message: String)
        -> HTTPServerResponse
    {
        logger.notice(
            "session quota reached; initialize refused",
            metadata: ["http.request.id": "\(request.requestID)", "http.remote.address": "\(address ?? "unknown")"])
        var response = rpcError(.tooManyRequests, id: id, MCPError(code: MCPError.Code.connectionClosed, message: message))
        response.head.headerFields[.retryAfter] = String(configuration.retryAfterWhenQuotaReached)
        return response
    }

    /// 503 with `Retry-After` when the session store cannot be reached: the session may exist, so never 404.
    func storeUnavailable(_ request: HTTPServerRequest, id: RequestID?, _ error: any Error) -> HTTPServerResponse {
        storeUnavailable(request, id: id, String(describing: error))
    }

    private func storeUnavailable(_ request: HTTPServerRequest, id: RequestID?, _ reason: String) -> HTTPServerResponse {
        logger.error(
            "session store unavailable", metadata: ["http.request.id": "\(request.requestID)", "error": "\(reason)"])
        var response = rpcError(
            .serviceUnavailable, id: id, .internalError("The session store cannot be reached; try again later"))
        response.head.headerFields[.retryAfter] = String(configuration.retryAfterWhenFull)
        return response
    }

    /// `Cache-Control: no-store`, the header of every answer (built once, copied on write).
    var noStore: HTTPFields { Self.noStoreFields }
    private static let noStoreFields: HTTPFields = [.cacheControl: "no-store"]

    private func accepted() -> HTTPServerResponse {
        HTTPServerResponse(status: .accepted, headerFields: noStore)
    }

    private func checkOrigin(_ request: HTTPServerRequest) -> HTTPServerResponse? {
        let origin = request.head.headerFields.value(.origin)
        guard configuration.originPolicy.allows(origin) else {
            logger.notice("request from a foreign origin refused", metadata: ["origin": "\(origin ?? "")"])
            return rpcError(
                .forbidden, id: nil, MCPError(code: MCPError.Code.connectionClosed, message: "Forbidden: origin not allowed"))
        }
        return nil
    }

    func transportError(_ status: HTTPResponse.Status, _ message: String) -> HTTPServerResponse {
        rpcError(status, id: nil, MCPError(code: MCPError.Code.connectionClosed, message: message))
    }

    func rpcError(_ status: HTTPResponse.Status, id: RequestID?, _ error: MCPError) -> HTTPServerResponse {
        .jsonBytes(status, JSONRPCResponse.failure(id: id, error: error), headerFields: noStore)
    }

    static func isJSONContentType(_ value: String?) -> Bool {
        guard let value else { return false }
        // The value nearly every client sends: no splitting, trimming or lowercasing.
        if value == "application/json" { return true }
        let mediaType = value.split(separator: ";", maxSplits: 1).first.map {
            $0.trimmingCharacters(in: " \t").lowercased()
        }
        return mediaType == "application/json"
    }

    /// Which of the two answer types the `Accept` header allows (an absent header allows JSON only).
    static func acceptedTypes(_ value: String?) -> (json: Bool, sse: Bool) {
        guard let value else { return (true, false) }
        // The values clients send (the answers the general parse below gives them), without allocating.
        switch value {
        case "application/json": return (true, false)
        case "application/json, text/event-stream", "text/event-stream, application/json": return (true, true)
        case "text/event-stream": return (false, true)
        default: break
        }
        var json = false
        var sse = false
        for part in value.split(separator: ",") {
            let type = part.split(separator: ";", maxSplits: 1).first.map {
                $0.trimmingCharacters(in: " \t").lowercased()
            } ?? ""
            switch type {
            case "*/*": json = true; sse = true
            case "application/*", "application/json": json = true
            case "text/*", "text/event-stream": sse = true
            default: break
            }
        }
        return (json, sse)
    }
}

extension JSONRPCMessage {
    /// The id of a request, for error responses.
    var requestID: RequestID? {
        if case .request(let r) = self { return r.id }
        return nil
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
