import HTTPTypes
import Logging
import MCPHandlers
import Metrics
import Tracing
import MCPHTTP
import MCPOAuth

/// The whole HTTP application of one MCP deployment: routes (`/mcp`, `/health`, …), security headers,
/// and the settings that come from configuration only (never from request headers).
///
/// It answers ``/MCPHTTP/HTTPServerRequest`` values, so it runs the same behind FastCGI and in tests.
public struct MCPApplication: HTTPResponder {
    /// Application settings.
    public struct Configuration: Sendable {
        /// The public base URL clients use (`https://mcp.example.com`): origin checks, HSTS, the allowed hosts,
        /// the resource URLs of mounted endpoints and, through ``MCPApplication/init(server:configuration:authorization:logger:)``,
        /// the built-in authorization server's issuer and resource URL. Default `http://127.0.0.1:8080`.
        public var publicURL: String
        /// Path of the MCP endpoint. Default `/mcp`.
        public var mcpPath: String
        /// This worker's node id: reported by `/health`, management and metrics, and the prefix of the session ids
        /// of every server the application serves (its own and mounted ones) unless a server's
        /// `SessionIDGenerator` names its own. Default nil.
        public var nodeID: String?
        /// Security headers added to every response. Default ``/MCPHTTP/SecurityHeaders/init(contentTypeOptions:frameOptions:referrerPolicy:strictTransportSecurity:)``.
        public var securityHeaders: SecurityHeaders
        /// Extra allowed origins besides the public URL's and loopback. Default none.
        public var additionalAllowedOrigins: Set<String>
        /// Cross-origin settings for browser clients. Default ``/MCPHTTP/CORSPolicy/init(allowedOrigins:allowCredentials:maxAge:allowedHeaders:exposedHeaders:)``.
        public var cors: CORSPolicy
        /// Transport settings of the MCP endpoint (response mode, streams, resumption). Its origin policy is
        /// replaced by the one derived from ``publicURL`` and ``additionalAllowedOrigins``. Default: an
        /// ``MCPEndpoint/Configuration`` with its own defaults.
        public var endpoint: MCPEndpoint.Configuration
        /// When idle sessions expire: idle timeout and sweep interval. Default
        /// ``SessionSweeper/Configuration/init(idleTimeout:interval:)`` (30 minutes, swept every 60 s).
        public var sessionExpiry: SessionSweeper.Configuration
        /// The token of the management API (`POST /management/cleanup`, `GET /management/sessions`), sent by
        /// clients as `Authorization: Bearer <token>`. nil or empty: the management API is off (404). Default nil.
        public var managementToken: String?
        /// The deployment's other workers, asked for their part of each management request and metrics scrape
        /// (`.fastCGI(socketPath:)` from `MCPFCGI` for workers on unix sockets). This worker must not be listed
        /// (it would answer for itself twice; the answers are deduplicated by node id as a safeguard). Default none.
        public var peers: [ManagementPeer]
        /// The longest a peer may take to answer one management request. Default 2 s.
        public var peerTimeout: Duration
        /// Middleware run in order for every request, before any route's handler. Default none.
        public var middleware: [any HTTPMiddleware]
        /// OAuth 2.1: the authorization server's routes and the bearer-token check of the MCP endpoints.
        /// nil: anonymous. ``MCPApplication/init(server:configuration:authorization:logger:)`` builds it from an
        /// `AuthConfiguration` completed with this configuration's public URL; or build it yourself with
        /// `try MCPAuthorization(configuration: .builtIn(.init(issuer: …)), logger:)`. A ``/MCPOAuth/PeerSyncedOAuthStorage``
        /// made without peers pushes revocations to ``peers``. Default nil.
        public var authorization: MCPAuthorization?
        /// Which `Host` values are answered (others get 421 Misdirected Request, on every path). Default
        /// ``/MCPHTTP/HostPolicy/publicURL``: the public URL's host plus `localhost`, `127.0.0.1` and `[::1]`;
        /// ``/MCPHTTP/HostPolicy/any`` turns the check off.
        public var hostPolicy: HostPolicy
        /// The swift-metrics backend; nil (default): the process-wide `MetricsSystem.factory`, read when the
        /// component is created, so bootstrap `MetricsSystem` first.
        ///
        /// The application records `mcpfcgi_http_requests_total{route,method,status_class}` and
        /// `mcpfcgi_http_request_duration_seconds{route}` for every request it answers (`route`: the registered
        /// route that matched — `/mcp`, `/health`, an OAuth route, a mount's or a custom route's path or prefix —
        /// else `unmatched`; `method`: GET, POST, DELETE, OPTIONS, HEAD, PUT, PATCH, else `other`;
        /// `status_class`: `1xx` … `5xx`; the duration ends when the response head is decided, a stream's life
        /// is not included). It is also the default of the endpoints' ``MCPEndpoint/Configuration/metricsFactory``
        /// (the main one and mounts) when theirs is nil.
        public var metricsFactory: (any MetricsFactory)?
        /// `GET /metrics` (Prometheus text format) for the whole deployment: this worker's registry merged with
        /// its peers' (``peers``), behind a bearer token. nil (or an empty token): off, the path answers 404.
        /// Default nil. See ``MetricsEndpoint``.
        public var metrics: MetricsEndpoint.Configuration?

        /// Creates a configuration; every parameter has the default documented on its property.
        public init(
            publicURL: String = "http://127.0.0.1:8080", mcpPath: String = "/mcp", nodeID: String? = nil,
            securityHeaders: SecurityHeaders = SecurityHeaders(), additionalAllowedOrigins: Set<String> = [],
            cors: CORSPolicy = CORSPolicy(), endpoint: MCPEndpoint.Configuration = MCPEndpoint.Configuration(),
            sessionExpiry: SessionSweeper.Configuration = SessionSweeper.Configuration(),
            managementToken: String? = nil, peers: [ManagementPeer] = [], peerTimeout: Duration = .seconds(2),
            middleware: [any HTTPMiddleware] = [], authorization: MCPAuthorization? = nil,
            hostPolicy: HostPolicy = .publicURL, metricsFactory: (any MetricsFactory)? = nil,
            metrics: MetricsEndpoint.Configuration? = nil
        ) {
            self.publicURL = publicURL
            self.mcpPath = mcpPath
            self.nodeID = nodeID
            self.securityHeaders = securityHeaders
            self.additionalAllowedOrigins = additionalAllowedOrigins
            self.cors = cors
            self.endpoint = endpoint
            self.sessionExpiry = sessionExpiry
            self.managementToken = managementToken
            self.peers = peers
            self.peerTimeout = peerTimeout
            self.middleware = middleware
            self.authorization = authorization
            self.hostPolicy = hostPolicy
            self.metricsFactory = metricsFactory
            self.metrics = metrics
        }
    }

    /// The settings.
    public let configuration: Configuration
    /// The MCP endpoint.
    public let endpoint: MCPEndpoint
    /// Removes idle sessions; its background sweep starts with ``willStart()`` (the server calls it when it starts)
    /// when ``Configuration/sessionExpiry`` has an idle timeout, and stops with ``didStop()``.
    public let sweeper: SessionSweeper
    /// The management API, or nil when no ``Configuration/managementToken`` is set.
    public let management: ManagementEndpoint?
    /// The metrics endpoint, or nil when ``Configuration/metrics`` is not set.
    public let metricsEndpoint: MetricsEndpoint?
    private var router: Router
    private var mounted: [String: MCPEndpoint] = [:]
    private var mountedResources: [String: MCPAuthorization.ProtectedResource] = [:]
    private var mountedSweepers: [SessionSweeper] = []
    private let isHTTPS: Bool
    private let originPolicy: OriginPolicy
    private let allowedHosts: Set<String>?
    private let logger: Logger
    private let httpMetrics: HTTPMetrics
    /// The metrics of every registered route, by route (made when routes are added, read per request).
    private var routeMetrics: [String: RouteMetrics] = [:]

    /// Builds the application around an MCP server.
    /// - Parameters:
    ///   - server: the MCP server to serve at ``Configuration/mcpPath``.
    ///   - configuration: the settings.
    ///   - logger: where the HTTP layer logs.
    public init(server: MCPServer, configuration: Configuration = Configuration(), logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        Self.adoptNodeID(of: configuration, by: server, logger: logger)
        if let storage = configuration.authorization?.authorizationServer?.configuration.storage
            as? PeerSyncedOAuthStorage
        {
            storage.adoptPeers(configuration.peers)
        }
        self.httpMetrics = HTTPMetrics(factory: configuration.metricsFactory ?? MetricsSystem.factory)
        self.isHTTPS = configuration.publicURL.lowercased().hasPrefix("https://")
        self.allowedHosts = configuration.hostPolicy.allowedHosts(publicURL: configuration.publicURL)
        let origins = configuration.additionalAllowedOrigins.union([OriginPolicy.origin(ofURL: configuration.publicURL)])
        var endpointConfiguration = configuration.endpoint
        endpointConfiguration.originPolicy = OriginPolicy(allowedOrigins: origins)
        if endpointConfiguration.metricsFactory == nil { endpointConfiguration.metricsFactory = configuration.metricsFactory }
        self.originPolicy = endpointConfiguration.originPolicy
        let endpoint = MCPEndpoint(server: server, configuration: endpointConfiguration, logger: logger)
        self.endpoint = endpoint
        let sweeper = SessionSweeper(endpoint: endpoint, configuration: configuration.sessionExpiry, logger: logger)
        self.sweeper = sweeper
        let health = HealthEndpoint(nodeID: configuration.nodeID)
        var router = Router()
        if let token = configuration.managementToken, !token.isEmpty {
            let management = ManagementEndpoint(
                token: token, nodeID: configuration.nodeID, sweeper: sweeper,
                peers: configuration.peers, peerTimeout: configuration.peerTimeout, logger: logger)
            self.management = management
            router.add(.post, "/management/cleanup") { await management.cleanup($0) }
            router.add(.get, "/management/sessions") { await management.sessions($0) }
        } else {
            self.management = nil
        }
        if let settings = configuration.metrics, !settings.token.isEmpty {
            let metrics = MetricsEndpoint(
                configuration: settings, nodeID: configuration.nodeID,
                peers: configuration.peers, logger: logger)
            metrics.track(endpoint, at: configuration.mcpPath)
            self.metricsEndpoint = metrics
            router.add(.get, settings.path) { await metrics.respond(to: $0) }
        } else {
            self.metricsEndpoint = nil
        }
        router.add(.get, "/health") { health.respond(to: $0) }
        configuration.authorization?.addRoutes(to: &router)
        if let storage = configuration.authorization?.authorizationServer?.configuration.storage {
            // Revocations pushed by the worker that serves /oauth/* (PeerSyncedOAuthStorage); peers only. They are
            // recorded here and never pushed on (a revocation crosses each peer link once).
            router.add(.post, Self.revocationPath) { request in
                guard request.isPeerRequest else {
                    return .error(.notFound, code: "not_found", message: "No route for \(request.path)")
                }
                let jtis = (try? JSONParser().parse(request.body))?["jtis"]?.arrayValue?.compactMap(\.stringValue) ?? []
                do { try await storage.applyPeerRevocations(jtis) } catch {
                    return .error(.serviceUnavailable, code: "unavailable", message: "Revocations not recorded")
                }
                return .json(.ok, ["revoked": .int(jtis.count)])
            }
        }
        router.add(.post, configuration.mcpPath) { await endpoint.post($0) }
        router.add(.delete, configuration.mcpPath) { await endpoint.delete($0) }
        router.add(.get, configuration.mcpPath) { await endpoint.get($0) }
        self.router = router
        self.routeMetrics = httpMetrics.adding(routes: router.registeredRoutes, to: [:])
    }

    /// Builds the application with OAuth 2.1 set up from `authorization`, each deployment fact given once: in
    /// built-in mode the authorization server's issuer defaults to ``Configuration/publicURL`` and its resource
    /// URL to `publicURL + mcpPath`, and a ``/MCPOAuth/PeerSyncedOAuthStorage`` made without peers pushes revocations to
    /// ``Configuration/peers``. It replaces ``Configuration/authorization``.
    ///
    /// ```swift
    /// let app = try MCPApplication(
    ///     server: server, configuration: .init(publicURL: "https://mcp.example.com", nodeID: "w1"),
    ///     authorization: .builtIn(.init(signingKey: .pemFile("/etc/mcp/oauth.pem")), requiredScopes: ["mcp:read"]),
    ///     logger: logger)
    /// ```
    /// - Parameters:
    ///   - server: the MCP server to serve at ``Configuration/mcpPath``.
    ///   - configuration: the settings.
    ///   - authorization: the OAuth mode and its settings.
    ///   - logger: where the HTTP layer logs.
    /// - Throws: ``/MCPOAuth/OAuthConfigurationError`` when the authorization server cannot start (an unreadable signing
    ///   key, a public URL that is not an absolute http(s) URL).
    public init(
        server: MCPServer, configuration: Configuration = Configuration(), authorization: AuthConfiguration,
        logger: Logger
    ) throws(OAuthConfigurationError) {
        var configuration = configuration
        if case .anonymous = authorization.mode {
            configuration.authorization = nil
        } else {
            configuration.authorization = try MCPAuthorization(
                configuration: authorization.completed(publicURL: configuration.publicURL, mcpPath: configuration.mcpPath),
                logger: logger)
        }
        self.init(server: server, configuration: configuration, logger: logger)
    }

    /// Gives `server` the configuration's node id, or logs that the server's session-id generator names another
    /// (which it keeps using).
    private static func adoptNodeID(of configuration: Configuration, by server: MCPServer, logger: Logger) {
        guard !server.adoptNodeID(configuration.nodeID) else { return }
        logger.warning(
            "the server keeps another node id than MCPApplication.Configuration.nodeID (its SessionIDGenerator's, or the one of an application it was given to first): its session ids keep it; give each server to one application and leave the generator's nodeID nil",
            metadata: [
                "server": .string(server.configuration.serverInfo.name),
                "nodeID": .string(configuration.nodeID ?? ""), "generatorNodeID": .string(server.nodeID ?? ""),
            ])
    }

    /// The peer-only route on which a worker receives access-token revocations from the worker that
    /// serves `/oauth/*` (see ``/MCPOAuth/PeerSyncedOAuthStorage``).
    public static var revocationPath: String { PeerSyncedOAuthStorage.revocationPath }

    /// The number of live MCP sessions in this worker (`GET /management/sessions` adds up every worker's).
    /// - Throws: what the session store throws when it cannot be reached.
    public var activeSessionCount: Int { get async throws { try await endpoint.activeSessionCount } }

    /// Adds a custom route (a `/metrics`, an `/admin/…`), optionally with its own middleware, which runs
    /// after the application's.
    /// - Parameters:
    ///   - method: the method.
    ///   - path: the exact path, or with `prefix: true` a path prefix such as `/admin/`.
    ///   - prefix: whether `path` is a prefix. Default false.
    ///   - middleware: middleware for this route only.
    ///   - handler: the handler.
    public mutating func addRoute(
        _ method: HTTPRequest.Method, _ path: String, prefix: Bool = false, middleware: [any HTTPMiddleware] = [],
        handler: @escaping @Sendable (HTTPServerRequest) async -> HTTPServerResponse
    ) {
        let logger = self.logger
        let wrapped = MiddlewareChain.wrap(middleware, around: handler) { request, error in
            logger.error(
                "route middleware failed", metadata: ["http.request.id": "\(request.requestID)", "error": "\(error)"])
        }
        if prefix {
            router.add(method, prefix: path, handler: wrapped)
        } else {
            router.add(method, path, handler: wrapped)
        }
        routeMetrics = httpMetrics.adding(routes: [path], to: routeMetrics)
    }

    /// Serves another MCP server at its own path (`/tenant-a/mcp`): its own registries, sessions, session
    /// expiry and user resolution; a session of one mount is unknown (404) at another.
    ///
    /// With OAuth on, the mount is a resource of its own: its metadata is served at
    /// `/.well-known/oauth-protected-resource<path>`, its `401` challenges point there, and it accepts only tokens
    /// issued for its resource URL (the built-in authorization server issues them when a client asks for that
    /// `resource`); a token for `/mcp` or another mount is refused with `401 invalid_token`.
    /// - Parameters:
    ///   - server: the MCP server.
    ///   - path: the endpoint's path.
    ///   - endpoint: its transport settings (the origin policy is the application's). Default: the
    ///     application's endpoint settings.
    ///   - resourceURL: its OAuth resource URL (the tokens' audience). Default: ``Configuration/publicURL`` (without
    ///     a trailing slash) followed by `path`.
    /// - Returns: the mounted endpoint.
    /// - Throws: ``/MCPOAuth/OAuthConfigurationError`` when OAuth is on and the resource URL is not an absolute http(s) URL, or
    ///   its metadata path is already served (another resource URL with the same path).
    @discardableResult public mutating func mount(
        _ server: MCPServer, at path: String, endpoint: MCPEndpoint.Configuration? = nil, resourceURL: String? = nil
    ) throws(OAuthConfigurationError) -> MCPEndpoint {
        if let authorization = configuration.authorization, authorization.resourceServer != nil {
            let url = resourceURL ?? BuiltInAuthorizationServer.Configuration.normalize(configuration.publicURL) + path
            let metadataPath = ProtectedResourceMetadata(resource: url, authorizationServers: [], scopesSupported: [])
                .wellKnownPath
            guard !router.hasRoute(at: metadataPath) else { throw .metadataPathInUse(metadataPath, url) }
            if let resource = try authorization.protectedResource(at: url) {
                mountedResources[path] = resource
                router.add(.get, resource.metadata.wellKnownPath, responder: resource.metadata)
            }
        }
        Self.adoptNodeID(of: configuration, by: server, logger: logger)
        var settings = endpoint ?? configuration.endpoint
        settings.originPolicy = originPolicy
        if settings.metricsFactory == nil { settings.metricsFactory = configuration.metricsFactory }
        let mountedEndpoint = MCPEndpoint(server: server, configuration: settings, logger: logger)
        mountedSweepers.append(
            SessionSweeper(endpoint: mountedEndpoint, configuration: configuration.sessionExpiry, logger: logger))
        metricsEndpoint?.track(mountedEndpoint, at: path)
        mounted[path] = mountedEndpoint
        router.add(.post, path) { await mountedEndpoint.post($0) }
        router.add(.delete, path) { await mountedEndpoint.delete($0) }
        router.add(.get, path) { await mountedEndpoint.get($0) }
        routeMetrics = httpMetrics.adding(routes: router.registeredRoutes, to: routeMetrics)
        return mountedEndpoint
    }

    /// The OAuth metadata and guard of a mounted endpoint (nil when anonymous or not mounted).
    /// - Parameter path: the path given to ``mount(_:at:endpoint:resourceURL:)``.
    public func protectedResource(mountedAt path: String) -> MCPAuthorization.ProtectedResource? {
        mountedResources[path]
    }

    /// Starts the background session sweeps (the main endpoint's and every mount's) when the server starts; the
    /// initializer and ``mount(_:at:endpoint:resourceURL:)`` start nothing. Mount before the server starts.
    public func willStart() {
        sweeper.start()
        for sweeper in mountedSweepers { sweeper.start() }
    }

    /// Stops the background session sweeps when the server has stopped.
    public func didStop() {
        sweeper.stop()
        for sweeper in mountedSweepers { sweeper.stop() }
    }

    /// Ends every `subscriptions/listen` stream (with its final result) when the worker drains, and fails the
    /// tasks it runs (`MCPServer/stopTasks()`: their clients learn it at once and call the tool again).
    public func willDrain() {
        endpoint.server.subscriptionHub.closeAll()
        for mounted in mounted.values { mounted.server.subscriptionHub.closeAll() }
        let servers = [endpoint.server] + mounted.values.map(\.server)
        Task { for server in servers { await server.stopTasks() } }
    }

    /// The endpoints mounted with ``mount(_:at:endpoint:resourceURL:)``, by path.
    public var mountedEndpoints: [String: MCPEndpoint] { mounted }

    /// Runs the middleware chain around routing, then adds the CORS and security headers.
    ///
    /// Every request is counted and timed (see ``Configuration/metricsFactory``) and traced: a span of kind
    /// `.server` named `"<method> <route>"` (the route as in the metrics), child of the context the
    /// instrument extracts from the request's headers (W3C `traceparent`/`tracestate` with swift-otel), with
    /// the attributes `http.request.method`, `url.path`, `http.route`, `http.request.id` and
    /// `http.response.status_code`, and an error status for a 5xx. Routing runs in the span's context, so
    /// the JSON-RPC spans of the MCP server are its children. The span ends with the response head.
    ///
    /// A peer request (another worker asking for its part of `/management/*`, `/metrics` or a revocation) is
    /// neither counted nor traced: it is the deployment talking to itself, and the request that caused it is.
    public func respond(to request: HTTPServerRequest) async -> HTTPServerResponse {
        if request.isPeerRequest { return await answer(request) }
        let start = ContinuousClock.now
        let metrics = router.matchedRoute(for: request.path).flatMap { routeMetrics[$0] } ?? httpMetrics.unmatched
        let method = HTTPMethodLabel.index(of: request.head.method)
        var context = ServiceContext.current ?? .topLevel
        InstrumentationSystem.instrument.extract(request.head.headerFields, into: &context, using: HTTPFieldsExtractor())
        let span = InstrumentationSystem.tracer.startSpan(metrics.spanNames[method], context: context, ofKind: .server)
        if span.isRecording {
            span.updateAttributes { attributes in
                attributes["http.request.method"] = request.head.method.rawValue
                attributes["url.path"] = String(request.path.prefix(Self.maxSpanPathLength))
                attributes["http.route"] = metrics.route
                attributes["http.request.id"] = request.requestID
            }
        }
        let response = await ServiceContext.$current.withValue(span.context) { await answer(request) }
        let status = response.head.status.code
        if span.isRecording {
            span.attributes["http.response.status_code"] = status
            if status >= 500 { span.setStatus(SpanStatus(code: .error)) }
        }
        span.end()
        metrics.record(method: method, status: status, nanoseconds: (ContinuousClock.now - start).wholeNanoseconds)
        return response
    }

    /// The longest request path copied into the `url.path` span attribute (a client chooses it).
    static let maxSpanPathLength = 256

    /// ``respond(to:)`` without metrics and span: the host check, the middleware chain, routing.
    private func answer(_ request: HTTPServerRequest) async -> HTTPServerResponse {
        if let refusal = checkHost(request) { return refusal }
        guard !configuration.middleware.isEmpty else { return await route(request) }
        let logger = self.logger
        let chain = MiddlewareChain.wrap(configuration.middleware, around: { await self.route($0) }) { request, error in
            logger.error("middleware failed", metadata: ["http.request.id": "\(request.requestID)", "error": "\(error)"])
        }
        var response = await chain(request)
        configuration.securityHeaders.apply(to: &response.head.headerFields, isHTTPS: isHTTPS)
        return response
    }

    /// Routes the request; an MCP endpoint's request must first carry a valid bearer token for that endpoint when
    /// OAuth is on. The token is checked here and never passed on: handlers see the user and the claims.
    private func authenticated(_ request: HTTPServerRequest) async -> HTTPServerResponse {
        guard let authorization = configuration.authorization else { return await router.respond(to: request) }
        let path = String(request.path)
        let outcome: Result<AuthenticatedUser, BearerAuthenticationError>
        if path == configuration.mcpPath {
            outcome = await authorization.authenticate(request)
        } else if mounted[path] != nil {
            guard let resource = mountedResources[path] else { return await router.respond(to: request) }
            outcome = await resource.resourceServer.authenticate(request)
        } else {
            return await router.respond(to: request)
        }
        switch outcome {
        case .failure(let refusal):
            return HTTPErrorBoundary.response(for: refusal, request: request, logger: logger)
        case .success(let user):
            var request = request
            if user != .anonymous {
                request.authenticatedUser = user.subject
                request.tokenClaims = .object(user.claims)
            }
            return await router.respond(to: request)
        }
    }

    /// 421 when the request's `Host` is not one of ``Configuration/hostPolicy``'s (peer requests and requests
    /// without `Host` pass).
    private func checkHost(_ request: HTTPServerRequest) -> HTTPServerResponse? {
        // The allowed names are normalized: a Host already in that form (nginx sends `$host`: lower case, no port)
        // is found without normalizing it.
        guard let allowedHosts, !request.isPeerRequest, let authority = request.head.authority,
            !allowedHosts.contains(authority), !allowedHosts.contains(HostPolicy.normalize(authority))
        else { return nil }
        logger.notice(
            "request for a foreign host refused",
            metadata: ["http.host": "\(authority.prefix(100))", "http.request.id": "\(request.requestID)"])
        var response = HostPolicy.misdirected(authority)
        configuration.securityHeaders.apply(to: &response.head.headerFields, isHTTPS: isHTTPS)
        return response
    }

    private func route(_ request: HTTPServerRequest) async -> HTTPServerResponse {
        var response: HTTPServerResponse
        let origin = request.head.headerFields[.origin]
        if request.head.method == .options, router.hasRoute(at: request.path) {
            let methods = router.allowedMethods(at: request.path)
            if origin != nil, request.head.headerFields[.accessControlRequestMethod] != nil {
                response = configuration.cors.preflight(request, methods: methods, fallback: originPolicy)
            } else {
                response = HTTPServerResponse(status: .noContent)
                response.head.headerFields[.allow] = (methods.map(\.rawValue) + ["OPTIONS"]).joined(separator: ", ")
            }
        } else {
            response = await authenticated(request)
            configuration.cors.decorate(&response.head.headerFields, origin: origin, fallback: originPolicy)
        }
        configuration.securityHeaders.apply(to: &response.head.headerFields, isHTTPS: isHTTPS)
        if logger.logLevel <= .debug {
            logger.debug(
                "\(request.head.method.rawValue) \(request.path) → \(response.head.status.code)",
                metadata: ["http.request.id": "\(request.requestID)"])
        }
        return response
    }
}
