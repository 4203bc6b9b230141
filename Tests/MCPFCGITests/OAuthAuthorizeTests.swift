import HTTPTypes
import MCPHandlers
import Testing

@testable import MCPFCGI

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
                == "frame-ancestors 'none'; default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
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
    func errorsRedirectWithIssAndState(overrides: [String: String?], error: String) async {
        let fixture = OAuthFixture()
        let redirect = oauthRedirectQuery(await fixture.send(oauthRequest(.get, query(overrides), user: "alice")))
        #expect(redirect["base"] == oauthPublicRedirect)
        #expect(redirect["error"] == error)
        #expect(redirect["state"] == "st-1")
        #expect(redirect["iss"] == oauthIssuer)
        #expect(redirect["code"] == nil)
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
