import Logging
import MCPFCGI

// Two tenants, each an OAuth-protected resource of its own (/tenant-a/mcp, /tenant-b/mcp: its own metadata, its own
// token audience), with the built-in authorization server as deploy/run.sh's AUTH=builtin sets it up (the signing key
// every worker shares, the pre-provisioned clients, the registration token). /mcp lists the tenants.

func tenantServer(_ tenant: String, logger: Logger) -> MCPServer {
    let server = MCPServer(configuration: .init(serverInfo: .init(name: tenant, version: "1.0.0"), logger: logger))
    server.registerTool(Tool(name: "whoami", description: "Names the tenant and you")) { _, context in
        .text("\(tenant): \(context.user ?? "anonymous")")
    }
    return server
}

let tenants = ["tenant-a", "tenant-b"]
let deployment = try DeploymentEnvironment()
var logger = Logger(label: "tenants")
logger.logLevel = deployment.logLevel ?? .info
try FastCGIServer.run(configuration: deployment.fastCGI, logger: logger) {
    let directory = MCPServer(configuration: .init(serverInfo: .init(name: "directory", version: "1.0.0"), logger: logger))
    directory.registerTool(Tool(name: "tenants", description: "The tenants' MCP endpoints")) { _, _ in
        .text(tenants.map { "/\($0)/mcp" }.joined(separator: "\n"))
    }
    let authorization = try deployment.builtInAuthorization(
        supportedScopes: ["mcp:read", "mcp:write"], requiredScopes: ["mcp:read"], logger: logger)
    var app = try MCPApplication(
        server: directory, configuration: deployment.application(), authorization: authorization, logger: logger)
    for tenant in tenants {
        // Sessions are bound to the token's subject; nil here would refuse the request with 403.
        var endpoint = MCPEndpoint.Configuration()
        endpoint.resolveUserID = { context in context.claims?["sub"]?.stringValue ?? context.remoteUser }
        try app.mount(tenantServer(tenant, logger: logger), at: "/\(tenant)/mcp", endpoint: endpoint)
    }
    return app
}
