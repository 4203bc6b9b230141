import Foundation
import HTTPTypes
import Logging
import MCPHandlers
import Synchronization
import MCPHTTP

/// The built-in OAuth 2.1 authorization server: metadata (RFC 8414), dynamic client registration (RFC 7591),
/// the authorization endpoint with PKCE S256 and a consent page, the token endpoint (authorization code, refresh
/// token with rotation, client credentials), revocation (RFC 7009), introspection (RFC 7662) and the JWKS. Access
/// tokens are ES256 JWTs (RFC 9068) whose audience is the one MCP resource URL they were requested for: the main
/// endpoint's ``Configuration/resourceURL`` or one added with ``addResource(_:)`` (a mounted endpoint).
///
/// ```swift
/// let server = try BuiltInAuthorizationServer(
///     configuration: .init(issuer: "https://mcp.example.com", signingKey: .pemFile("/etc/mcp/oauth.pem")),
///     logger: logger)
/// if let response = await server.respond(to: request) { return response }   // one of its routes
/// ```
public final class BuiltInAuthorizationServer: Sendable, HTTPResponder {
    /// The configuration (issuer normalised).
    public let configuration: Configuration
    let storage: any OAuthStorage
    /// The clients from ``Configuration/preregisteredClients``, by id: looked up before the storage.
    let preregistered: [String: OAuthClient]
    let key: SigningKey
    let consent: ConsentToken
    let limiter: RateLimiter
    /// The `mcpfcgi_oauth_*` and `mcpfcgi_rate_limited_total` handles.
    let metrics: OAuthMetrics
    let logger: Logger
    let basePath: String
    private let lastSweep = Mutex(Date.distantPast)
    private let additionalResources = Mutex<[String]>([])
    let documentFetches = Mutex<[String: Date]>([:])

    /// Starts the server: loads (or generates) the signing key and saves the pre-registered clients.
    /// - Parameters:
    ///   - configuration: the settings.
    ///   - logger: where to log (info and below).
    /// - Throws: ``OAuthConfigurationError`` for an unreadable key or a bad issuer/resource URL.
    public init(configuration: Configuration, logger: Logger) throws(OAuthConfigurationError) {
        guard let givenIssuer = configuration.issuer else { throw .missingIssuer }
        let issuer = Configuration.normalize(givenIssuer)
        let resourceURL = configuration.resourceURL ?? issuer + "/mcp"
        for (name, value) in [("issuer", issuer), ("resourceURL", resourceURL)] {
            guard Self.isResourceURL(value) else { throw .invalidURL(name, value) }
        }
        for client in configuration.preregisteredClients {
            if client.grantTypes.contains("client_credentials") && client.scopes == nil {
                throw .clientCredentialsWithoutScopes(client.clientID)
            }
            // A typo in a scope or resource would silently narrow (or empty) the client's tokens: refuse it.
            if let unknown = client.scopes?.first(where: { !configuration.supportedScopes.contains($0) }) {
                throw OAuthConfigurationError(
                    message: "pre-registered client \(client.clientID): scope \(unknown) is not a supported scope "
                        + "(\(configuration.supportedScopes.joined(separator: " ")))")
            }
            if let bad = client.resources?.first(where: { !Self.isResourceURL($0) }) {
                throw .invalidURL("resource of pre-registered client \(client.clientID)", bad)
            }
        }
        self.configuration = configuration
        self.issuer = issuer
        self.resourceURL = resourceURL
        self.storage = configuration.storage
        self.key = try SigningKey(configuration.signingKey)
        self.consent = ConsentToken(key: key.derivedSecret(label: "consent-csrf"))
        self.limiter = RateLimiter(limit: configuration.rateLimit, now: configuration.now)
        self.metrics = OAuthMetrics(factory: configuration.metricsFactory)
        self.logger = logger
        self.basePath = URLComponents(string: issuer)?.path ?? ""
        self.preregistered = Dictionary(
            configuration.preregisteredClients.map { ($0.clientID, $0) }, uniquingKeysWith: { _, last in last })
        switch configuration.signingKey {
        case .generated:
            logger.info(
                "OAuth signing key generated in memory: tokens do not survive a restart and are not shared between workers",
                metadata: ["oauth.kid": .string(key.kid)])
        case .pem, .pemFile:
            logger.info("OAuth signing key loaded", metadata: ["oauth.kid": .string(key.kid)])
        }
    }

    /// A new P-256 private key in PEM, for a key file every worker loads with
    /// ``Configuration/SigningKey/pemFile(_:)``.
    public static func generateSigningKeyPEM() -> String {
        // A generated key always has parameters, so this cannot fail.
        (try? SigningKey(.generated))?.privateKeyPEM ?? ""
    }

    /// The issuer (``Configuration/issuer`` without a trailing slash).
    public let issuer: String
    /// The main resource URL, the audience of tokens issued without a `resource` parameter
    /// (``Configuration/resourceURL``, else `issuer + "/mcp"`).
    public let resourceURL: String

    /// The verifier of this server's access tokens for the main resource (``Configuration/resourceURL``).
    public var tokenVerifier: BuiltInTokenVerifier { tokenVerifier(audience: resourceURL) }

    /// The verifier of this server's access tokens for one resource: it refuses tokens issued for another.
    /// - Parameter audience: the resource URL the tokens must name in `aud`.
    public func tokenVerifier(audience: String) -> BuiltInTokenVerifier {
        BuiltInTokenVerifier(key: key, issuer: issuer, audiences: [audience], storage: storage, now: configuration.now)
    }

    /// The verifier of this server's access tokens for any resource it issues tokens for (introspection).
    var anyResourceTokenVerifier: BuiltInTokenVerifier {
        BuiltInTokenVerifier(key: key, issuer: issuer, audiences: resourceURLs, storage: storage, now: configuration.now)
    }

    /// The main MCP endpoint's protected resource metadata, pointing at this server.
    public var protectedResourceMetadata: ProtectedResourceMetadata {
        protectedResourceMetadata(for: resourceURL)
    }

    /// The protected resource metadata of one resource this server issues tokens for, pointing at this server.
    /// - Parameter resource: the resource URL.
    public func protectedResourceMetadata(for resource: String) -> ProtectedResourceMetadata {
        ProtectedResourceMetadata(
            resource: resource, authorizationServers: [issuer], scopesSupported: configuration.supportedScopes)
    }

    /// A resource server for the main `/mcp` endpoint that accepts this server's tokens for it.
    /// - Parameter requiredScopes: scopes every request needs.
    public func resourceServer(requiredScopes: [String] = []) -> ResourceServer {
        resourceServer(for: resourceURL, requiredScopes: requiredScopes)
    }

    /// A resource server for one resource: it accepts only tokens issued for that resource, and its challenges
    /// point at that resource's metadata.
    /// - Parameters:
    ///   - resource: the resource URL (the main one or one added with ``addResource(_:)``).
    ///   - requiredScopes: scopes every request needs.
    public func resourceServer(for resource: String, requiredScopes: [String] = []) -> ResourceServer {
        ResourceServer(
            resourceMetadataURL: protectedResourceMetadata(for: resource).metadataURL, requiredScopes: requiredScopes,
            verifier: tokenVerifier(audience: resource), metricsFactory: configuration.metricsFactory)
    }

    /// Lets clients ask for tokens for another resource (RFC 8707 `resource`), e.g. an MCP endpoint mounted at its
    /// own path; its tokens carry that resource as their only audience.
    /// - Parameter resource: an absolute `http(s)` URL without query or fragment.
    /// - Throws: ``OAuthConfigurationError`` for anything else.
    public func addResource(_ resource: String) throws(OAuthConfigurationError) {
        guard Self.isResourceURL(resource) else { throw .invalidURL("resource", resource) }
        let main = resourceURL
        additionalResources.withLock { if resource != main, !$0.contains(resource) { $0.append(resource) } }
    }

    /// Every resource URL this server issues tokens for: ``Configuration/resourceURL`` first, then those added
    /// with ``addResource(_:)``.
    public var resourceURLs: [String] { [resourceURL] + additionalResources.withLock { $0 } }

    /// Whether tokens may be issued for `resource`.
    func issuesTokens(for resource: String) -> Bool {
        resource == resourceURL || additionalResources.withLock { $0.contains(resource) }
    }

    static func isResourceURL(_ value: String) -> Bool {
        guard let c = URLComponents(string: value), ["http", "https"].contains(c.scheme?.lowercased() ?? "") else {
            return false
        }
        return c.host != nil && c.query == nil && c.fragment == nil
    }

    /// What answers one route.
    private typealias Endpoint = @Sendable (BuiltInAuthorizationServer, HTTPServerRequest) async throws(OAuthError) ->
        HTTPServerResponse

    /// The one table of routes and their endpoints, behind ``routes``, ``addRoutes(to:)``, ``route(_:)`` and
    /// ``respond(to:)``.
    private var endpoints: [(method: HTTPRequest.Method, path: String, endpoint: Endpoint)] {
        var out: [(method: HTTPRequest.Method, path: String, endpoint: Endpoint)] = metadataPaths.map { path in
            (.get, path, { server, _ in server.metadata() })
        }
        out.append((.get, basePath + "/oauth/jwks", { server, _ in server.jwks() }))
        out.append((.get, basePath + "/oauth/authorize", { server, request in await server.authorize(request) }))
        out.append((.post, basePath + "/oauth/authorize", { server, request in await server.decide(request) }))
        out.append((.post, basePath + "/oauth/token", { server, request throws(OAuthError) in try await server.token(request) }))
        out.append((.post, basePath + "/oauth/revoke", { server, request throws(OAuthError) in try await server.revoke(request) }))
        out.append(
            (.post, basePath + "/oauth/introspect", { server, request throws(OAuthError) in try await server.introspect(request) }))
        if !configuration.disableDynamicClientRegistration {
            out.append(
                (.post, basePath + "/oauth/register", { server, request throws(OAuthError) in try await server.register(request) }))
        }
        return out
    }

    /// The routes: (method, path) pairs, to add to a ``/MCPHTTP/Router`` or to check before ``route(_:)``.
    public var routes: [(method: HTTPRequest.Method, path: String)] {
        endpoints.map { (method: $0.method, path: $0.path) }
    }

    /// Adds every route to a router (the router answers 405 for other methods on them).
    /// - Parameter router: the application's router.
    public func addRoutes(to router: inout Router) {
        for route in routes { router.add(route.method, route.path, responder: self) }
    }

    /// Its own routes on a ``MCPHTTP/Router``: 404 for another path, 405 with `Allow` for another method, `HEAD` by
    /// `GET`. The OAuth errors the endpoints throw are rendered by ``MCPHTTP/HTTPErrorBoundary`` (``OAuthError`` is
    /// an ``MCPHTTP/HTTPResponseError``).
    private var router: Router {
        var router = Router()
        for route in endpoints {
            router.add(route.method, route.path) { request in
                await HTTPErrorBoundary.respond(to: request, logger: self.logger) { request in
                    await self.sweepIfDue()
                    return try await route.endpoint(self, request)
                }
            }
        }
        return router
    }

    /// Answers a request on one of its routes, or nil when the path is not one of them.
    /// - Parameter request: any request.
    /// - Returns: the response, or nil for another path. A wrong method on a known path is 405 with `Allow`.
    public func route(_ request: HTTPServerRequest) async -> HTTPServerResponse? {
        let router = router
        guard router.hasRoute(at: request.path) else { return nil }
        return await router.respond(to: request)
    }

    /// Answers a request addressed to one of its routes (404 JSON otherwise, 405 with `Allow` for another method).
    public func respond(to request: HTTPServerRequest) async -> HTTPServerResponse {
        await router.respond(to: request)
    }

    /// Drops expired codes, tokens and revocations, and registered clients unused for
    /// ``ClientRegistrationPolicy/unusedClientLifetime``, from storage at most once a minute.
    func sweepIfDue() async {
        let now = now
        let due = lastSweep.withLock { last in
            guard now.timeIntervalSince(last) >= 60 else { return false }
            last = now
            return true
        }
        guard due else { return }
        _ = try? await stored { try await storage.removeExpired(before: now) }
        let policy = configuration.clientRegistration
        let unusedSince = now.addingTimeInterval(-Double(policy.unusedClientLifetime))
        let inactiveSince = now.addingTimeInterval(-Double(policy.inactiveClientLifetime))
        _ = try? await stored {
            try await storage.removeIdleClients(unusedRegisteredBefore: unusedSince, lastUsedBefore: inactiveSince)
        }
    }

    /// Runs one storage operation; a failure of the storage itself (a database that cannot be reached) is logged
    /// and answered 503 `server_error` with `Retry-After`, never as the client's mistake.
    func stored<T: Sendable>(_ operation: () async throws -> T) async throws(OAuthError) -> T {
        do { return try await operation() } catch {
            logger.error("OAuth storage failed", metadata: ["error": .string("\(error)")])
            throw OAuthError(
                .serverError, "The authorization server cannot reach its storage; retry later",
                retryAfter: Self.storageRetryAfter)
        }
    }

    /// The `Retry-After` seconds of an answer refused because the storage could not be reached.
    static let storageRetryAfter = 5

    /// Records a use of a registered client (a code or a token): the first one always, later ones at most every
    /// five minutes, so that the store is not written on every token request.
    func recordUse(of client: OAuthClient) async throws(OAuthError) {
        guard preregistered[client.clientID] == nil else { return }
        let now = now
        if let last = client.lastUsedAt, Int(now.timeIntervalSince1970) - last < 300 { return }
        try await stored { try await storage.markClientUsed(id: client.clientID, at: now) }
    }

    /// The client with this id: a pre-registered one, else a registered one from the storage.
    func registeredClient(id: String) async throws(OAuthError) -> OAuthClient? {
        if let client = preregistered[id] { return client }
        return try await stored { try await storage.client(id: id) }
    }

    var now: Date { configuration.now() }
    var nowSeconds: Int { Int(now.timeIntervalSince1970) }

    /// The 429 `temporarily_unavailable` (with `Retry-After`) when the caller's address exceeded its rate limit at
    /// this endpoint, counted in the metrics; nil when it may go on. Charged before the request is read further; a
    /// `client_id` the request merely claims charges nothing (anyone could otherwise keep another client at 429).
    func rateLimited(_ endpoint: String, _ request: HTTPServerRequest) -> OAuthError? {
        // An IPv6 caller is charged by its /64 (one host usually has the whole prefix), like the session quotas.
        limited(
            endpoint, request, key: "\(endpoint)|addr:\(ClientAddress.quotaKey(request.remoteAddress) ?? "-")",
            bucket: .address)
    }

    /// The 429 `temporarily_unavailable` (with `Retry-After`) when a client that has just authenticated exceeded
    /// its own rate limit at this endpoint (from every address together), counted in the metrics; nil otherwise.
    func rateLimited(_ endpoint: String, _ request: HTTPServerRequest, authenticated client: OAuthClient)
        -> OAuthError?
    {
        limited(endpoint, request, key: "\(endpoint)|client:\(client.clientID)", bucket: .client)
    }

    private func limited(_ endpoint: String, _ request: HTTPServerRequest, key: String, bucket: RateLimitBucket)
        -> OAuthError?
    {
        guard let wait = limiter.take([key]) else { return nil }
        metrics.rateLimited(bucket)
        // The metadata-document fetch is charged at the authorization endpoint.
        metrics.refused(OAuthMetrics.Endpoint(rawValue: endpoint) ?? .authorize, .temporarilyUnavailable)
        logger.info(
            "OAuth rate limit exceeded",
            metadata: ["oauth.endpoint": .string(endpoint), "http.request.id": .string(request.requestID)])
        return OAuthError(.temporarilyUnavailable, "Too many requests; retry later", retryAfter: wait)
    }
}
