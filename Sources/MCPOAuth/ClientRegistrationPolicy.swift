import Foundation
import MCPHTTP

/// Who may register OAuth clients at `POST /oauth/register` (RFC 7591), what they may register, and how many
/// registered clients the server keeps.
///
/// Open (anonymous) registration only creates clients for user-delegated grants (`authorization_code`,
/// `refresh_token`): every token such a client gets needs a user who signed in and approved it. Clients for the
/// `client_credentials` grant act on their own and come from configuration
/// (``BuiltInAuthorizationServer/Configuration/preregisteredClients``) or from a registration that presents the
/// RFC 7591 initial access token (`Authorization: Bearer <token>`), and they must name their allowed scopes.
///
/// Every field a registration carries is bounded, the number of registered clients is capped, clients that never
/// got a code or token are removed after ``unusedClientLifetime`` and clients inactive for
/// ``inactiveClientLifetime`` after it. When the store is full, the oldest unused client registered more than
/// ``minimumAgeBeforeEviction`` ago makes room, else the least recently used client idle that long (a flood cannot
/// displace a client that a user is signing in with or using right now); only when there is none is the
/// registration refused (429 `temporarily_unavailable` with `Retry-After`).
public struct ClientRegistrationPolicy: Sendable, Equatable {
    /// The RFC 7591 initial access token that lets a registration create `client_credentials` clients. Default nil:
    /// only configured clients use `client_credentials`. Compare with care: anyone holding it can create clients
    /// that get tokens without a user.
    public var initialAccessToken: String?
    /// Whether registration without the initial access token is allowed (for `authorization_code` clients only).
    /// Default true (MCP clients register themselves).
    public var allowsAnonymousRegistration: Bool
    /// Most registered clients kept (pre-registered clients do not count). Default 10,000.
    public var maximumClients: Int
    /// Seconds after which a registered client that never got a token is removed. Default 86,400 (a day).
    public var unusedClientLifetime: Int
    /// Seconds after which a registered client that got no code or token for that long is removed. Default
    /// 5,184,000 (60 days; longer than a refresh token lives, so only clients that can no longer refresh go).
    public var inactiveClientLifetime: Int
    /// Seconds a client registered or used that recently is safe from eviction by a registration that finds the
    /// store full. Default 600.
    public var minimumAgeBeforeEviction: Int
    /// Largest registration body in bytes. Default 8,192.
    public var maximumBodyBytes: Int
    /// Most redirect URIs per client. Default 10.
    public var maximumRedirectURIs: Int
    /// Longest URI (redirect URIs, `client_uri`, `logo_uri`, `tos_uri`, `policy_uri`). Default 2,048.
    public var maximumURILength: Int
    /// Longest text field (`client_name`, `software_id`, `software_version`, each contact). Default 256.
    public var maximumTextLength: Int
    /// Most contacts per client. Default 5.
    public var maximumContacts: Int

    /// Creates a policy; every parameter has the default documented on its property.
    public init(
        initialAccessToken: String? = nil, allowsAnonymousRegistration: Bool = true, maximumClients: Int = 10_000,
        unusedClientLifetime: Int = 86_400, inactiveClientLifetime: Int = 5_184_000,
        minimumAgeBeforeEviction: Int = 600, maximumBodyBytes: Int = 8_192,
        maximumRedirectURIs: Int = 10, maximumURILength: Int = 2_048, maximumTextLength: Int = 256,
        maximumContacts: Int = 5
    ) {
        self.initialAccessToken = initialAccessToken
        self.allowsAnonymousRegistration = allowsAnonymousRegistration
        self.maximumClients = maximumClients
        self.unusedClientLifetime = unusedClientLifetime
        self.inactiveClientLifetime = inactiveClientLifetime
        self.minimumAgeBeforeEviction = minimumAgeBeforeEviction
        self.maximumBodyBytes = maximumBodyBytes
        self.maximumRedirectURIs = maximumRedirectURIs
        self.maximumURILength = maximumURILength
        self.maximumTextLength = maximumTextLength
        self.maximumContacts = maximumContacts
    }

    /// The grant types an anonymous registration may ask for.
    public static let anonymousGrantTypes: Set<String> = ["authorization_code", "refresh_token"]
}
