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

/// Each deployment fact is given once, to `MCPApplication.Configuration`: the node id reaches the session ids of
/// every server it serves, the public URL the built-in authorization server's issuer and resource URL, the peers
/// the peer-synced OAuth storage.
@Suite struct ConfigurationOnceTests {
    static func plainServer(_ name: String = "plain", nodeID: String? = nil) -> MCPServer {
        MCPServer(
            configuration: .init(
                serverInfo: .init(name: name, version: "1"), sessionIDGenerator: SessionIDGenerator(nodeID: nodeID)))
    }

    static func openSession(_ app: MCPApplication, at path: String = "/mcp") async throws -> String {
        let response = await app.respond(to: request(.post, path, headers: jsonHeaders, body: initializeBody))
        #expect(response.head.status == .ok)
        return try #require(response.head.headerFields[HTTPField.Name("Mcp-Session-Id")!])
    }

    @Test func theApplicationsNodeIDPrefixesTheSessionIDsOfItsServerAndOfMountedOnes() async throws {
        let main = Self.plainServer()
        let tenant = Self.plainServer("tenant")
        var app = MCPApplication(
            server: main, configuration: .init(nodeID: "w7", endpoint: .inProcessTests), logger: Logger(label: "t"))
        try app.mount(tenant, at: "/tenant/mcp")
        #expect(main.nodeID == "w7")
        #expect(tenant.nodeID == "w7")
        #expect(try await Self.openSession(app).hasPrefix("w7."))
        #expect(try await Self.openSession(app, at: "/tenant/mcp").hasPrefix("w7."))
    }

    @Test func withoutANodeIDSessionIDsHaveNoPrefix() async throws {
        let server = Self.plainServer()
        let app = MCPApplication(server: server, configuration: .init(endpoint: .inProcessTests), logger: Logger(label: "t"))
        #expect(server.nodeID == nil)
        #expect(try await !Self.openSession(app).contains("."))
    }

    @Test func aServerNamingItsOwnNodeIDKeepsItAndTheConflictIsLogged() async throws {
        let recorder = ManagementLogRecorder()
        let server = Self.plainServer(nodeID: "own")
        let app = MCPApplication(
            server: server, configuration: .init(nodeID: "w1", endpoint: .inProcessTests), logger: recorder.logger)
        #expect(server.nodeID == "own")
        #expect(try await Self.openSession(app).hasPrefix("own."))
        let warning = try #require(recorder.all.first { $0.message.contains("another node id") })
        #expect(warning.level == .warning)
        #expect(warning.metadata["nodeID"] == "w1")
        #expect(warning.metadata["generatorNodeID"] == "own")
    }

    @Test func aServerGivenToTwoApplicationsKeepsTheFirstNodeID() async throws {
        let recorder = ManagementLogRecorder()
        let server = Self.plainServer()
        let first = MCPApplication(server: server, configuration: .init(nodeID: "w1", endpoint: .inProcessTests), logger: recorder.logger)
        _ = MCPApplication(server: server, configuration: .init(nodeID: "w2"), logger: recorder.logger)
        #expect(server.nodeID == "w1")
        #expect(try await Self.openSession(first).hasPrefix("w1."))
        #expect(recorder.all.contains { $0.message.contains("another node id") && $0.metadata["nodeID"] == "w2" })
    }

    @Test func aPeerSyncedStorageKeepsTheFirstApplicationsPeers() throws {
        let a = ManagementPeer(name: "a") { _, _ in HTTPServerResponse(status: .ok) }
        let b = ManagementPeer(name: "b") { _, _ in HTTPServerResponse(status: .ok) }
        let storage = PeerSyncedOAuthStorage()
        for peer in [a, b] {
            _ = try MCPApplication(
                server: Self.plainServer(), configuration: .init(peers: [peer]),
                authorization: .builtIn(.init(storage: storage)), logger: Logger(label: "t"))
        }
        #expect(storage.peers.map(\.name) == ["a"])
    }

    @Test func theSameNodeIDOnBothSidesIsNoConflict() async throws {
        let recorder = ManagementLogRecorder()
        let server = Self.plainServer(nodeID: "w1")
        _ = MCPApplication(server: server, configuration: .init(nodeID: "w1"), logger: recorder.logger)
        #expect(!recorder.all.contains { $0.message.contains("another node id") })
    }

    @Test func theBuiltInServerTakesThePublicURLAsIssuerAndPublicURLPlusPathAsResource() async throws {
        let app = try MCPApplication(
            server: Self.plainServer(),
            configuration: .init(publicURL: "https://mcp.example.com/", mcpPath: "/api/mcp", endpoint: .inProcessTests),
            authorization: .builtIn(.init(), requiredScopes: ["mcp:read"]), logger: Logger(label: "t"))
        let server = try #require(app.configuration.authorization?.authorizationServer)
        #expect(server.issuer == "https://mcp.example.com")
        #expect(server.resourceURL == "https://mcp.example.com/api/mcp")
        let metadata = try json(
            await app.respond(to: request(.get, "/.well-known/oauth-authorization-server", headers: [("Host", "mcp.example.com")])))
        #expect(metadata["issuer"]?.stringValue == "https://mcp.example.com")
        #expect(metadata["token_endpoint"]?.stringValue == "https://mcp.example.com/oauth/token")
        let resource = try json(
            await app.respond(
                to: request(.get, "/.well-known/oauth-protected-resource/api/mcp", headers: [("Host", "mcp.example.com")])))
        #expect(resource["resource"]?.stringValue == "https://mcp.example.com/api/mcp")
        // The MCP endpoint asks for a token, pointing at that metadata.
        let refused = await app.respond(
            to: request(.post, "/api/mcp", headers: jsonHeaders + [("Host", "mcp.example.com")], body: initializeBody))
        #expect(refused.head.status == .unauthorized)
        #expect(
            refused.head.headerFields[.wwwAuthenticate]?.contains(
                "https://mcp.example.com/.well-known/oauth-protected-resource/api/mcp") == true)
    }

    @Test func anIssuerAndResourceGivenExplicitlyStay() throws {
        let app = try MCPApplication(
            server: Self.plainServer(), configuration: .init(publicURL: "https://mcp.example.com"),
            authorization: .builtIn(.init(issuer: "https://auth.example.com/", resourceURL: "https://api.example.com/mcp")),
            logger: Logger(label: "t"))
        let server = try #require(app.configuration.authorization?.authorizationServer)
        #expect(server.issuer == "https://auth.example.com")
        #expect(server.resourceURL == "https://api.example.com/mcp")
    }

    @Test func anonymousThroughTheAuthorizationInitializerIsNoAuthorization() async throws {
        let app = try MCPApplication(
            server: Self.plainServer(), configuration: .init(endpoint: .inProcessTests), authorization: .anonymous,
            logger: Logger(label: "t"))
        #expect(app.configuration.authorization == nil)
        #expect(try await !Self.openSession(app).isEmpty)
    }

    @Test func aPublicURLThatIsNoURLIsAConfigurationError() {
        #expect(throws: OAuthConfigurationError.invalidURL("issuer", "not a url")) {
            _ = try MCPApplication(
                server: Self.plainServer(), configuration: .init(publicURL: "not a url"),
                authorization: .builtIn(.init()), logger: Logger(label: "t"))
        }
    }

    @Test func aBuiltInServerWithoutIssuerSaysWhereToGiveIt() {
        #expect(throws: OAuthConfigurationError.missingIssuer) {
            _ = try BuiltInAuthorizationServer(configuration: .init(), logger: Logger(label: "t"))
        }
        #expect(OAuthConfigurationError.missingIssuer.description.contains("MCPApplication.Configuration.publicURL"))
    }

    @Test func externalAuthorizationTakesThePublicURLPlusPathAsItsResource() async throws {
        let app = try MCPApplication(
            server: Self.plainServer(),
            configuration: .init(publicURL: "https://mcp.example.com", endpoint: .inProcessTests),
            authorization: .external(.init(issuer: "https://auth.example.com")), logger: Logger(label: "t"))
        let metadata = try #require(app.configuration.authorization?.resourceMetadata)
        #expect(metadata.resource == "https://mcp.example.com/mcp")
        let document = try json(
            await app.respond(
                to: request(.get, "/.well-known/oauth-protected-resource/mcp", headers: [("Host", "mcp.example.com")])))
        #expect(document["authorization_servers"]?.arrayValue?.first?.stringValue == "https://auth.example.com")
    }

    @Test func externalAuthorizationBuiltAloneWithoutResourceSaysWhereToGiveIt() {
        #expect(throws: OAuthConfigurationError.missingResourceURL) {
            _ = try MCPAuthorization(
                configuration: .external(.init(issuer: "https://auth.example.com")), logger: Logger(label: "t"))
        }
    }

    @Test func aPeerSyncedStorageWithoutPeersPushesToTheApplicationsPeers() async throws {
        let received = Mutex<[String]>([])
        let peer = ManagementPeer(name: "w2") { request, _ in
            received.withLock { $0.append(request.head.path ?? "") }
            return HTTPServerResponse(status: .ok)
        }
        let storage = PeerSyncedOAuthStorage(acknowledgementWait: .seconds(5))
        #expect(storage.peers.isEmpty)
        _ = try MCPApplication(
            server: Self.plainServer(), configuration: .init(peers: [peer]),
            authorization: .builtIn(.init(storage: storage)), logger: Logger(label: "t"))
        #expect(storage.peers.map(\.name) == ["w2"])
        await storage.revokeAccessToken(jti: "j1")
        #expect(received.withLock { $0 } == [MCPApplication.revocationPath])
    }

    @Test func aPeerSyncedStorageGivenItsPeersKeepsThem() throws {
        let own = ManagementPeer(name: "own") { _, _ in HTTPServerResponse(status: .ok) }
        let other = ManagementPeer(name: "other") { _, _ in HTTPServerResponse(status: .ok) }
        let storage = PeerSyncedOAuthStorage(peers: [own])
        _ = try MCPApplication(
            server: Self.plainServer(), configuration: .init(peers: [other]),
            authorization: .builtIn(.init(storage: storage)), logger: Logger(label: "t"))
        #expect(storage.peers.map(\.name) == ["own"])
    }
}
