import Foundation
import HTTPTypes
import Logging
import MCPHandlers
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

/// The lesser OAuth defences of the security review: codes bound to their resource, clients bound to theirs,
/// introspection limited to trusted clients, the external mode's audience check, the rate limiter's bounded clean-up.
@Suite struct OAuthHardeningTests {
    static let tenant = "https://mcp.example.com/tenant-a/mcp"

    func exchange(_ fixture: OAuthFixture, code: String, resource: String?) async -> HTTPServerResponse {
        var form = [
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", oauthPublicRedirect),
            ("client_id", OAuthFixture.publicClient), ("code_verifier", oauthPKCEVerifier),
        ]
        if let resource { form.append(("resource", resource)) }
        return await fixture.send(oauthForm("/oauth/token", form))
    }

    /// A code asked without `resource` is bound to the main resource: it cannot be redeemed for another one.
    @Test func codeWithoutResourceIsBoundToTheMainResource() async throws {
        let fixture = OAuthFixture()
        try fixture.server.addResource(Self.tenant)
        let first = try #require(await fixture.authorize(resource: nil)["code"])
        let other = await exchange(fixture, code: first, resource: Self.tenant)
        #expect(other.head.status == .badRequest)
        #expect(oauthJSON(other)["error"] == "invalid_target")

        let second = try #require(await fixture.authorize(resource: nil)["code"])
        let main = await exchange(fixture, code: second, resource: nil)
        let token = try #require(oauthJSON(main)["access_token"]?.stringValue)
        let claims = try await fixture.server.key.verify(token)
        #expect(claims.audience == [oauthResource])
    }

    /// A client provisioned for some resources gets tokens for those only, at the token and authorization endpoints.
    @Test func clientResourcesAreEnforced() async throws {
        let fixture = OAuthFixture(extraClients: [
            OAuthClient(
                clientID: "tenant-svc", clientSecret: "tenant-secret", redirectURIs: [oauthPublicRedirect],
                grantTypes: ["authorization_code", "client_credentials"], scopes: ["mcp:read"],
                resources: [Self.tenant])
        ])
        try fixture.server.addResource(Self.tenant)
        let basic = oauthBasic("tenant-svc", "tenant-secret")
        let main = await fixture.send(
            oauthForm("/oauth/token", [("grant_type", "client_credentials")], headers: [basic]))
        #expect(oauthJSON(main)["error"] == "invalid_target")
        let tenant = await fixture.send(
            oauthForm("/oauth/token", [("grant_type", "client_credentials"), ("resource", Self.tenant)], headers: [basic]))
        #expect(tenant.head.status == .ok)
        #expect(oauthJSON(tenant)["scope"] == "mcp:read")
        let query: [(String, String)] = [
            ("response_type", "code"), ("client_id", "tenant-svc"), ("redirect_uri", oauthPublicRedirect),
            ("code_challenge", OAuthCrypto.s256Challenge(of: oauthPKCEVerifier)), ("code_challenge_method", "S256"),
            ("resource", oauthResource),
        ]
        let authorize = await fixture.send(
            oauthRequest(.get, "/oauth/authorize?" + FormParameters.encode(query), user: "alice"))
        #expect(oauthRedirectQuery(authorize)["error"] == "invalid_target")
    }

    /// Only a client trusted to introspect sees other clients' tokens; any other confidential client sees its own.
    @Test func introspectionIsLimitedToTrustedClients() async throws {
        let fixture = OAuthFixture()
        let alice = try #require(await fixture.tokens()["access_token"]?.stringValue)
        let service = await fixture.send(
            oauthForm(
                "/oauth/token", [("grant_type", "client_credentials"), ("scope", "mcp:read")],
                headers: [oauthBasic(OAuthFixture.confidentialClient, OAuthFixture.secret)]))
        let own = try #require(oauthJSON(service)["access_token"]?.stringValue)
        func introspect(_ token: String, as client: String) async -> Value {
            oauthJSON(
                await fixture.send(
                    oauthForm(
                        "/oauth/introspect", [("token", token)], headers: [oauthBasic(client, OAuthFixture.secret)])))
        }
        #expect(await introspect(alice, as: OAuthFixture.confidentialClient) == ["active": false])
        #expect(await introspect(own, as: OAuthFixture.confidentialClient)["active"] == true)
        let trusted = await introspect(alice, as: OAuthFixture.resourceServerClient)
        #expect(trusted["active"] == true)
        #expect(trusted["sub"] == "alice")
    }

    /// An introspection answer without `aud` is refused in external mode unless explicitly accepted.
    @Test(arguments: [false, true])
    func introspectionWithoutAudience(accepted: Bool) async throws {
        let issuer = "https://as.example.com"
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let fetcher = HTTPFetcher { request in
            if request.url.hasSuffix("/.well-known/oauth-authorization-server") {
                let metadata: Value = [
                    "issuer": .string(issuer), "introspection_endpoint": .string(issuer + "/introspect"),
                    "jwks_uri": .string(issuer + "/jwks"),
                ]
                return (200, JSONWriter.encode(metadata))
            }
            let answer: Value = [
                "active": true, "sub": "mallory", "scope": "mcp:read", "iss": .string(issuer),
                "exp": .int(Int(now.timeIntervalSince1970) + 300),
            ]
            return (200, JSONWriter.encode(answer))
        }
        let auth = try MCPAuthorization(
            configuration: .external(
                .init(
                    issuer: issuer, resourceURL: oauthResource,
                    validation: .introspection(clientID: "rs", clientSecret: "secret"), fetcher: fetcher,
                    acceptsIntrospectionWithoutAudience: accepted, now: { now }),
                requiredScopes: ["mcp:read"], introspectionCacheTTL: 60),
            logger: Logger(label: "t"))
        let result = await auth.authenticate(oauthBearer("opaque-token"))
        if accepted {
            #expect(try result.get().subject == "mallory")
        } else {
            #expect(result.failureResponse?.head.status == .unauthorized)
        }
    }

    /// The rate limiter's table stays bounded under a flood of distinct callers, and its clean-up runs once per
    /// quarter of the maximum new keys, not on every request once full.
    @Test func rateLimiterCleanUpIsBoundedAndAmortised() {
        let clock = OAuthTestClock()
        let limiter = RateLimiter(limit: RateLimit(burst: 2, perMinute: 1), maximumKeys: 100, now: { clock.now })
        for i in 0..<1_000 {
            _ = limiter.take(["addr:\(i)"])
            #expect(limiter.keyCount <= 101)
        }
        #expect(limiter.cleanupCount <= 1_000 / 25 + 1)
        #expect(limiter.cleanupCount >= 1)
        // The most recent callers keep their (drained) buckets: the flood does not reset them.
        #expect(limiter.take(["addr:999"]) == nil)
        #expect(limiter.take(["addr:999"]) != nil)
    }
}
