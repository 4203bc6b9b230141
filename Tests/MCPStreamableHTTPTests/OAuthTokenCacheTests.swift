import Foundation
import MCPHandlers
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

/// The built-in verifier's cache of verified tokens: it saves the signature check only; every other check
/// still runs on a hit.
@Suite struct OAuthTokenCacheTests {
    func claims(
        _ fixture: OAuthFixture, subject: String = "alice", lifetime: Int = 600, id: String = "jti-cache"
    ) -> AccessTokenClaims {
        let now = Int(fixture.clock.now.timeIntervalSince1970)
        return AccessTokenClaims(
            issuer: oauthIssuer, subject: subject, audience: [oauthResource], clientID: OAuthFixture.publicClient,
            scope: "mcp:read", expiresAt: now + lifetime, issuedAt: now, notBefore: now, tokenID: id)
    }

    func isInvalidToken(_ result: Result<AuthenticatedUser, BearerAuthenticationError>) -> Bool {
        if case .failure(let error) = result { return error.kind == .invalidToken }
        return false
    }

    func verify(_ verifier: BuiltInTokenVerifier, _ token: String) async -> Result<
        AuthenticatedUser, BearerAuthenticationError
    > {
        do { return .success(try await verifier.verify(accessToken: token)) } catch { return .failure(error) }
    }

    @Test func hitReturnsTheSameUser() async throws {
        let fixture = OAuthFixture()
        let verifier = fixture.server.tokenVerifier
        let token = try await fixture.server.key.sign(claims(fixture))
        #expect(verifier.cache.count == 0)
        let first = try await verifier.verify(accessToken: token)
        #expect(verifier.cache.count == 1)
        #expect(verifier.cache.lookup(token, now: Int(fixture.clock.now.timeIntervalSince1970)) != nil)
        let second = try await verifier.verify(accessToken: token)
        #expect(second == first)
        #expect(second.subject == "alice")
        #expect(second.claims["jti"] == "jti-cache")
        #expect(verifier.cache.count == 1)
        // The resource server's own verifier caches too (one instance per MCPAuthorization).
        #expect(try await fixture.auth.authenticate(oauthBearer(token)).get().subject == "alice")
        #expect(try await fixture.auth.authenticate(oauthBearer(token)).get().subject == "alice")
    }

    @Test func revokedTokenIsRefusedAfterBeingCached() async throws {
        let fixture = OAuthFixture()
        let verifier = fixture.server.tokenVerifier
        let c = claims(fixture)
        let token = try await fixture.server.key.sign(c)
        #expect(try await verifier.verify(accessToken: token).subject == "alice")
        #expect(verifier.cache.count == 1)
        try await fixture.server.storage.revokeAccessToken(jti: c.tokenID)
        #expect(isInvalidToken(await verify(verifier, token)))
        #expect(isInvalidToken(await verify(verifier, token)))
    }

    @Test func expiredTokenIsRefusedAfterBeingCached() async throws {
        let fixture = OAuthFixture()
        let verifier = fixture.server.tokenVerifier
        let token = try await fixture.server.key.sign(claims(fixture, lifetime: 60))
        #expect(try await verifier.verify(accessToken: token).subject == "alice")
        fixture.clock.advance(30)
        #expect(try await verifier.verify(accessToken: token).subject == "alice")
        #expect(verifier.cache.count == 1)
        // Past `exp` the entry is gone, and within the leeway the full verification still accepts the token…
        fixture.clock.advance(31)
        #expect(verifier.cache.lookup(token, now: Int(fixture.clock.now.timeIntervalSince1970)) == nil)
        #expect(try await verifier.verify(accessToken: token).subject == "alice")
        #expect(verifier.cache.count == 0)
        // …and refuses it past the leeway.
        fixture.clock.advance(10)
        #expect(isInvalidToken(await verify(verifier, token)))
    }

    @Test func claimsAreCheckedOnEveryHit() async throws {
        // Entries planted in the cache (never verified) with claims the verifier must refuse: a hit is refused.
        let fixture = OAuthFixture()
        let verifier = fixture.server.tokenVerifier
        let now = Int(fixture.clock.now.timeIntervalSince1970)
        var audience = claims(fixture)
        audience.audience = ["https://other.example.com/mcp"]
        var issuer = claims(fixture)
        issuer.issuer = "https://other.example.com"
        var early = claims(fixture)
        early.notBefore = now + 60
        for (token, c) in [("planted-aud", audience), ("planted-iss", issuer), ("planted-nbf", early)] {
            verifier.cache.insert(token, claims: c, user: .anonymous, now: now)
            #expect(verifier.cache.lookup(token, now: now) != nil)
            #expect(isInvalidToken(await verify(verifier, token)))
        }
        // The same planted claims with nothing wrong are served from the cache (no signature to check).
        verifier.cache.insert("planted-ok", claims: claims(fixture), user: .anonymous, now: now)
        #expect(try await verifier.verify(accessToken: "planted-ok") == .anonymous)
    }

    @Test func anotherTokenIsNotServedFromTheCache() async throws {
        let fixture = OAuthFixture()
        let verifier = fixture.server.tokenVerifier
        let alice = try await fixture.server.key.sign(claims(fixture))
        #expect(try await verifier.verify(accessToken: alice).subject == "alice")
        let bob = try await fixture.server.key.sign(claims(fixture, subject: "bob", id: "jti-bob"))
        #expect(try await verifier.verify(accessToken: bob).subject == "bob")
        #expect(verifier.cache.count == 2)
        // A token that differs from a cached one in its signature, or by one trailing byte, is verified anew
        // (and refused).
        var signature = Array(alice.utf8)
        signature[signature.count - 2] = signature[signature.count - 2] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let tampered = String(decoding: signature, as: UTF8.self)
        #expect(tampered != alice)
        #expect(isInvalidToken(await verify(verifier, tampered)))
        #expect(isInvalidToken(await verify(verifier, alice + "A")))
        #expect(verifier.cache.count == 2)
        // A token signed by another key, with the same claims, is not the cached one either.
        let other = OAuthFixture()
        let foreign = try await other.server.key.sign(claims(fixture))
        #expect(isInvalidToken(await verify(verifier, foreign)))
        // The cache compares bytes: a canonically equivalent but different string is a different key.
        let composed = "caf\u{E9}"
        let decomposed = "cafe\u{301}"
        #expect(composed == decomposed)
        verifier.cache.insert(composed, claims: claims(fixture), user: .anonymous, now: 0)
        #expect(verifier.cache.lookup(composed, now: 0) != nil)
        #expect(verifier.cache.lookup(decomposed, now: 0) == nil)
    }

    @Test func cacheIsBounded() async throws {
        let fixture = OAuthFixture()
        let cache = VerifiedTokenCache(capacity: 100)
        let now = Int(fixture.clock.now.timeIntervalSince1970)
        for i in 0..<100 {
            cache.insert("token-\(i)", claims: claims(fixture, lifetime: i < 50 ? 10 : 600), user: .anonymous, now: now)
        }
        #expect(cache.count == 100)
        // Full, nothing expired: arbitrary entries go, down to 90%, then the new one is added.
        cache.insert("token-100", claims: claims(fixture), user: .anonymous, now: now)
        #expect(cache.count == 91)
        #expect(cache.lookup("token-100", now: now) != nil)
        for i in 101..<110 {
            cache.insert("token-\(i)", claims: claims(fixture), user: .anonymous, now: now)
        }
        #expect(cache.count == 100)
        // Full again, later: the expired entries go first.
        let expired = (0..<50).filter { cache.lookup("token-\($0)", now: now) != nil }.count
        cache.insert("token-200", claims: claims(fixture), user: .anonymous, now: now + 60)
        #expect(cache.count == min(100 - expired + 1, 91))
        #expect(cache.lookup("token-200", now: now + 60) != nil)
        // Expired claims are never cached.
        cache.insert("token-old", claims: claims(fixture, lifetime: -1), user: .anonymous, now: now)
        #expect(cache.lookup("token-old", now: now) == nil)
    }
}
