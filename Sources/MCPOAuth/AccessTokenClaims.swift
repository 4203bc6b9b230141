import JWTKit
import MCPHTTP

/// The claims of an access token (RFC 9068 §2.2).
public struct AccessTokenClaims: JWTPayload, Equatable {
    /// `iss`: the issuer.
    public var issuer: String
    /// `sub`: the resource owner (the client id for `client_credentials`).
    public var subject: String
    /// `aud`: the MCP resource URL(s).
    public var audience: [String]
    /// `client_id`.
    public var clientID: String
    /// `scope`: space-separated scopes.
    public var scope: String
    /// `exp`, seconds since 1970.
    public var expiresAt: Int
    /// `iat`, seconds since 1970.
    public var issuedAt: Int
    /// `nbf`, seconds since 1970, when present.
    public var notBefore: Int?
    /// `jti`: the token's unique id (revocation key).
    public var tokenID: String

    /// Creates claims.
    public init(
        issuer: String, subject: String, audience: [String], clientID: String, scope: String, expiresAt: Int,
        issuedAt: Int, notBefore: Int? = nil, tokenID: String
    ) {
        self.issuer = issuer
        self.subject = subject
        self.audience = audience
        self.clientID = clientID
        self.scope = scope
        self.expiresAt = expiresAt
        self.issuedAt = issuedAt
        self.notBefore = notBefore
        self.tokenID = tokenID
    }

    enum CodingKeys: String, CodingKey {
        case issuer = "iss", subject = "sub", audience = "aud", clientID = "client_id", scope
        case expiresAt = "exp", issuedAt = "iat", notBefore = "nbf", tokenID = "jti"
    }

    /// Decodes; `aud` may be a string or an array.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        issuer = try c.decode(String.self, forKey: .issuer)
        subject = try c.decode(String.self, forKey: .subject)
        if let one = try? c.decode(String.self, forKey: .audience) {
            audience = [one]
        } else {
            audience = try c.decode([String].self, forKey: .audience)
        }
        clientID = try c.decode(String.self, forKey: .clientID)
        scope = try c.decodeIfPresent(String.self, forKey: .scope) ?? ""
        expiresAt = try c.decode(Int.self, forKey: .expiresAt)
        issuedAt = try c.decode(Int.self, forKey: .issuedAt)
        notBefore = try c.decodeIfPresent(Int.self, forKey: .notBefore)
        tokenID = try c.decode(String.self, forKey: .tokenID)
    }

    /// Encodes; a single audience as a string.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(issuer, forKey: .issuer)
        try c.encode(subject, forKey: .subject)
        if audience.count == 1 {
            try c.encode(audience[0], forKey: .audience)
        } else {
            try c.encode(audience, forKey: .audience)
        }
        try c.encode(clientID, forKey: .clientID)
        try c.encode(scope, forKey: .scope)
        try c.encode(expiresAt, forKey: .expiresAt)
        try c.encode(issuedAt, forKey: .issuedAt)
        try c.encodeIfPresent(notBefore, forKey: .notBefore)
        try c.encode(tokenID, forKey: .tokenID)
    }

    /// Claims are checked by the verifier against its clock, not here.
    public func verify(using algorithm: some JWTAlgorithm) async throws {}

    /// The scopes as a list.
    public var scopes: [String] { scope.split(separator: " ").map(String.init) }
}
