import Foundation
import HTTPTypes
import MCPHandlers
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

@Suite struct OAuthStorageTests {
    @Test func codeLifecycleAndExpiry() {
        let clock = OAuthTestClock()
        let storage = InMemoryOAuthStorage(now: { clock.now })
        let record = AuthorizationCodeRecord(
            codeDigest: "d", clientID: "c", redirectURI: "r", codeChallenge: "x", scopes: [], subject: "s",
            resource: nil, expiresAt: clock.now.addingTimeInterval(60), familyID: "f")
        storage.saveAuthorizationCode(record)
        #expect(storage.consumeAuthorizationCode(digest: "d") == .fresh(record))
        #expect(storage.consumeAuthorizationCode(digest: "d") == .replayed(record))
        #expect(storage.consumeAuthorizationCode(digest: "other") == .unknown)
        // Kept an hour past expiry so a late replay is still recognised, then dropped.
        storage.removeExpired(before: clock.now.addingTimeInterval(600))
        #expect(storage.consumeAuthorizationCode(digest: "d") == .replayed(record))
        storage.removeExpired(before: clock.now.addingTimeInterval(3_700))
        #expect(storage.consumeAuthorizationCode(digest: "d") == .unknown)
    }

    @Test func revokedFamiliesAndTokensAreForgottenWhenExpired() {
        let clock = OAuthTestClock()
        let storage = InMemoryOAuthStorage(now: { clock.now })
        storage.recordAccessToken(jti: "a", familyID: "f", expiresAt: clock.now.addingTimeInterval(60))
        storage.recordAccessToken(jti: "b", familyID: nil, expiresAt: clock.now.addingTimeInterval(60))
        storage.revokeFamily("f")
        storage.revokeAccessToken(jti: "b")
        #expect(storage.isAccessTokenRevoked(jti: "a"))
        #expect(storage.isAccessTokenRevoked(jti: "b"))
        #expect(!storage.isAccessTokenRevoked(jti: "c"))
        storage.removeExpired(before: clock.now.addingTimeInterval(120))
        #expect(!storage.isAccessTokenRevoked(jti: "a"))
        #expect(!storage.isAccessTokenRevoked(jti: "b"))
    }

    @Test func serverSweepsStorage() async throws {
        let fixture = OAuthFixture()
        let code = try #require(await fixture.authorize()["code"])
        #expect(try await fixture.server.storage.consumeAuthorizationCode(digest: OAuthCrypto.digest(code)) != .unknown)
        fixture.clock.advance(2 * 3_600)
        // Any request may trigger the sweep (at most once a minute); the used code is then forgotten.
        _ = await fixture.send(oauthRequest(.get, "/oauth/jwks"))
        #expect(try await fixture.server.storage.consumeAuthorizationCode(digest: OAuthCrypto.digest(code)) == .unknown)
    }

    @Test func headIsServedWithoutABody() async {
        let fixture = OAuthFixture()
        let response = await fixture.send(oauthRequest(.head, "/.well-known/oauth-authorization-server"))
        #expect(response.head.status == .ok)
        #expect(response.body.isEmpty)
    }

    @Test func urlSessionFetcherFailsOnARefusedLoopbackPort() async {
        let fetcher = HTTPFetcher.urlSession(timeout: 2)
        await #expect(throws: (any Error).self) {
            _ = try await fetcher.fetch(
                HTTPFetcher.Request(method: "POST", url: "http://127.0.0.1:1/x", headers: ["A": "b"], body: [1]))
        }
        await #expect(throws: (any Error).self) { _ = try await fetcher.fetch(HTTPFetcher.Request(url: "")) }
    }

    @Test func generatedPEMLoads() throws {
        let pem = BuiltInAuthorizationServer.generateSigningKeyPEM()
        #expect(pem.hasPrefix("-----BEGIN PRIVATE KEY-----") || pem.hasPrefix("-----BEGIN EC PRIVATE KEY-----"))
        _ = try SigningKey(.pem(pem))
    }
}
