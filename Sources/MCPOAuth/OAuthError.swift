import HTTPTypes
import MCPHandlers
import MCPHTTP

/// An OAuth 2.x error answered as `{"error": …, "error_description": …}` (RFC 6749 §5.2, RFC 7591 §3.2.2,
/// RFC 8707 §2). Each ``Code`` maps to exactly one HTTP status; the headers are `Cache-Control: no-store` and
/// `Pragma: no-cache`, plus `WWW-Authenticate` for `invalid_client` after HTTP Basic and for `invalid_token`,
/// and `Retry-After` when ``retryAfter`` is set. An `HTTPResponseError`: handlers throw it and
/// `HTTPErrorBoundary` renders it.
public struct OAuthError: Error, Sendable, Equatable, CustomStringConvertible {
    /// An OAuth error code. The set may grow, so it is a struct with static members.
    public struct Code: RawRepresentable, Hashable, Sendable {
        /// The wire value, e.g. `invalid_grant`.
        public var rawValue: String
        /// Wraps a wire value.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// `invalid_request` (400): a missing, repeated or malformed parameter.
        public static let invalidRequest = Code(rawValue: "invalid_request")
        /// `invalid_client` (401): client authentication failed.
        public static let invalidClient = Code(rawValue: "invalid_client")
        /// `invalid_grant` (400): the code, refresh token or verifier is invalid, expired, used or revoked.
        public static let invalidGrant = Code(rawValue: "invalid_grant")
        /// `unauthorized_client` (400): the client may not use this grant type.
        public static let unauthorizedClient = Code(rawValue: "unauthorized_client")
        /// `unsupported_grant_type` (400).
        public static let unsupportedGrantType = Code(rawValue: "unsupported_grant_type")
        /// `unsupported_response_type` (400, authorization endpoint).
        public static let unsupportedResponseType = Code(rawValue: "unsupported_response_type")
        /// `invalid_scope` (400).
        public static let invalidScope = Code(rawValue: "invalid_scope")
        /// `invalid_target` (400): the `resource` is not this server's MCP resource (RFC 8707).
        public static let invalidTarget = Code(rawValue: "invalid_target")
        /// `access_denied` (403; sent as a redirect by the authorization endpoint).
        public static let accessDenied = Code(rawValue: "access_denied")
        /// `invalid_redirect_uri` (400, registration).
        public static let invalidRedirectURI = Code(rawValue: "invalid_redirect_uri")
        /// `invalid_client_metadata` (400, registration).
        public static let invalidClientMetadata = Code(rawValue: "invalid_client_metadata")
        /// `invalid_token` (401, RFC 6750): a bearer token (the registration's initial access token) is not valid.
        public static let invalidToken = Code(rawValue: "invalid_token")
        /// `temporarily_unavailable` (429): the caller exceeded its rate limit, or the server is at a capacity
        /// limit (the registered-client cap); `Retry-After` says when to retry.
        public static let temporarilyUnavailable = Code(rawValue: "temporarily_unavailable")
        /// `server_error` (500): an internal failure; no details are sent.
        public static let serverError = Code(rawValue: "server_error")

        /// The HTTP status this code is answered with.
        public var status: HTTPResponse.Status {
            switch self {
            case .invalidClient, .invalidToken: .unauthorized
            case .accessDenied: .forbidden
            case .temporarilyUnavailable: .tooManyRequests
            case .serverError: .internalServerError
            default: .badRequest
            }
        }
    }

    /// The error code.
    public var code: Code
    /// A human-readable explanation (`error_description`), never containing secrets.
    public var errorDescription: String
    /// Seconds the client should wait before retrying (`Retry-After`), for `temporarily_unavailable` and an
    /// unreachable storage's `server_error`; nil: none.
    public var retryAfter: Int?
    /// Whether the client authenticated with HTTP Basic: an `invalid_client` then carries
    /// `WWW-Authenticate: Basic` (RFC 6749 §5.2).
    public var clientUsedBasic: Bool

    /// Creates an error.
    /// - Parameters:
    ///   - code: the OAuth error code.
    ///   - description: the `error_description`.
    ///   - retryAfter: the `Retry-After` seconds, if any. Default nil.
    public init(_ code: Code, _ description: String, retryAfter: Int? = nil) {
        self.code = code
        self.errorDescription = description
        self.retryAfter = retryAfter
        self.clientUsedBasic = false
    }

    /// The same error, recording whether the client authenticated with HTTP Basic.
    /// - Parameter usedBasic: whether it did.
    public func clientUsedBasic(_ usedBasic: Bool) -> OAuthError {
        var error = self
        error.clientUsedBasic = usedBasic
        return error
    }

    /// `code: description`.
    public var description: String { "\(code.rawValue): \(errorDescription)" }

    /// The JSON body.
    public var json: Value { ["error": .string(code.rawValue), "error_description": .string(errorDescription)] }


    static func invalidRequest(_ message: String) -> OAuthError { OAuthError(.invalidRequest, message) }
    static func invalidGrant(_ message: String) -> OAuthError { OAuthError(.invalidGrant, message) }
    static func invalidClient(_ message: String) -> OAuthError { OAuthError(.invalidClient, message) }
    static func invalidScope(_ message: String) -> OAuthError { OAuthError(.invalidScope, message) }
}

extension HTTPFields {
    /// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
    static var noStore: HTTPFields {
        var fields = HTTPFields()
        fields[.cacheControl] = "no-store"
        fields[.pragma] = "no-cache"
        return fields
    }
}

extension HTTPField.Name {
    static let pragma = HTTPField.Name("Pragma")!
}

extension OAuthError: HTTPResponseError {
    /// The status of ``code``; a `server_error` with ``retryAfter`` (the storage cannot be reached, a passing
    /// condition) is 503 Service Unavailable.
    public var status: HTTPResponse.Status {
        code == .serverError && retryAfter != nil ? .serviceUnavailable : code.status
    }

    /// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1); `WWW-Authenticate: Basic` for an
    /// `invalid_client` after HTTP Basic, `WWW-Authenticate: Bearer error="invalid_token"` for `invalid_token`;
    /// `Retry-After` when ``retryAfter`` is set.
    public var headers: HTTPFields {
        var fields = HTTPFields.noStore
        if code == .invalidClient, clientUsedBasic {
            fields[.wwwAuthenticate] = "Basic realm=\"oauth\", charset=\"UTF-8\""
        }
        if code == .invalidToken {
            fields[.wwwAuthenticate] = "Bearer error=\"invalid_token\", error_description=\"\(BearerAuthenticationError.quoted(errorDescription))\""
        }
        if let retryAfter { fields[.retryAfter] = String(retryAfter) }
        return fields
    }

    /// The JSON body ``json`` with ``status`` and ``headers``.
    /// - Parameter request: the request being answered.
    public func response(for request: HTTPServerRequest) -> HTTPServerResponse {
        .json(status, json, headerFields: headers)
    }
}
