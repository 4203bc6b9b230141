import Foundation
import HTTPTypes
import Logging
import MCPHandlers
import Synchronization
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

/// The built-in server stands in for an external authorization server, reached through an in-process fetcher.
@Suite struct OAuthExternalTests {
    final class Counter: Sendable {
        let paths = Mutex<[String]>([])
        func count(_ suffix: String) -> Int { paths.withLock { $0.filter { $0.hasSuffix(suffix) }.count } }
    }

    func fetcher(_ fixture: OAuthFixture, _ counter: Counter) -> HTTPFetcher {
        HTTPFetcher { request in
            let path = String(request.url.dropFirst(oauthIssuer.count))
            counter.paths.withLock { $0.append(path) }
            var fields = HTTPFields()
            for (name, value) in request.headers { fields[HTTPField.Name(name)!] = value }
            let response = await fixture.send(
                HTTPServerRequest(
                    head: HTTPRequest(
                        method: HTTPRequest.Method(request.method)!, scheme: "https", authority: "mcp.example.com",
                        path: path, headerFields: fields),
                    body: request.body, remoteAddress: "127.0.0.1"))
            return (Int(response.head.status.code), response.body)
        }
    }

    func external(
        _ fixture: OAuthFixture, _ counter: Counter, validation: ExternalAuthorization.Configuration.Validation = .jwt,
        fetcher: HTTPFetcher? = nil, audiences: [String]? = nil
    ) throws -> MCPAuthorization {
        let clock = fixture.clock
        return try MCPAuthorization(
            configuration: .external(
                .init(
                    issuer: oauthIssuer, resourceURL: oauthResource, acceptedAudiences: audiences,
                    supportedScopes: ["mcp:read"], validation: validation,
                    fetcher: fetcher ?? self.fetcher(fixture, counter), now: { clock.now }),
                requiredScopes: ["mcp:read"], introspectionCacheTTL: 60),
            logger: Logger(label: "t"))
    }

    @Test func jwtFromTheExternalIssuerIsAcceptedAndKeysAreCached() async throws {
        let fixture = OAuthFixture()
        let counter = Counter()
        let auth = try external(fixture, counter)
        let token = try #require(await fixture.tokens()["access_token"]?.stringValue)
        #expect(try await auth.authenticate(oauthBearer(token)).get().subject == "alice")
        #expect(try await auth.authenticate(oauthBearer(token)).get().scopes == ["mcp:read", "mcp:write"])
        #expect(counter.count("/.well-known/oauth-authorization-server") == 1)
        #expect(counter.count("/oauth/jwks") == 1)
    }

    @Test func unknownKidRefetchesOnceThenFails() async throws {
        let fixture = OAuthFixture()
        let counter = Counter()
        let auth = try external(fixture, counter)
        let good = try #require(await fixture.tokens()["access_token"]?.stringValue)
        _ = await auth.authenticate(oauthBearer(good))
        // An unknown kid refetches the JWKS, but not more often than every 30 s.
        fixture.clock.advance(31)
        let other = try SigningKey(.generated)
        let now = Int(fixture.clock.now.timeIntervalSince1970)
        let forged = try await other.sign(
            AccessTokenClaims(
                issuer: oauthIssuer, subject: "eve", audience: [oauthResource], clientID: "x", scope: "mcp:read",
                expiresAt: now + 60, issuedAt: now, tokenID: "f"))
        let refused = await auth.authenticate(oauthBearer(forged)).failureResponse
        #expect(refused?.head.status == .unauthorized)
        #expect(counter.count("/oauth/jwks") == 2)
        _ = await auth.authenticate(oauthBearer(forged))
        #expect(counter.count("/oauth/jwks") == 2)
    }

    @Test func forgedExternalTokensAreRejected() async throws {
        let fixture = OAuthFixture()
        let counter = Counter()
        let auth = try external(fixture, counter)
        let key = fixture.server.key
        let now = Int(fixture.clock.now.timeIntervalSince1970)
        func claims(aud: String = oauthResource, iss: String = oauthIssuer, exp: Int = 60) -> AccessTokenClaims {
            AccessTokenClaims(
                issuer: iss, subject: "eve", audience: [aud], clientID: "x", scope: "mcp:read", expiresAt: now + exp,
                issuedAt: now, tokenID: "f")
        }
        for token in [
            try await key.sign(claims(aud: "https://other.example")),
            try await key.sign(claims(iss: "https://evil.example")),
            try await key.sign(claims(exp: -100)),
            try await key.sign(claims(), overrides: ["alg": "HS256"]),
            try await key.sign(claims(), overrides: ["typ": "id_token+jwt"]),
        ] {
            #expect(await auth.authenticate(oauthBearer(token)).failureResponse?.head.status == .unauthorized)
        }
        #expect(try await auth.authenticate(oauthBearer(key.sign(claims()))).get().subject == "eve")
    }

    @Test func unreachableIssuerFailsClosedWith503() async throws {
        let fixture = OAuthFixture()
        let down = HTTPFetcher { _ in throw URLError(.cannotConnectToHost) }
        let auth = try external(fixture, Counter(), fetcher: down)
        let token = try #require(await fixture.tokens()["access_token"]?.stringValue)
        let response = await auth.authenticate(oauthBearer(token)).failureResponse
        #expect(response?.head.status == .serviceUnavailable)
        #expect(response?.head.headerFields[.retryAfter] != nil)
        let introspecting = try external(
            fixture, Counter(), validation: .introspection(clientID: "a", clientSecret: "b"), fetcher: down)
        #expect(
            await introspecting.authenticate(oauthBearer(token)).failureResponse?.head.status == .serviceUnavailable)
    }

    @Test func introspectionIsCachedForTheTTL() async throws {
        let fixture = OAuthFixture()
        let counter = Counter()
        let auth = try external(
            fixture, counter,
            validation: .introspection(clientID: OAuthFixture.resourceServerClient, clientSecret: OAuthFixture.secret))
        let token = try #require(await fixture.tokens()["access_token"]?.stringValue)
        #expect(try await auth.authenticate(oauthBearer(token)).get().subject == "alice")
        #expect(try await auth.authenticate(oauthBearer(token)).get().subject == "alice")
        #expect(counter.count("/oauth/introspect") == 1)

        _ = await fixture.send(
            oauthForm("/oauth/revoke", [("token", token), ("client_id", OAuthFixture.publicClient)]))
        fixture.clock.advance(61)
        #expect(await auth.authenticate(oauthBearer(token)).failureResponse?.head.status == .unauthorized)
        #expect(counter.count("/oauth/introspect") == 2)
        #expect(await auth.authenticate(oauthBearer("opaque-garbage")).failureResponse?.head.status == .unauthorized)
    }

    @Test func introspectionWithWrongCredentialsIs503() async throws {
        let fixture = OAuthFixture()
        let auth = try external(fixture, Counter(), validation: .introspection(clientID: "nobody", clientSecret: "x"))
        let token = try #require(await fixture.tokens()["access_token"]?.stringValue)
        #expect(await auth.authenticate(oauthBearer(token)).failureResponse?.head.status == .serviceUnavailable)
    }
}
