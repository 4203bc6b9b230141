import HTTPTypes
import Metrics
import MCPHTTP

/// Guards `/mcp`: takes the bearer token from the `Authorization` header only (never query or body), verifies
/// it and checks the required scopes.
///
/// ```swift
/// switch await resourceServer.authenticate(request) {
/// case .success(let user): …                       // serve the request as `user`
/// case .failure(let error): return HTTPErrorBoundary.response(for: error, request: request, logger: logger)
/// }
/// ```
public struct ResourceServer: Sendable {
    /// The protected resource metadata URL sent in every challenge.
    public var resourceMetadataURL: String
    /// Scopes every request's token must carry.
    public var requiredScopes: [String]
    /// Checks tokens.
    public var verifier: any AccessTokenVerifier
    /// `mcpfcgi_bearer_refusals_total{error}`.
    let refusalMetrics: BearerRefusalMetrics

    /// Creates a resource server.
    /// - Parameters:
    ///   - resourceMetadataURL: `<origin>/.well-known/oauth-protected-resource/mcp`.
    ///   - requiredScopes: scopes every token must carry.
    ///   - verifier: checks the tokens.
    ///   - metricsFactory: the swift-metrics backend of its refusals (`mcpfcgi_bearer_refusals_total{error}`:
    ///     `missing` | `invalid_token` | `insufficient_scope` | `invalid_request`); nil (default): the process-wide
    ///     `MetricsSystem.factory`, read now, so bootstrap `MetricsSystem` first.
    public init(
        resourceMetadataURL: String, requiredScopes: [String], verifier: any AccessTokenVerifier,
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.resourceMetadataURL = resourceMetadataURL
        self.requiredScopes = requiredScopes
        self.verifier = verifier
        self.refusalMetrics = BearerRefusalMetrics(factory: metricsFactory)
    }

    /// Authenticates a request; a refusal is counted in `mcpfcgi_bearer_refusals_total` (except a 503 when the
    /// authorization server that checks the token cannot be reached).
    /// - Parameter request: the `/mcp` request.
    /// - Returns: the user, or the refusal that answers the request (400/401/403/503 with `WWW-Authenticate`,
    ///   rendered by `HTTPErrorBoundary`).
    public func authenticate(_ request: HTTPServerRequest) async -> Result<AuthenticatedUser, BearerAuthenticationError>
    {
        let result = await check(request)
        if case .failure(let refusal) = result { refusalMetrics.record(refusal.kind) }
        return result
    }

    private func check(_ request: HTTPServerRequest) async -> Result<AuthenticatedUser, BearerAuthenticationError> {
        let values = request.head.headerFields[values: .authorization]
        guard let header = values.first else {
            return .failure(refusal(.missingToken, "A bearer token is required"))
        }
        guard values.count == 1 else {
            return .failure(refusal(.invalidRequest, "More than one Authorization header"))
        }
        let token: Substring
        switch Self.bearerToken(in: header) {
        case .token(let found): token = found
        case .notBearer: return .failure(refusal(.missingToken, "A bearer token is required"))
        case .empty: return .failure(refusal(.invalidRequest, "The Authorization header has no token"))
        case .malformed: return .failure(refusal(.invalidRequest, "The Authorization header is malformed"))
        }
        let user: AuthenticatedUser
        do { user = try await verifier.verify(accessToken: String(token)) } catch {
            return .failure(refusal(error.kind, error.errorDescription))
        }
        let missing = requiredScopes.filter { !user.scopes.contains($0) }
        guard missing.isEmpty else {
            return .failure(
                refusal(.insufficientScope, "The token lacks scope \(missing.joined(separator: " "))"))
        }
        return .success(user)
    }

    /// What an `Authorization` value holds.
    enum BearerToken: Equatable {
        /// `Bearer <token>` (scheme case-insensitive, separated by spaces; spaces and tabs around the token
        /// ignored).
        case token(Substring)
        /// Another scheme (`Basic …`), or no scheme at all.
        case notBearer
        /// `Bearer` without a token.
        case empty
        /// A token with a space or tab inside.
        case malformed
    }

    /// Reads the token of a `Bearer` value on its UTF-8 bytes (every request with OAuth on runs this, so no
    /// Foundation character sets or lowercased copies).
    static func bearerToken(in header: String) -> BearerToken {
        let space = UInt8(ascii: " ")
        let isBlank: (UInt8) -> Bool = { $0 == space || $0 == UInt8(ascii: "\t") }
        let utf8 = header.utf8
        var start = utf8.startIndex
        while start != utf8.endIndex, utf8[start] == space { start = utf8.index(after: start) }
        var schemeEnd = start
        while schemeEnd != utf8.endIndex, utf8[schemeEnd] != space { schemeEnd = utf8.index(after: schemeEnd) }
        let scheme = utf8[start..<schemeEnd]
        guard scheme.count == 6, zip(scheme, "bearer".utf8).allSatisfy({ $0 | 0x20 == $1 }) else { return .notBearer }
        var tokenStart = schemeEnd
        while tokenStart != utf8.endIndex, isBlank(utf8[tokenStart]) { tokenStart = utf8.index(after: tokenStart) }
        var tokenEnd = utf8.endIndex
        while tokenEnd != tokenStart, isBlank(utf8[utf8.index(before: tokenEnd)]) { tokenEnd = utf8.index(before: tokenEnd) }
        guard tokenStart != tokenEnd else { return .empty }
        guard !utf8[tokenStart..<tokenEnd].contains(where: isBlank) else { return .malformed }
        return .token(header[tokenStart..<tokenEnd])
    }

    private func refusal(_ kind: BearerAuthenticationError.Kind, _ description: String) -> BearerAuthenticationError {
        BearerAuthenticationError(
            kind, description, resourceMetadataURL: resourceMetadataURL, requiredScopes: requiredScopes)
    }
}
