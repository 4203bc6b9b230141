import HTTPTypes
import MCPHandlers
import Testing

@testable import MCPFCGI

@Suite struct OAuthRateLimitTests {
    @Test(arguments: ["/oauth/token", "/oauth/register", "/oauth/introspect"])
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

    @Test func limitedPerClientAcrossAddresses() async {
        let fixture = OAuthFixture(rateLimit: RateLimit(burst: 2, perMinute: 60))
        for i in 0..<2 {
            _ = await fixture.send(
                oauthForm("/oauth/token", [("grant_type", "x"), ("client_id", "c")], address: "10.0.0.\(i)"))
        }
        let third = await fixture.send(
            oauthForm("/oauth/token", [("grant_type", "x"), ("client_id", "c")], address: "10.0.0.9"))
        #expect(third.head.status == .tooManyRequests)
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
