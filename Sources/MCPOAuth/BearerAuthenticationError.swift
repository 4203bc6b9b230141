import HTTPTypes
import MCPHandlers
import MCPHTTP

/// Why an `/mcp` request was refused; each kind maps to one status and one `WWW-Authenticate` challenge
/// (RFC 6750 §3, RFC 9728 §5.1). An `HTTPResponseError`: `HTTPErrorBoundary` renders it.
public struct BearerAuthenticationError: Error, Sendable, Equatable, HTTPResponseError {
    /// The kind of refusal.
    public enum Kind: Sendable, Equatable {
        /// No bearer token: 401, challenge without an error code.
        case missingToken
        /// A malformed `Authorization` header: 400 `invalid_request`.
        case invalidRequest
        /// Bad signature, wrong issuer/audience/type, expired or revoked: 401 `invalid_token`.
        case invalidToken
        /// The token lacks a required scope: 403 `insufficient_scope`.
        case insufficientScope
        /// The authorization server needed to check the token is unreachable: 503 (fail closed).
        case unavailable
    }

    /// The kind.
    public var kind: Kind
    /// A short explanation (`error_description`).
    public var errorDescription: String
    /// The protected resource metadata URL advertised in the challenge.
    public var resourceMetadataURL: String
    /// The scopes the resource requires (the challenge's `scope`).
    public var requiredScopes: [String]

    /// Creates an error.
    public init(_ kind: Kind, _ description: String, resourceMetadataURL: String = "", requiredScopes: [String] = []) {
        self.kind = kind
        self.errorDescription = description
        self.resourceMetadataURL = resourceMetadataURL
        self.requiredScopes = requiredScopes
    }

    /// The HTTP status.
    public var status: HTTPResponse.Status {
        switch kind {
        case .missingToken, .invalidToken: .unauthorized
        case .invalidRequest: .badRequest
        case .insufficientScope: .forbidden
        case .unavailable: .serviceUnavailable
        }
    }

    /// The error code of the challenge and body, if any.
    public var code: String? {
        switch kind {
        case .missingToken: nil
        case .invalidRequest: "invalid_request"
        case .invalidToken: "invalid_token"
        case .insufficientScope: "insufficient_scope"
        case .unavailable: "temporarily_unavailable"
        }
    }

    /// The `WWW-Authenticate` value: `Bearer resource_metadata="…"[, error="…"][, scope="…"]`.
    public var challenge: String {
        var params = ["resource_metadata=\"\(Self.quoted(resourceMetadataURL))\""]
        if let code, kind != .unavailable {
            params.append("error=\"\(code)\"")
            params.append("error_description=\"\(Self.quoted(errorDescription))\"")
        }
        if !requiredScopes.isEmpty { params.append("scope=\"\(Self.quoted(requiredScopes.joined(separator: " ")))\"") }
        return "Bearer " + params.joined(separator: ", ")
    }

    /// `WWW-Authenticate` (``challenge``), `Cache-Control: no-store`, and `Retry-After: 5` for ``Kind/unavailable``.
    public var headers: HTTPFields {
        var fields = HTTPFields()
        fields[.wwwAuthenticate] = challenge
        fields[.cacheControl] = "no-store"
        if kind == .unavailable { fields[.retryAfter] = "5" }
        return fields
    }

    /// The response: ``status``, ``headers``, and `{"error": …, "error_description": …}` (`error` is
    /// `unauthorized` when the challenge has no code).
    /// - Parameter request: the request being answered.
    public func response(for request: HTTPServerRequest) -> HTTPServerResponse {
        .json(
            status,
            ["error": .string(code ?? "unauthorized"), "error_description": .string(errorDescription)],
            headerFields: headers)
    }

    /// `text` made safe inside a quoted header parameter: quotes, backslashes and line breaks (header injection)
    /// are dropped.
    static func quoted(_ text: String) -> String {
        String(text.filter { $0 != "\"" && $0 != "\\" && !$0.isNewline })
    }
}
