import Metrics
import Synchronization
import MCPHTTP

/// The built-in authorization server's swift-metrics handles (issue #17's OAuth catalogue). Every label comes from a
/// fixed set: never a client id, user, token or URI.
///
/// - `mcpfcgi_oauth_tokens_issued_total{grant_type}`: token responses, by `authorization_code` | `refresh_token` |
///   `client_credentials`.
/// - `mcpfcgi_oauth_refusals_total{endpoint,error}`: every OAuth error answered, by endpoint (`authorize` | `token`
///   | `register` | `revoke` | `introspect`) and the RFC error code sent (``OAuthMetrics/knownErrors``, anything
///   else `other`); a rate-limited request (429 `temporarily_unavailable`) counts here too.
/// - `mcpfcgi_oauth_registrations_total{kind}`: clients created, `open` | `initial_access_token` |
///   `metadata_document` (a Client ID Metadata Document client the first time it is stored).
/// - `mcpfcgi_oauth_revocations_total`: revocations that revoked something (RFC 7009 requests for a token of the
///   caller, and the grant family revoked on a refresh-token reuse or an authorization-code replay).
/// - `mcpfcgi_rate_limited_total{bucket}`: 429s of the rate limiter, by the bucket that ran out (`address` |
///   `client`).
final class OAuthMetrics: Sendable {
    /// The endpoint label of a refusal.
    enum Endpoint: String, Sendable, CaseIterable {
        case authorize, token, register, revoke, introspect
    }

    /// The kind label of a registration.
    enum RegistrationKind: String, Sendable, CaseIterable {
        case open
        case initialAccessToken = "initial_access_token"
        case metadataDocument = "metadata_document"
    }

    /// The error codes recorded as themselves; any other is recorded as `other`.
    static let knownErrors: Set<String> = [
        "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type",
        "unsupported_response_type", "invalid_scope", "invalid_target", "access_denied", "invalid_redirect_uri",
        "invalid_client_metadata", "invalid_token", "temporarily_unavailable", "server_error",
    ]

    /// The grant types a token can be issued for (the `grant_type` label).
    static let grantTypes = ["authorization_code", "refresh_token", "client_credentials"]

    private struct RefusalKey: Hashable { let endpoint: Endpoint; let error: String }

    private let factory: any MetricsFactory
    private let tokensIssued: [String: Counter]
    private let registrations: [RegistrationKind: Counter]
    private let refusals = Mutex<[RefusalKey: Counter]>([:])
    private let revocations: Counter
    private let rateLimited: [RateLimitBucket: Counter]

    /// Creates the handles with fixed labels now; refusal handles on their first use.
    /// - Parameter factory: the backend; nil: `MetricsSystem.factory` as it is now.
    init(factory: (any MetricsFactory)?) {
        let factory = factory ?? MetricsSystem.factory
        self.factory = factory
        tokensIssued = Dictionary(
            uniqueKeysWithValues: Self.grantTypes.map {
                (
                    $0,
                    Counter(
                        label: "mcpfcgi_oauth_tokens_issued_total", dimensions: [("grant_type", $0)], factory: factory)
                )
            })
        registrations = Dictionary(
            uniqueKeysWithValues: RegistrationKind.allCases.map {
                (
                    $0,
                    Counter(
                        label: "mcpfcgi_oauth_registrations_total", dimensions: [("kind", $0.rawValue)],
                        factory: factory)
                )
            })
        revocations = Counter(label: "mcpfcgi_oauth_revocations_total", factory: factory)
        rateLimited = Dictionary(
            uniqueKeysWithValues: RateLimitBucket.allCases.map { ($0, $0.counter(factory: factory)) })
    }

    /// Counts a token response for a grant type (one of ``grantTypes``; others are ignored).
    func tokenIssued(grantType: String) {
        tokensIssued[grantType]?.increment()
    }

    /// Counts an OAuth error answered at an endpoint.
    func refused(_ endpoint: Endpoint, _ code: OAuthError.Code) {
        let error = Self.knownErrors.contains(code.rawValue) ? code.rawValue : "other"
        let key = RefusalKey(endpoint: endpoint, error: error)
        let counter = refusals.withLock { cache in
            if let counter = cache[key] { return counter }
            let counter = Counter(
                label: "mcpfcgi_oauth_refusals_total",
                dimensions: [("endpoint", endpoint.rawValue), ("error", error)], factory: factory)
            cache[key] = counter
            return counter
        }
        counter.increment()
    }

    /// Counts a client registration.
    func registered(_ kind: RegistrationKind) {
        registrations[kind]?.increment()
    }

    /// Counts a revocation that revoked a token or a grant family.
    func revoked() {
        revocations.increment()
    }

    /// Counts a 429 of the rate limiter.
    func rateLimited(_ bucket: RateLimitBucket) {
        rateLimited[bucket]?.increment()
    }
}

/// The resource server's refusals: `mcpfcgi_bearer_refusals_total{error}` with `missing` (no bearer token, 401),
/// `invalid_token` (401), `insufficient_scope` (403) or `invalid_request` (a malformed `Authorization` header,
/// 400). A 503 because an external authorization server cannot be reached is not a refusal of the token and is not
/// counted here.
struct BearerRefusalMetrics: Sendable {
    private let missing: Counter
    private let invalidToken: Counter
    private let insufficientScope: Counter
    private let invalidRequest: Counter

    /// Creates the four handles.
    /// - Parameter factory: the backend; nil: `MetricsSystem.factory` as it is now.
    init(factory: (any MetricsFactory)?) {
        let factory = factory ?? MetricsSystem.factory
        func counter(_ error: String) -> Counter {
            Counter(label: "mcpfcgi_bearer_refusals_total", dimensions: [("error", error)], factory: factory)
        }
        missing = counter("missing")
        invalidToken = counter("invalid_token")
        insufficientScope = counter("insufficient_scope")
        invalidRequest = counter("invalid_request")
    }

    /// Counts a refusal of this kind (``BearerAuthenticationError/Kind/unavailable`` is not counted).
    package func record(_ kind: BearerAuthenticationError.Kind) {
        switch kind {
        case .missingToken: missing.increment()
        case .invalidToken: invalidToken.increment()
        case .insufficientScope: insufficientScope.increment()
        case .invalidRequest: invalidRequest.increment()
        case .unavailable: break
        }
    }
}
