import Foundation
import HTTPTypes
import Logging
import MCPHTTP
import MCPHandlers
import MCPOAuth
import MCPPostgres
import Testing

/// Two authorization servers — two workers, or two deployments — on one database and one signing key: whatever
/// one issues, the other honours, and what one revokes, the other refuses at once.
@Suite struct SharedAuthorizationServerTests {
    static let issuer = "https://mcp.example.com"
    static let key = BuiltInAuthorizationServer.generateSigningKeyPEM()

    static func worker(_ database: PostgresPool) throws -> BuiltInAuthorizationServer {
        try BuiltInAuthorizationServer(
            configuration: .init(
                issuer: issuer, storage: PostgresOAuthStorage(database: database),
                supportedScopes: ["mcp:read", "mcp:write"],
                preregisteredClients: [
                    OAuthClient(
                        clientID: "svc", clientSecret: "svc-secret", redirectURIs: [],
                        grantTypes: ["client_credentials"], scopes: ["mcp:read"])
                ],
                signingKey: .pem(key)),
            logger: Logger(label: "t"))
    }

    static func form(_ path: String, _ form: [(String, String)], basic: (String, String)? = nil) -> HTTPServerRequest {
        var fields: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if let (id, secret) = basic {
            fields[.authorization] = "Basic " + Data("\(id):\(secret)".utf8).base64EncodedString()
        }
        let body = form.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }
            .joined(separator: "&")
        return HTTPServerRequest(
            head: HTTPRequest(method: .post, scheme: "https", authority: "mcp.example.com", path: path, headerFields: fields),
            body: Array(body.utf8), remoteAddress: "192.0.2.1")
    }

    static func bearer(_ token: String) -> HTTPServerRequest {
        HTTPServerRequest(
            head: HTTPRequest(
                method: .post, scheme: "https", authority: "mcp.example.com", path: "/mcp",
                headerFields: [.authorization: "Bearer \(token)"]),
            body: [], remoteAddress: "192.0.2.1")
    }

    static func respond(_ server: BuiltInAuthorizationServer, _ request: HTTPServerRequest) async -> HTTPServerResponse {
        var router = Router()
        server.addRoutes(to: &router)
        return await router.respond(to: request)
    }

    @Test func aTokenIssuedByOneWorkerIsAcceptedByTheOtherAndARevocationReachesItAtOnce() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            let a = try Self.worker(database)
            let b = try Self.worker(database)
            let issued = await Self.respond(
                a, Self.form("/oauth/token", [("grant_type", "client_credentials"), ("scope", "mcp:read")],
                             basic: ("svc", "svc-secret")))
            #expect(issued.head.status == .ok)
            let token = try #require(try JSONParser().parse(issued.body)["access_token"]?.stringValue)
            let guardOfB = b.resourceServer(requiredScopes: ["mcp:read"])
            guard case .success(let user) = await guardOfB.authenticate(Self.bearer(token)) else {
                Issue.record("worker B must accept worker A's token")
                return
            }
            #expect(user.clientID == "svc")
            // Revoked through worker B's endpoint: worker A refuses it on its next request.
            let revoked = await Self.respond(
                b, Self.form("/oauth/revoke", [("token", token)], basic: ("svc", "svc-secret")))
            #expect(revoked.head.status == .ok)
            guard case .failure(let refusal) = await a.resourceServer(requiredScopes: ["mcp:read"]).authenticate(
                Self.bearer(token))
            else {
                Issue.record("worker A must refuse the token B revoked")
                return
            }
            #expect(refusal.kind == .invalidToken)
        }
    }

    @Test func aClientRegisteredOnOneWorkerExistsOnTheOther() async throws {
        try await PostgresTestCluster.withStartedDatabase { database throws in
            let a = try Self.worker(database)
            let b = try Self.worker(database)
            var fields: HTTPFields = [.contentType: "application/json"]
            fields[.accept] = "application/json"
            let registration = HTTPServerRequest(
                head: HTTPRequest(
                    method: .post, scheme: "https", authority: "mcp.example.com", path: "/oauth/register",
                    headerFields: fields),
                body: Array(#"{"redirect_uris":["http://127.0.0.1:9999/cb"],"client_name":"Shared"}"#.utf8),
                remoteAddress: "192.0.2.7")
            let registered = await Self.respond(a, registration)
            #expect(registered.head.status == .created)
            let id = try #require(try JSONParser().parse(registered.body)["client_id"]?.stringValue)
            // Worker B's authorization endpoint knows the client: its consent page names it.
            let query =
                "response_type=code&client_id=\(id)&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcb"
                + "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
                + "&scope=mcp%3Aread&state=s1"
            let consent = await Self.respond(
                b,
                HTTPServerRequest(
                    head: HTTPRequest(
                        method: .get, scheme: "https", authority: "mcp.example.com", path: "/oauth/authorize?\(query)"),
                    body: [], remoteAddress: "192.0.2.7", remoteUser: "alice"))
            #expect(consent.head.status == .ok)
            #expect(String(decoding: consent.body, as: UTF8.self).contains("Shared"))
        }
    }
}
