import ArgumentParser
import Foundation
import Logging
import MCPFCGI
import MCPHandlers
import MCPPostgres
import Metrics
import Prometheus
import Tracing

/// The demo MCP server: the conformance fixtures behind nginx over FastCGI.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp-fcgi-demo",
        abstract: "MCP demo server (conformance fixtures) for nginx over FastCGI.",
        discussion: "Every option can also be set in the environment variable named in its help.")

    @Option(help: "Unix socket to create and listen on; omit under spawn-fcgi. [MCPFCGI_SOCKET]")
    var socket: String?

    @Option(help: "Octal permission bits of the socket. [MCPFCGI_SOCKET_MODE]")
    var socketMode: String = env("MCPFCGI_SOCKET_MODE") ?? "660"

    @Option(help: "Accept threads (default: 2 × cores, at least 4). [MCPFCGI_THREADS]")
    var threads: Int?

    @Option(help: "Idle FastCGI connections kept open for nginx's next requests (0: a connection per request; default 256). [MCPFCGI_KEEP_CONNECTIONS]")
    var keepConnections: Int?

    @Option(help: "Node id: prefix of session ids (default: the socket's file name). [MCPFCGI_NODE_ID]")
    var nodeID: String?

    @Option(help: "Public base URL clients use (default http://HOST:PORT). [MCPFCGI_PUBLIC_URL]")
    var publicURL: String?

    @Option(help: "Seconds in-flight requests may take to finish on SIGTERM. [MCPFCGI_DRAIN_TIMEOUT]")
    var drainTimeout: Int = env("MCPFCGI_DRAIN_TIMEOUT").flatMap { Int($0) } ?? 30

    @Flag(help: "This worker is the only process on spawn-fcgi's socket: unlink it when draining. [MCPFCGI_EXCLUSIVE_SOCKET=1]")
    var exclusiveSocket = false

    @Option(help: "Token of /management/* (unset: off); prefer the variable, ps shows flags. [MCPFCGI_MANAGEMENT_TOKEN]")
    var managementToken: String?

    @Option(help: "Token of GET /metrics (unset: metrics off); prefer the variable or the file. [MCPFCGI_METRICS_TOKEN]")
    var metricsToken: String?

    @Option(help: "File holding the token of GET /metrics (at least 16 characters). [MCPFCGI_METRICS_TOKEN_FILE]")
    var metricsTokenFile: String?

    @Option(help: "Comma-separated sockets of all workers (own one skipped), for /management/*. [MCPFCGI_PEER_SOCKETS]")
    var peerSockets: String?

    @Option(help: "Seconds of inactivity after which a session expires; 0 turns expiry off. [MCPFCGI_SESSION_IDLE_TIMEOUT]")
    var sessionIdleTimeout: Int = env("MCPFCGI_SESSION_IDLE_TIMEOUT").flatMap { Int($0) } ?? 1800

    @Option(help: "Seconds between two sweeps for expired sessions. [MCPFCGI_SESSION_SWEEP_INTERVAL]")
    var sessionSweepInterval: Int = env("MCPFCGI_SESSION_SWEEP_INTERVAL").flatMap { Int($0) } ?? 60

    @Option(help: "Most live sessions this worker holds (with --store postgres: the whole database, per MCP server); initialize is refused beyond it. [MCPFCGI_MAX_SESSIONS]")
    var maxSessions: Int = env("MCPFCGI_MAX_SESSIONS").flatMap { Int($0) } ?? 10_000

    @Option(help: "Most live sessions per client address on this worker (with --store postgres: in the database); 0: no quota. [MCPFCGI_SESSIONS_PER_ADDRESS]")
    var sessionsPerAddress: Int = env("MCPFCGI_SESSIONS_PER_ADDRESS").flatMap { Int($0) } ?? 500

    @Option(help: "Most live sessions per authenticated user on this worker (with --store postgres: in the database); 0: no quota. [MCPFCGI_SESSIONS_PER_USER]")
    var sessionsPerUser: Int = env("MCPFCGI_SESSIONS_PER_USER").flatMap { Int($0) } ?? 100

    @Option(help: "Seconds a session must be idle before a full store may evict it. [MCPFCGI_SESSION_EVICTION_MIN_IDLE]")
    var sessionEvictionMinIdle: Int = env("MCPFCGI_SESSION_EVICTION_MIN_IDLE").flatMap { Int($0) } ?? 300

    @Option(help: "File holding the key that protects 2026-07-28 request state; share it across workers. [MCPFCGI_REQUEST_STATE_KEY_FILE]")
    var requestStateKeyFile: String?

    @Option(help: "Authentication: anonymous, or builtin (the OAuth 2.1 authorization server). [MCPFCGI_AUTH]")
    var auth: String?

    @Option(help: "Where shared state lives: memory (this worker), or postgres (DATABASE_URL; OAuth state and sessions). [MCPFCGI_STORE]")
    var store: String?

    @Flag(help: "Record every SSE event so that Last-Event-ID resumes streams of other workers (with --store postgres: in the database). [MCPFCGI_EVENT_STORE=1]")
    var eventStore = false

    @Option(help: "postgres://user:password@host:port/database, or ?host=/socket/directory; prefer the variable. [MCPFCGI_DATABASE_URL]")
    var databaseURL: String?

    @Option(help: "Seconds between checks of idle TCP database connections (0: none; for networks that drop idle connections silently; never on a unix socket). [MCPFCGI_DATABASE_KEEPALIVE]")
    var databaseKeepalive: Int = env("MCPFCGI_DATABASE_KEEPALIVE").flatMap { Int($0) } ?? 30

    @Option(help: "PEM file of the P-256 key that signs access tokens; share it across workers. [MCPFCGI_OAUTH_KEY_FILE]")
    var oauthKeyFile: String?

    @Option(help: "JSON file of pre-provisioned OAuth clients (client_credentials services). [MCPFCGI_OAUTH_CLIENTS_FILE]")
    var oauthClientsFile: String?

    @Option(help: "File holding the RFC 7591 initial access token that may register client_credentials clients. [MCPFCGI_OAUTH_REGISTRATION_TOKEN_FILE]")
    var oauthRegistrationTokenFile: String?

    @Option(help: "Requests per minute per client address (burst the same); unset or 0: no limit. [MCPFCGI_RATE_LIMIT]")
    var rateLimit: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. [MCPFCGI_LOG_LEVEL]")
    var logLevel: String = env("MCPFCGI_LOG_LEVEL") ?? "info"

    @Option(help: "Log format: text or json. [MCPFCGI_LOG_FORMAT]")
    var logFormat: String = env("MCPFCGI_LOG_FORMAT") ?? "text"

    /// The options after the environment fallbacks.
    var socketPath: String? { socket ?? env("MCPFCGI_SOCKET") }
    var threadCount: Int? { threads ?? env("MCPFCGI_THREADS").flatMap { Int($0) } }
    var keptConnectionCount: Int? { keepConnections ?? env("MCPFCGI_KEEP_CONNECTIONS").flatMap { Int($0) } }
    /// A server's session store, holding at most `--max-sessions` sessions: in this worker's memory, or on
    /// PostgreSQL (for every worker of every deployment on the database) in the server's own scope.
    func makeSessionStore(scope: String, database: DemoDatabase?, logger: Logger) -> any SessionStore {
        database?.sessionStore(scope: scope, capacity: maxSessions, logger: logger) ?? sessionStore
    }
    /// A server's task store: on PostgreSQL with `--store postgres` (a task is read on any worker and outlives the
    /// worker that made it), else in this worker's memory.
    func makeTaskStore(scope: String, database: DemoDatabase?, logger: Logger) -> any TaskStore {
        database?.taskStore(scope: scope, logger: logger) ?? InMemoryTaskStore()
    }
    /// The event store of a server's endpoint with `--event-store`: in the database with `--store postgres`, else in
    /// this worker's memory; nil without the flag.
    func makeEventStore(scope: String, database: DemoDatabase?) -> (any EventStore)? {
        guard eventStore || env("MCPFCGI_EVENT_STORE") == "1" else { return nil }
        return database?.eventStore(scope: scope) ?? InMemoryEventStore()
    }
    /// Says once that an event store in a worker's memory resumes nothing another worker sent.
    func warnAboutAMemoryEventStore(database: DemoDatabase?, logger: Logger) {
        guard eventStore || env("MCPFCGI_EVENT_STORE") == "1", database == nil else { return }
        logger.warning(
            "--event-store without --store postgres keeps events in this worker's memory: streams resume only here, as without it")
    }
    /// An in-memory session store holding at most `--max-sessions` sessions.
    var sessionStore: InMemorySessionStore { InMemorySessionStore(capacity: maxSessions) }
    /// The main server's session quotas and eviction threshold (0 turns a quota off).
    var sessionLimits: SessionLimits {
        SessionLimits(
            maxSessionsPerAddress: sessionsPerAddress > 0 ? sessionsPerAddress : nil,
            maxSessionsPerUser: sessionsPerUser > 0 ? sessionsPerUser : nil,
            minimumIdleBeforeEviction: .seconds(sessionEvictionMinIdle))
    }
    var node: String? {
        nodeID ?? env("MCPFCGI_NODE_ID")
            ?? socketPath.map { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent }
    }

    /// The numeric settings read from the environment: a value that is not a whole number is refused at start
    /// (it would otherwise be ignored silently and a default used).
    static let numericVariables = [
        "MCPFCGI_THREADS", "MCPFCGI_KEEP_CONNECTIONS", "MCPFCGI_DRAIN_TIMEOUT", "MCPFCGI_SESSION_IDLE_TIMEOUT", "MCPFCGI_SESSION_SWEEP_INTERVAL",
        "MCPFCGI_MAX_SESSIONS", "MCPFCGI_RATE_LIMIT", "MCPFCGI_SESSIONS_PER_ADDRESS", "MCPFCGI_SESSIONS_PER_USER",
        "MCPFCGI_SESSION_EVICTION_MIN_IDLE", "MCPFCGI_WORKER_RESTARTS", "MCPFCGI_DATABASE_KEEPALIVE",
    ]

    func validate() throws {
        for name in Self.numericVariables {
            if let value = env(name), Int(value) == nil {
                throw ValidationError("\(name)=\(value) is not a whole number; fix or unset it")
            }
        }
        guard UInt16(socketMode, radix: 8) != nil else { throw ValidationError("--socket-mode must be octal, e.g. 660") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format is text or json") }
        if let threads = threadCount, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let kept = keptConnectionCount, kept < 0 {
            throw ValidationError("--keep-connections must be 0 (a connection per request) or more")
        }
        if sessionIdleTimeout < 0 { throw ValidationError("--session-idle-timeout must be 0 or more") }
        if databaseKeepalive < 0 { throw ValidationError("--database-keepalive must be 0 (none) or more seconds") }
        if sessionSweepInterval < 1 { throw ValidationError("--session-sweep-interval must be at least 1") }
        if maxSessions < 1 { throw ValidationError("--max-sessions must be at least 1") }
        if sessionsPerAddress < 0 || sessionsPerUser < 0 {
            throw ValidationError("--sessions-per-address and --sessions-per-user must be 0 (no quota) or more")
        }
        // A new session counts as idle from its creation: a tiny minimum would let a flood evict everybody.
        if sessionEvictionMinIdle < 30 {
            throw ValidationError("--session-eviction-min-idle must be at least 30 seconds (a flood would evict everybody)")
        }
    }

    func run() throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let json = logFormat == "json"
        // With tracing on, every log line written inside a span carries its trace_id and span_id.
        let tracing = Self.tracingEnabled(ProcessInfo.processInfo.environment)
        LoggingSystem.bootstrap(
            { label, provider in
                var handler: any LogHandler =
                    json
                    ? JSONLogHandler(label: label, metadataProvider: provider)
                    : StreamLogHandler.standardError(label: label, metadataProvider: provider)
                handler.logLevel = level
                return handler
            }, metadataProvider: tracing ? DemoTracing.loggingMetadataProvider() : nil)
        var logger = Logger(label: "mcp-fcgi-demo")
        logger.logLevel = level

        var fcgi = FastCGIServer.Configuration(
            socketPath: socketPath, socketMode: UInt16(socketMode, radix: 8) ?? 0o660,
            drainTimeout: .seconds(drainTimeout),
            exclusiveInheritedSocket: exclusiveSocket || env("MCPFCGI_EXCLUSIVE_SOCKET") == "1")
        if let threads = threadCount { fcgi.threads = threads }
        if let kept = keptConnectionCount { fcgi.connectionReuse = .init(keepingAtMost: kept) }
        // Spans of the drained requests are flushed once the server has drained (or failed to start); the
        // database pool closes after that.
        var stopTracing: (() -> Void)?
        var stopDatabase: (() -> Void)?
        defer {
            stopTracing?()
            stopDatabase?()
        }
        do {
            // The one entry point: SIGTERM/SIGINT are blocked before anything below starts a thread (swift-otel's
            // background task included), then the worker serves until a signal and drains.
            try FastCGIServer.run(configuration: fcgi, logger: logger) {
                // Metrics and tracing backends are bootstrapped before the application is built (and the server,
                // which is made after this returns): their components read MetricsSystem.factory and
                // InstrumentationSystem.tracer when they are created.
                let metrics = try bootstrapMetrics(logger: logger)
                stopTracing = tracing ? try DemoTracing.start(node: node, logger: logger) : nil
                let database = try startDatabase(threads: fcgi.threads, logger: logger)
                stopDatabase = database.map { database in { database.stop() } }
                return try makeApplication(metrics: metrics, database: database, logger: logger)
            }
        } catch let error as FastCGIServer.StartupError {
            logger.critical("cannot start: \(error)")
            throw ExitCode(1)
        }
    }

    /// The PostgreSQL pool when `--store postgres`, started and migrated; nil for the in-memory store.
    /// - Parameters:
    ///   - threads: the accept threads (a pooled connection stays open for each, up to 4).
    ///   - logger: where the pool logs.
    /// - Throws: `ExitCode(1)` (logged) when the store or URL is unusable or the database cannot be reached.
    func startDatabase(threads: Int, logger: Logger) throws -> DemoDatabase? {
        switch store ?? env("MCPFCGI_STORE") ?? "memory" {
        case "memory":
            return nil
        case "postgres":
            guard let text = databaseURL ?? env("MCPFCGI_DATABASE_URL"), !text.isEmpty else {
                logger.critical("--store postgres needs --database-url (or MCPFCGI_DATABASE_URL)")
                throw ExitCode(1)
            }
            let url: DatabaseURL
            do { url = try DatabaseURL(text) } catch {
                logger.critical("cannot use the database URL: \(error)")
                throw ExitCode(1)
            }
            return try DemoDatabase.start(
                url: url, threads: threads,
                keepAlive: databaseKeepalive > 0 ? .seconds(databaseKeepalive) : nil, logger: logger)
        case let other:
            logger.critical("unknown store \(other) (memory or postgres)")
            throw ExitCode(1)
        }
    }

    /// The demo's application: the fixtures at `/mcp`, two tenants, OAuth and management as configured.
    /// - Throws: `ValidationError` or `ExitCode(1)` (logged) when the configuration is unusable.
    func makeApplication(
        metrics: MetricsEndpoint.Configuration?, database: DemoDatabase? = nil, logger: Logger
    ) throws -> MCPApplication {
        let url = publicURL ?? env("MCPFCGI_PUBLIC_URL") ?? Self.derivedPublicURL(logger: logger)

        let stateKey = try (requestStateKeyFile ?? env("MCPFCGI_REQUEST_STATE_KEY_FILE")).map(Self.requestStateKey(at:))
        if stateKey == nil {
            logger.notice("no request-state key file: multi-round (input_required) requests stay on this worker")
        }
        let server = MCPServer(
            configuration: .init(
                serverInfo: Implementation(name: "mcp-fcgi-demo", version: "0.1.0", title: "MCPFCGI demo"),
                sessionStore: makeSessionStore(scope: "mcp", database: database, logger: logger),
                sessionLimits: sessionLimits,
                logger: logger,
                requestStateKey: stateKey,
                tasks: TaskConfiguration(
                    store: makeTaskStore(scope: "mcp", database: database, logger: logger),
                    // A client that runs elicitation or sampling as tasks is asked to (the official clients do not).
                    clientTaskTTL: .seconds(600))))
        database?.stopsTasks(of: server)
        Fixtures.register(on: server)

        let token = managementToken ?? env("MCPFCGI_MANAGEMENT_TOKEN")
        let peers = Self.peers(from: peerSockets ?? env("MCPFCGI_PEER_SOCKETS"), excluding: ownSocketPath)
        // The OAuth mode; its issuer, resource URL and peers come from the application's configuration below.
        var authorization = AuthConfiguration.anonymous
        switch auth ?? env("MCPFCGI_AUTH") ?? "anonymous" {
        case "anonymous":
            break
        case "builtin":
            let keyFile = oauthKeyFile ?? env("MCPFCGI_OAUTH_KEY_FILE")
            if keyFile == nil {
                logger.warning("no OAuth signing key file: a key is generated in memory (tokens die with this worker)")
            }
            var clients: [OAuthClient] = []
            if let path = oauthClientsFile ?? env("MCPFCGI_OAUTH_CLIENTS_FILE") {
                do { clients = try PreregisteredClientsFile.load(path: path) } catch {
                    throw ValidationError(error.description)
                }
            }
            let registrationToken = try (oauthRegistrationTokenFile ?? env("MCPFCGI_OAUTH_REGISTRATION_TOKEN_FILE"))
                .map(Self.registrationToken(at:))
            // In memory, nginx sends /oauth/* to one worker and revocations are pushed to the application's peers;
            // on PostgreSQL every worker serves /oauth/* and checks revocations in the database (answers kept until
            // a revocation is announced on the database channel).
            let storage: any OAuthStorage =
                database.map { PostgresOAuthStorage(database: $0.pool, notifications: $0.notifications) }
                ?? PeerSyncedOAuthStorage(logger: logger)
            authorization = .builtIn(
                .init(
                    storage: storage,
                    supportedScopes: ["mcp:read", "mcp:write", "mcp:admin"],
                    preregisteredClients: clients,
                    clientRegistration: ClientRegistrationPolicy(initialAccessToken: registrationToken),
                    signingKey: keyFile.map { .pemFile($0) } ?? .generated),
                requiredScopes: ["mcp:read"])
        case let other:
            logger.critical("unknown auth mode \(other) (anonymous or builtin)")
            throw ExitCode(1)
        }

        // The seed's "Custom Middleware" example: a per-address rate limit, when configured.
        var middleware: [any HTTPMiddleware] = []
        if let perMinute = (rateLimit ?? env("MCPFCGI_RATE_LIMIT").flatMap { Int($0) }), perMinute > 0 {
            middleware.append(RateLimitMiddleware(limit: RateLimit(burst: perMinute, perMinute: perMinute)))
            logger.info("rate limit on", metadata: ["requestsPerMinute": "\(perMinute)"])
        }
        var app: MCPApplication
        var endpoint = MCPEndpoint.Configuration()
        endpoint.eventStore = makeEventStore(scope: "mcp", database: database)
        warnAboutAMemoryEventStore(database: database, logger: logger)
        do {
            app = try MCPApplication(
                server: server,
                configuration: .init(
                    publicURL: url, nodeID: node, endpoint: endpoint,
                    sessionExpiry: .init(
                        idleTimeout: sessionIdleTimeout > 0 ? .seconds(sessionIdleTimeout) : nil,
                        interval: .seconds(sessionSweepInterval)),
                    managementToken: token, peers: peers.map { .fastCGI(socketPath: $0) }, middleware: middleware,
                    metrics: metrics),
                authorization: authorization, logger: logger)
        } catch {
            logger.critical("cannot configure OAuth: \(error)")
            throw ExitCode(1)
        }
        // The seed's "Multi-tenant Setup": one MCP server per tenant, each at its own path with its own
        // sessions (and, with OAuth, its own resource metadata and token audience); resolveUserID binds sessions
        // to the token's subject (or nginx's user) and refuses a request that reached another tenant's path.
        // Anonymous callers of a tenant all resolve to "anonymous@<tenant>": a per-user quota would make that one
        // pool for everybody, so without authentication only the per-address quota applies.
        var tenantLimits = sessionLimits
        if app.configuration.authorization == nil { tenantLimits.maxSessionsPerUser = nil }
        for tenant in ["tenant-a", "tenant-b"] {
            var settings = MCPEndpoint.Configuration()
            settings.eventStore = makeEventStore(scope: tenant, database: database)
            settings.resolveUserID = { context in
                guard context.path.hasPrefix("/\(tenant)/") else { return nil }
                return context.claims?["sub"]?.stringValue ?? context.remoteUser ?? "anonymous@\(tenant)"
            }
            do {
                try app.mount(
                    Fixtures.tenantServer(
                        tenant, sessionStore: makeSessionStore(scope: tenant, database: database, logger: logger),
                        sessionLimits: tenantLimits, logger: logger),
                    at: "/\(tenant)/mcp", endpoint: settings)
            } catch {
                logger.critical("cannot mount /\(tenant)/mcp: \(error)")
                throw ExitCode(1)
            }
        }
        if token != nil {
            logger.info("management API on", metadata: ["peers": "\(peers.count)"])
        }
        return app
    }

    /// The latency buckets of every duration histogram (seconds): they resolve 0.5 to 50 ms, where a worker's
    /// answers lie, and reach 10 s for slow tools.
    static let latencyBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    /// The shortest metrics token accepted.
    static let minimumMetricsTokenLength = 16

    /// Why `token` cannot be the metrics token (too short, or with whitespace a client could never send), or nil.
    static func metricsTokenProblem(_ token: String) -> String? {
        if token.count < minimumMetricsTokenLength {
            return "the metrics token has \(token.count) characters; it needs at least \(minimumMetricsTokenLength)"
                + " (openssl rand -hex 24)"
        }
        if token.contains(where: \.isWhitespace) {
            return "the metrics token contains whitespace; scrapers send it as one word (openssl rand -hex 24)"
        }
        return nil
    }

    /// With a metrics token (flag, variable or file): bootstraps `MetricsSystem` with a Prometheus factory and
    /// returns the `/metrics` settings; without one, nothing is bootstrapped (metrics off, their cost the no-op
    /// backend's) and nil is returned.
    /// - Throws: `ValidationError` when the token file cannot be read or its token is too short.
    func bootstrapMetrics(logger: Logger) throws -> MetricsEndpoint.Configuration? {
        var token = metricsToken ?? env("MCPFCGI_METRICS_TOKEN")
        if token == nil, let path = metricsTokenFile ?? env("MCPFCGI_METRICS_TOKEN_FILE") {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ValidationError("cannot read the metrics token file \(path)")
            }
            token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let token, !token.isEmpty else { return nil }
        if let problem = Self.metricsTokenProblem(token) { throw ValidationError(problem) }
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.latencyBuckets
        MetricsSystem.bootstrap(factory)
        // How many times the supervisor restarted this worker slot (run.sh passes it).
        let restarts = env("MCPFCGI_WORKER_RESTARTS").flatMap { Int($0) } ?? 0
        Counter(label: "mcpfcgi_worker_restarts_total").increment(by: max(0, restarts))
        logger.info("metrics on: GET /metrics (Prometheus text format, bearer token)")
        return MetricsEndpoint.Configuration(token: token, registry: registry)
    }

    /// Whether traces are exported: an OTLP endpoint is set and `OTEL_SDK_DISABLED` is not `true`.
    static func tracingEnabled(_ environment: [String: String]) -> Bool {
        guard let endpoint = environment["OTEL_EXPORTER_OTLP_ENDPOINT"], !endpoint.isEmpty else { return false }
        return environment["OTEL_SDK_DISABLED"]?.lowercased() != "true"
    }

    /// The socket this worker listens on: the configured path, or the one spawn-fcgi bound to fd 0.
    var ownSocketPath: String? { socketPath ?? DeploymentEnvironment.inheritedSocketPath() }

    /// The comma-separated socket list without blanks, duplicates and this worker's own socket.
    static func peers(from list: String?, excluding own: String?) -> [String] {
        DeploymentEnvironment.peers(from: list, excluding: own)
    }

    /// The request-state key in `path` (``DeploymentEnvironment/requestStateKey(at:)``: refused when the file
    /// cannot be read or is too short).
    /// - Throws: `ValidationError` naming the file and what to do.
    static func requestStateKey(at path: String) throws -> [UInt8] {
        do {
            return try DeploymentEnvironment.requestStateKey(at: path)
        } catch {
            throw ValidationError(error.message)
        }
    }

    /// The initial access token in `path` (``DeploymentEnvironment/registrationToken(at:)``).
    /// - Throws: `ValidationError` naming the file and what to do.
    static func registrationToken(at path: String) throws -> String {
        do {
            return try DeploymentEnvironment.registrationToken(at: path)
        } catch {
            throw ValidationError(error.message)
        }
    }

    /// `http://HOST:PORT` from the environment the run script sets, logged so the choice is visible.
    static func derivedPublicURL(logger: Logger) -> String {
        let host = env("HOST") ?? "127.0.0.1"
        let port = env("PORT") ?? "8080"
        let url = "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
        logger.notice("no public URL configured; derived from HOST and PORT", metadata: ["publicURL": "\(url)"])
        return url
    }
}

func env(_ name: String) -> String? {
    guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
    return value
}
