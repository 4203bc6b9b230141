import HTTPTypes
import Logging
import MCPHandlers
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

@Suite struct OAuthRegistrationTests {
    func register(_ fixture: OAuthFixture, _ body: String) async -> HTTPServerResponse {
        await fixture.send(
            oauthRequest(.post, "/oauth/register", headers: [("Content-Type", "application/json")], body: body))
    }

    static let loopbackClient = #"{"redirect_uris":["http://127.0.0.1:9/cb"],"token_endpoint_auth_method":"none"}"#

    /// Registers a public loopback client and returns its id.
    func registerLoopbackClient(_ fixture: OAuthFixture) async throws -> String {
        let response = await register(fixture, Self.loopbackClient)
        return try #require(oauthJSON(response)["client_id"]?.stringValue)
    }

    @Test func publicClientRegistration() async throws {
        let fixture = OAuthFixture()
        let response = await register(
            fixture,
            #"{"redirect_uris":["http://localhost:8765/cb"],"token_endpoint_auth_method":"none","client_name":"CLI","grant_types":["authorization_code","refresh_token"]}"#
        )
        #expect(response.head.status == .created)
        #expect(response.head.headerFields[.cacheControl] == "no-store")
        let doc = oauthJSON(response)
        #expect(doc["client_id"]?.stringValue?.isEmpty == false)
        #expect(doc["client_id_issued_at"]?.intValue != nil)
        #expect(doc["client_secret"] == nil)
        #expect(doc["client_name"] == "CLI")
        #expect(doc["redirect_uris"] == ["http://localhost:8765/cb"])
        #expect(doc["token_endpoint_auth_method"] == "none")
        let stored = try await fixture.server.storage.client(id: doc["client_id"]?.stringValue ?? "")
        #expect(stored?.secretDigest == nil)
    }

    @Test func confidentialClientGetsASecretStoredHashed() async throws {
        let fixture = OAuthFixture()
        let doc = oauthJSON(
            await register(
                fixture,
                #"{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"client_secret_post"}"#))
        let secret = doc["client_secret"]?.stringValue ?? ""
        #expect(!secret.isEmpty)
        #expect(doc["client_secret_expires_at"] == 0)
        let stored = try await fixture.server.storage.client(id: doc["client_id"]?.stringValue ?? "")
        #expect(stored?.secretDigest == OAuthCrypto.digest(secret))
        #expect(stored?.secretDigest != secret)
    }

    @Test(arguments: [
        (#"{"redirect_uris":["http://example.com/cb"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris":["https://app.example.com/cb#frag"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris":["javascript:alert(1)"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris":["data:text/html,hi"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris":["file:///etc/passwd"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris":["ftp://host/cb"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris":["/relative"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris":[]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris":["https://u:p@app.example.com/cb"]}"#, "invalid_redirect_uri"),
        (#"{"redirect_uris":"https://app.example.com/cb"}"#, "invalid_client_metadata"),
        (#"{"redirect_uris":["https://a.example/cb"],"grant_types":["password"]}"#, "invalid_client_metadata"),
        (#"{"redirect_uris":["https://a.example/cb"],"grant_types":["implicit"]}"#, "invalid_client_metadata"),
        (#"{"redirect_uris":["https://a.example/cb"],"response_types":["token"]}"#, "invalid_client_metadata"),
        (
            #"{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}"#,
            "invalid_client_metadata"
        ),
        (#"{"redirect_uris":["https://a.example/cb"],"scope":"mcp:read root"}"#, "invalid_client_metadata"),
        (
            #"{"grant_types":["client_credentials"],"response_types":[],"token_endpoint_auth_method":"none"}"#,
            "invalid_client_metadata"
        ),
        (#"{"grant_types":["client_credentials"],"response_types":[],"scope":"mcp:read"}"#, "invalid_client_metadata"),
        (#"[1,2]"#, "invalid_client_metadata"),
        ("not json", "invalid_client_metadata"),
    ])
    func invalidRegistrations(body: String, error: String) async {
        let fixture = OAuthFixture()
        let response = await register(fixture, body)
        #expect(response.head.status == .badRequest)
        #expect(oauthJSON(response)["error"]?.stringValue == error)
    }

    @Test(arguments: [
        "https://app.example.com/cb", "http://127.0.0.1/cb", "http://[::1]:9000/cb", "http://localhost:3000/cb?x=1",
    ])
    func acceptedRedirectURIs(uri: String) async {
        let fixture = OAuthFixture()
        let response = await register(fixture, #"{"redirect_uris":["\#(uri)"],"token_endpoint_auth_method":"none"}"#)
        #expect(response.head.status == .created)
    }

    /// Open registration never creates a client that gets tokens without a user (issue: an anonymous caller
    /// registered a client_credentials client and got an every-scope token).
    @Test func anonymousRegistrationRefusesClientCredentials() async {
        let fixture = OAuthFixture(registrationToken: "iat-secret-value")
        for body in [
            #"{"grant_types":["client_credentials"],"response_types":[],"scope":"mcp:read"}"#,
            #"{"grant_types":["authorization_code","client_credentials"],"redirect_uris":["https://a.example/cb"]}"#,
        ] {
            let response = await register(fixture, body)
            #expect(response.head.status == .badRequest)
            #expect(oauthJSON(response)["error"] == "invalid_client_metadata")
            #expect(oauthJSON(response)["error_description"]?.stringValue?.contains("initial access token") == true)
        }
    }

    /// With the RFC 7591 initial access token a registration may create a client_credentials client, which must
    /// register its scopes; its token never carries more than those.
    @Test func initialAccessTokenRegistersScopedClientCredentialsClient() async throws {
        let fixture = OAuthFixture(registrationToken: "iat-secret-value")
        let body = #"{"grant_types":["client_credentials"],"response_types":[],"scope":"mcp:read"}"#
        let wrong = await fixture.send(
            oauthRequest(
                .post, "/oauth/register",
                headers: [("Content-Type", "application/json"), ("Authorization", "Bearer nope")], body: body))
        #expect(wrong.head.status == .unauthorized)
        #expect(oauthJSON(wrong)["error"] == "invalid_token")
        #expect(wrong.head.headerFields[.wwwAuthenticate]?.hasPrefix("Bearer error=\"invalid_token\"") == true)

        let unscoped = await fixture.send(
            oauthRequest(
                .post, "/oauth/register",
                headers: [("Content-Type", "application/json"), ("Authorization", "Bearer iat-secret-value")],
                body: #"{"grant_types":["client_credentials"],"response_types":[]}"#))
        #expect(oauthJSON(unscoped)["error"] == "invalid_client_metadata")

        let created = await fixture.send(
            oauthRequest(
                .post, "/oauth/register",
                headers: [("Content-Type", "application/json"), ("Authorization", "Bearer iat-secret-value")],
                body: body))
        #expect(created.head.status == .created)
        let id = try #require(oauthJSON(created)["client_id"]?.stringValue)
        let secret = try #require(oauthJSON(created)["client_secret"]?.stringValue)
        let token = await fixture.send(
            oauthForm("/oauth/token", [("grant_type", "client_credentials")], headers: [oauthBasic(id, secret)]))
        #expect(token.head.status == .ok)
        #expect(oauthJSON(token)["scope"] == "mcp:read")
        let wider = await fixture.send(
            oauthForm(
                "/oauth/token", [("grant_type", "client_credentials"), ("scope", "mcp:read mcp:admin")],
                headers: [oauthBasic(id, secret)]))
        #expect(oauthJSON(wider)["error"] == "invalid_scope")
    }

    /// Without `allowsAnonymousRegistration` every registration needs the initial access token.
    @Test func closedRegistrationNeedsTheToken() async {
        let fixture = OAuthFixture(
            registration: ClientRegistrationPolicy(initialAccessToken: "iat-secret-value", allowsAnonymousRegistration: false))
        let anonymous = await register(fixture, #"{"redirect_uris":["https://a.example/cb"]}"#)
        #expect(anonymous.head.status == .unauthorized)
        #expect(oauthJSON(anonymous)["error"] == "invalid_token")
        let allowed = await fixture.send(
            oauthRequest(
                .post, "/oauth/register",
                headers: [("Content-Type", "application/json"), ("Authorization", "Bearer iat-secret-value")],
                body: #"{"redirect_uris":["https://a.example/cb"]}"#))
        #expect(allowed.head.status == .created)
    }

    /// A pre-registered client_credentials client without scopes is a configuration error (it would get them all).
    @Test func preregisteredClientCredentialsClientNeedsScopes() {
        #expect(throws: OAuthConfigurationError.self) {
            _ = try BuiltInAuthorizationServer(
                configuration: .init(
                    issuer: oauthIssuer,
                    preregisteredClients: [
                        OAuthClient(
                            clientID: "svc", clientSecret: "secret-value", redirectURIs: [],
                            grantTypes: ["client_credentials"])
                    ]),
                logger: Logger(label: "t"))
        }
    }

    /// Registration bodies each exceeding one bound of the default policy.
    static let oversized: [(String, String)] = {
        func body(_ extra: String) -> String { #"{"redirect_uris":["https://a.example/cb"]"# + extra + "}" }
        let many = (0..<11).map { #""https://a.example/"# + String($0) + #"""# }.joined(separator: ",")
        return [
            ("body", String(repeating: " ", count: 9_000) + body("")),
            ("redirect_uris", #"{"redirect_uris":["# + many + "]}"),
            ("redirect_uris", #"{"redirect_uris":["https://a.example/"# + String(repeating: "a", count: 2_100) + #""]}"#),
            ("client_name", body(#","client_name":""# + String(repeating: "n", count: 300) + #"""#)),
            ("contacts", body(#","contacts":["a","b","c","d","e","f"]"#)),
            ("logo_uri", body(#","logo_uri":"https://a.example/"# + String(repeating: "l", count: 2_100) + #"""#)),
            ("software_id", body(#","software_id":""# + String(repeating: "s", count: 300) + #"""#)),
        ]
    }()

    /// A pre-registered client's scopes must be supported and its resources URLs: a typo fails at start.
    @Test func preregisteredClientScopesAndResourcesAreChecked() {
        for client in [
            OAuthClient(clientID: "a", redirectURIs: [], scopes: ["mcp:raed"]),
            OAuthClient(clientID: "b", redirectURIs: [], resources: ["not a url"]),
        ] {
            #expect(throws: OAuthConfigurationError.self) {
                _ = try BuiltInAuthorizationServer(
                    configuration: .init(issuer: oauthIssuer, preregisteredClients: [client]), logger: Logger(label: "t"))
            }
        }
    }

    /// Every registration field is bounded (issue: registration exhausted memory).
    @Test(arguments: OAuthRegistrationTests.oversized)
    func registrationFieldsAreBounded(field: String, body: String) async {
        let fixture = OAuthFixture()
        let response = await register(fixture, body)
        #expect(response.head.status == .badRequest, "\(field)")
        #expect(oauthJSON(response)["error"] == "invalid_client_metadata")
        let description = oauthJSON(response)["error_description"]?.stringValue ?? ""
        #expect(description.contains(field == "body" ? "8192 bytes" : field), "\(description)")
    }

    /// Repeated grant types, contacts and scopes are kept once.
    @Test func duplicatesAreKeptOnce() async {
        let fixture = OAuthFixture()
        let response = await register(
            fixture,
            #"{"redirect_uris":["https://a.example/cb","https://a.example/cb"],"grant_types":["authorization_code","authorization_code"],"scope":"mcp:read mcp:read"}"#
        )
        #expect(response.head.status == .created)
        #expect(oauthJSON(response)["redirect_uris"] == ["https://a.example/cb"])
        #expect(oauthJSON(response)["grant_types"] == ["authorization_code"])
        #expect(oauthJSON(response)["scope"] == "mcp:read")
    }

    /// The registered-client store is capped: when full, the oldest never-used client old enough is evicted; a
    /// flood of fresh registrations is refused (429, Retry-After) instead of evicting a client in use or one
    /// registered moments ago; used clients are never evicted.
    @Test func registeredClientsAreCappedWithEvictionOfOldUnusedOnes() async throws {
        let fixture = OAuthFixture(
            registration: ClientRegistrationPolicy(maximumClients: 3, unusedClientLifetime: 3_600, minimumAgeBeforeEviction: 600))
        var ids: [String] = []
        for _ in 0..<3 {
            let response = await register(fixture, Self.loopbackClient)
            #expect(response.head.status == .created)
            ids.append(try #require(oauthJSON(response)["client_id"]?.stringValue))
        }
        // Full, and every client is younger than the minimum age: refused, nobody evicted.
        let full = await register(fixture, Self.loopbackClient)
        #expect(full.head.status == .tooManyRequests)
        #expect(oauthJSON(full)["error"] == "temporarily_unavailable")
        #expect(full.head.headerFields[.retryAfter] == "600")
        // The first client gets a token: it is used and can never be evicted.
        _ = await fixture.tokens(clientID: ids[0], redirectURI: "http://127.0.0.1:9/cb")
        fixture.clock.advance(601)
        let fourth = await register(fixture, Self.loopbackClient)
        #expect(fourth.head.status == .created)
        let storage = try #require(fixture.server.storage as? InMemoryOAuthStorage)
        #expect(storage.client(id: ids[0]) != nil)
        #expect(storage.client(id: ids[1]) == nil)  // the oldest unused one made room
        #expect(storage.client(id: ids[2]) != nil)
        #expect(storage.registeredClientCount == 3)
    }

    /// A store full of used clients makes room by evicting the least recently used one idle long enough, never
    /// one used moments ago; a client that only got an authorization code counts as used.
    @Test func fullStoreOfUsedClientsEvictsTheLeastRecentlyUsed() async throws {
        let fixture = OAuthFixture(
            registration: ClientRegistrationPolicy(maximumClients: 2, minimumAgeBeforeEviction: 600))
        let first = try await registerLoopbackClient(fixture)
        let second = try await registerLoopbackClient(fixture)
        _ = await fixture.tokens(clientID: first, redirectURI: "http://127.0.0.1:9/cb")
        fixture.clock.advance(700)
        // Only a code, no token: in use all the same.
        #expect(await fixture.authorize(clientID: second, redirectURI: "http://127.0.0.1:9/cb")["code"] != nil)
        let third = await register(fixture, Self.loopbackClient)
        #expect(third.head.status == .created)
        let storage = try #require(fixture.server.storage as? InMemoryOAuthStorage)
        #expect(storage.client(id: first) == nil)  // least recently used, 700 s ago
        #expect(storage.client(id: second) != nil)  // used just now
        // Now everything was used or registered within the minimum age: refused.
        let fourth = await register(fixture, Self.loopbackClient)
        #expect(fourth.head.status == .tooManyRequests)
    }

    /// A used client inactive for `inactiveClientLifetime` is removed by the sweep.
    @Test func inactiveClientsExpire() async throws {
        let fixture = OAuthFixture(
            registration: ClientRegistrationPolicy(unusedClientLifetime: 3_600, inactiveClientLifetime: 86_400))
        let id = try await registerLoopbackClient(fixture)
        _ = await fixture.tokens(clientID: id, redirectURI: "http://127.0.0.1:9/cb")
        let storage = try #require(fixture.server.storage as? InMemoryOAuthStorage)
        fixture.clock.advance(80_000)
        _ = await fixture.send(oauthRequest(.get, "/oauth/jwks"))
        #expect(storage.client(id: id) != nil)
        fixture.clock.advance(7_000)
        _ = await fixture.send(oauthRequest(.get, "/oauth/jwks"))
        #expect(storage.client(id: id) == nil)
    }

    /// A registered client that never got a token is removed after `unusedClientLifetime`; a used one stays.
    @Test func unusedClientsExpire() async throws {
        let fixture = OAuthFixture(registration: ClientRegistrationPolicy(unusedClientLifetime: 3_600))
        let used = try await registerLoopbackClient(fixture)
        let unused = try await registerLoopbackClient(fixture)
        _ = await fixture.tokens(clientID: used, redirectURI: "http://127.0.0.1:9/cb")
        fixture.clock.advance(3_700)
        _ = await fixture.send(oauthRequest(.get, "/oauth/jwks"))  // any request runs the due sweep
        let storage = try #require(fixture.server.storage as? InMemoryOAuthStorage)
        #expect(storage.client(id: used) != nil)
        #expect(storage.client(id: unused) == nil)
        let gone = await fixture.send(
            oauthForm("/oauth/token", [("grant_type", "authorization_code"), ("code", "x"), ("client_id", unused)]))
        #expect(oauthJSON(gone)["error"] == "invalid_client")
    }
}
