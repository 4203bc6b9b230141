import HTTPTypes
import MCPHandlers
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

@Suite struct OAuthRateLimitTests {
    @Test(arguments: ["/oauth/token", "/oauth/register", "/oauth/introspect", "/oauth/revoke"])
    func burstThen429WithRetryAfter(path: String) async {
        let fixture = OAuthFixture(rateLimit: RateLimit(burst: 3, perMinute: 60))
        let form =
            path == "/oauth/register"
            ? oauthRequest(.post, path, headers: [("Content-Type", "application/json")], body: "{}")
            : oauthForm(path, [("grant_type", "client_credentials"), ("client_id", "x")])
        for _ in 0..<3 { #expect(await fixture.send(form).head.status != .tooManyRequests) }
        let limited = await fixture.send(form)
        #expect(limited.head.status == .tooManyRequests)
        #expect(limited.head.headerFields[.retryAfter] == "1")
        #expect(oauthJSON(limited)["error"] == "temporarily_unavailable")
        // Another address is not affected; time refills the bucket.
        let other =
            path == "/oauth/register"
            ? oauthRequest(
                .post, path, headers: [("Content-Type", "application/json")], body: "{}", address: "192.0.2.9")
            : oauthForm(path, [("grant_type", "client_credentials"), ("client_id", "y")], address: "192.0.2.9")
        #expect(await fixture.send(other).head.status != .tooManyRequests)
        fixture.clock.advance(1)
        #expect(await fixture.send(form).head.status != .tooManyRequests)
    }

    /// An authenticated client has its own budget across every address it calls from.
    @Test func limitedPerAuthenticatedClientAcrossAddresses() async {
        let fixture = OAuthFixture(rateLimit: RateLimit(burst: 2, perMinute: 60))
        let form = [("grant_type", "client_credentials"), ("scope", "mcp:read")]
        let basic = oauthBasic(OAuthFixture.confidentialClient, OAuthFixture.secret)
        for i in 0..<2 {
            let r = await fixture.send(oauthForm("/oauth/token", form, headers: [basic], address: "10.0.0.\(i)"))
            #expect(r.head.status == .ok)
        }
        let third = await fixture.send(oauthForm("/oauth/token", form, headers: [basic], address: "10.0.0.9"))
        #expect(third.head.status == .tooManyRequests)
        #expect(third.head.headerFields[.retryAfter] != nil)
    }

    /// Requests that only claim a client id (no or a wrong secret) charge their address, never the client: nobody
    /// can keep another client at 429.
    @Test(arguments: ["/oauth/token", "/oauth/revoke", "/oauth/introspect"])
    func claimedClientIDsDoNotSpendTheClientsBudget(path: String) async {
        let fixture = OAuthFixture(rateLimit: RateLimit(burst: 2, perMinute: 60))
        for i in 0..<20 {
            let forged = await fixture.send(
                oauthForm(
                    path, [("grant_type", "client_credentials"), ("token", "t")],
                    headers: [oauthBasic(OAuthFixture.confidentialClient, "wrong")], address: "10.1.0.\(i)"))
            #expect(forged.head.status == .unauthorized)
        }
        let genuine = await fixture.send(
            oauthForm(
                path, [("grant_type", "client_credentials"), ("token", "t")],
                headers: [oauthBasic(OAuthFixture.confidentialClient, OAuthFixture.secret)], address: "10.2.0.1"))
        #expect(genuine.head.status == .ok)
    }

    @Test func bucketRefillsAtTheConfiguredRate() {
        let clock = OAuthTestClock()
        let limiter = RateLimiter(limit: RateLimit(burst: 1, perMinute: 6), now: { clock.now })
        #expect(limiter.take(["k"]) == nil)
        #expect(limiter.take(["k"]) == 10)
        clock.advance(10)
        #expect(limiter.take(["k"]) == nil)
    }
}
