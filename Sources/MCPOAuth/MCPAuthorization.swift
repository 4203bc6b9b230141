import HTTPTypes
import Logging
import MCPHTTP

/// Everything an application needs for ``AuthConfiguration``: the OAuth routes (authorization server and protected
/// resource metadata) and the check of `/mcp` requests.
///
/// ```swift
/// let auth = try MCPAuthorization(configuration: .builtIn(.init(issuer: publicURL)), logger: logger)
/// auth.addRoutes(to: &router)                       // or: if let r = await auth.route(request) { return r }
/// switch await auth.authenticate(request) {         // on /mcp
/// case .success(let user): …
/// case .failure(let refusal): return HTTPErrorBoundary.response(for: refusal, request: request, logger: logger)
/// }
/// ```
public struct MCPAuthorization: Sendable {
    /// The configuration.
    public let configuration: AuthConfiguration
    /// The built-in authorization server (built-in mode only).
    public let authorizationServer: BuiltInAuthorizationServer?
    /// The MCP endpoint's protected resource metadata (nil when anonymous).
    public let resourceMetadata: ProtectedResourceMetadata?
    /// The `/mcp` guard (nil when anonymous).
    public let resourceServer: ResourceServer?

    /// Sets up the configured mode.
    /// - Parameters:
    ///   - configuration: the mode and required scopes.
    ///   - logger: where to log.
    /// - Throws: ``OAuthConfigurationError`` when the built-in server cannot start.
    public init(configuration: AuthConfiguration, logger: Logger) throws(OAuthConfigurationError) {
        self.configuration = configuration
        switch configuration.mode {
        case .anonymous:
            authorizationServer = nil
            resourceMetadata = nil
            resourceServer = nil
        case .builtIn(var builtIn):
            if builtIn.metricsFactory == nil { builtIn.metricsFactory = configuration.metricsFactory }
            let server = try BuiltInAuthorizationServer(configuration: builtIn, logger: logger)
            authorizationServer = server
            resourceMetadata = server.protectedResourceMetadata
            resourceServer = server.resourceServer(requiredScopes: configuration.requiredScopes)
        case .external(let external):
            guard let resourceURL = external.resourceURL else { throw .missingResourceURL }
            authorizationServer = nil
            let resource = Self.externalResource(external, resourceURL: resourceURL, configuration)
            resourceMetadata = resource.metadata
            resourceServer = resource.resourceServer
        }
    }

    /// Every (method, path) this component answers.
    public var routes: [(method: HTTPRequest.Method, path: String)] {
        var out = authorizationServer?.routes ?? []
        for path in resourceMetadata?.paths ?? [] { out.append((method: .get, path: path)) }
        return out
    }

    /// Adds every route to a router.
    /// - Parameter router: the application's router.
    public func addRoutes(to router: inout Router) {
        authorizationServer?.addRoutes(to: &router)
        if let resourceMetadata {
            for path in resourceMetadata.paths { router.add(.get, path, responder: resourceMetadata) }
        }
    }

    /// Answers a request on one of its routes, or nil when the path is not one of them.
    /// - Parameter request: any request.
    /// - Returns: the response, or nil for another path; a wrong method on one of its paths is 405 with `Allow`.
    public func route(_ request: HTTPServerRequest) async -> HTTPServerResponse? {
        var router = Router()
        addRoutes(to: &router)
        guard router.hasRoute(at: request.path) else { return nil }
        return await router.respond(to: request)
    }

    /// The OAuth side of one more MCP endpoint (one mounted at its own path): its protected resource metadata and
    /// the guard that accepts only tokens issued for it.
    public struct ProtectedResource: Sendable {
        /// The endpoint's metadata, served at its path-specific well-known URL
        /// (`/.well-known/oauth-protected-resource/tenant-a/mcp`).
        public let metadata: ProtectedResourceMetadata
        /// The endpoint's guard: tokens whose audience is ``ProtectedResourceMetadata/resource``, with the
        /// required scopes; its challenges point at ``metadata``.
        public let resourceServer: ResourceServer
    }

    /// Protects one more resource with this configuration: in built-in mode the authorization server starts to
    /// issue tokens for it (with it as their only audience), in external mode its tokens must name it in `aud`.
    /// - Parameter resourceURL: the endpoint's public URL (`https://mcp.example.com/tenant-a/mcp`).
    /// - Returns: its metadata and guard; nil when anonymous.
    /// - Throws: ``OAuthConfigurationError`` when the URL is not an absolute http(s) URL.
    public func protectedResource(at resourceURL: String) throws(OAuthConfigurationError) -> ProtectedResource? {
        switch configuration.mode {
        case .anonymous:
            return nil
        case .builtIn:
            guard let server = authorizationServer else { return nil }
            try server.addResource(resourceURL)
            return ProtectedResource(
                metadata: server.protectedResourceMetadata(for: resourceURL),
                resourceServer: server.resourceServer(for: resourceURL, requiredScopes: configuration.requiredScopes))
        case .external(var external):
            guard BuiltInAuthorizationServer.isResourceURL(resourceURL) else {
                throw .invalidURL("resource", resourceURL)
            }
            external.resourceURL = resourceURL
            external.acceptedAudiences = [resourceURL]
            return Self.externalResource(external, resourceURL: resourceURL, configuration)
        }
    }

    /// The metadata and guard of the resource an external configuration describes.
    private static func externalResource(
        _ external: ExternalAuthorization.Configuration, resourceURL: String, _ configuration: AuthConfiguration
    ) -> ProtectedResource {
        let metadata = ProtectedResourceMetadata(
            resource: resourceURL, authorizationServers: [external.issuer],
            scopesSupported: external.supportedScopes)
        return ProtectedResource(
            metadata: metadata,
            resourceServer: ResourceServer(
                resourceMetadataURL: metadata.metadataURL, requiredScopes: configuration.requiredScopes,
                verifier: ExternalTokenVerifier(
                    configuration: external, introspectionCacheTTL: configuration.introspectionCacheTTL),
                metricsFactory: configuration.metricsFactory))
    }

    /// Checks an `/mcp` request: ``AuthenticatedUser/anonymous`` when anonymous, otherwise its bearer token.
    /// - Parameter request: the `/mcp` request.
    /// - Returns: the user, or the refusal that answers the request (rendered by `HTTPErrorBoundary`).
    public func authenticate(_ request: HTTPServerRequest) async -> Result<AuthenticatedUser, BearerAuthenticationError>
    {
        guard let resourceServer else { return .success(.anonymous) }
        return await resourceServer.authenticate(request)
    }
}
