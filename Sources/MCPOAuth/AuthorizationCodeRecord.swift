import Foundation
import MCPHTTP

/// What an authorization code stands for. The code itself is stored only as its SHA-256 digest.
public struct AuthorizationCodeRecord: Sendable, Equatable {
    /// SHA-256 digest (base64url) of the code.
    public var codeDigest: String
    /// The client it was issued to.
    public var clientID: String
    /// The redirect URI of the authorization request (the token request must repeat it).
    public var redirectURI: String
    /// The S256 PKCE challenge.
    public var codeChallenge: String
    /// Granted scopes.
    public var scopes: [String]
    /// The resource owner.
    public var subject: String
    /// The `resource` of the authorization request, if any.
    public var resource: String?
    /// Expiry.
    public var expiresAt: Date
    /// The grant family: every token issued from this code, directly or by refresh, belongs to it.
    public var familyID: String

    /// Creates a record.
    public init(
        codeDigest: String, clientID: String, redirectURI: String, codeChallenge: String, scopes: [String],
        subject: String, resource: String?, expiresAt: Date, familyID: String
    ) {
        self.codeDigest = codeDigest
        self.clientID = clientID
        self.redirectURI = redirectURI
        self.codeChallenge = codeChallenge
        self.scopes = scopes
        self.subject = subject
        self.resource = resource
        self.expiresAt = expiresAt
        self.familyID = familyID
    }
}
