import Foundation
import HTTPTypes
import Logging
import MCPHandlers
import MetricsTestKit
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

/// The OAuth side of issue #17's metric catalogue, with `TestMetrics` injected through the configurations.
@Suite struct OAuthMetricsTests {
    // MARK: helpers

    func count(_ metrics: TestMetrics, _ label: String, _ dimensions: [(String, String)] = []) throws -> Int64 {
        try metrics.expectCounter(label, dimensions).totalValue
    }

    func issued(_ metrics: TestMetrics, _ grant: String) throws -> Int64 {
        try count(metrics, "mcpfcgi_oauth_tokens_issued_total", [("grant_type", grant)])
    }

    func refusals(_ metrics: TestMetrics, _ endpoint: String, _ error: String) throws -> Int64 {
        try count(metrics, "mcpfcgi_oauth_refusals_total", [("endpoint", endpoint), ("error", error)])
    }

    func refusalTotal(_ metrics: TestMetrics) -> Int64 {
        metrics.counters(label: "mcpfcgi_oauth_refusals_total").reduce(0) { $0 + $1.totalValue }
    }

    func refresh(_ fixture: OAuthFixture, _ token: String) async -> HTTPServerResponse {
        await fixture.send(
            oauthForm(
                "/oauth/token",
                [("grant_type", "refresh_token"), ("refresh_token", token), ("client_id", OAuthFixture.publicClient)]))
    }

    func clientCredentials(_ fixture: OAuthFixture, secret: String = OAuthFixture.secret, address: String = "192.0.2.1")
        async -> HTTPServerResponse
    {
        await fixture.send(
            oauthForm(
                "/oauth/token", [("grant_type", "client_credentials"), ("scope", "mcp:read")],
                headers: [oauthBasic(OAuthFixture.confidentialClient, secret)], address: address))
    }

    func register(_ fixture: OAuthFixture, _ body: String, bearer: String? = nil) async -> HTTPServerResponse {
        var headers = [("Content-Type", "application/json")]
        if let bearer { headers.append(("Authorization", "Bearer \(bearer)")) }
        return await fixture.send(oauthRequest(.post, "/oauth/register", headers: headers, body: body))
    }

    // MARK: tokens issued

    @Test func codeExchangeAndRefreshAreCountedByGrantType() async throws {
        let metrics = TestMetrics()
        let fixture = OAuthFixture(metrics: metrics)
        let tokens = await fixture.tokens()
        let refreshToken = try #require(tokens["refresh_token"]?.stringValue)
        #expect(try issued(metrics, "authorization_code") == 1)
        #expect(try issued(metrics, "refresh_token") == 0)

        #expect(await refresh(fixture, refreshToken).head.status == .ok)
        #expect(try issued(metrics, "authorization_code") == 1)
        #expect(try issued(metrics, "refresh_token") == 1)
        #expect(try issued(metrics, "client_credentials") == 0)
        #expect(refusalTotal(metrics) == 0)
    }

    @Test func clientCredentialsTokenIsCounted() async throws {
        let metrics = TestMetrics()
        let fixture = OAuthFixture(metrics: metrics)
        #expect(await clientCredentials(fixture).head.status == .ok)
        #expect(await clientCredentials(fixture).head.status == .ok)
        #expect(try issued(metrics, "client_credentials") == 2)
        #expect(try issued(metrics, "authorization_code") == 0)
    }

    // MARK: refusals

    @Test func tokenEndpointRefusalsAreCountedByErrorCode() async throws {
        let metrics = TestMetrics()
        let fixture = OAuthFixture(metrics: metrics)
        let badCode = await fixture.send(
            oauthForm(
                "/oauth/token",
                [
                    ("grant_type", "authorization_code"), ("code", "no-such-code"), ("redirect_uri", oauthPublicRedirect),
                    ("client_id", OAuthFixture.publicClient), ("code_verifier", oauthPKCEVerifier),
                ]))
        #expect(oauthJSON(badCode)["error"] == "invalid_grant")
        let wrongSecret = await clientCredentials(fixture, secret: "wrong")
        #expect(oauthJSON(wrongSecret)["error"] == "invalid_client")
        for _ in 0..<2 {
            let password = await fixture.send(
                oauthForm(
                    "/oauth/token",
                    [("grant_type", "password"), ("username", "alice"), ("client_id", OAuthFixture.publicClient)]))
            #expect(oauthJSON(password)["error"] == "unsupported_grant_type")
        }

        #expect(try refusals(metrics, "token", "invalid_grant") == 1)
        #expect(try refusals(metrics, "token", "invalid_client") == 1)
        #expect(try refusals(metrics, "token", "unsupported_grant_type") == 2)
        #expect(refusalTotal(metrics) == 4)
        #expect(try issued(metrics, "authorization_code") == 0)
        #expect(try issued(metrics, "client_credentials") == 0)
    }

    @Test func authorizeIntrospectAndRevokeRefusalsAreCounted() async throws {
        let metrics = TestMetrics()
        let fixture = OAuthFixture(metrics: metrics)
        // The user denies: a redirect with access_denied.
        #expect(await fixture.authorize(decision: "deny")["error"] == "access_denied")
        // An unknown client: the HTML page.
        #expect(await fixture.authorize(clientID: "nobody")["status"] == "400")
        // A pre-registered client with a bad scope: the error redirect.
        let badScope = FormParameters.encode([
            ("response_type", "code"), ("client_id", OAuthFixture.publicClient), ("redirect_uri", oauthPublicRedirect),
            ("code_challenge", OAuthCrypto.s256Challenge(of: oauthPKCEVerifier)), ("code_challenge_method", "S256"),
            ("scope", "mcp:everything"),
        ])
        let redirect = await fixture.send(oauthRequest(.get, "/oauth/authorize?" + badScope, user: "alice"))
        #expect(oauthRedirectQuery(redirect)["error"] == "invalid_scope")
        // Introspection by a public client; revocation without client authentication.
        let introspect = await fixture.send(
            oauthForm("/oauth/introspect", [("token", "t"), ("client_id", OAuthFixture.publicClient)]))
        #expect(oauthJSON(introspect)["error"] == "invalid_client")
        let revoke = await fixture.send(oauthForm("/oauth/revoke", [("token", "t")]))
        #expect(oauthJSON(revoke)["error"] == "invalid_client")

        #expect(try refusals(metrics, "authorize", "access_denied") == 1)
        #expect(try refusals(metrics, "authorize", "invalid_client") == 1)
        #expect(try refusals(metrics, "authorize", "invalid_scope") == 1)
        #expect(try refusals(metrics, "introspect", "invalid_client") == 1)
        #expect(try refusals(metrics, "revoke", "invalid_client") == 1)
        #expect(refusalTotal(metrics) == 5)
    }

    @Test func anErrorCodeOutsideTheKnownSetIsRecordedAsOther() throws {
        let metrics = TestMetrics()
        let oauth = OAuthMetrics(factory: metrics)
        oauth.refused(.token, OAuthError.Code(rawValue: "made_up_by_someone"))
        oauth.refused(.token, .invalidTarget)
        #expect(try refusals(metrics, "token", "other") == 1)
        #expect(try refusals(metrics, "token", "invalid_target") == 1)
        #expect(metrics.counters(label: "mcpfcgi_oauth_refusals_total").count == 2)
    }

    // MARK: registrations

    @Test func openAndInitialAccessTokenRegistrationsAreCountedByKind() async throws {
        let metrics = TestMetrics()
        let fixture = OAuthFixture(registrationToken: "iat-secret-value", metrics: metrics)
        let open = await register(fixture, #"{"redirect_uris":["http://127.0.0.1:9/cb"],"token_endpoint_auth_method":"none"}"#)
        #expect(open.head.status == .created)
        let privileged = await register(
            fixture, #"{"grant_types":["client_credentials"],"response_types":[],"scope":"mcp:read"}"#,
            bearer: "iat-secret-value")
        #expect(privileged.head.status == .created)
        let wrongToken = await register(fixture, #"{"redirect_uris":["http://127.0.0.1:9/cb"]}"#, bearer: "nope")
        #expect(wrongToken.head.status == .unauthorized)
        let badMetadata = await register(fixture, #"{"redirect_uris":"not-a-list"}"#)
        #expect(oauthJSON(badMetadata)["error"] == "invalid_client_metadata")

        let kind = "mcpfcgi_oauth_registrations_total"
        #expect(try count(metrics, kind, [("kind", "open")]) == 1)
        #expect(try count(metrics, kind, [("kind", "initial_access_token")]) == 1)
        #expect(try count(metrics, kind, [("kind", "metadata_document")]) == 0)
        #expect(try refusals(metrics, "register", "invalid_token") == 1)
        #expect(try refusals(metrics, "register", "invalid_client_metadata") == 1)
    }

    /// A Client ID Metadata Document client is a registration the first time it is stored, not again when its
    /// document is fetched anew after the cache lifetime.
    @Test func metadataDocumentClientIsCountedOnFirstUseOnly() async throws {
        let clientID = "https://app.example.net/oauth/client.json"
        let document = """
            {"client_id":"\(clientID)","redirect_uris":["\(oauthPublicRedirect)"],"token_endpoint_auth_method":"none"}
            """
        let metrics = TestMetrics()
        let fixture = OAuthFixture(
            cimd: ClientIDMetadataDocuments(
                cacheTTL: 60, fetcher: HTTPFetcher { _ in (200, Array(document.utf8)) }),
            metrics: metrics)
        #expect(await fixture.tokens(clientID: clientID)["access_token"] != nil)
        let kind = [("kind", "metadata_document")]
        #expect(try count(metrics, "mcpfcgi_oauth_registrations_total", kind) == 1)
        fixture.clock.advance(120)
        #expect(await fixture.tokens(clientID: clientID)["access_token"] != nil)
        #expect(try count(metrics, "mcpfcgi_oauth_registrations_total", kind) == 1)
        #expect(try count(metrics, "mcpfcgi_oauth_registrations_total", [("kind", "open")]) == 0)
        #expect(try issued(metrics, "authorization_code") == 2)
    }

    // MARK: revocations

    @Test func revocationThatRevokesSomethingIsCounted() async throws {
        let metrics = TestMetrics()
        let fixture = OAuthFixture(metrics: metrics)
        let tokens = await fixture.tokens()
        let access = try #require(tokens["access_token"]?.stringValue)
        let refreshToken = try #require(tokens["refresh_token"]?.stringValue)
        func revoke(_ token: String) async -> HTTPResponse.Status {
            await fixture.send(oauthForm("/oauth/revoke", [("token", token), ("client_id", OAuthFixture.publicClient)]))
                .head.status
        }
        // Nothing to revoke: 200, not counted.
        #expect(await revoke("nonsense") == .ok)
        #expect(try count(metrics, "mcpfcgi_oauth_revocations_total") == 0)
        // Another client's token: not revoked, not counted.
        _ = await fixture.send(
            oauthForm(
                "/oauth/revoke", [("token", refreshToken)],
                headers: [oauthBasic(OAuthFixture.confidentialClient, OAuthFixture.secret)]))
        #expect(try count(metrics, "mcpfcgi_oauth_revocations_total") == 0)
        #expect(await revoke(access) == .ok)
        #expect(try count(metrics, "mcpfcgi_oauth_revocations_total") == 1)
        #expect(await revoke(refreshToken) == .ok)
        #expect(try count(metrics, "mcpfcgi_oauth_revocations_total") == 2)
    }

    @Test func refreshTokenReuseRevokingTheFamilyIsCounted() async throws {
        let metrics = TestMetrics()
        let fixture = OAuthFixture(metrics: metrics)
        let refreshToken = try #require(await fixture.tokens()["refresh_token"]?.stringValue)
        #expect(await refresh(fixture, refreshToken).head.status == .ok)
        #expect(try count(metrics, "mcpfcgi_oauth_revocations_total") == 0)
        let reused = await refresh(fixture, refreshToken)
        #expect(oauthJSON(reused)["error"] == "invalid_grant")
        #expect(try count(metrics, "mcpfcgi_oauth_revocations_total") == 1)
        #expect(try refusals(metrics, "token", "invalid_grant") == 1)
        #expect(try issued(metrics, "refresh_token") == 1)
    }

    // MARK: bearer refusals

    @Test func builtInResourceServerRefusalsAreCountedByError() async throws {
        let metrics = TestMetrics()
        let fixture = OAuthFixture(requiredScopes: ["mcp:write"], metrics: metrics)
        let readOnly = try #require(await fixture.tokens(scope: "mcp:read")["access_token"]?.stringValue)
        let readWrite = try #require(await fixture.tokens(scope: "mcp:read mcp:write")["access_token"]?.stringValue)

        #expect(await fixture.auth.authenticate(oauthRequest(.post, "/mcp")).failureResponse?.head.status == .unauthorized)
        #expect(await fixture.auth.authenticate(oauthBearer("not-a-token")).failureResponse?.head.status == .unauthorized)
        #expect(await fixture.auth.authenticate(oauthBearer("not-a-token")).failureResponse?.head.status == .unauthorized)
        #expect(await fixture.auth.authenticate(oauthBearer(readOnly)).failureResponse?.head.status == .forbidden)
        let malformed = oauthRequest(.post, "/mcp", headers: [("Authorization", "Bearer two words")])
        #expect(await fixture.auth.authenticate(malformed).failureResponse?.head.status == .badRequest)
        #expect(try await fixture.auth.authenticate(oauthBearer(readWrite)).get().subject == "alice")

        let label = "mcpfcgi_bearer_refusals_total"
        #expect(try count(metrics, label, [("error", "missing")]) == 1)
        #expect(try count(metrics, label, [("error", "invalid_token")]) == 2)
        #expect(try count(metrics, label, [("error", "insufficient_scope")]) == 1)
        #expect(try count(metrics, label, [("error", "invalid_request")]) == 1)
    }

    @Test func externalResourceServerRefusalsAreCounted() async throws {
        let metrics = TestMetrics()
        let external = ExternalAuthorization.Configuration(
            issuer: "https://as.example.net", resourceURL: oauthResource,
            fetcher: HTTPFetcher { _ in (404, []) })
        let auth = try MCPAuthorization(
            configuration: .external(external, metricsFactory: metrics), logger: Logger(label: "oauth-metrics-test"))
        #expect(await auth.authenticate(oauthRequest(.post, "/mcp")).failureResponse?.head.status == .unauthorized)
        #expect(await auth.authenticate(oauthBearer("not.a.jwt")).failureResponse?.head.status == .unauthorized)
        // A mounted endpoint's guard counts into the same series.
        let mounted = try #require(try auth.protectedResource(at: "https://mcp.example.com/tenant-a/mcp"))
        #expect(await mounted.resourceServer.authenticate(oauthBearer("junk")).failureResponse?.head.status == .unauthorized)

        #expect(try count(metrics, "mcpfcgi_bearer_refusals_total", [("error", "missing")]) == 1)
        #expect(try count(metrics, "mcpfcgi_bearer_refusals_total", [("error", "invalid_token")]) == 2)
    }

    // MARK: rate limits

    @Test func rateLimitHitsAreCountedByBucket() async throws {
        let metrics = TestMetrics()
        let fixture = OAuthFixture(rateLimit: RateLimit(burst: 1, perMinute: 1), metrics: metrics)
        // The same address twice: its bucket runs out.
        #expect(await clientCredentials(fixture, address: "10.0.0.1").head.status == .ok)
        #expect(await clientCredentials(fixture, address: "10.0.0.1").head.status == .tooManyRequests)
        #expect(try count(metrics, "mcpfcgi_rate_limited_total", [("bucket", "address")]) == 1)
        #expect(try count(metrics, "mcpfcgi_rate_limited_total", [("bucket", "client")]) == 0)
        // The same client from a fresh address: the client's bucket runs out.
        #expect(await clientCredentials(fixture, address: "10.0.0.2").head.status == .tooManyRequests)
        #expect(try count(metrics, "mcpfcgi_rate_limited_total", [("bucket", "address")]) == 1)
        #expect(try count(metrics, "mcpfcgi_rate_limited_total", [("bucket", "client")]) == 1)
        #expect(try refusals(metrics, "token", "temporarily_unavailable") == 2)
        #expect(try issued(metrics, "client_credentials") == 1)
    }

    @Test func rateLimitMiddlewareHitsAreCounted() async throws {
        let metrics = TestMetrics()
        let byAddress = RateLimitMiddleware(limit: RateLimit(burst: 1, perMinute: 1), metricsFactory: metrics)
        let byClient = RateLimitMiddleware(
            limit: RateLimit(burst: 1, perMinute: 1), key: { $0.remoteUser }, metricsBucket: .client,
            metricsFactory: metrics)
        let next: HTTPMiddlewareNext = { _ in HTTPServerResponse(status: .ok) }
        let request = oauthRequest(.get, "/x", user: "alice", address: "10.0.0.7")
        for middleware in [byAddress, byClient] {
            #expect(try await middleware.handle(request, next: next).head.status == .ok)
            #expect(try await middleware.handle(request, next: next).head.status == .tooManyRequests)
            #expect(try await middleware.handle(request, next: next).head.status == .tooManyRequests)
        }
        #expect(try count(metrics, "mcpfcgi_rate_limited_total", [("bucket", "address")]) == 2)
        #expect(try count(metrics, "mcpfcgi_rate_limited_total", [("bucket", "client")]) == 2)
    }

    // MARK: label hygiene

    /// After a code flow, a metadata-document client and refusals, no label names a client, user, token or URI.
    @Test func labelsComeFromFixedSets() async throws {
        let metrics = TestMetrics()
        let clientID = "https://app.example.net/oauth/client.json"
        let document = """
            {"client_id":"\(clientID)","redirect_uris":["\(oauthPublicRedirect)"],"token_endpoint_auth_method":"none"}
            """
        let fixture = OAuthFixture(
            cimd: ClientIDMetadataDocuments(fetcher: HTTPFetcher { _ in (200, Array(document.utf8)) }),
            metrics: metrics)
        _ = await fixture.tokens()
        _ = await fixture.tokens(clientID: clientID)
        _ = await fixture.authorize(clientID: "https://other.example.net/c.json")
        _ = await clientCredentials(fixture, secret: "wrong")
        _ = await fixture.auth.authenticate(oauthBearer("x"))
        let allowed: [String: Set<String>] = [
            "grant_type": Set(OAuthMetrics.grantTypes),
            "endpoint": Set(OAuthMetrics.Endpoint.allCases.map(\.rawValue)),
            "error": OAuthMetrics.knownErrors.union(["other", "missing", "insufficient_scope"]),
            "kind": Set(OAuthMetrics.RegistrationKind.allCases.map(\.rawValue)),
            "bucket": Set(RateLimitBucket.allCases.map(\.rawValue)),
        ]
        #expect(metrics.counters.count >= 10)
        for counter in metrics.counters {
            for (name, value) in counter.dimensions {
                #expect(allowed[name]?.contains(value) == true, "\(counter.label){\(name)=\(value)}")
            }
        }
        #expect(try refusals(metrics, "authorize", "invalid_client") == 1)
        #expect(try count(metrics, "mcpfcgi_oauth_registrations_total", [("kind", "metadata_document")]) == 1)
    }
}
