import Foundation
import HTTPTypes
import MCPHandlers
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

@Suite struct OAuthSharedKeyTests {
    @Test func workersSharingAKeyFileAcceptEachOthersFormsAndTokens() async throws {
        let pem = BuiltInAuthorizationServer.generateSigningKeyPEM()
        let storage = InMemoryOAuthStorage()
        func worker() throws -> BuiltInAuthorizationServer {
            try BuiltInAuthorizationServer(
                configuration: .init(
                    issuer: oauthIssuer, storage: storage,
                    preregisteredClients: [OAuthClient(clientID: "c", redirectURIs: [oauthPublicRedirect])],
                    signingKey: .pem(pem), rateLimit: .unlimited),
                logger: .init(label: "t"))
        }
        let a = try worker()
        let b = try worker()
        let query = FormParameters.encode([
            ("response_type", "code"), ("client_id", "c"), ("redirect_uri", oauthPublicRedirect),
            ("code_challenge", OAuthCrypto.s256Challenge(of: oauthPKCEVerifier)), ("code_challenge_method", "S256"),
        ])
        let page = await a.respond(to: oauthRequest(.get, "/oauth/authorize?" + query, user: "alice"))
        let answer = await b.respond(
            to: oauthForm("/oauth/authorize", oauthHiddenFields(page) + [("decision", "approve")], user: "alice"))
        let code = try #require(oauthRedirectQuery(answer)["code"])
        let tokens = oauthJSON(
            await a.respond(
                to: oauthForm(
                    "/oauth/token",
                    [
                        ("grant_type", "authorization_code"), ("code", code), ("client_id", "c"),
                        ("redirect_uri", oauthPublicRedirect), ("code_verifier", oauthPKCEVerifier),
                    ])))
        let access = try #require(tokens["access_token"]?.stringValue)
        #expect(try await b.resourceServer().authenticate(oauthBearer(access)).get().subject == "alice")
    }
}
