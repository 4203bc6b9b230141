import HTTPTypes

/// Guards `/mcp`: takes the bearer token from the `Authorization` header only (never query or body), verifies
/// it and checks the required scopes.
///
/// ```swift
/// switch await resourceServer.authenticate(request) {
/// case .success(let user): …                       // serve the request as `user`
/// case .failure(let error): return error.response  // 400/401/403/503 with WWW-Authenticate
/// }
/// ```
public struct ResourceServer: Sendable {
    /// The protected resource metadata URL sent in every challenge.
    public var resourceMetadataURL: String
    /// Scopes every request's token must carry.
    public var requiredScopes: [String]
    /// Checks tokens.
    public var verifier: any AccessTokenVerifier

    /// Creates a resource server.
    /// - Parameters:
    ///   - resourceMetadataURL: `<origin>/.well-known/oauth-protected-resource/mcp`.
    ///   - requiredScopes: scopes every token must carry.
    ///   - verifier: checks the tokens.
    public init(resourceMetadataURL: String, requiredScopes: [String], verifier: any AccessTokenVerifier) {
        self.resourceMetadataURL = resourceMetadataURL
        self.requiredScopes = requiredScopes
        self.verifier = verifier
    }

    /// Authenticates a request.
    /// - Parameter request: the `/mcp` request.
    /// - Returns: the user, or the refusal whose ``BearerAuthenticationError/response`` answers the request.
    public func authenticate(_ request: HTTPServerRequest) async -> Result<AuthenticatedUser, BearerAuthenticationError>
    {
        let values = request.head.headerFields[values: .authorization]
        guard let header = values.first else {
            return .failure(refusal(.missingToken, "A bearer token is required"))
        }
        guard values.count == 1 else {
            return .failure(refusal(.invalidRequest, "More than one Authorization header"))
        }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            if parts.first?.lowercased() == "bearer" {
                return .failure(refusal(.invalidRequest, "The Authorization header has no token"))
            }
            return .failure(refusal(.missingToken, "A bearer token is required"))
        }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        guard !token.isEmpty, !token.contains(" ") else {
            return .failure(refusal(.invalidRequest, "The Authorization header is malformed"))
        }
        let user: AuthenticatedUser
        do { user = try await verifier.verify(accessToken: token) } catch {
            return .failure(refusal(error.kind, error.errorDescription))
        }
        let missing = requiredScopes.filter { !user.scopes.contains($0) }
        guard missing.isEmpty else {
            return .failure(
                refusal(.insufficientScope, "The token lacks scope \(missing.joined(separator: " "))"))
        }
        return .success(user)
    }

    private func refusal(_ kind: BearerAuthenticationError.Kind, _ description: String) -> BearerAuthenticationError {
        BearerAuthenticationError(
            kind, description, resourceMetadataURL: resourceMetadataURL, requiredScopes: requiredScopes)
    }
}
