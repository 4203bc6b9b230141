import HTTPTypes
import Logging
import MCPHandlers
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

@Suite struct HostPolicyTests {
    /// An application at https://mcp.example.com with the built-in authorization server.
    func app(hostPolicy: HostPolicy = .publicURL) -> MCPApplication {
        let fixture = OAuthFixture()
        return MCPApplication(
            server: tenantServer("main"),
            configuration: .init(
                publicURL: oauthIssuer, endpoint: .inProcessTests, managementToken: "m-token",
                authorization: fixture.auth, hostPolicy: hostPolicy),
            logger: Logger(label: "host-policy"))
    }

    func send(
        _ app: MCPApplication, _ method: HTTPRequest.Method, _ path: String, host: String?, peer: Bool = false,
        headers: [(String, String)] = [], body: String = ""
    ) async -> HTTPServerResponse {
        var fields = HTTPFields()
        for (name, value) in headers { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        return await app.respond(
            to: HTTPServerRequest(
                head: HTTPRequest(method: method, scheme: "https", authority: host, path: path, headerFields: fields),
                body: Array(body.utf8), remoteAddress: "192.0.2.1", isPeerRequest: peer))
    }

    static let paths: [(HTTPRequest.Method, String)] = [
        (.post, "/mcp"), (.get, "/mcp"), (.delete, "/mcp"), (.get, "/health"),
        (.get, "/.well-known/oauth-authorization-server"), (.get, "/.well-known/oauth-protected-resource/mcp"),
        (.post, "/oauth/token"), (.post, "/oauth/register"), (.get, "/oauth/authorize"),
        (.get, "/management/sessions"), (.options, "/mcp"), (.get, "/nope"),
    ]

    @Test(arguments: ["evil.example", "evil.example:443", "mcp.example.com.evil.example", "10.0.0.1", "[::2]:8080", ""])
    func aForeignHostIs421OnEveryPath(host: String) async throws {
        let app = app()
        for (method, path) in Self.paths {
            let response = await send(app, method, path, host: host, headers: jsonHeaders, body: initializeBody)
            #expect(response.head.status == .misdirectedRequest, "\(method) \(path)")
            let body = try json(response)
            #expect(body["error"] == "misdirected_request")
            #expect(response.head.headerFields[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
        }
    }

    @Test(arguments: [
        "mcp.example.com", "MCP.Example.COM:443", "mcp.example.com.", "localhost", "localhost:8080", "127.0.0.1:8443",
        "[::1]", "[::1]:8080",
    ])
    func thePublicHostAndLoopbackAreServed(host: String) async throws {
        let app = app()
        let health = await send(app, .get, "/health", host: host)
        #expect(health.head.status == .ok)
        let metadata = await send(app, .get, "/.well-known/oauth-authorization-server", host: host)
        #expect(metadata.head.status == .ok)
        let mcp = await send(app, .post, "/mcp", host: host, headers: jsonHeaders, body: initializeBody)
        #expect(mcp.head.status == .unauthorized)  // reached the endpoint: OAuth asks for a token
    }

    @Test func peerRequestsAndRequestsWithoutHostAreNotChecked() async {
        let app = app()
        #expect(await send(app, .get, "/health", host: nil).head.status == .ok)
        let peer = await send(
            app, .get, "/management/sessions", host: "w2.internal", peer: true,
            headers: [("Authorization", "Bearer m-token")])
        #expect(peer.head.status == .ok)
    }

    @Test func policies() async {
        #expect(await send(app(hostPolicy: .any), .get, "/health", host: "evil.example").head.status == .ok)
        let extra = app(hostPolicy: .publicURL(plus: ["MCP.internal.example"]))
        #expect(await send(extra, .get, "/health", host: "mcp.internal.example:80").head.status == .ok)
        #expect(await send(extra, .get, "/health", host: "localhost").head.status == .ok)
        #expect(await send(extra, .get, "/health", host: "evil.example").head.status == .misdirectedRequest)
        let only = app(hostPolicy: .only(["mcp.example.com"]))
        #expect(await send(only, .get, "/health", host: "mcp.example.com").head.status == .ok)
        #expect(await send(only, .get, "/health", host: "127.0.0.1").head.status == .misdirectedRequest)
        #expect(HostPolicy.publicURL.allowedHosts(publicURL: "https://mcp.example.com:8443/base")
            == ["mcp.example.com", "localhost", "127.0.0.1", "[::1]"])
        #expect(HostPolicy.publicURL.allowedHosts(publicURL: "http://[2001:db8::1]:8080")?.contains("[2001:db8::1]") == true)
        #expect(HostPolicy.any.allowedHosts(publicURL: "https://x.example") == nil)
    }

    @Test(arguments: [
        ("mcp.example.com", "mcp.example.com"), ("MCP.example.com:8443", "mcp.example.com"),
        ("[::1]:8080", "[::1]"), ("[::1]", "[::1]"), ("user@host.example:1", "host.example"), ("a.example.", "a.example"),
    ])
    func normalize(authority: String, host: String) {
        #expect(HostPolicy.normalize(authority) == host)
    }

    @Test func aForeignOriginIs403AtTheMCPEndpointAndAnAllowedOneIsServed() async throws {
        let app = makeApp(publicURL: "https://mcp.example.com")
        let foreign = await send(
            app, .post, "/mcp", host: "mcp.example.com", headers: jsonHeaders + [("Origin", "https://evil.example")],
            body: initializeBody)
        #expect(foreign.head.status == .forbidden)
        let get = await send(
            app, .get, "/mcp", host: "mcp.example.com",
            headers: [("Accept", "text/event-stream"), ("Origin", "https://evil.example")])
        #expect(get.head.status == .forbidden)
        let allowed = await send(
            app, .post, "/mcp", host: "mcp.example.com", headers: jsonHeaders + [("Origin", "https://mcp.example.com")],
            body: initializeBody)
        #expect(allowed.head.status == .ok)
    }
}
