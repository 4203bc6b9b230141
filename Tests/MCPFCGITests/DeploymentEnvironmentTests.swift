import Foundation
import Logging
import MCPHandlers
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
            "MCPFCGI_LOG_LEVEL": "debug",
        ])
        let fastCGI = deployment.fastCGI
        #expect(fastCGI.socketPath == nil)  // the socket spawn-fcgi passes as fd 0
        #expect(fastCGI.threads == 6)
        #expect(fastCGI.drainTimeout == .seconds(12))
        #expect(fastCGI.exclusiveInheritedSocket)
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
        let base = MCPApplication.Configuration(publicURL: "https://own.example.com")
        #expect(deployment.application(base).publicURL == "https://own.example.com")
        #expect(deployment.requestStateKey == nil)
    }

    @Test(arguments: [
        ("MCPFCGI_THREADS", "many"), ("MCPFCGI_THREADS", "0"), ("MCPFCGI_DRAIN_TIMEOUT", "-1"),
        ("MCPFCGI_LOG_LEVEL", "loud"), ("MCPFCGI_REQUEST_STATE_KEY_FILE", "/nonexistent/key"),
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
}
