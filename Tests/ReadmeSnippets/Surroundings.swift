import Logging
import MCPFCGI
import MCPFCGITesting

// What the documentation's Swift fragments (ReadmeSnippets.swift, generated) take from the prose around them: the
// server being configured, its logger, a database URL, a key path, tokens, tenant servers, a test client. Declared
// for the compiler only; nothing here runs.

let logger = Logger(label: "readme")
let server = MCPServer(name: "readme", version: "1.0.0")
let directory = server
let databaseURL = "postgres://mcp@localhost/mcp"
let keyPath = "/etc/mcp/oauth-signing-key.pem"
let adminToken = "an-admin-token"
let token = "a-metrics-token"
let deployment = try! DeploymentEnvironment([:])
let client = MCPTestClient(MCPApplication(server: server, logger: logger))
let session = "a-session-id"
let request = HTTPServerRequest.test(.post, "/mcp")

func makeTenantServer(_ tenant: String) -> MCPServer { MCPServer(name: tenant, version: "1.0.0") }
func tenantServer(_ tenant: String, logger: Logger) -> MCPServer { makeTenantServer(tenant) }
