import Foundation
import HTTPTypes
import Logging
import MCPHandlers
import Synchronization
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

/// A session or OAuth store that cannot be reached is a clear, retryable answer (503 / `server_error`), never a
/// 404 that would make a client drop a session that may well exist, and never a crash.
@Suite struct StoreFailureTests {
    struct Unreachable: Error {}

    /// A session store whose every operation fails while `down` is set.
    final class FlakySessionStore: SessionStore {
        let inner = InMemorySessionStore()
        let down = Atomic<Bool>(false)

        private func check() throws { if down.load(ordering: .relaxed) { throw Unreachable() } }
        func insert(_ session: Session) async throws -> Bool { try check(); return inner.insert(session) }
        func session(id: String) async throws -> Session? { try check(); return inner.session(id: id) }
        func contains(id: String) async throws -> Bool { try check(); return inner.contains(id: id) }
        func remove(id: String) async throws -> Session? { try check(); return inner.remove(id: id) }
        var count: Int { get async throws { try check(); return inner.count } }
        func removeIdle(olderThan seconds: Double, now: Double) async throws -> [Session] {
            try check()
            return inner.removeIdle(olderThan: seconds, now: now)
        }
    }

    func app(_ store: FlakySessionStore) -> MCPApplication {
        let server = MCPServer(
            configuration: .init(serverInfo: .init(name: "t", version: "1"), sessionStore: store))
        server.registerTool(Tool(name: "echo")) { _, _ in .text("ok") }
        return MCPApplication(
            server: server,
            configuration: .init(endpoint: .inProcessTests, managementToken: "tok"), logger: Logger(label: "t"))
    }

    func expectUnavailable(_ response: HTTPServerResponse) throws {
        #expect(response.head.status == .serviceUnavailable)
        #expect(response.head.headerFields[.retryAfter] != nil)
        let body = try json(response)
        #expect(body["error"]?["code"] == .int(MCPError.Code.internalError))
        #expect(body["error"]?["message"]?.stringValue?.contains("session store") == true)
    }

    @Test func everySessionOperationAnswers503WhileTheStoreIsDownAndRecovers() async throws {
        let store = FlakySessionStore()
        let app = app(store)
        let session = try await openSession(app)
        store.down.store(true, ordering: .relaxed)

        try expectUnavailable(await app.respond(to: request(.post, "/mcp", headers: jsonHeaders, body: initializeBody)))
        let call = #"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{}}}"#
        let sessionHeaders = jsonHeaders + [("Mcp-Session-Id", session), ("MCP-Protocol-Version", "2025-11-25")]
        try expectUnavailable(await app.respond(to: request(.post, "/mcp", headers: sessionHeaders, body: call)))
        try expectUnavailable(await app.respond(to: request(.delete, "/mcp", headers: sessionHeaders)))
        let counted = await app.respond(
            to: request(.get, "/management/sessions", headers: [("Authorization", "Bearer tok")]))
        #expect(counted.head.status == .serviceUnavailable)
        #expect(counted.head.headerFields[.retryAfter] == "5")
        await #expect(throws: Unreachable.self) { try await app.sweeper.sweep(idleFor: .zero) }

        store.down.store(false, ordering: .relaxed)
        let again = await app.respond(to: request(.post, "/mcp", headers: sessionHeaders, body: call))
        #expect(again.head.status == .ok, "the session survived the outage")
        #expect(try await app.activeSessionCount == 1)
    }

    /// An OAuth storage that fails every operation.
    struct DownOAuthStorage: OAuthStorage {
        func client(id: String) async throws -> OAuthClient? { throw Unreachable() }
        func saveClient(_ client: OAuthClient) async throws { throw Unreachable() }
        func registerClient(_ client: OAuthClient, maximumClients: Int, evictableBefore: Date) async throws -> Bool {
            throw Unreachable()
        }
        func markClientUsed(id: String, at date: Date) async throws { throw Unreachable() }
        func removeIdleClients(unusedRegisteredBefore: Date, lastUsedBefore: Date) async throws { throw Unreachable() }
        func saveAuthorizationCode(_ record: AuthorizationCodeRecord) async throws { throw Unreachable() }
        func consumeAuthorizationCode(digest: String) async throws -> CodeLookup { throw Unreachable() }
        func saveRefreshToken(_ record: RefreshTokenRecord) async throws { throw Unreachable() }
        func rotateRefreshToken(digest: String) async throws -> TokenLookup { throw Unreachable() }
        func refreshToken(digest: String) async throws -> RefreshTokenRecord? { throw Unreachable() }
        func revokeRefreshToken(digest: String) async throws { throw Unreachable() }
        func recordAccessToken(jti: String, familyID: String?, expiresAt: Date) async throws { throw Unreachable() }
        func revokeAccessToken(jti: String) async throws { throw Unreachable() }
        func revokeFamily(_ familyID: String) async throws { throw Unreachable() }
        func isAccessTokenRevoked(jti: String) async throws -> Bool { throw Unreachable() }
        func removeExpired(before date: Date) async throws { throw Unreachable() }
    }

    @Test func oauthStorageFailuresAreServerErrorsNotClientErrors() async throws {
        let auth = try MCPAuthorization(
            configuration: .builtIn(
                .init(
                    issuer: "https://mcp.example.com", storage: DownOAuthStorage(),
                    preregisteredClients: [
                        OAuthClient(
                            clientID: "svc", clientSecret: "secret-value", redirectURIs: ["https://a.example.com/cb"],
                            grantTypes: ["client_credentials"], scopes: ["mcp:read"])
                    ])),
            logger: Logger(label: "t"))
        let server = try #require(auth.authorizationServer)
        // Registration needs the storage: server_error, not invalid_client_metadata.
        var register = request(
            .post, "/oauth/register", headers: [("Content-Type", "application/json")],
            body: #"{"redirect_uris":["http://127.0.0.1:9/cb"]}"#)
        register.remoteAddress = "192.0.2.1"
        let registered = try #require(await auth.route(register))
        #expect(registered.head.status == .serviceUnavailable)
        #expect(registered.head.headerFields[.retryAfter] == "5")
        #expect(oauthJSON(registered)["error"] == "server_error")
        // A pre-registered client authenticates without the storage, but recording the issued token needs it.
        let token = try #require(
            await auth.route(
                oauthForm(
                    "/oauth/token", [("grant_type", "client_credentials")],
                    headers: [oauthBasic("svc", "secret-value")])))
        #expect(token.head.status == .serviceUnavailable)
        #expect(token.head.headerFields[.retryAfter] == "5")
        #expect(oauthJSON(token)["error"] == "server_error")
        // The resource server cannot check revocation: 503 with Retry-After, not 401 (the token may be fine).
        let claims = AccessTokenClaims(
            issuer: server.issuer, subject: "alice", audience: [server.resourceURL], clientID: "svc",
            scope: "mcp:read", expiresAt: Int(Date().timeIntervalSince1970) + 600,
            issuedAt: Int(Date().timeIntervalSince1970), notBefore: nil, tokenID: "jti-1")
        let signed = try await server.key.sign(claims)
        do {
            _ = try await server.tokenVerifier.verify(accessToken: signed)
            Issue.record("verification passed without the storage")
        } catch {
            #expect(error.kind == .unavailable)
            #expect(error.response(for: .test(.post, "/mcp")).head.status == .serviceUnavailable)
            #expect(error.response(for: .test(.post, "/mcp")).head.headerFields[.retryAfter] != nil)
        }
    }
}
