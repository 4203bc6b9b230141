import Foundation
import HTTPTypes
import Logging
import MCPHandlers
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

/// Per-mount OAuth: every mounted MCP endpoint is a resource of its own, with its own metadata and token audience.
@Suite struct OAuthMountTests {
    static let tenantA = "https://mcp.example.com/tenant-a/mcp"
    static let tenantB = "https://mcp.example.com/tenant-b/mcp"

    /// The main server at /mcp and two tenants, guarded by the fixture's built-in server.
    func app(_ fixture: OAuthFixture) throws -> MCPApplication {
        var app = MCPApplication(
            server: tenantServer("main"),
            configuration: .init(publicURL: oauthIssuer + "/", endpoint: .inProcessTests, authorization: fixture.auth),
            logger: Logger(label: "oauth-mount"))
        try app.mount(tenantServer("tenant-a"), at: "/tenant-a/mcp")
        try app.mount(tenantServer("tenant-b"), at: "/tenant-b/mcp")
        return app
    }

    /// A client_credentials token of the confidential client, for `resource` (none: the server's default).
    func serviceToken(_ app: MCPApplication, resource: String?) async -> HTTPServerResponse {
        var form = [("grant_type", "client_credentials"), ("scope", "mcp:read")]
        if let resource { form.append(("resource", resource)) }
        return await app.respond(
            to: oauthForm(
                "/oauth/token", form, headers: [oauthBasic(OAuthFixture.confidentialClient, OAuthFixture.secret)]))
    }

    /// The token's `aud` claim (a string when there is one audience, RFC 7519 §4.1.3).
    func audience(_ token: String) -> Value? {
        let parts = token.split(separator: ".")
        guard parts.count == 3, let data = Base64URL.decode(parts[1]) else { return nil }
        return (try? JSONParser().parse(data))?["aud"]
    }

    /// The authorization endpoint's answer for the public client asking for `resource`, as `alice`.
    func authorizeQuery(resource: String) -> String {
        "/oauth/authorize?"
            + FormParameters.encode([
                ("response_type", "code"), ("client_id", OAuthFixture.publicClient),
                ("redirect_uri", oauthPublicRedirect),
                ("code_challenge", OAuthCrypto.s256Challenge(of: oauthPKCEVerifier)),
                ("code_challenge_method", "S256"), ("state", "s1"), ("resource", resource),
            ])
    }

    func initialize(_ app: MCPApplication, _ path: String, token: String?) async -> HTTPServerResponse {
        var headers = jsonHeaders
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        return await app.respond(to: oauthRequest(.post, path, headers: headers, body: initializeBody))
    }

    @Test func eachMountHasItsOwnProtectedResourceMetadata() async throws {
        let fixture = OAuthFixture()
        let app = try app(fixture)
        let a = await app.respond(to: oauthRequest(.get, "/.well-known/oauth-protected-resource/tenant-a/mcp"))
        #expect(a.head.status == .ok)
        #expect(oauthJSON(a)["resource"] == .string(Self.tenantA))
        #expect(oauthJSON(a)["authorization_servers"] == [.string(oauthIssuer)])
        let b = await app.respond(to: oauthRequest(.get, "/.well-known/oauth-protected-resource/tenant-b/mcp"))
        #expect(oauthJSON(b)["resource"] == .string(Self.tenantB))
        let main = await app.respond(to: oauthRequest(.get, "/.well-known/oauth-protected-resource"))
        #expect(oauthJSON(main)["resource"] == .string(oauthResource))
        let unknown = await app.respond(to: oauthRequest(.get, "/.well-known/oauth-protected-resource/tenant-c/mcp"))
        #expect(unknown.head.status == .notFound)
        #expect(app.protectedResource(mountedAt: "/tenant-a/mcp")?.metadata.resource == Self.tenantA)
        #expect(app.protectedResource(mountedAt: "/mcp") == nil)
        #expect(fixture.server.resourceURLs == [oauthResource, Self.tenantA, Self.tenantB])
    }

    @Test func aMountsChallengePointsAtItsOwnMetadata() async throws {
        let app = try app(OAuthFixture())
        let response = await initialize(app, "/tenant-a/mcp", token: nil)
        #expect(response.head.status == .unauthorized)
        #expect(
            response.head.headerFields[.wwwAuthenticate]
                == "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/tenant-a/mcp\", scope=\"mcp:read\""
        )
        #expect(response.head.headerFields[.cacheControl] == "no-store")
    }

    @Test func aTokenIsAcceptedOnlyByTheResourceItWasIssuedFor() async throws {
        let app = try app(OAuthFixture())
        let issued = await serviceToken(app, resource: Self.tenantA)
        #expect(issued.head.status == .ok)
        let token = try #require(oauthJSON(issued)["access_token"]?.stringValue)
        #expect(audience(token) == .string(Self.tenantA))

        let own = await initialize(app, "/tenant-a/mcp", token: token)
        #expect(own.head.status == .ok)
        #expect(try json(own)["result"]?["serverInfo"]?["name"] == "tenant-a")
        for path in ["/tenant-b/mcp", "/mcp"] {
            let foreign = await initialize(app, path, token: token)
            #expect(foreign.head.status == .unauthorized, "\(path)")
            #expect(foreign.head.headerFields[.wwwAuthenticate]?.contains("error=\"invalid_token\"") == true)
            #expect(oauthJSON(foreign)["error_description"] == "The access token is not meant for this resource")
        }

        // Introspection knows every resource the server issues tokens for.
        let introspected = await app.respond(
            to: oauthForm(
                "/oauth/introspect", [("token", token)],
                headers: [oauthBasic(OAuthFixture.confidentialClient, OAuthFixture.secret)]))
        #expect(oauthJSON(introspected)["active"] == true)
        #expect(oauthJSON(introspected)["aud"] == [.string(Self.tenantA)])

        // A token for the main resource (no `resource` parameter) does not open a tenant either.
        let main = try #require(oauthJSON(await serviceToken(app, resource: nil))["access_token"]?.stringValue)
        #expect(audience(main) == .string(oauthResource))
        #expect(await initialize(app, "/mcp", token: main).head.status == .ok)
        #expect(await initialize(app, "/tenant-a/mcp", token: main).head.status == .unauthorized)
    }

    @Test func unknownResourcesAreInvalidTarget() async throws {
        let fixture = OAuthFixture()
        let app = try app(fixture)
        let token = await serviceToken(app, resource: "https://mcp.example.com/tenant-c/mcp")
        #expect(token.head.status == .badRequest)
        #expect(oauthJSON(token)["error"] == "invalid_target")
        let answer = await app.respond(
            to: oauthRequest(.get, authorizeQuery(resource: "https://mcp.example.com/tenant-c/mcp"), user: "alice"))
        let redirect = oauthRedirectQuery(answer)
        #expect(redirect["base"] == oauthPublicRedirect)
        #expect(redirect["error"] == "invalid_target")
        #expect(redirect["state"] == "s1")
        #expect(redirect["code"] == nil)
    }

    @Test func theCodeFlowAndItsRefreshesKeepTheRequestedResource() async throws {
        let fixture = OAuthFixture()
        let app = try app(fixture)
        // The consent page names the resource the client asked for.
        let page = await app.respond(to: oauthRequest(.get, authorizeQuery(resource: Self.tenantB), user: "alice"))
        #expect(oauthHTML(page).contains("<code>\(Self.tenantB)</code>"))

        let redirect = await fixture.authorize(resource: Self.tenantB)
        let code = try #require(redirect["code"])
        let exchanged = await app.respond(
            to: oauthForm(
                "/oauth/token",
                [
                    ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", oauthPublicRedirect),
                    ("client_id", OAuthFixture.publicClient), ("code_verifier", oauthPKCEVerifier),
                    ("resource", Self.tenantB),
                ]))
        let tokens = oauthJSON(exchanged)
        let access = try #require(tokens["access_token"]?.stringValue)
        #expect(audience(access) == .string(Self.tenantB))
        let session = await initialize(app, "/tenant-b/mcp", token: access)
        #expect(session.head.status == .ok)
        let id = try #require(session.head.headerFields[HTTPField.Name("Mcp-Session-Id")!])
        let call = #"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami"}}"#
        let whoami = await app.respond(
            to: oauthRequest(
                .post, "/tenant-b/mcp",
                headers: jsonHeaders + [("Authorization", "Bearer \(access)"), ("Mcp-Session-Id", id)], body: call))
        #expect(try json(whoami)["result"]?["content"]?.arrayValue?.first?["text"] == "tenant-b:alice")

        let refresh = try #require(tokens["refresh_token"]?.stringValue)
        let widened = await app.respond(
            to: oauthForm(
                "/oauth/token",
                [
                    ("grant_type", "refresh_token"), ("refresh_token", refresh),
                    ("client_id", OAuthFixture.publicClient), ("resource", Self.tenantA),
                ]))
        #expect(widened.head.status == .badRequest)
        #expect(oauthJSON(widened)["error"] == "invalid_target")
        // The refused attempt did not spend the refresh token.
        let refreshed = await app.respond(
            to: oauthForm(
                "/oauth/token",
                [
                    ("grant_type", "refresh_token"), ("refresh_token", refresh),
                    ("client_id", OAuthFixture.publicClient),
                ]))
        #expect(refreshed.head.status == .ok)
        let renewed = try #require(oauthJSON(refreshed)["access_token"]?.stringValue)
        #expect(audience(renewed) == .string(Self.tenantB))
    }

    @Test func anonymousMountsNeedNoToken() async throws {
        var app = MCPApplication(
            server: tenantServer("main"),
            configuration: .init(
                publicURL: oauthIssuer,
                authorization: try MCPAuthorization(configuration: .anonymous, logger: Logger(label: "t"))),
            logger: Logger(label: "t"))
        try app.mount(tenantServer("tenant-a"), at: "/tenant-a/mcp")
        #expect(app.protectedResource(mountedAt: "/tenant-a/mcp") == nil)
        #expect(await initialize(app, "/tenant-a/mcp", token: nil).head.status == .ok)
        let metadata = await app.respond(to: oauthRequest(.get, "/.well-known/oauth-protected-resource/tenant-a/mcp"))
        #expect(metadata.head.status == .notFound)
    }

    @Test func aMountNeedsAnAbsoluteResourceURLAndItsOwnMetadataPath() async throws {
        let fixture = OAuthFixture()
        var app = MCPApplication(
            server: tenantServer("main"), configuration: .init(publicURL: oauthIssuer, authorization: fixture.auth),
            logger: Logger(label: "t"))
        #expect(throws: OAuthConfigurationError.self) {
            try app.mount(tenantServer("tenant-a"), at: "/tenant-a/mcp", resourceURL: "tenant-a")
        }
        #expect(app.mountedEndpoints.isEmpty)
        #expect(fixture.server.resourceURLs == [oauthResource])
        // Another origin's resource whose metadata path is the main endpoint's: refused, nothing registered.
        #expect(throws: OAuthConfigurationError.self) {
            try app.mount(tenantServer("tenant-a"), at: "/a", resourceURL: "https://a.example.com/mcp")
        }
        #expect(fixture.server.resourceURLs == [oauthResource])
        let main = await app.respond(to: oauthRequest(.get, "/.well-known/oauth-protected-resource/mcp"))
        #expect(oauthJSON(main)["resource"] == .string(oauthResource))
        try app.mount(tenantServer("tenant-a"), at: "/a", resourceURL: "https://a.example.com/a/mcp")
        #expect(fixture.server.resourceURLs == [oauthResource, "https://a.example.com/a/mcp"])
        #expect(app.protectedResource(mountedAt: "/a")?.metadata.wellKnownPath == "/.well-known/oauth-protected-resource/a/mcp")
        // A resource whose metadata path another mount already serves (.../a/mcp on this origin): refused.
        #expect(throws: OAuthConfigurationError.self) { try app.mount(tenantServer("tenant-b"), at: "/a/mcp") }
    }

    @Test func externalModeGivesEachMountItsOwnAudience() throws {
        let auth = try MCPAuthorization(
            configuration: .external(
                .init(
                    issuer: "https://idp.example.com", resourceURL: oauthResource,
                    acceptedAudiences: [oauthResource, "api"], supportedScopes: ["mcp:read"]),
                requiredScopes: ["mcp:read"]),
            logger: Logger(label: "t"))
        let resource = try #require(try auth.protectedResource(at: Self.tenantA))
        #expect(resource.metadata.resource == Self.tenantA)
        #expect(resource.metadata.authorizationServers == ["https://idp.example.com"])
        #expect(
            resource.resourceServer.resourceMetadataURL
                == "https://mcp.example.com/.well-known/oauth-protected-resource/tenant-a/mcp")
        #expect(resource.resourceServer.requiredScopes == ["mcp:read"])
        let verifier = try #require(resource.resourceServer.verifier as? ExternalTokenVerifier)
        #expect(verifier.configuration.acceptedAudiences == [Self.tenantA])
        #expect(throws: OAuthConfigurationError.self) { try auth.protectedResource(at: "/relative") }
    }
}
