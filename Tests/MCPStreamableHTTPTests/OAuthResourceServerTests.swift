import Foundation
import HTTPTypes
import Logging
import MCPHandlers
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

@Suite struct OAuthResourceServerTests {
    static let metadataURL = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"

    func claims(_ fixture: OAuthFixture, _ change: (inout AccessTokenClaims) -> Void = { _ in }) -> AccessTokenClaims {
        let now = Int(fixture.clock.now.timeIntervalSince1970)
        var claims = AccessTokenClaims(
            issuer: oauthIssuer, subject: "alice", audience: [oauthResource], clientID: OAuthFixture.publicClient,
            scope: "mcp:read", expiresAt: now + 600, issuedAt: now, notBefore: now, tokenID: "jti-\(now)")
        change(&claims)
        return claims
    }

    func expectInvalidToken(_ fixture: OAuthFixture, _ token: String) async {
        let response = await fixture.auth.authenticate(oauthBearer(token)).failureResponse
        #expect(response?.head.status == .unauthorized)
        let challenge = response?.head.headerFields[.wwwAuthenticate] ?? ""
        #expect(challenge.hasPrefix("Bearer resource_metadata=\"\(Self.metadataURL)\""))
        #expect(challenge.contains("error=\"invalid_token\""))
        #expect(challenge.contains("scope=\"mcp:read\""))
        #expect(oauthJSON(response ?? .json(.ok, nil))["error"] == "invalid_token")
    }

    @Test func validTokenSignedHere() async throws {
        let fixture = OAuthFixture()
        let token = try await fixture.server.key.sign(claims(fixture))
        #expect(try await fixture.auth.authenticate(oauthBearer(token)).get().subject == "alice")
        let lower = oauthRequest(.post, "/mcp", headers: [("Authorization", "bearer \(token)")])
        #expect(try await fixture.auth.authenticate(lower).get().subject == "alice")
    }

    @Test func missingTokenIs401WithResourceMetadata() async {
        let fixture = OAuthFixture()
        let response = await fixture.auth.authenticate(oauthRequest(.post, "/mcp")).failureResponse
        #expect(response?.head.status == .unauthorized)
        #expect(
            response?.head.headerFields[.wwwAuthenticate]
                == "Bearer resource_metadata=\"\(Self.metadataURL)\", scope=\"mcp:read\"")
    }

    @Test(arguments: [
        ("Bearer abc.def", ResourceServer.BearerToken.token("abc.def")),
        ("bearer abc", .token("abc")), ("BEARER abc", .token("abc")), ("BeArEr   abc \t", .token("abc")),
        ("Bearer", .empty), ("Bearer    ", .empty), ("Bearer a b", .malformed), ("Bearer a\tb", .malformed),
        ("Basic YTpi", .notBearer), ("Bearerx abc", .notBearer), ("Bearer\tabc", .notBearer), ("", .notBearer),
        ("Bearär abc", .notBearer), ("Beare abc", .notBearer),
    ])
    func bearerValuesAreReadOnBytes(header: String, expected: ResourceServer.BearerToken) {
        #expect(ResourceServer.bearerToken(in: header) == expected)
    }

    @Test func tokenInQueryOrBodyIsIgnored() async throws {
        let fixture = OAuthFixture()
        let token = try await fixture.server.key.sign(claims(fixture))
        let query = oauthRequest(.post, "/mcp?access_token=\(token)")
        #expect(await fixture.auth.authenticate(query).failureResponse?.head.status == .unauthorized)
        let body = oauthRequest(
            .post, "/mcp", headers: [("Content-Type", "application/x-www-form-urlencoded")],
            body: "access_token=\(token)")
        #expect(await fixture.auth.authenticate(body).failureResponse?.head.status == .unauthorized)
        let basic = oauthRequest(.post, "/mcp", headers: [oauthBasic("a", "b")])
        #expect(await fixture.auth.authenticate(basic).failureResponse?.head.status == .unauthorized)
        let empty = oauthRequest(.post, "/mcp", headers: [("Authorization", "Bearer")])
        #expect(await fixture.auth.authenticate(empty).failureResponse?.head.status == .badRequest)
    }

    @Test func algNoneIsRejected() async throws {
        let fixture = OAuthFixture()
        let header = Base64URL.encode(
            Array(#"{"alg":"none","typ":"at+jwt","kid":"\#(fixture.server.key.kid)"}"#.utf8))
        let payload = Base64URL.encode(
            Array(try JSONEncoder().encode(claims(fixture))))
        await expectInvalidToken(fixture, "\(header).\(payload).")
        // And with a real signature but alg changed in the header.
        await expectInvalidToken(
            fixture, try await fixture.server.key.sign(claims(fixture), overrides: ["alg": "none"]))
        await expectInvalidToken(
            fixture, try await fixture.server.key.sign(claims(fixture), overrides: ["alg": "HS256"]))
    }

    @Test func wrongKeyIsRejected() async throws {
        let fixture = OAuthFixture()
        let other = try SigningKey(.generated)
        // Same kid as the real key, other key: the signature check fails.
        await expectInvalidToken(
            fixture, try await other.sign(claims(fixture), overrides: ["kid": fixture.server.key.kid]))
        await expectInvalidToken(fixture, try await other.sign(claims(fixture)))
    }

    @Test func wrongTypeIsRejected() async throws {
        let fixture = OAuthFixture()
        await expectInvalidToken(fixture, try await fixture.server.key.sign(claims(fixture), overrides: ["typ": "JWT"]))
    }

    @Test func wrongAudienceIssuerOrTimesAreRejected() async throws {
        let fixture = OAuthFixture()
        let key = fixture.server.key
        await expectInvalidToken(
            fixture, try await key.sign(claims(fixture) { $0.audience = ["https://other.example/mcp"] }))
        await expectInvalidToken(fixture, try await key.sign(claims(fixture) { $0.issuer = "https://evil.example" }))
        await expectInvalidToken(fixture, try await key.sign(claims(fixture) { $0.expiresAt -= 700 }))
        await expectInvalidToken(fixture, try await key.sign(claims(fixture) { $0.notBefore! += 300 }))
        await expectInvalidToken(fixture, "not.a.jwt")
        await expectInvalidToken(fixture, "garbage")
    }

    @Test func expiredAfterTimePasses() async throws {
        let fixture = OAuthFixture()
        let token = try await fixture.server.key.sign(claims(fixture))
        fixture.clock.advance(700)
        await expectInvalidToken(fixture, token)
    }

    @Test func insufficientScopeIs403() async throws {
        let fixture = OAuthFixture(requiredScopes: ["mcp:read", "mcp:admin"])
        let token = try await fixture.server.key.sign(claims(fixture))
        let response = await fixture.auth.authenticate(oauthBearer(token)).failureResponse
        #expect(response?.head.status == .forbidden)
        let challenge = response?.head.headerFields[.wwwAuthenticate] ?? ""
        #expect(challenge.contains("error=\"insufficient_scope\""))
        #expect(challenge.contains("scope=\"mcp:read mcp:admin\""))
        #expect(challenge.contains("resource_metadata=\"\(Self.metadataURL)\""))
    }

    @Test func revokedJTIIsRejected() async throws {
        let fixture = OAuthFixture()
        let c = claims(fixture)
        let token = try await fixture.server.key.sign(c)
        try await fixture.server.storage.revokeAccessToken(jti: c.tokenID)
        await expectInvalidToken(fixture, token)
    }

    @Test func pemKeyIsLoadedAndStable() throws {
        let pem = try SigningKey(.generated)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("oauth-\(UUID().uuidString).pem").path
        let generated = pem.privateKeyPEM
        try generated.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let a = try SigningKey(.pemFile(path))
        let b = try SigningKey(.pem(generated))
        #expect(a.kid == b.kid)
        #expect(a.kid == pem.kid)
    }
}
