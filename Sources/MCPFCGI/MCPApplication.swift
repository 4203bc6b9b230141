import HTTPTypes
import Logging
import MCPHandlers

/// The whole HTTP application of one MCP deployment: routes (`/mcp`, `/health`, …), security headers,
/// and the settings that come from configuration only (never from request headers).
///
/// It answers ``HTTPServerRequest`` values, so it runs the same behind FastCGI and in tests.
public struct MCPApplication: HTTPResponder {
    /// Application settings.
    public struct Configuration: Sendable {
        /// The public base URL clients use (`https://mcp.example.com`): origin checks, HSTS, and later the
        /// OAuth issuer and resource URL. Default `http://127.0.0.1:8080`.
        public var publicURL: String
        /// Path of the MCP endpoint. Default `/mcp`.
        public var mcpPath: String
        /// This worker's node id (prefix of its session ids, reported by `/health`). Default nil.
        public var nodeID: String?
        /// Security headers added to every response. Default ``SecurityHeaders/init()``.
        public var securityHeaders: SecurityHeaders
        /// Extra allowed origins besides the public URL's and loopback. Default none.
        public var additionalAllowedOrigins: Set<String>
        /// Cross-origin settings for browser clients. Default ``CORSPolicy/init(allowedOrigins:allowCredentials:maxAge:allowedHeaders:exposedHeaders:)``.
        public var cors: CORSPolicy
        /// Transport settings of the MCP endpoint (response mode, streams, resumption). Its origin policy is
        /// replaced by the one derived from ``publicURL`` and ``additionalAllowedOrigins``. Default
        /// ``MCPEndpoint/Configuration/init(originPolicy:retryAfterWhenFull:responseMode:streamingThreshold:allowsStandaloneStreams:replayBufferSize:replayBufferAge:retryMilliseconds:maxStreamsPerSession:resumeGracePeriod:resolveUser:)``.
        public var endpoint: MCPEndpoint.Configuration
        /// When idle sessions expire: idle timeout and sweep interval. Default
        /// ``SessionSweeper/Configuration/init(idleTimeout:interval:)`` (30 minutes, swept every 60 s).
        public var sessionExpiry: SessionSweeper.Configuration
        /// The token of the management API (`POST /management/cleanup`, `GET /management/sessions`), sent by
        /// clients as `Authorization: Bearer <token>`. nil or empty: the management API is off (404). Default nil.
        public var managementToken: String?
        /// The FastCGI unix sockets of the deployment's other workers, asked for their part of each
        /// management request. This worker's own socket must not be listed (it would answer for itself
        /// twice; the answers are deduplicated by node id as a safeguard). Default none.
        public var peerSockets: [String]
        /// The longest a peer may take to answer one management request. Default 2 s.
        public var peerTimeout: Duration

        /// Creates a configuration; every parameter has the default documented on its property.
        public init(
            publicURL: String = "http://127.0.0.1:8080", mcpPath: String = "/mcp", nodeID: String? = nil,
            securityHeaders: SecurityHeaders = SecurityHeaders(), additionalAllowedOrigins: Set<String> = [],
            cors: CORSPolicy = CORSPolicy(), endpoint: MCPEndpoint.Configuration = MCPEndpoint.Configuration(),
            sessionExpiry: SessionSweeper.Configuration = SessionSweeper.Configuration(),
            managementToken: String? = nil, peerSockets: [String] = [], peerTimeout: Duration = .seconds(2)
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
            self.peerSockets = peerSockets
            self.peerTimeout = peerTimeout
        }
    }

    /// The settings.
    public let configuration: Configuration
    /// The MCP endpoint.
    public let endpoint: MCPEndpoint
    /// Removes idle sessions; started by ``init(server:configuration:logger:)`` when
    /// ``Configuration/sessionExpiry`` has an idle timeout.
    public let sweeper: SessionSweeper
    /// The management API, or nil when no ``Configuration/managementToken`` is set.
    public let management: ManagementEndpoint?
    private let router: Router
    private let isHTTPS: Bool
    private let originPolicy: OriginPolicy
    private let logger: Logger

    /// Builds the application around an MCP server.
    /// - Parameters:
    ///   - server: the MCP server to serve at ``Configuration/mcpPath``.
    ///   - configuration: the settings.
    ///   - logger: where the HTTP layer logs.
    public init(server: MCPServer, configuration: Configuration = Configuration(), logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.isHTTPS = configuration.publicURL.lowercased().hasPrefix("https://")
        let origins = configuration.additionalAllowedOrigins.union([OriginPolicy.origin(ofURL: configuration.publicURL)])
        var endpointConfiguration = configuration.endpoint
        endpointConfiguration.originPolicy = OriginPolicy(allowedOrigins: origins)
        self.originPolicy = endpointConfiguration.originPolicy
        let endpoint = MCPEndpoint(server: server, configuration: endpointConfiguration, logger: logger)
        self.endpoint = endpoint
        let sweeper = SessionSweeper(endpoint: endpoint, configuration: configuration.sessionExpiry, logger: logger)
        self.sweeper = sweeper
        sweeper.start()
        let health = HealthEndpoint(nodeID: configuration.nodeID)
        var router = Router()
        if let token = configuration.managementToken, !token.isEmpty {
            let management = ManagementEndpoint(
                token: token, nodeID: configuration.nodeID, sweeper: sweeper,
                peers: configuration.peerSockets.map { .fastCGI(socketPath: $0, timeout: configuration.peerTimeout) },
                logger: logger)
            self.management = management
            router.add(.post, "/management/cleanup") { await management.cleanup($0) }
            router.add(.get, "/management/sessions") { await management.sessions($0) }
        } else {
            self.management = nil
        }
        router.add(.get, "/health") { health.respond(to: $0) }
        router.add(.post, configuration.mcpPath) { await endpoint.post($0) }
        router.add(.delete, configuration.mcpPath) { await endpoint.delete($0) }
        router.add(.get, configuration.mcpPath) { await endpoint.get($0) }
        self.router = router
    }

    /// The number of live MCP sessions in this worker (`GET /management/sessions` adds up every worker's).
    public var activeSessionCount: Int { endpoint.activeSessionCount }

    /// Routes the request and adds the security headers.
    public func respond(to request: HTTPServerRequest) async -> HTTPServerResponse {
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
            response = await router.respond(to: request)
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
