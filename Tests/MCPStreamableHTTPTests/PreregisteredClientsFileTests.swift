import Foundation
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

/// The operator's file of pre-provisioned clients: what it accepts and every mistake it refuses with a message.
@Suite struct PreregisteredClientsFileTests {
    func parse(_ text: String) throws(OAuthConfigurationError) -> [OAuthClient] {
        try PreregisteredClientsFile.parse(Array(text.utf8), source: "clients.json")
    }

    @Test func servicesAndResourceServersAreRead() throws {
        let clients = try parse(
            #"""
            [{"client_id": "billing", "client_secret": "0123456789abcdef0123", "grant_types": ["client_credentials"],
              "scope": "mcp:read", "resources": ["https://mcp.example.com/mcp"]},
             {"client_id": "gateway", "client_secret": "0123456789abcdef0123", "grant_types": [],
              "token_endpoint_auth_method": "client_secret_post", "introspect_any_token": true},
             {"client_id": "cli", "redirect_uris": ["http://127.0.0.1:9/cb"], "client_name": "CLI"}]
            """#)
        #expect(clients.count == 3)
        #expect(clients[0].scopes == ["mcp:read"])
        #expect(clients[0].resources == ["https://mcp.example.com/mcp"])
        #expect(clients[0].tokenEndpointAuthMethod == .clientSecretBasic)
        #expect(clients[0].responseTypes == [])
        #expect(OAuthCrypto.matches("0123456789abcdef0123", digest: clients[0].secretDigest ?? ""))
        #expect(clients[1].mayIntrospectAnyToken)
        #expect(clients[1].tokenEndpointAuthMethod == .clientSecretPost)
        #expect(clients[2].isConfidential == false)
        #expect(clients[2].grantTypes == ["authorization_code", "refresh_token"])
        #expect(clients[2].responseTypes == ["code"])
    }

    @Test(arguments: [
        (#"{"client_id": "x"}"#, "JSON array"),
        (#"[{"client_id": "x", "scopes": "mcp:read"}]"#, "unknown member scopes"),
        (#"[{"client_secret": "0123456789abcdef0123"}]"#, "no client_id"),
        (#"[{"client_id": "x"}, {"client_id": "x"}]"#, "appears twice"),
        (#"[{"client_id": "x", "client_secret": "short"}]"#, "16 characters"),
        (#"[{"client_id": "x", "grant_types": ["client_credentials"], "scope": "mcp:read"}]"#, "needs a client_secret"),
        (#"[{"client_id": "x", "client_secret": "0123456789abcdef0123", "grant_types": ["client_credentials"]}]"#, "needs a scope"),
        (#"[{"client_id": "x", "redirect_uris": ["javascript:alert(1)"]}]"#, "client x"),
        (#"[{"client_id": "x", "token_endpoint_auth_method": "private_key_jwt"}]"#, "unknown token_endpoint_auth_method"),
        (#"[{"client_id": "x", "token_endpoint_auth_method": "client_secret_basic"}]"#, "does not match"),
        (#"[{"client_id": "x", "introspect_any_token": "yes"}]"#, "true or false"),
        (#"[{"client_id": "x", "grant_types": "client_credentials"}]"#, "array of strings"),
    ])
    func mistakesAreRefusedWithAMessage(text: String, message: String) {
        do {
            _ = try parse(text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.message.contains(message), "\(error.message)")
            #expect(error.message.contains("clients.json"))
        }
    }

    @Test func missingFileIsNamed() {
        #expect(throws: OAuthConfigurationError(message: "cannot read the OAuth clients file /nonexistent/clients.json")) {
            _ = try PreregisteredClientsFile.load(path: "/nonexistent/clients.json")
        }
    }
}
