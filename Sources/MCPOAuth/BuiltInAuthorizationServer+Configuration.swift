import Foundation
import Metrics
import MCPHTTP

extension BuiltInAuthorizationServer {
    /// The built-in authorization server's settings.
    public struct Configuration: Sendable {
        /// Where the ES256 signing key comes from.
        public enum SigningKey: Sendable, Equatable {
            /// A P-256 private key in a PEM file (`openssl ecparam -name prime256v1 -genkey -noout`). Give every
            /// worker the same file so that any of them verifies the others' tokens.
            case pemFile(String)
            /// A P-256 private key in PEM text.
            case pem(String)
            /// A key generated in memory at start (logged as such): tokens die with the process and each worker
            /// has its own key. Development only.
            case generated
        }

        /// The issuer: the public base URL, from configuration only (never from request headers). Normalised
        /// without a trailing slash so that it is byte-identical in metadata, tokens and redirects. Default nil:
        /// the public URL of the application it is given to (`MCPApplication(server:configuration:authorization:logger:)`
        /// fills it in from `MCPApplication.Configuration.publicURL`); a server built directly needs it.
        public var issuer: String?
        /// The MCP resource URL, the tokens' audience. Default nil: the application's public URL and MCP path
        /// when given to an application, else `issuer + "/mcp"`.
        public var resourceURL: String?
        /// Client, code and token storage. Default a new ``InMemoryOAuthStorage``.
        public var storage: any OAuthStorage
        /// Lifetimes. Default 10 minutes / 30 days / 60 s.
        public var tokenExpiry: TokenExpiry
        /// Whether `POST /oauth/register` is off (then 404 and no `registration_endpoint`). Default false.
        public var disableDynamicClientRegistration: Bool
        /// Grant types. Default `authorization_code`, `refresh_token`, `client_credentials`.
        public var supportedGrantTypes: [String]
        /// Response types. Default `code`.
        public var supportedResponseTypes: [String]
        /// Scopes clients may ask for. Default `mcp:read`, `mcp:write`.
        public var supportedScopes: [String]
        /// Clients known from configuration. Default none. They are trusted: the only source of
        /// `client_credentials` clients besides a registration with the initial access token, and a
        /// `client_credentials` client must list its allowed ``OAuthClient/scopes``.
        public var preregisteredClients: [OAuthClient]
        /// Who may register clients, what they may register, and how many registered clients are kept. Default
        /// ``ClientRegistrationPolicy/init(initialAccessToken:allowsAnonymousRegistration:maximumClients:unusedClientLifetime:inactiveClientLifetime:minimumAgeBeforeEviction:maximumBodyBytes:maximumRedirectURIs:maximumURILength:maximumTextLength:maximumContacts:)``
        /// with its defaults: anonymous registration of `authorization_code` clients only.
        public var clientRegistration: ClientRegistrationPolicy
        /// The signing key. Default `.generated`.
        public var signingKey: SigningKey
        /// Who the resource owner is at the authorization endpoint. Default ``UserAuthenticator/remoteUser``.
        public var userAuthenticator: UserAuthenticator
        /// Seconds a consent page stays valid. Default 600.
        public var consentLifetime: Int
        /// Rate limit of the token, registration and introspection endpoints, per client and per remote
        /// address. Default 20 at once, 60 a minute.
        public var rateLimit: RateLimit
        /// Client ID Metadata Documents (https URLs as client ids). Default nil: off.
        public var clientIDMetadataDocuments: ClientIDMetadataDocuments?
        /// The clock (tests move it). Default the system clock.
        public var now: @Sendable () -> Date
        /// The swift-metrics backend of the server's metrics (`mcpfcgi_oauth_*`, `mcpfcgi_rate_limited_total`) and
        /// of the bearer refusals of the resource servers it makes; nil (default): the process-wide
        /// `MetricsSystem.factory`, read when the component is created, so bootstrap `MetricsSystem` first. Given
        /// through ``AuthConfiguration``, ``AuthConfiguration/metricsFactory`` is used when this is nil.
        public var metricsFactory: (any MetricsFactory)?

        /// Creates a configuration; every parameter has the default documented on its property.
        public init(
            issuer: String? = nil, resourceURL: String? = nil, storage: any OAuthStorage = InMemoryOAuthStorage(),
            tokenExpiry: TokenExpiry = TokenExpiry(), disableDynamicClientRegistration: Bool = false,
            supportedGrantTypes: [String] = ["authorization_code", "refresh_token", "client_credentials"],
            supportedResponseTypes: [String] = ["code"], supportedScopes: [String] = ["mcp:read", "mcp:write"],
            preregisteredClients: [OAuthClient] = [], clientRegistration: ClientRegistrationPolicy = .init(),
            signingKey: SigningKey = .generated,
            userAuthenticator: UserAuthenticator = .remoteUser, consentLifetime: Int = 600,
            rateLimit: RateLimit = RateLimit(), clientIDMetadataDocuments: ClientIDMetadataDocuments? = nil,
            now: @escaping @Sendable () -> Date = { Date() }, metricsFactory: (any MetricsFactory)? = nil
        ) {
            self.issuer = issuer.map(Self.normalize)
            self.resourceURL = resourceURL
            self.storage = storage
            self.tokenExpiry = tokenExpiry
            self.disableDynamicClientRegistration = disableDynamicClientRegistration
            self.supportedGrantTypes = supportedGrantTypes
            self.supportedResponseTypes = supportedResponseTypes
            self.supportedScopes = supportedScopes
            self.preregisteredClients = preregisteredClients
            self.clientRegistration = clientRegistration
            self.signingKey = signingKey
            self.userAuthenticator = userAuthenticator
            self.consentLifetime = consentLifetime
            self.rateLimit = rateLimit
            self.clientIDMetadataDocuments = clientIDMetadataDocuments
            self.now = now
            self.metricsFactory = metricsFactory
        }

        /// Drops trailing slashes (`https://a.example/` → `https://a.example`).
        package static func normalize(_ url: String) -> String {
            var url = url.trimmingCharacters(in: .whitespaces)
            while url.hasSuffix("/") { url.removeLast() }
            return url
        }
    }
}
