import HTTPTypes
import MCPHandlers
import Testing

@testable import MCPFCGI

@Suite struct OAuthRegistrationTests {
    func register(_ fixture: OAuthFixture, _ body: String) async -> HTTPServerResponse {
        await fixture.send(
            oauthRequest(.post, "/oauth/register", headers: [("Content-Type", "application/json")], body: body))
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

    @Test func confidentialClientCredentialsOnlyClient() async {
        let fixture = OAuthFixture()
        let response = await register(
            fixture,
            #"{"grant_types":["client_credentials"],"response_types":[],"token_endpoint_auth_method":"client_secret_basic"}"#
        )
        #expect(response.head.status == .created)
    }
}
