import HTTPTypes
import Logging
import MCPHandlers
import Metrics
import Synchronization
import MCPHTTP
import MCPOAuth

/// The Streamable HTTP endpoint (`/mcp`): turns HTTP requests into JSON-RPC messages for an
/// `MCPServer` and its answers back into HTTP responses, enforcing the transport's
/// session, header and origin rules.
public struct MCPEndpoint: Sendable {
    /// Transport settings of the endpoint.
    public struct Configuration: Sendable {
        /// Which `Origin` headers are accepted. Default: loopback only (the application adds its public origin).
        public var originPolicy: OriginPolicy
        /// `Retry-After` seconds sent with 503 when the session store is full. Default 5.
        public var retryAfterWhenFull: Int
        /// `Retry-After` seconds sent with 429 when the client's address or user holds its session quota
        /// (`SessionLimits`). Default 60.
        public var retryAfterWhenQuotaReached: Int
        /// The key a request's client address is counted under for `SessionLimits/maxSessionsPerAddress`,
        /// nil for none. Default ``/MCPHTTP/ClientAddress/quotaKey(_:)`` of nginx's `REMOTE_ADDR` (never a forwarded header):
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
        /// authenticated `initialize` is bound to that user (`Session/owner`): a later request
        /// on it by another user is refused with 403, an anonymous one with 401. Session ids are never
        /// taken as proof of identity. Default: the OAuth-authenticated user (``/MCPHTTP/HTTPServerRequest/authenticatedUser``),
        /// else the user nginx authenticated (``/MCPHTTP/HTTPServerRequest/remoteUser``).
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
        /// Where every SSE event is also recorded, so that a `GET` with `Last-Event-ID` resumes a stream another
        /// process (a worker that died, another machine) sent: ``InMemoryEventStore``, or `PostgresEventStore` to
        /// share it. Stream numbers are then drawn at random. Default nil: a stream resumes only in the process that
        /// holds it (its replay buffer, ``replayBufferSize`` and ``replayBufferAge``).
        public var eventStore: (any EventStore)?

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
            self.eventStore = nil
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
            maxStreamsPerSession: configuration.maxStreamsPerSession, eventStore: configuration.eventStore)
        self.streams = streams
        self.deadlines = configuration.streamingThreshold.map(StreamingDeadlines.init(threshold:))
        server.setNotificationSink { sessionID, notification in
            if let sessionID {
                streams.existingStreams(for: sessionID)?.sendOnStandalone(notification.value)
            } else {
                streams.forEachSession { $0.sendOnStandalone(notification.value) }
            }
        }
        server.setClientMessageSink { sessionID, message in
            streams.existingStreams(for: sessionID)?.sendOnStandalone(message) ?? false
        }
        server.sessions.setSharedSessionEvents(server.sharedSessionEvents { streams.remove(sessionID: $0.id) })
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
    ///     `SessionEndReason/deleted` (removed on purpose, by its client or the application).
    public func sessionEnded(_ session: Session, reason: SessionEndReason = .deleted) {
        guard server.end(session, reason: reason) else { return }
        streams.remove(sessionID: session.id)
    }

    /// Answers `POST /mcp`: one JSON-RPC message (or a batch, in sessions of 2025-03-26). A refusal is a
    /// `TransportError` rendered by `HTTPErrorBoundary`.
    public func post(_ request: HTTPServerRequest) async -> HTTPServerResponse {
        await HTTPErrorBoundary.respond(to: request, logger: logger) { try await self.handlePost($0) }
    }

    private func handlePost(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        let user = try await admit(request)
        let fields = request.head.headerFields
        guard Self.isJSONContentType(fields.value(.contentType)) else { throw TransportError.unsupportedMediaType }
        // Parsed once per request; the answer's form (JSON or SSE) depends on it.
        let acceptedTypes = Self.acceptedTypes(fields.value(.accept))
        guard acceptedTypes.json || acceptedTypes.sse else { throw TransportError.notAcceptable }
        let parsed: Value
        do {
            parsed = try JSONParser().parse(request.body)
        } catch {
            throw TransportError.parseError("\(error)")
        }
        if isStateless(request, message: parsed) {
            return try await postStateless(parsed, request: request, accepted: acceptedTypes, user: user)
        }
        if case .array(let batch) = parsed {
            return try await postBatch(batch, request: request, user: user)
        }
        let message: JSONRPCMessage
        do {
            message = try JSONRPCMessage(parsed)
        } catch {
            throw TransportError.invalidMessage(error.error.message).answering(error.id)
        }
        if case .request(let r) = message, r.method == "initialize" {
            return try await initialize(r, request: request, owner: user)
        }
        let session = try await lookUpSession(request, user: user, id: message.requestID)
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
        // A client that left and did not resume within the grace period has nobody to answer: the exchange
        // cancels the handler.
        let options =
            canStream
            ? streams.answerStreamOptions(session: session, resumeGracePeriod: configuration.resumeGracePeriod)
            : nil
        let exchange = PostExchange(requestID: rpc.id, stream: options, server: server, sessionID: session.id)
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
            return await httpAnswer(exchange, id: rpc.id)
        }
        // A client that takes only SSE gets a stream, decided before the handler runs (it could finish first).
        if !json { exchange.streamIfPossible() }
        session.beginActivity()
        // Runs on the accept thread while the answer is being decided (no thread hop for a quick handler),
        // on the global executor after it (a streamed answer's handler outlives the accept thread's turn).
        exchange.setHandler(
            Task(executorPreference: RequestExecutor.current) {
                let outcome = await server.handle(rpc, context: context)
                session.endActivity(now: server.configuration.now())
                exchange.complete(outcome)
            })
        if json, !exchange.isDecided { deadlines?.watch(exchange) }
        return await httpAnswer(exchange, id: rpc.id)
    }

    /// The HTTP form of an answer once decided: the JSON-RPC response as JSON, or the SSE stream (shared by
    /// both protocol eras). A session's JSON answer is 200; a stateless one has the status of its
    /// ``MCPHandlers/StatelessDisposition`` (200, 400 or 404).
    func httpAnswer(_ exchange: PostExchange, id: RequestID, stateless: Bool = false) async -> HTTPServerResponse {
        switch await exchange.decision() {
        case .json(.success(let result)):
            return .jsonBytes(.ok, JSONRPCResponse.success(id: id, result: result), headerFields: noStore)
        case .json(.failure(let error)):
            let status = stateless ? StatelessDisposition(.failure(error)).httpStatus : .ok
            return .jsonBytes(status, JSONRPCResponse.failure(id: id, error: error), headerFields: noStore)
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
    private func postBatch(_ batch: [Value], request: HTTPServerRequest, user: String?) async throws
        -> HTTPServerResponse
    {
        guard request.head.headerFields.value(.mcpSessionID) != nil else { throw TransportError.batchWithoutSession }
        let session = try await lookUpSession(request, user: user, id: nil)
        guard session.protocolVersion.allowsBatches else {
            throw TransportError.batchNotSupported(version: "\(session.protocolVersion)")
        }
        guard !batch.isEmpty else { throw TransportError.emptyBatch }
        guard batch.count <= configuration.maxBatchSize else {
            throw TransportError.batchTooLarge(count: batch.count, limit: configuration.maxBatchSize)
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
    /// A refusal is a `TransportError` rendered by `HTTPErrorBoundary`.
    public func get(_ request: HTTPServerRequest) async -> HTTPServerResponse {
        await HTTPErrorBoundary.respond(to: request, logger: logger) { try await self.handleGet($0) }
    }

    private func handleGet(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        let user = try await admit(request)
        let statelessVersion = request.head.headerFields.value(.mcpProtocolVersion).map {
            !ProtocolVersion.sessionEra.contains(ProtocolVersion(rawValue: $0))
        } ?? false
        guard configuration.allowsStandaloneStreams, configuration.responseMode.streams, !statelessVersion else {
            throw TransportError.standaloneStreamsUnavailable
        }
        let fields = request.head.headerFields
        guard Self.acceptedTypes(fields.value(.accept)).sse, fields.value(.accept) != nil else {
            throw TransportError.eventStreamNotAccepted
        }
        let session = try await lookUpSession(request, user: user, id: nil)
        let sessionStreams = streams.streams(for: session.id)
        // Ended after the lookup: the end closes the session's streams after its phase changed, so an entry made
        // now would outlive it. Answer as for a session that is gone.
        if session.isEnded {
            streams.remove(sessionID: session.id)
            throw TransportError.sessionNotFound
        }
        let connection = ResponseStream(isStandalone: true)
        var resuming: (stream: Int, sequence: Int)? = nil
        let lastEventID = fields[HTTPField.Name("Last-Event-ID")!]
        if let lastEventID {
            guard let parsed = SessionStreams.parseEventID(lastEventID) else {
                throw TransportError.unknownLastEventID(lastEventID)
            }
            resuming = parsed
        }
        var attachment = sessionStreams.attachStandalone(connection, resuming: resuming)
        if attachment == .unknownStream, let resuming,
            try await restoreRecordedStream(resuming, of: session, into: sessionStreams, request: request)
        {
            attachment = sessionStreams.attachStandalone(connection, resuming: resuming)
        }
        switch attachment {
        case .attached: break
        case .unknownStream:
            throw TransportError.unknownLastEventID(lastEventID ?? "")
        case .cannotResume:
            throw TransportError.cannotResume(lastEventID ?? "")
        case .tooManyStreams(let limit):
            logger.notice(
                "GET stream refused: too many open on the session",
                metadata: ["mcp.session.id": "\(session.id)", "http.request.id": "\(request.requestID)"])
            throw TransportError.tooManyStreams(limit: limit)
        }
        // The session ended while its stream was read from the event store: its streams are closed.
        if session.isEnded || streams.existingStreams(for: session.id) !== sessionStreams {
            connection.finish()
            streams.remove(sessionID: session.id)
            throw TransportError.sessionNotFound
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

    /// The prologue of every request: the `Origin` check (DNS-rebinding protection), then the request's user,
    /// resolved once: ``Configuration/resolveUserID`` when set, else ``Configuration/resolveUser``.
    /// - Parameter request: the request.
    /// - Returns: the request's user, nil for an anonymous request.
    /// - Throws: ``TransportError/originNotAllowed``; ``TransportError/userNotAccepted`` when
    ///   ``Configuration/resolveUserID`` returns nil.
    func admit(_ request: HTTPServerRequest) async throws(TransportError) -> String? {
        let origin = request.head.headerFields.value(.origin)
        guard configuration.originPolicy.allows(origin) else {
            logger.notice("request from a foreign origin refused", metadata: ["origin": "\(origin ?? "")"])
            throw .originNotAllowed
        }
        guard let resolveUserID = configuration.resolveUserID else {
            return await configuration.resolveUser(request)
        }
        if let user = await resolveUserID(UserContext(request)) { return user }
        logger.notice("request refused by resolveUserID", metadata: ["http.request.id": "\(request.requestID)"])
        throw .userNotAccepted
    }

    /// The prologue of every request on an existing session (session-era POST, GET, DELETE), after
    /// ``admit(_:)``: the session named by `Mcp-Session-Id`, whether it belongs to the request's user, and
    /// `MCP-Protocol-Version`.
    /// - Parameters:
    ///   - request: the request.
    ///   - user: the request's user (from ``admit(_:)``).
    ///   - id: the JSON-RPC id the refusal answers, when the request is a JSON-RPC request.
    /// - Returns: the session.
    /// - Throws: ``TransportError/sessionIDRequired`` (400), ``TransportError/storeUnavailable(retryAfter:)``
    ///   (503), ``TransportError/sessionNotFound`` (404), ``TransportError/authenticationRequired`` (401),
    ///   ``TransportError/sessionOwnedByAnotherUser`` (403), ``TransportError/unsupportedProtocolVersion(_:)``
    ///   (400), answering `id`.
    func lookUpSession(_ request: HTTPServerRequest, user: String?, id: RequestID?) async throws(TransportRefusal)
        -> Session
    {
        let fields = request.head.headerFields
        guard let sessionID = fields.value(.mcpSessionID) else {
            throw TransportError.sessionIDRequired.answering(id)
        }
        let found: Session?
        do { found = try await server.sessions.session(id: sessionID) } catch {
            throw storeUnavailable(request, id: id, error)
        }
        // A session ended (by another request, the sweeper, MCPServer.end) but still found is gone all the same.
        guard let session = found, session.requestAction == .serve else {
            throw TransportError.sessionNotFound.answering(id)
        }
        if let refusal = checkOwner(of: session, user: user, request: request) { throw refusal.answering(id) }
        if let version = fields.value(.mcpProtocolVersion),
            !server.configuration.supportedVersions.contains(ProtocolVersion(rawValue: version))
        {
            throw TransportError.unsupportedProtocolVersion(version).answering(id)
        }
        return session
    }

    /// Why the request's user may not use the session: ``TransportError/authenticationRequired`` when the
    /// session has an owner and the request is anonymous, ``TransportError/sessionOwnedByAnotherUser`` when it
    /// comes from another user; nil when it may.
    private func checkOwner(of session: Session, user: String?, request: HTTPServerRequest) -> TransportError? {
        guard let owner = session.owner else { return nil }
        guard let user else {
            logger.notice(
                "anonymous request on an owned session refused",
                metadata: ["mcp.session.id": "\(session.id)", "http.request.id": "\(request.requestID)"])
            return .authenticationRequired
        }
        guard user == owner else {
            logger.notice(
                "request by another user on an owned session refused",
                metadata: ["mcp.session.id": "\(session.id)", "http.request.id": "\(request.requestID)"])
            return .sessionOwnedByAnotherUser
        }
        return nil
    }

    /// Looks a stream this process does not hold up in the ``Configuration/eventStore`` and keeps what it recorded
    /// (see ``EventStore``). Returns false when there is no store or it does not know the stream.
    /// - Throws: ``TransportError/storeUnavailable(retryAfter:)`` when the store cannot be reached.
    private func restoreRecordedStream(
        _ resuming: (stream: Int, sequence: Int), of session: Session, into sessionStreams: SessionStreams,
        request: HTTPServerRequest
    ) async throws -> Bool {
        guard let store = configuration.eventStore else { return false }
        let recorded: RecordedStream?
        do {
            recorded = try await store.events(sessionID: session.id, stream: resuming.stream, after: resuming.sequence)
        } catch {
            throw storeUnavailable(request, id: nil, error)
        }
        guard let recorded else { return false }
        _ = sessionStreams.adopt(
            EventStream(id: resuming.stream, limits: streams.limits(for: session.id), restoring: recorded))
        logger.info(
            "stream resumed from the event store",
            metadata: [
                "mcp.session.id": "\(session.id)", "stream": "\(resuming.stream)", "events": "\(recorded.events.count)",
                "http.request.id": "\(request.requestID)",
            ])
        return true
    }

    /// Answers `DELETE /mcp`: ends the session named by `Mcp-Session-Id` (only its owner may, when it has one).
    /// A refusal is a `TransportError` rendered by `HTTPErrorBoundary`.
    public func delete(_ request: HTTPServerRequest) async -> HTTPServerResponse {
        await HTTPErrorBoundary.respond(to: request, logger: logger) { try await self.handleDelete($0) }
    }

    private func handleDelete(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        let user = try await admit(request)
        let session = try await lookUpSession(request, user: user, id: nil)
        let ended: Session?
        do { ended = try await endSession(id: session.id, reason: .deleted) } catch {
            throw storeUnavailable(request, id: nil, error)
        }
        // Another end (the idle sweep) won the race: the session is gone all the same.
        guard ended != nil else { throw TransportError.sessionNotFound }
        logger.debug("session ended by client", metadata: ["mcp.session.id": "\(session.id)"])
        return HTTPServerResponse(status: .ok, headerFields: noStore)
    }

    private func initialize(_ rpc: JSONRPCRequest, request: HTTPServerRequest, owner: String?) async throws
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
                logger.warning(
                    "session store full; initialize refused", metadata: ["http.request.id": "\(request.requestID)"])
                throw TransportError.sessionCapacityReached(retryAfter: configuration.retryAfterWhenFull)
                    .answering(rpc.id)
            case .storeUnavailable(let reason):
                throw storeUnavailable(request, id: rpc.id, reason)
            case .addressQuotaReached(let limit):
                throw quotaReached(
                    request, address: address,
                    .addressQuotaReached(limit: limit, retryAfter: configuration.retryAfterWhenQuotaReached)
                ).answering(rpc.id)
            case .userQuotaReached(let limit):
                throw quotaReached(
                    request, address: address,
                    .userQuotaReached(limit: limit, retryAfter: configuration.retryAfterWhenQuotaReached)
                ).answering(rpc.id)
            case .clientMetadataTooLarge(let limit):
                throw TransportError.clientMetadataTooLarge(limit: limit).answering(rpc.id)
            }
        }
    }

    /// Logs a session quota's refusal and returns it.
    private func quotaReached(_ request: HTTPServerRequest, address: String?, _ refusal: TransportError)
        -> TransportError
    {
        logger.notice(
            "session quota reached; initialize refused",
            metadata: ["http.request.id": "\(request.requestID)", "http.remote.address": "\(address ?? "unknown")"])
        return refusal
    }

    /// ``TransportError/storeUnavailable(retryAfter:)`` (503 with `Retry-After`) answering `id`, logged with
    /// the store's error (which never reaches the client): the session may exist, so never 404.
    func storeUnavailable(_ request: HTTPServerRequest, id: RequestID?, _ error: any Error) -> TransportRefusal {
        storeUnavailable(request, id: id, String(describing: error))
    }

    private func storeUnavailable(_ request: HTTPServerRequest, id: RequestID?, _ reason: String) -> TransportRefusal {
        logger.error(
            "session store unavailable", metadata: ["http.request.id": "\(request.requestID)", "error": "\(reason)"])
        return TransportError.storeUnavailable(retryAfter: configuration.retryAfterWhenFull).answering(id)
    }

    /// `Cache-Control: no-store`, the header of every answer (built once, copied on write).
    var noStore: HTTPFields { Self.noStoreFields }
    private static let noStoreFields: HTTPFields = [.cacheControl: "no-store"]

    func accepted() -> HTTPServerResponse {
        HTTPServerResponse(status: .accepted, headerFields: noStore)
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
