import Foundation
import Logging
import MCPHandlers
import MCPOAuth
import MCPStreamableHTTP
import Testing

@testable import MCPFCGI

/// ``DeploymentEnvironment``: what run.sh tells a worker, read for a server of one's own.
@Suite struct DeploymentEnvironmentTests {
    @Test func everySettingReachesItsConfiguration() throws {
        let keyFile = NSTemporaryDirectory() + "mcpfcgi-state-key-\(UUID().uuidString)"
        let key = (0..<32).map { UInt8($0) }
        #expect(FileManager.default.createFile(atPath: keyFile, contents: Data(key)))
        defer { try? FileManager.default.removeItem(atPath: keyFile) }
        let deployment = try DeploymentEnvironment([
            "MCPFCGI_NODE_ID": "w2", "MCPFCGI_PUBLIC_URL": "https://mcp.example.com", "MCPFCGI_THREADS": "6",
            "MCPFCGI_DRAIN_TIMEOUT": "12", "MCPFCGI_EXCLUSIVE_SOCKET": "1", "MCPFCGI_REQUEST_STATE_KEY_FILE": keyFile,
            "MCPFCGI_LOG_LEVEL": "debug", "MCPFCGI_KEEP_CONNECTIONS": "40",
        ])
        let fastCGI = deployment.fastCGI
        #expect(fastCGI.socketPath == nil)  // the socket spawn-fcgi passes as fd 0
        #expect(fastCGI.threads == 6)
        #expect(fastCGI.drainTimeout == .seconds(12))
        #expect(fastCGI.exclusiveInheritedSocket)
        #expect(fastCGI.connectionReuse == .keepAlive(maxIdle: 40))
        let application = deployment.application()
        #expect(application.publicURL == "https://mcp.example.com")
        #expect(application.nodeID == "w2")
        #expect(deployment.server(.init(serverInfo: .init(name: "s", version: "1"))).requestStateKey == key)
        #expect(deployment.logLevel == .debug)
    }

    @Test func unsetVariablesLeaveTheDefaults() throws {
        let deployment = try DeploymentEnvironment(["MCPFCGI_NODE_ID": " "])
        #expect(deployment.nodeID == nil)
        #expect(deployment.fastCGI.threads == FastCGIServer.Configuration().threads)
        #expect(!deployment.fastCGI.exclusiveInheritedSocket)
        #expect(deployment.fastCGI.connectionReuse == .default)
        let closing = try DeploymentEnvironment(["MCPFCGI_KEEP_CONNECTIONS": "0"])
        #expect(closing.fastCGI.connectionReuse == .closeAfterEachRequest)
        let base = MCPApplication.Configuration(publicURL: "https://own.example.com")
        #expect(deployment.application(base).publicURL == "https://own.example.com")
        #expect(deployment.requestStateKey == nil)
    }

    @Test(arguments: [
        ("MCPFCGI_THREADS", "many"), ("MCPFCGI_THREADS", "0"), ("MCPFCGI_DRAIN_TIMEOUT", "-1"),
        ("MCPFCGI_KEEP_CONNECTIONS", "-1"), ("MCPFCGI_KEEP_CONNECTIONS", "all"),
        ("MCPFCGI_LOG_LEVEL", "loud"), ("MCPFCGI_REQUEST_STATE_KEY_FILE", "/nonexistent/key"),
        ("MCPFCGI_AUTH", "external"),
    ])
    func anUnusableVariableIsNamed(_ variable: String, _ value: String) {
        do {
            _ = try DeploymentEnvironment([variable: value])
            Issue.record("accepted \(variable)=\(value)")
        } catch {
            #expect(error.variable == variable)
            #expect(error.description.hasPrefix(variable))
        }
    }

    @Test func aShortRequestStateKeyIsRefusedWithTheRemedy() throws {
        let keyFile = NSTemporaryDirectory() + "mcpfcgi-short-key-\(UUID().uuidString)"
        #expect(FileManager.default.createFile(atPath: keyFile, contents: Data([1, 2, 3])))
        defer { try? FileManager.default.removeItem(atPath: keyFile) }
        #expect(throws: DeploymentEnvironmentError.self) { try DeploymentEnvironment.requestStateKey(at: keyFile) }
        do {
            _ = try DeploymentEnvironment.requestStateKey(at: keyFile)
        } catch {
            #expect(error.message.contains("head -c 32 /dev/urandom"))
        }
    }

    @Test func peersLeaveOutThisWorkersSocketBlanksAndDuplicates() throws {
        let deployment = try DeploymentEnvironment(
            ["MCPFCGI_PEER_SOCKETS": "/run/w1.sock, /run/w2.sock,,/run/w3.sock,/run/w2.sock"], ownSocket: "/run/w1.sock")
        #expect(deployment.peerSockets == ["/run/w2.sock", "/run/w3.sock"])
        #expect(deployment.application().peers.map(\.name) == ["w2", "w3"])
        // Peers given in code win.
        let own = MCPApplication.Configuration(peers: [.fastCGI(socketPath: "/elsewhere.sock")])
        #expect(deployment.application(own).peers.map(\.name) == ["elsewhere"])
        // A test process's descriptor 0 is no unix socket.
        #expect(DeploymentEnvironment.inheritedSocketPath() == nil)
    }

    @Test func authBuiltinConfiguresTheAuthorizationServerRunShPrepared() throws {
        let directory = NSTemporaryDirectory() + "mcpfcgi-auth-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clients = directory + "/clients.json"
        let token = directory + "/registration-token"
        #expect(
            FileManager.default.createFile(
                atPath: clients,
                contents: Data(
                    #"[{"client_id": "svc", "client_secret": "s3cret-s3cret-s3cret", "grant_types": ["client_credentials"], "scope": "mcp:read"}]"#
                        .utf8)))
        #expect(FileManager.default.createFile(atPath: token, contents: Data((String(repeating: "t", count: 40) + "\n").utf8)))

        guard case .anonymous = try DeploymentEnvironment([:]).builtInAuthorization().mode else {
            Issue.record("AUTH unset is not anonymous")
            return
        }
        let deployment = try DeploymentEnvironment([
            "MCPFCGI_AUTH": "builtin", "MCPFCGI_OAUTH_CLIENTS_FILE": clients,
            "MCPFCGI_OAUTH_REGISTRATION_TOKEN_FILE": token,
        ])
        let authorization = try deployment.builtInAuthorization(supportedScopes: ["mcp:read"], requiredScopes: ["mcp:read"])
        guard case .builtIn(let server) = authorization.mode else {
            Issue.record("not the built-in server: \(authorization.mode)")
            return
        }
        #expect(authorization.requiredScopes == ["mcp:read"])
        #expect(server.supportedScopes == ["mcp:read"])
        #expect(server.preregisteredClients.map(\.clientID) == ["svc"])
        #expect(server.clientRegistration.initialAccessToken == String(repeating: "t", count: 40))
        #expect(server.storage is PeerSyncedOAuthStorage)

        // Files run.sh did not write properly are named, with the remedy.
        let broken = try DeploymentEnvironment(["MCPFCGI_AUTH": "builtin", "MCPFCGI_OAUTH_CLIENTS_FILE": token])
        #expect(throws: DeploymentEnvironmentError.self) { try broken.builtInAuthorization() }
        #expect(FileManager.default.createFile(atPath: token, contents: Data("short".utf8)))
        do {
            _ = try deployment.builtInAuthorization()
            Issue.record("a short registration token was accepted")
        } catch {
            #expect(error.variable == "MCPFCGI_OAUTH_REGISTRATION_TOKEN_FILE")
            #expect(error.message.contains("openssl rand -hex 24"))
        }
    }
}
