import Foundation
import HTTPTypes
import MCPHandlers
import Synchronization
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

@Suite struct OAuthClientMetadataDocumentTests {
    static let clientID = "https://app.example.net/oauth/client.json"

    final class Documents: Sendable {
        let fetched = Mutex<[String]>([])
        let body: String
        init(_ body: String) { self.body = body }
        var fetcher: HTTPFetcher {
            HTTPFetcher { request in
                self.fetched.withLock { $0.append(request.url) }
                return (200, Array(self.body.utf8))
            }
        }
    }

    static let goodDocument = """
        {"client_id":"\(clientID)","client_name":"Example <b>App</b>","redirect_uris":["\(oauthPublicRedirect)"],
         "grant_types":["authorization_code","refresh_token"],"token_endpoint_auth_method":"none"}
        """

    @Test func metadataAdvertisesSupport() async {
        let fixture = OAuthFixture(cimd: ClientIDMetadataDocuments(fetcher: Documents("{}").fetcher))
        let doc = oauthJSON(await fixture.send(oauthRequest(.get, "/.well-known/oauth-authorization-server")))
        #expect(doc["client_id_metadata_document_supported"] == true)
    }

    @Test func fullFlowWithAURLClientID() async throws {
        let documents = Documents(Self.goodDocument)
        let fixture = OAuthFixture(cimd: ClientIDMetadataDocuments(fetcher: documents.fetcher))
        let tokens = await fixture.tokens(clientID: Self.clientID)
        let access = try #require(tokens["access_token"]?.stringValue)
        let user = try await fixture.auth.authenticate(oauthBearer(access)).get()
        #expect(user.clientID == Self.clientID)
        #expect(documents.fetched.withLock { $0 } == [Self.clientID])
    }

    @Test func consentShowsTheDocumentsNameEscaped() async {
        let fixture = OAuthFixture(cimd: ClientIDMetadataDocuments(fetcher: Documents(Self.goodDocument).fetcher))
        let query = FormParameters.encode([
            ("response_type", "code"), ("client_id", Self.clientID), ("redirect_uri", oauthPublicRedirect),
            ("code_challenge", OAuthCrypto.s256Challenge(of: oauthPKCEVerifier)), ("code_challenge_method", "S256"),
        ])
        let page = await fixture.send(oauthRequest(.get, "/oauth/authorize?" + query, user: "alice"))
        #expect(page.head.status == .ok)
        #expect(oauthHTML(page).contains("Example &lt;b&gt;App&lt;/b&gt;"))
    }

    @Test(arguments: [
        (
            #"{"client_id":"https://other.example/c.json","redirect_uris":["http://127.0.0.1:33418/callback"]}"#,
            clientID
        ),
        (#"{"client_id":"\#(clientID)","redirect_uris":["http://evil.example/cb"]}"#, clientID),
        (#"{"client_id":"\#(clientID)","redirect_uris":[]}"#, clientID),
        (
            #"{"client_id":"\#(clientID)","redirect_uris":["http://127.0.0.1:33418/callback"],"token_endpoint_auth_method":"client_secret_basic"}"#,
            clientID
        ),
        ("not json", clientID),
        (goodDocument, "http://app.example.net/oauth/client.json"),
        (goodDocument, "https://app.example.net/"),
    ])
    func rejectedDocumentsGiveTheHTMLPage(document: String, clientID: String) async {
        let fixture = OAuthFixture(cimd: ClientIDMetadataDocuments(fetcher: Documents(document).fetcher))
        let redirect = await fixture.authorize(clientID: clientID)
        #expect(redirect["status"] == "400")
    }

    @Test func hostAllowListAndCache() async {
        let documents = Documents(Self.goodDocument)
        let blocked = OAuthFixture(
            cimd: ClientIDMetadataDocuments(allowedHosts: ["trusted.example"], fetcher: documents.fetcher))
        #expect(await blocked.authorize(clientID: Self.clientID)["status"] == "400")
        #expect(documents.fetched.withLock { $0.isEmpty })

        let fixture = OAuthFixture(cimd: ClientIDMetadataDocuments(cacheTTL: 300, fetcher: documents.fetcher))
        _ = await fixture.authorize(clientID: Self.clientID)
        _ = await fixture.authorize(clientID: Self.clientID)
        #expect(documents.fetched.withLock { $0.count } == 1)
        fixture.clock.advance(301)
        _ = await fixture.authorize(clientID: Self.clientID)
        #expect(documents.fetched.withLock { $0.count } == 2)
    }

    @Test func theDefaultFetcherRefusesInternalAddressesWithInvalidClient() async throws {
        let server = try ScriptedHTTPServer(.document(Self.goodDocument))
        defer { server.stop() }
        let fixture = OAuthFixture(cimd: ClientIDMetadataDocuments())
        for (clientID, range) in [
            ("https://127.0.0.1:\(server.port)/client.json", "loopback"),
            ("https://localhost:\(server.port)/client.json", "loopback"),
            ("https://169.254.169.254/latest/client.json", "link-local"),
            ("https://[::ffff:10.0.0.7]/client.json", "private"),
        ] {
            #expect(await fixture.authorize(clientID: clientID)["status"] == "400")
            let error = try #require(await fixture.server.resolveClientOrError(clientID).failure)
            #expect(error.code == .invalidClient)
            #expect(error.errorDescription.contains(range), "\(error.errorDescription)")
        }
        #expect(server.connections == 0)
    }

    @Test func allowPrivateAddressesReachesALocalServer() async throws {
        // The switch for tests and private networks: the fetch reaches the local (plain-HTTP) server, whose
        // answer to a TLS handshake is a transport failure, still an invalid_client.
        let server = try ScriptedHTTPServer(.document(Self.goodDocument))
        defer { server.stop() }
        let fixture = OAuthFixture(cimd: ClientIDMetadataDocuments(timeout: .seconds(1), allowPrivateAddresses: true))
        let error = try #require(
            await fixture.server.resolveClientOrError("https://127.0.0.1:\(server.port)/client.json").failure)
        #expect(error.code == .invalidClient)
        #expect(server.connections == 1)
    }

    @Test func eachRefusalIsAnInvalidClientWithADescription() async throws {
        let oversized = Documents(String(repeating: " ", count: 6000))
        let fixture = OAuthFixture(cimd: ClientIDMetadataDocuments(fetcher: oversized.fetcher))
        let tooLarge = try #require(await fixture.server.resolveClientOrError(Self.clientID).failure)
        #expect(tooLarge == OAuthError(.invalidClient, "Client metadata document refused: the document is larger than 5120 bytes"))
        let redirecting = OAuthFixture(
            cimd: ClientIDMetadataDocuments(
                fetcher: HTTPFetcher { _ in throw RestrictedHTTPFetcher.Failure(.redirect, "moved (HTTP 302)") }))
        #expect(
            await redirecting.server.resolveClientOrError(Self.clientID).failure
                == OAuthError(.invalidClient, "Client metadata document refused: moved (HTTP 302)"))
        let notJSON = OAuthFixture(cimd: ClientIDMetadataDocuments(fetcher: Documents("not json").fetcher))
        #expect(await notJSON.server.resolveClientOrError(Self.clientID).failure?.code == .invalidClient)
    }

    @Test func unreachableDocumentIsAnUnknownClient() async {
        let fixture = OAuthFixture(
            cimd: ClientIDMetadataDocuments(fetcher: HTTPFetcher { _ in throw CancellationError() }))
        #expect(await fixture.authorize(clientID: Self.clientID)["status"] == "400")
    }
}

extension Result {
    /// The error, or nil on success.
    var failure: Failure? { if case .failure(let error) = self { error } else { nil } }
}

