import Logging
import MCPFCGI

// A recipe book: resources, a resource template, a prompt, completions and a typed tool (RecipeBook.swift).
let deployment = try DeploymentEnvironment()
var logger = Logger(label: "recipes")
logger.logLevel = deployment.logLevel ?? .info
try FastCGIServer.run(configuration: deployment.fastCGI, logger: logger) {
    let configuration = MCPServer.Configuration(serverInfo: .init(name: "recipes", version: "1.0.0"), logger: logger)
    let server = MCPServer(configuration: deployment.server(configuration))
    registerRecipeBook(on: server)
    return MCPApplication(server: server, configuration: deployment.application(), logger: logger)
}
