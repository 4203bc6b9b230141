import MCPHTTP
/// A configuration the authorization server cannot start with.
public struct OAuthConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong.
    public var message: String

    /// The signing key cannot be loaded.
    static func invalidSigningKey(_ detail: String) -> Self { Self(message: "signing key: \(detail)") }
    /// A built-in authorization server without an issuer.
    static let missingIssuer = Self(
        message: "the built-in authorization server has no issuer: set BuiltInAuthorizationServer.Configuration.issuer "
            + "to the public base URL, or give the configuration to MCPApplication(server:configuration:authorization:logger:), "
            + "which takes MCPApplication.Configuration.publicURL")
    /// An external authorization configuration without the resource URL its tokens must name.
    static let missingResourceURL = Self(
        message: "external authorization has no resource URL: set ExternalAuthorization.Configuration.resourceURL "
            + "to the MCP endpoint's public URL, or give the configuration to MCPApplication(server:configuration:authorization:logger:), "
            + "which takes MCPApplication.Configuration.publicURL and mcpPath")
    /// A URL setting is not an absolute http(s) URL.
    static func invalidURL(_ name: String, _ value: String) -> Self {
        Self(message: "\(name) must be an absolute http(s) URL, got \(value)")
    }

    /// Two protected resources would share one metadata URL (`/.well-known/oauth-protected-resource<path>`).
    package static func metadataPathInUse(_ path: String, _ resource: String) -> Self {
        Self(message: "the protected-resource metadata path \(path) of \(resource) is already served")
    }

    /// A pre-registered `client_credentials` client without its allowed scopes: it would get every scope.
    static func clientCredentialsWithoutScopes(_ clientID: String) -> Self {
        Self(message: "pre-registered client \(clientID) uses client_credentials: list its allowed scopes (OAuthClient.scopes)")
    }

    /// The message.
    public var description: String { message }
}
