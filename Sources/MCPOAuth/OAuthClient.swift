import Foundation
import MCPHandlers
import MCPHTTP

/// A registered OAuth client (dynamically, RFC 7591, or pre-registered in configuration).
public struct OAuthClient: Sendable, Equatable {
    /// How the client authenticates at the token endpoint.
    public struct AuthMethod: RawRepresentable, Hashable, Sendable {
        /// The wire value.
        public var rawValue: String
        /// Wraps a wire value.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// `none`: a public client (PKCE only).
        public static let none = AuthMethod(rawValue: "none")
        /// `client_secret_basic`: HTTP Basic.
        public static let clientSecretBasic = AuthMethod(rawValue: "client_secret_basic")
        /// `client_secret_post`: `client_id` and `client_secret` in the form body.
        public static let clientSecretPost = AuthMethod(rawValue: "client_secret_post")
        /// All supported methods.
        public static let all: [AuthMethod] = [.none, .clientSecretBasic, .clientSecretPost]
    }

    /// The client identifier.
    public var clientID: String
    /// SHA-256 digest (base64url) of the client secret; nil for a public client.
    public var secretDigest: String?
    /// The registered redirect URIs (exact strings).
    public var redirectURIs: [String]
    /// Grant types the client may use.
    public var grantTypes: [String]
    /// Response types the client may use.
    public var responseTypes: [String]
    /// Token endpoint authentication method.
    public var tokenEndpointAuthMethod: AuthMethod
    /// Human-readable name shown on the consent page.
    public var clientName: String?
    /// Scopes the client may ask for; nil means all supported scopes.
    public var scopes: [String]?
    /// Resources (RFC 8707 `resource` URLs) the client may get tokens for; nil means every resource this server
    /// issues tokens for.
    public var resources: [String]?
    /// Whether the client may introspect any token (a resource server, an administration tool). Other confidential
    /// clients only see their own tokens as active at `/oauth/introspect`.
    public var mayIntrospectAnyToken: Bool
    /// Registration time (seconds since 1970).
    public var issuedAt: Int
    /// When the client first got an authorization code or a token (seconds since 1970); nil while it never has. A
    /// dynamically registered client still unused after ``ClientRegistrationPolicy/unusedClientLifetime`` is
    /// removed.
    public var firstUsedAt: Int?
    /// When the client last got a code or a token (seconds since 1970, recorded at most every few minutes); a
    /// registered client inactive for ``ClientRegistrationPolicy/inactiveClientLifetime`` is removed.
    public var lastUsedAt: Int?
    /// Other registered metadata echoed by the registration response (`client_uri`, `logo_uri`, `contacts`…).
    public var extraMetadata: [String: Value]

    /// Creates a client; a `clientSecret` is stored as its SHA-256 digest only.
    /// - Parameters:
    ///   - clientID: the identifier.
    ///   - clientSecret: the secret of a confidential client, nil for a public one.
    ///   - redirectURIs: registered redirect URIs.
    ///   - grantTypes: allowed grant types. Default `authorization_code`, `refresh_token`.
    ///   - responseTypes: allowed response types. Default `code`.
    ///   - tokenEndpointAuthMethod: default `client_secret_basic` with a secret, `none` without.
    ///   - clientName: display name.
    ///   - scopes: allowed scopes; nil (default) for all supported. A `client_credentials` client must list them.
    ///   - resources: resources the client may get tokens for; nil (default) for all.
    ///   - mayIntrospectAnyToken: whether it may introspect every token. Default false.
    ///   - issuedAt: registration time; now by default.
    ///   - extraMetadata: other metadata to echo.
    public init(
        clientID: String, clientSecret: String? = nil, redirectURIs: [String],
        grantTypes: [String] = ["authorization_code", "refresh_token"], responseTypes: [String] = ["code"],
        tokenEndpointAuthMethod: AuthMethod? = nil, clientName: String? = nil, scopes: [String]? = nil,
        resources: [String]? = nil, mayIntrospectAnyToken: Bool = false,
        issuedAt: Int = Int(Date().timeIntervalSince1970), extraMetadata: [String: Value] = [:]
    ) {
        self.clientID = clientID
        self.secretDigest = clientSecret.map(OAuthCrypto.digest)
        self.redirectURIs = redirectURIs
        self.grantTypes = grantTypes
        self.responseTypes = responseTypes
        self.tokenEndpointAuthMethod = tokenEndpointAuthMethod ?? (clientSecret == nil ? .none : .clientSecretBasic)
        self.clientName = clientName
        self.scopes = scopes
        self.resources = resources
        self.mayIntrospectAnyToken = mayIntrospectAnyToken
        self.issuedAt = issuedAt
        self.extraMetadata = extraMetadata
    }

    /// Whether the client authenticates with a secret.
    public var isConfidential: Bool { tokenEndpointAuthMethod != .none }

    /// The client's metadata as the registration response shows it (without the secret).
    var metadata: [String: Value] {
        var out = extraMetadata
        out["client_id"] = .string(clientID)
        out["client_id_issued_at"] = .int(issuedAt)
        out["redirect_uris"] = .array(redirectURIs.map(Value.string))
        out["grant_types"] = .array(grantTypes.map(Value.string))
        out["response_types"] = .array(responseTypes.map(Value.string))
        out["token_endpoint_auth_method"] = .string(tokenEndpointAuthMethod.rawValue)
        if let clientName { out["client_name"] = .string(clientName) }
        if let scopes { out["scope"] = .string(scopes.joined(separator: " ")) }
        return out
    }
}
