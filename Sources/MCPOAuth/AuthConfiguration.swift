import Metrics
import MCPHTTP

/// How `/mcp` is protected, mirroring the seed's `auth` option: anonymous, the built-in OAuth 2.1 authorization
/// server, or tokens from an external authorization server.
///
/// ```swift
/// let auth = AuthConfiguration.builtIn(
///     .init(issuer: "https://mcp.example.com", supportedScopes: ["mcp:read", "mcp:write"]),
///     requiredScopes: ["mcp:read"])
/// ```
///
/// Given to `MCPApplication(server:configuration:authorization:logger:)`, the issuer can be left out: the
/// application's public URL is used.
public struct AuthConfiguration: Sendable {
    /// The authentication mode.
    public enum Mode: Sendable {
        /// No authentication. The default.
        case anonymous
        /// The built-in authorization server issues and verifies the tokens.
        case builtIn(BuiltInAuthorizationServer.Configuration)
        /// An external authorization server issues the tokens.
        case external(ExternalAuthorization.Configuration)
    }

    /// The mode. Default `.anonymous`.
    public var mode: Mode
    /// Scopes every `/mcp` request's token must carry. Default none.
    public var requiredScopes: [String]
    /// How long an introspection result is cached, in seconds (external mode). Default 60.
    public var introspectionCacheTTL: Int
    /// The swift-metrics backend of the `/mcp` bearer refusals (`mcpfcgi_bearer_refusals_total`) and, in built-in
    /// mode when ``BuiltInAuthorizationServer/Configuration/metricsFactory`` is nil, of the authorization server's
    /// metrics; nil (default): the process-wide `MetricsSystem.factory`, read when the component is created, so
    /// bootstrap `MetricsSystem` first.
    public var metricsFactory: (any MetricsFactory)?

    /// Creates a configuration; every parameter has the default documented on its property.
    public init(
        mode: Mode = .anonymous, requiredScopes: [String] = [], introspectionCacheTTL: Int = 60,
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.mode = mode
        self.requiredScopes = requiredScopes
        self.introspectionCacheTTL = introspectionCacheTTL
        self.metricsFactory = metricsFactory
    }

    /// No authentication.
    public static let anonymous = AuthConfiguration()

    /// This configuration with the deployment's facts filled in where it left them open: a nil resource URL
    /// becomes `publicURL + mcpPath`, and in built-in mode a nil issuer `publicURL`.
    /// - Parameters:
    ///   - publicURL: the deployment's public base URL.
    ///   - mcpPath: the path of its MCP endpoint.
    package func completed(publicURL: String, mcpPath: String) -> AuthConfiguration {
        let base = BuiltInAuthorizationServer.Configuration.normalize(publicURL)
        var out = self
        switch mode {
        case .anonymous:
            break
        case .builtIn(var builtIn):
            if builtIn.issuer == nil { builtIn.issuer = base }
            if builtIn.resourceURL == nil { builtIn.resourceURL = base + mcpPath }
            out.mode = .builtIn(builtIn)
        case .external(var external):
            if external.resourceURL == nil { external.resourceURL = base + mcpPath }
            out.mode = .external(external)
        }
        return out
    }

    /// The built-in authorization server.
    /// - Parameters:
    ///   - configuration: the server's configuration.
    ///   - requiredScopes: scopes every `/mcp` request needs.
    ///   - metricsFactory: the swift-metrics backend (``metricsFactory``); nil: `MetricsSystem.factory`.
    public static func builtIn(
        _ configuration: BuiltInAuthorizationServer.Configuration, requiredScopes: [String] = [],
        metricsFactory: (any MetricsFactory)? = nil
    ) -> Self {
        AuthConfiguration(mode: .builtIn(configuration), requiredScopes: requiredScopes, metricsFactory: metricsFactory)
    }

    /// An external authorization server.
    /// - Parameters:
    ///   - configuration: where tokens come from and how to check them.
    ///   - requiredScopes: scopes every `/mcp` request needs.
    ///   - introspectionCacheTTL: seconds an introspection answer is reused.
    ///   - metricsFactory: the swift-metrics backend (``metricsFactory``); nil: `MetricsSystem.factory`.
    public static func external(
        _ configuration: ExternalAuthorization.Configuration, requiredScopes: [String] = [],
        introspectionCacheTTL: Int = 60, metricsFactory: (any MetricsFactory)? = nil
    ) -> Self {
        AuthConfiguration(
            mode: .external(configuration), requiredScopes: requiredScopes,
            introspectionCacheTTL: introspectionCacheTTL, metricsFactory: metricsFactory)
    }
}
