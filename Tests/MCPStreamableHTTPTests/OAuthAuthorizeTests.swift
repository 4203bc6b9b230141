import HTTPTypes
import MCPHandlers
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

@Suite struct OAuthAuthorizeTests {
    static let challenge = OAuthCrypto.s256Challenge(of: oauthPKCEVerifier)

    func query(_ overrides: [String: String?]) -> String {
        var params: [String: String] = [
            "response_type": "code", "client_id": OAuthFixture.publicClient, "redirect_uri": oauthPublicRedirect,
            "code_challenge": Self.challenge, "code_challenge_method": "S256", "state": "st-1", "scope": "mcp:read",
            "resource": oauthResource,
        ]
        for (key, value) in overrides { params[key] = value }
        return "/oauth/authorize?" + FormParameters.encode(params.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }

    @Test func consentPageIsSafeAndComplete() async {
        let fixture = OAuthFixture()
        let response = await fixture.send(oauthRequest(.get, query([:]), user: "alice"))
        #expect(response.head.status == .ok)
        let fields = response.head.headerFields
        #expect(fields[.xFrameOptions] == "DENY")
        #expect(
            fields[.contentSecurityPolicy]
                == "frame-ancestors 'none'; default-src 'none'; style-src 'unsafe-inline'; "
                + "form-action 'self' http://127.0.0.1:33418")
        #expect(fields[.cacheControl] == "no-store")
        let html = oauthHTML(response)
        #expect(html.contains("Public &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co"))
        #expect(!html.contains("<script>"))
        #expect(html.contains("mcp:read"))
        #expect(html.contains("127.0.0.1:33418"))
        #expect(html.contains(">Approve</button>"))
        #expect(html.contains(">Deny</button>"))
        #expect(html.contains("method=\"post\""))
        #expect(oauthHiddenFields(response).contains { $0.0 == "csrf_token" })
    }

    /// Browsers apply `form-action` to the redirect that answers the consent form's POST: the page must allow the
    /// validated redirect URI's origin (and only it), or Approve and Deny do nothing.
    @Test(arguments: [
        (oauthPublicRedirect, "http://127.0.0.1:33418"), ("http://127.0.0.1:50123/callback", "http://127.0.0.1:50123"),
        ("https://app.example.com/cb", "https://app.example.com"),
    ])
    func consentPageLetsItsFormAnswerRedirectToTheClient(redirect: String, origin: String) async {
        let fixture = OAuthFixture()
        let response = await fixture.send(oauthRequest(.get, query(["redirect_uri": redirect]), user: "alice"))
        #expect(response.head.status == .ok)
        let policy = response.head.headerFields[.contentSecurityPolicy] ?? ""
        #expect(policy.hasSuffix("; form-action 'self' \(origin)"))
        #expect(policy.hasPrefix("frame-ancestors 'none'; default-src 'none';"))
        #expect(response.head.headerFields[.xFrameOptions] == "DENY")
    }

    @Test(arguments: [
        ("https://App.Example.COM:8443/cb?x=1", "https://app.example.com:8443"),
        ("http://localhost/cb", "http://localhost"),
        ("http://[::1]:8080/cb", "http:"), ("https://[2001:db8::1]/cb", "https:"),
        ("https://x;script-src.example/cb", nil), ("https://%41.example/cb", nil), ("https://a..example/cb", nil),
    ] as [(String, String?)])
    func formActionSourceIsTheOriginOrNothingUnsafe(uri: String, source: String?) {
        #expect(RedirectURI.formActionSource(uri) == source)
    }

    @Test func errorPagesAllowNoFormTargetElsewhere() async {
        let fixture = OAuthFixture()
        let response = await fixture.send(oauthRequest(.get, query(["client_id": "nope"]), user: "alice"))
        #expect(response.head.headerFields[.contentSecurityPolicy] == HTMLPage.contentSecurityPolicy)
        #expect(HTMLPage.contentSecurityPolicy.hasSuffix("form-action 'self'"))
    }

    @Test func unknownClientIsAnHTMLPageNotARedirect() async {
        let fixture = OAuthFixture()
        let response = await fixture.send(oauthRequest(.get, query(["client_id": "nope"]), user: "alice"))
        #expect(response.head.status == .badRequest)
        #expect(response.head.headerFields[.location] == nil)
        #expect(response.head.headerFields[.contentType]?.hasPrefix("text/html") == true)
    }

    @Test(arguments: [
        "https://evil.example/cb", "http://127.0.0.1:33418/other", "http://127.0.0.1:33418/callback#x",
        "https://app.example.com/cb/extra",
    ])
    func badRedirectIsAnHTMLPage(redirect: String) async {
        let fixture = OAuthFixture()
        let response = await fixture.send(oauthRequest(.get, query(["redirect_uri": redirect]), user: "alice"))
        #expect(response.head.status == .badRequest)
        #expect(response.head.headerFields[.location] == nil)
    }

    @Test func missingRedirectWithSeveralRegisteredIsAPage() async {
        let fixture = OAuthFixture()
        let response = await fixture.send(oauthRequest(.get, query(["redirect_uri": nil]), user: "alice"))
        #expect(response.head.status == .badRequest)
    }

    @Test func loopbackRedirectMayUseAnotherPort() async {
        let fixture = OAuthFixture()
        let response = await fixture.send(
            oauthRequest(.get, query(["redirect_uri": "http://127.0.0.1:50123/callback"]), user: "alice"))
        #expect(response.head.status == .ok)
    }

    @Test(
        arguments: [
            (["code_challenge_method": "plain"], "invalid_request"),
            (["code_challenge_method": nil], "invalid_request"),
            (["code_challenge": nil], "invalid_request"),
            (["code_challenge": "short"], "invalid_request"),
            (["resource": "https://other.example.com/mcp"], "invalid_target"),
            (["scope": "mcp:read root"], "invalid_scope"),
            (["response_type": "token"], "unsupported_response_type"),
            (["response_type": nil], "invalid_request"),
        ] as [([String: String?], String)])
    func preregisteredClientErrorsRedirectWithIssAndState(overrides: [String: String?], error: String) async {
        let fixture = OAuthFixture()
        let redirect = oauthRedirectQuery(await fixture.send(oauthRequest(.get, query(overrides), user: "alice")))
        #expect(redirect["base"] == oauthPublicRedirect)
        #expect(redirect["error"] == error)
        #expect(redirect["state"] == "st-1")
        #expect(redirect["iss"] == oauthIssuer)
        #expect(redirect["code"] == nil)
    }

    /// Registers a public client for `redirect` through `/oauth/register` (not pre-registered, so not trusted).
    func dynamicClient(_ fixture: OAuthFixture, redirect: String = "https://evil.example/landing") async -> String {
        let response = await fixture.send(
            oauthRequest(
                .post, "/oauth/register", headers: [("Content-Type", "application/json")],
                body: #"{"redirect_uris":["\#(redirect)"],"token_endpoint_auth_method":"none","client_name":"Dyn"}"#))
        return oauthJSON(response)["client_id"]?.stringValue ?? "registration failed: \(response.head.status)"
    }

    /// RFC 9700 §4.11.2: a self-registered client's redirect URI is not trusted, so a request error that needs no
    /// sign-in must not bounce the browser there (an open redirector through this server).
    @Test(
        arguments: [
            (["code_challenge_method": "plain"], "invalid_request"),
            (["code_challenge": nil], "invalid_request"),
            (["resource": "https://other.example.com/mcp"], "invalid_target"),
            (["scope": "mcp:read root"], "invalid_scope"),
            (["response_type": "token"], "unsupported_response_type"),
            (["response_type": nil], "invalid_request"),
        ] as [([String: String?], String)])
    func dynamicClientErrorsAreAPageNotARedirect(overrides: [String: String?], error: String) async {
        let fixture = OAuthFixture()
        let clientID = await dynamicClient(fixture)
        var all = overrides
        all["client_id"] = clientID
        all["redirect_uri"] = "https://evil.example/landing"
        for user in ["alice", nil] {
            let response = await fixture.send(oauthRequest(.get, query(all), user: user))
            #expect(response.head.status == .badRequest)
            #expect(response.head.headerFields[.location] == nil)
            #expect(response.head.headerFields[.contentType]?.hasPrefix("text/html") == true)
            #expect(response.head.headerFields[.contentSecurityPolicy] == HTMLPage.contentSecurityPolicy)
            let html = oauthHTML(response)
            #expect(html.contains(error))
            #expect(!html.contains("evil.example"))
        }
    }

    @Test func dynamicClientStillGetsTheUsersAnswer() async {
        let fixture = OAuthFixture()
        let clientID = await dynamicClient(fixture, redirect: "https://app.example.org/cb")
        let denied = await fixture.authorize(
            clientID: clientID, redirectURI: "https://app.example.org/cb", scope: "mcp:read", decision: "deny")
        #expect(denied["base"] == "https://app.example.org/cb")
        #expect(denied["error"] == "access_denied")
        #expect(denied["state"] == "xyz")
        #expect(denied["iss"] == oauthIssuer)
        let approved = await fixture.authorize(
            clientID: clientID, redirectURI: "https://app.example.org/cb", scope: "mcp:read")
        #expect(approved["base"] == "https://app.example.org/cb")
        #expect(approved["code"]?.isEmpty == false)
        #expect(approved["state"] == "xyz")
        #expect(approved["iss"] == oauthIssuer)
    }

    @Test func consentPostWithoutADecision() async {
        let fixture = OAuthFixture()
        let dynamic = await dynamicClient(fixture, redirect: "https://app.example.org/cb")
        let clients = [(dynamic, "https://app.example.org/cb"), (OAuthFixture.publicClient, oauthPublicRedirect)]
        for (clientID, redirect) in clients {
            let page = await fixture.send(
                oauthRequest(.get, query(["client_id": clientID, "redirect_uri": redirect]), user: "alice"))
            #expect(page.head.status == .ok)
            let answer = await fixture.send(oauthForm("/oauth/authorize", oauthHiddenFields(page), user: "alice"))
            if clientID == dynamic {
                #expect(answer.head.status == .badRequest)
                #expect(answer.head.headerFields[.location] == nil)
            } else {
                #expect(oauthRedirectQuery(answer)["error"] == "invalid_request")
            }
        }
    }

    @Test func noUserIs401Page() async {
        let fixture = OAuthFixture()
        let response = await fixture.send(oauthRequest(.get, query([:])))
        #expect(response.head.status == .unauthorized)
        #expect(oauthHTML(response).contains("nginx"))
    }

    @Test func customAuthenticatorDecides() async {
        let fixture = OAuthFixture(
            authenticator: .custom { request in
                request.head.headerFields[.cookie] == "session=ok"
                    ? .authenticated(subject: "bob")
                    : .respond(HTTPServerResponse(status: .seeOther, headerFields: [.location: "/login"]))
            })
        let refused = await fixture.send(oauthRequest(.get, query([:])))
        #expect(refused.head.status == .seeOther)
        let page = await fixture.send(oauthRequest(.get, query([:]), headers: [("Cookie", "session=ok")]))
        #expect(oauthHTML(page).contains("bob"))
    }

    @Test func approveRedirectsWithCodeStateAndIss() async {
        let fixture = OAuthFixture()
        let redirect = await fixture.authorize(state: "s p&ce")
        #expect(redirect["base"] == oauthPublicRedirect)
        #expect(redirect["code"]?.isEmpty == false)
        #expect(redirect["state"] == "s p&ce")
        #expect(redirect["iss"] == oauthIssuer)
    }

    @Test func denyRedirectsWithAccessDenied() async {
        let fixture = OAuthFixture()
        let redirect = await fixture.authorize(decision: "deny")
        #expect(redirect["error"] == "access_denied")
        #expect(redirect["state"] == "xyz")
        #expect(redirect["iss"] == oauthIssuer)
        #expect(redirect["code"] == nil)
    }

    @Test func csrfMismatchIsRefused() async {
        let fixture = OAuthFixture()
        let page = await fixture.send(oauthRequest(.get, query([:]), user: "alice"))
        var form = oauthHiddenFields(page)
        // A token bound to other parameters (here: another scope) must not be accepted.
        form = form.map { $0.0 == "scope" ? ("scope", "mcp:read mcp:write") : $0 }
        form.append(("decision", "approve"))
        let tampered = await fixture.send(oauthForm("/oauth/authorize", form, user: "alice"))
        #expect(tampered.head.status == .forbidden)
        #expect(tampered.head.headerFields[.location] == nil)

        var other = oauthHiddenFields(page)
        other.append(("decision", "approve"))
        let otherUser = await fixture.send(oauthForm("/oauth/authorize", other, user: "mallory"))
        #expect(otherUser.head.status == .forbidden)

        var missing = oauthHiddenFields(page).filter { $0.0 != "csrf_token" }
        missing.append(("decision", "approve"))
        #expect(await fixture.send(oauthForm("/oauth/authorize", missing, user: "alice")).head.status == .forbidden)

        fixture.clock.advance(601)
        var expired = oauthHiddenFields(page)
        expired.append(("decision", "approve"))
        #expect(await fixture.send(oauthForm("/oauth/authorize", expired, user: "alice")).head.status == .forbidden)
    }

    @Test func consentPostRevalidatesTheRequest() async {
        let fixture = OAuthFixture()
        let page = await fixture.send(oauthRequest(.get, query([:]), user: "alice"))
        var form = oauthHiddenFields(page).map {
            $0.0 == "redirect_uri" ? ("redirect_uri", "https://evil.example/cb") : $0
        }
        form.append(("decision", "approve"))
        let response = await fixture.send(oauthForm("/oauth/authorize", form, user: "alice"))
        #expect(response.head.status == .badRequest)
        #expect(response.head.headerFields[.location] == nil)
    }
}
