import HTTPTypes
import MCPHandlers
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

@Suite struct OAuthTokenTests {
    func exchange(
        _ fixture: OAuthFixture, code: String, verifier: String = oauthPKCEVerifier,
        redirect: String = oauthPublicRedirect,
        extra: [(String, String)] = []
    ) async -> HTTPServerResponse {
        await fixture.send(
            oauthForm(
                "/oauth/token",
                [
                    ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect),
                    ("client_id", OAuthFixture.publicClient), ("code_verifier", verifier),
                ] + extra))
    }

    func refresh(_ fixture: OAuthFixture, _ token: String, scope: String? = nil) async -> HTTPServerResponse {
        var form = [
            ("grant_type", "refresh_token"), ("refresh_token", token), ("client_id", OAuthFixture.publicClient),
        ]
        if let scope { form.append(("scope", scope)) }
        return await fixture.send(oauthForm("/oauth/token", form))
    }

    @Test func fullCodeFlowIssuesAVerifiableJWT() async throws {
        let fixture = OAuthFixture()
        let code = try #require(await fixture.authorize()["code"])
        let response = await exchange(fixture, code: code)
        #expect(response.head.status == .ok)
        #expect(response.head.headerFields[.cacheControl] == "no-store")
        #expect(response.head.headerFields[.pragma] == "no-cache")
        let body = oauthJSON(response)
        #expect(body["token_type"] == "Bearer")
        #expect(body["expires_in"] == 600)
        #expect(body["scope"] == "mcp:read mcp:write")
        #expect(body["refresh_token"]?.stringValue?.isEmpty == false)
        let token = try #require(body["access_token"]?.stringValue)

        let header = try JSONParser().parse(try #require(Base64URL.decode(token.split(separator: ".")[0])))
        #expect(header["typ"] == "at+jwt")
        #expect(header["alg"] == "ES256")
        #expect(header["kid"]?.stringValue == fixture.server.key.kid)

        let user = try await fixture.auth.authenticate(oauthBearer(token)).get()
        #expect(user.subject == "alice")
        #expect(user.clientID == OAuthFixture.publicClient)
        #expect(user.scopes == ["mcp:read", "mcp:write"])
        #expect(user.claims["iss"] == "https://mcp.example.com")
        #expect(user.claims["aud"] == ["https://mcp.example.com/mcp"])
        #expect(user.claims["jti"]?.stringValue?.isEmpty == false)
        #expect(user.claims["exp"]?.intValue == user.claims["iat"]!.intValue! + 600)
    }

    @Test func codeReplayFailsAndRevokesTheTokensIssuedFromIt() async throws {
        let fixture = OAuthFixture()
        let code = try #require(await fixture.authorize()["code"])
        let first = oauthJSON(await exchange(fixture, code: code))
        let access = try #require(first["access_token"]?.stringValue)
        let refreshToken = try #require(first["refresh_token"]?.stringValue)
        #expect(try await fixture.auth.authenticate(oauthBearer(access)).get().subject == "alice")

        let replay = await exchange(fixture, code: code)
        #expect(replay.head.status == .badRequest)
        #expect(oauthJSON(replay)["error"] == "invalid_grant")
        #expect(await fixture.auth.authenticate(oauthBearer(access)).failureResponse?.head.status == .unauthorized)
        #expect(oauthJSON(await refresh(fixture, refreshToken))["error"] == "invalid_grant")
    }

    @Test(arguments: [
        ("wrong-verifier-wrong-verifier-wrong-verifier-xx", oauthPublicRedirect, "invalid_grant"),
        (oauthPKCEVerifier, "https://app.example.com/cb", "invalid_grant"),
    ])
    func codeExchangeChecks(verifier: String, redirect: String, error: String) async throws {
        let fixture = OAuthFixture()
        let code = try #require(await fixture.authorize()["code"])
        let response = await exchange(fixture, code: code, verifier: verifier, redirect: redirect)
        #expect(oauthJSON(response)["error"]?.stringValue == error)
    }

    @Test func expiredCodeAndWrongResourceAndUnknownCode() async throws {
        let fixture = OAuthFixture()
        let code = try #require(await fixture.authorize()["code"])
        let wrongResource = await exchange(fixture, code: code, extra: [("resource", "https://evil.example/mcp")])
        #expect(oauthJSON(wrongResource)["error"] == "invalid_target")

        let code2 = try #require(await fixture.authorize()["code"])
        fixture.clock.advance(61)
        #expect(oauthJSON(await exchange(fixture, code: code2))["error"] == "invalid_grant")
        #expect(oauthJSON(await exchange(fixture, code: "made-up"))["error"] == "invalid_grant")
    }

    @Test func codeIssuedToAnotherClientIsRefused() async throws {
        let fixture = OAuthFixture()
        let code = try #require(await fixture.authorize()["code"])
        let response = await fixture.send(
            oauthForm(
                "/oauth/token",
                [
                    ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", oauthPublicRedirect),
                    ("code_verifier", oauthPKCEVerifier),
                ], headers: [oauthBasic(OAuthFixture.confidentialClient, OAuthFixture.secret)]))
        #expect(oauthJSON(response)["error"] == "invalid_grant")
    }

    @Test func refreshRotatesAndReuseRevokesTheFamily() async throws {
        let fixture = OAuthFixture()
        let first = await fixture.tokens()
        let r1 = try #require(first["refresh_token"]?.stringValue)
        let second = oauthJSON(await refresh(fixture, r1))
        let r2 = try #require(second["refresh_token"]?.stringValue)
        let a2 = try #require(second["access_token"]?.stringValue)
        #expect(r2 != r1)
        #expect(try await fixture.auth.authenticate(oauthBearer(a2)).get().subject == "alice")

        let reuse = await refresh(fixture, r1)
        #expect(reuse.head.status == .badRequest)
        #expect(oauthJSON(reuse)["error"] == "invalid_grant")
        // The whole family is gone: the rotated token and the access tokens.
        #expect(oauthJSON(await refresh(fixture, r2))["error"] == "invalid_grant")
        #expect(await fixture.auth.authenticate(oauthBearer(a2)).failureResponse?.head.status == .unauthorized)
        let original = try #require(first["access_token"]?.stringValue)
        #expect(await fixture.auth.authenticate(oauthBearer(original)).failureResponse?.head.status == .unauthorized)
    }

    @Test func concurrentRefreshesOfOneTokenLetExactlyOneWin() async throws {
        let fixture = OAuthFixture()
        let r1 = try #require(await fixture.tokens()["refresh_token"]?.stringValue)
        let statuses = await withTaskGroup(of: HTTPResponse.Status.self) { group in
            for _ in 0..<16 { group.addTask { await refresh(fixture, r1).head.status } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses.filter { $0 == .ok }.count == 1)
        #expect(statuses.filter { $0 == .badRequest }.count == 15)
    }

    @Test func refreshMayNarrowButNotWidenScope() async throws {
        let fixture = OAuthFixture()
        let first = await fixture.tokens(scope: "mcp:read")
        let r1 = try #require(first["refresh_token"]?.stringValue)
        #expect(oauthJSON(await refresh(fixture, r1, scope: "mcp:read mcp:write"))["error"] == "invalid_scope")
        let second = await fixture.tokens(scope: "mcp:read mcp:write")
        let narrowed = oauthJSON(await refresh(fixture, second["refresh_token"]!.stringValue!, scope: "mcp:read"))
        #expect(narrowed["scope"] == "mcp:read")
    }

    @Test func expiredRefreshTokenIsRefused() async throws {
        let fixture = OAuthFixture(tokenExpiry: TokenExpiry(refreshToken: 100))
        let r1 = try #require(await fixture.tokens()["refresh_token"]?.stringValue)
        fixture.clock.advance(101)
        #expect(oauthJSON(await refresh(fixture, r1))["error"] == "invalid_grant")
    }

    @Test(arguments: ["basic", "post"])
    func clientCredentials(method: String) async throws {
        let fixture = OAuthFixture()
        var form = [("grant_type", "client_credentials"), ("scope", "mcp:read")]
        var headers: [(String, String)] = []
        if method == "basic" {
            headers.append(oauthBasic(OAuthFixture.confidentialClient, OAuthFixture.secret))
        } else {
            form += [("client_id", OAuthFixture.confidentialClient), ("client_secret", OAuthFixture.secret)]
        }
        // The pre-registered client is client_secret_basic: post must fail with invalid_client.
        let response = await fixture.send(oauthForm("/oauth/token", form, headers: headers))
        if method == "basic" {
            let body = oauthJSON(response)
            #expect(body["refresh_token"] == nil)
            let user = try await fixture.auth.authenticate(oauthBearer(body["access_token"]!.stringValue!)).get()
            #expect(user.subject == OAuthFixture.confidentialClient)
        } else {
            #expect(response.head.status == .unauthorized)
            #expect(oauthJSON(response)["error"] == "invalid_client")
            #expect(response.head.headerFields[.wwwAuthenticate] == nil)
        }
    }

    @Test func tokenEndpointErrors() async {
        let fixture = OAuthFixture()
        func post(_ form: [(String, String)], headers: [(String, String)] = []) async -> HTTPServerResponse {
            await fixture.send(oauthForm("/oauth/token", form, headers: headers))
        }
        let wrongSecret = await post(
            [("grant_type", "client_credentials")], headers: [oauthBasic(OAuthFixture.confidentialClient, "nope")])
        #expect(wrongSecret.head.status == .unauthorized)
        #expect(oauthJSON(wrongSecret)["error"] == "invalid_client")
        #expect(wrongSecret.head.headerFields[.wwwAuthenticate]?.hasPrefix("Basic") == true)

        let unknownClient = await post([("grant_type", "client_credentials"), ("client_id", "ghost")])
        #expect(oauthJSON(unknownClient)["error"] == "invalid_client")

        let publicCC = await post([("grant_type", "client_credentials"), ("client_id", OAuthFixture.publicClient)])
        #expect(oauthJSON(publicCC)["error"] == "unauthorized_client")

        let badGrant = await post([("grant_type", "password"), ("client_id", OAuthFixture.publicClient)])
        #expect(oauthJSON(badGrant)["error"] == "unsupported_grant_type")

        let noGrant = await post([("client_id", OAuthFixture.publicClient)])
        #expect(oauthJSON(noGrant)["error"] == "invalid_request")

        let repeated = await post([
            ("grant_type", "client_credentials"), ("grant_type", "client_credentials"),
            ("client_id", OAuthFixture.publicClient),
        ])
        #expect(oauthJSON(repeated)["error"] == "invalid_request")

        let badScope = await post(
            [("grant_type", "client_credentials"), ("scope", "mcp:admin")],
            headers: [oauthBasic(OAuthFixture.confidentialClient, OAuthFixture.secret)])
        #expect(oauthJSON(badScope)["error"] == "invalid_scope")

        let json = await fixture.send(
            oauthRequest(.post, "/oauth/token", headers: [("Content-Type", "application/json")], body: "{}"))
        #expect(oauthJSON(json)["error"] == "invalid_request")

        let both = await post(
            [("grant_type", "client_credentials"), ("client_secret", "x")],
            headers: [oauthBasic(OAuthFixture.confidentialClient, OAuthFixture.secret)])
        #expect(oauthJSON(both)["error"] == "invalid_request")

        let noCode = await post([("grant_type", "authorization_code"), ("client_id", OAuthFixture.publicClient)])
        #expect(oauthJSON(noCode)["error"] == "invalid_request")
        #expect(noCode.head.headerFields[.cacheControl] == "no-store")
    }

    @Test func revocation() async throws {
        let fixture = OAuthFixture()
        let tokens = await fixture.tokens()
        let access = try #require(tokens["access_token"]?.stringValue)
        let refreshToken = try #require(tokens["refresh_token"]?.stringValue)
        let unknown = await fixture.send(
            oauthForm("/oauth/revoke", [("token", "nonsense"), ("client_id", OAuthFixture.publicClient)]))
        #expect(unknown.head.status == .ok)

        let revokeAccess = await fixture.send(
            oauthForm("/oauth/revoke", [("token", access), ("client_id", OAuthFixture.publicClient)]))
        #expect(revokeAccess.head.status == .ok)
        #expect(await fixture.auth.authenticate(oauthBearer(access)).failureResponse?.head.status == .unauthorized)

        // Another client cannot revoke it; the owner revokes the refresh token and with it the grant.
        _ = await fixture.send(
            oauthForm(
                "/oauth/revoke", [("token", refreshToken)],
                headers: [oauthBasic(OAuthFixture.confidentialClient, OAuthFixture.secret)]))
        #expect(try await fixture.server.storage.refreshToken(digest: OAuthCrypto.digest(refreshToken)) != nil)
        _ = await fixture.send(
            oauthForm("/oauth/revoke", [("token", refreshToken), ("client_id", OAuthFixture.publicClient)]))
        #expect(oauthJSON(await refresh(fixture, refreshToken))["error"] == "invalid_grant")

        let unauthenticated = await fixture.send(oauthForm("/oauth/revoke", [("token", access)]))
        #expect(unauthenticated.head.status == .unauthorized)
    }

    @Test func introspection() async throws {
        let fixture = OAuthFixture()
        let tokens = await fixture.tokens()
        let access = try #require(tokens["access_token"]?.stringValue)
        let refreshToken = try #require(tokens["refresh_token"]?.stringValue)
        func introspect(_ token: String) async -> Value {
            oauthJSON(
                await fixture.send(
                    oauthForm(
                        "/oauth/introspect", [("token", token)],
                        headers: [oauthBasic(OAuthFixture.resourceServerClient, OAuthFixture.secret)])))
        }
        let active = await introspect(access)
        #expect(active["active"] == true)
        #expect(active["sub"] == "alice")
        #expect(active["client_id"]?.stringValue == OAuthFixture.publicClient)
        #expect(active["scope"] == "mcp:read mcp:write")
        #expect(await introspect(refreshToken)["active"] == true)
        #expect(await introspect("garbage") == ["active": false])

        let noAuth = await fixture.send(oauthForm("/oauth/introspect", [("token", access)]))
        #expect(noAuth.head.status == .unauthorized)
        #expect(oauthJSON(noAuth)["error"] == "invalid_client")

        fixture.clock.advance(610)
        #expect(await introspect(access) == ["active": false])
    }
}
