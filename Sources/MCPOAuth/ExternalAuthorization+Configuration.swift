import Foundation
import MCPHTTP

extension ExternalAuthorization {
    /// Where external tokens come from and how they are checked.
    public struct Configuration: Sendable {
        /// How tokens are validated.
        public enum Validation: Sendable, Equatable {
            /// JWT access tokens checked against the issuer's JWKS (from its RFC 8414 / OIDC metadata).
            case jwt
            /// RFC 7662 introspection, authenticated with these client credentials (HTTP Basic).
            case introspection(clientID: String, clientSecret: String)
        }

        /// The external issuer's URL (no trailing slash); tokens' `iss` must equal it.
        public var issuer: String
        /// The MCP resource URL (the `/mcp` endpoint's public URL). Default nil: the application's public URL and
        /// MCP path when given to `MCPApplication(server:configuration:authorization:logger:)`; an
        /// `MCPAuthorization` built on its own needs it.
        public var resourceURL: String?
        /// Audiences accepted in tokens. Default nil: the resource URL only.
        public var acceptedAudiences: [String]?
        /// Scopes advertised in the protected resource metadata. Default none.
        public var supportedScopes: [String]
        /// How tokens are validated. Default `.jwt`.
        public var validation: Validation
        /// JWT algorithms accepted (asymmetric only; `none` and HMAC are never accepted). Default RS256, RS384,
        /// RS512, PS256, PS384, PS512, ES256, ES384, EdDSA.
        public var allowedAlgorithms: Set<String>
        /// Seconds the JWKS is kept before it is fetched again. Default 3600.
        public var jwksCacheTTL: Int
        /// Outgoing HTTP. Default `URLSession` with a 5 s timeout.
        public var fetcher: HTTPFetcher
        /// Whether an introspection answer without `aud` is accepted. Default false: such a token is refused (it may
        /// have been issued for another resource of the same authorization server). Turn on only for an
        /// authorization server that issues tokens for this resource alone.
        public var acceptsIntrospectionWithoutAudience: Bool
        /// The clock (tests move it). Default the system clock.
        public var now: @Sendable () -> Date

        /// The audiences accepted in tokens: ``acceptedAudiences``, else the resource URL.
        var audiences: [String] { acceptedAudiences ?? resourceURL.map { [$0] } ?? [] }

        /// Creates a configuration; every parameter has the default documented on its property.
        public init(
            issuer: String, resourceURL: String? = nil, acceptedAudiences: [String]? = nil, supportedScopes: [String] = [],
            validation: Validation = .jwt,
            allowedAlgorithms: Set<String> = [
                "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
            ],
            jwksCacheTTL: Int = 3600, fetcher: HTTPFetcher = .urlSession(),
            acceptsIntrospectionWithoutAudience: Bool = false, now: @escaping @Sendable () -> Date = { Date() }
        ) {
            self.issuer = BuiltInAuthorizationServer.Configuration.normalize(issuer)
            self.resourceURL = resourceURL
            self.acceptedAudiences = acceptedAudiences
            self.supportedScopes = supportedScopes
            self.validation = validation
            self.allowedAlgorithms = allowedAlgorithms.filter { !$0.hasPrefix("HS") && $0.lowercased() != "none" }
            self.jwksCacheTTL = jwksCacheTTL
            self.fetcher = fetcher
            self.acceptsIntrospectionWithoutAudience = acceptsIntrospectionWithoutAudience
            self.now = now
        }
    }
}
