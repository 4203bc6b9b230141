import Foundation
import HTTPTypes
import Logging
import MCPHandlers
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

@Suite struct OAuthMetadataTests {
    @Test(arguments: ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"])
    func authorizationServerMetadata(path: String) async throws {
        let fixture = OAuthFixture()
        let response = await fixture.send(oauthRequest(.get, path))
        #expect(response.head.status == .ok)
        let doc = oauthJSON(response)
        #expect(doc["issuer"] == "https://mcp.example.com")
        #expect(doc["authorization_endpoint"] == "https://mcp.example.com/oauth/authorize")
        #expect(doc["token_endpoint"] == "https://mcp.example.com/oauth/token")
        #expect(doc["registration_endpoint"] == "https://mcp.example.com/oauth/register")
        #expect(doc["revocation_endpoint"] == "https://mcp.example.com/oauth/revoke")
        #expect(doc["introspection_endpoint"] == "https://mcp.example.com/oauth/introspect")
        #expect(doc["jwks_uri"] == "https://mcp.example.com/oauth/jwks")
        #expect(doc["code_challenge_methods_supported"] == ["S256"])
        #expect(doc["response_types_supported"] == ["code"])
        #expect(doc["grant_types_supported"] == ["authorization_code", "refresh_token", "client_credentials"])
        #expect(doc["token_endpoint_auth_methods_supported"] == ["none", "client_secret_basic", "client_secret_post"])
        #expect(doc["scopes_supported"] == ["mcp:read", "mcp:write", "mcp:admin"])
        #expect(doc["authorization_response_iss_parameter_supported"] == true)
        #expect(doc["client_id_metadata_document_supported"] == nil)
    }

    @Test func registrationEndpointOmittedWhenDisabled() async {
        let fixture = OAuthFixture(disableDCR: true)
        let doc = oauthJSON(await fixture.send(oauthRequest(.get, "/.well-known/oauth-authorization-server")))
        #expect(doc["registration_endpoint"] == nil)
        let register = await fixture.send(
            oauthRequest(.post, "/oauth/register", headers: [("Content-Type", "application/json")], body: "{}"))
        #expect(register.head.status == .notFound)
    }

    @Test(arguments: ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"])
    func protectedResourceMetadata(path: String) async {
        let fixture = OAuthFixture()
        let response = await fixture.send(oauthRequest(.get, path))
        #expect(response.head.status == .ok)
        let doc = oauthJSON(response)
        #expect(doc["resource"] == "https://mcp.example.com/mcp")
        #expect(doc["authorization_servers"] == ["https://mcp.example.com"])
        #expect(doc["bearer_methods_supported"] == ["header"])
        #expect(doc["scopes_supported"] == ["mcp:read", "mcp:write", "mcp:admin"])
        #expect(
            fixture.auth.resourceMetadata?.metadataURL
                == "https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
    }

    @Test func jwksPublishesTheES256Key() async {
        let fixture = OAuthFixture()
        let doc = oauthJSON(await fixture.send(oauthRequest(.get, "/oauth/jwks")))
        let key = doc["keys"]?.arrayValue?.first
        #expect(key?["kty"] == "EC")
        #expect(key?["crv"] == "P-256")
        #expect(key?["alg"] == "ES256")
        #expect(key?["kid"]?.stringValue == fixture.server.key.kid)
        #expect(key?["d"] == nil)
    }

    @Test func routingAnswersOnlyItsPathsAnd405() async {
        let fixture = OAuthFixture()
        #expect(await fixture.auth.route(oauthRequest(.get, "/mcp")) == nil)
        let wrong = await fixture.auth.route(oauthRequest(.delete, "/oauth/token"))
        #expect(wrong?.head.status == .methodNotAllowed)
        #expect(wrong?.head.headerFields[.allow] == "POST")
        let wrongPRM = await fixture.auth.route(oauthRequest(.post, "/.well-known/oauth-protected-resource"))
        #expect(wrongPRM?.head.status == .methodNotAllowed)
        var router = Router()
        fixture.auth.addRoutes(to: &router)
        #expect(router.hasRoute(at: "/oauth/register"))
        #expect(router.hasRoute(at: "/.well-known/oauth-protected-resource/mcp"))
        let viaRouter = await router.respond(to: oauthRequest(.get, "/.well-known/oauth-authorization-server"))
        #expect(viaRouter.head.status == .ok)
    }

    @Test func anonymousModeHasNoRoutesAndLetsEveryoneIn() async throws {
        let auth = try MCPAuthorization(configuration: .anonymous, logger: Logger(label: "t"))
        #expect(auth.routes.isEmpty)
        #expect(await auth.route(oauthRequest(.get, "/.well-known/oauth-protected-resource")) == nil)
        #expect(try await auth.authenticate(oauthRequest(.post, "/mcp")).get() == .anonymous)
    }

    @Test func externalModeFailsClosed() async throws {
        let auth = try MCPAuthorization(
            configuration: .external(
                .init(
                    issuer: "https://idp.example.com/", resourceURL: oauthResource,
                    fetcher: HTTPFetcher { _ in throw CancellationError() })),
            logger: Logger(label: "t"))
        let doc = oauthJSON(
            try #require(await auth.route(oauthRequest(.get, "/.well-known/oauth-protected-resource/mcp"))))
        #expect(doc["authorization_servers"] == ["https://idp.example.com"])
        let token = try await SigningKey(.generated).sign(
            AccessTokenClaims(
                issuer: "https://idp.example.com", subject: "a", audience: [oauthResource], clientID: "c", scope: "",
                expiresAt: Int(Date().timeIntervalSince1970) + 60, issuedAt: Int(Date().timeIntervalSince1970),
                tokenID: "j"))
        #expect(await auth.authenticate(oauthBearer("abc")).failureResponse?.head.status == .unauthorized)
        let result = await auth.authenticate(oauthBearer(token))
        #expect(result.failureResponse?.head.status == .serviceUnavailable)
    }

    @Test func badSigningKeyAndURLsAreConfigurationErrors() {
        #expect(throws: OAuthConfigurationError.self) {
            try BuiltInAuthorizationServer(
                configuration: .init(issuer: oauthIssuer, signingKey: .pem("not a key")), logger: Logger(label: "t"))
        }
        #expect(throws: OAuthConfigurationError.self) {
            try BuiltInAuthorizationServer(
                configuration: .init(issuer: oauthIssuer, signingKey: .pemFile("/nonexistent/key.pem")),
                logger: Logger(label: "t"))
        }
        #expect(throws: OAuthConfigurationError.self) {
            try BuiltInAuthorizationServer(configuration: .init(issuer: "mcp.example.com"), logger: Logger(label: "t"))
        }
    }

    @Test func issuerIsNormalised() throws {
        let config = BuiltInAuthorizationServer.Configuration(issuer: "https://a.example.com//")
        #expect(config.issuer == "https://a.example.com")
        #expect(config.resourceURL == nil)
        var assigned = BuiltInAuthorizationServer.Configuration()
        assigned.issuer = "https://b.example.com/"
        let server = try BuiltInAuthorizationServer(configuration: assigned, logger: Logger(label: "t"))
        #expect(server.issuer == "https://b.example.com")
        #expect(server.resourceURL == "https://b.example.com/mcp")
    }
}

extension Result where Failure == BearerAuthenticationError {
    var failureResponse: HTTPServerResponse? {
        if case .failure(let error) = self { return error.response(for: .test(.post, "/mcp")) }
        return nil
    }
}
