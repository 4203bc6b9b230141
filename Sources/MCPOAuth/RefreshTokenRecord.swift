import Foundation
import MCPHTTP

/// What a refresh token stands for. The token itself is stored only as its SHA-256 digest.
public struct RefreshTokenRecord: Sendable, Equatable {
    /// SHA-256 digest (base64url) of the token.
    public var tokenDigest: String
    /// The client it was issued to.
    public var clientID: String
    /// The resource owner.
    public var subject: String
    /// Granted scopes.
    public var scopes: [String]
    /// Expiry.
    public var expiresAt: Date
    /// The grant family (shared with the code and every rotation).
    public var familyID: String
    /// The resource its access tokens are for (their audience). nil: the server's main resource.
    public var resource: String?

    /// Creates a record.
    public init(
        tokenDigest: String, clientID: String, subject: String, scopes: [String], expiresAt: Date, familyID: String,
        resource: String? = nil
    ) {
        self.tokenDigest = tokenDigest
        self.clientID = clientID
        self.subject = subject
        self.scopes = scopes
        self.expiresAt = expiresAt
        self.familyID = familyID
        self.resource = resource
    }
}
