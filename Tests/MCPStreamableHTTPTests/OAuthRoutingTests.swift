import HTTPTypes
import Logging
import MCPHandlers
import Testing

@testable import MCPHTTP
@testable import MCPOAuth

/// The authorization server and ``MCPAuthorization`` route on ``Router``, the application's router: the same 404,
/// 405 with `Allow`, and `HEAD` as `GET` without a body, whichever way a request comes in.
@Suite struct OAuthRoutingTests {
    @Test func theAuthorizationServerAnswers405OnAKnownPathWhateverTheEntry() async {
        let fixture = OAuthFixture()
        for response in [
            await fixture.server.respond(to: oauthRequest(.delete, "/oauth/token")),
            await fixture.server.route(oauthRequest(.delete, "/oauth/token")),
            await fixture.auth.route(oauthRequest(.delete, "/oauth/token")),
        ] {
            #expect(response?.head.status == .methodNotAllowed)
            #expect(response?.head.headerFields[.allow] == "POST")
        }
        let unknown = await fixture.server.respond(to: oauthRequest(.get, "/oauth/nothing"))
        #expect(unknown.head.status == .notFound)
        #expect(await fixture.server.route(oauthRequest(.get, "/oauth/nothing")) == nil)
        let both = await fixture.server.respond(to: oauthRequest(.put, "/oauth/authorize"))
        #expect(both.head.headerFields[.allow] == "GET, POST")
    }

    @Test func headIsGetWithoutABody() async throws {
        let fixture = OAuthFixture()
        for path in ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-authorization-server", "/oauth/jwks"] {
            let get = try #require(await fixture.auth.route(oauthRequest(.get, path)))
            let head = try #require(await fixture.auth.route(oauthRequest(.head, path)))
            #expect(get.head.status == .ok && !get.body.isEmpty, "\(path)")
            #expect(head.head.status == .ok && head.body.isEmpty, "\(path)")
            #expect(head.head.headerFields[.contentType] == get.head.headerFields[.contentType])
        }
    }

    @Test func routesAreTheRoutersRoutes() async {
        let fixture = OAuthFixture(disableDCR: true)
        var router = Router()
        fixture.auth.addRoutes(to: &router)
        for route in fixture.auth.routes { #expect(router.hasRoute(at: route.path), "\(route.path)") }
        #expect(!fixture.server.routes.contains { $0.path.hasSuffix("/oauth/register") })
        #expect(await fixture.server.respond(to: oauthRequest(.post, "/oauth/register")).head.status == .notFound)
        #expect(await fixture.auth.route(oauthRequest(.post, "/oauth/register")) == nil)
    }
}
