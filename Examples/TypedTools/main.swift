import Logging
import MCPFCGI

struct ForecastRequest: Decodable, SchemaDescribed {
    var city: String
    var days: Int?
    static let fields: [String: FieldSchema] = [
        "city": "The city, in English", "days": .init("Days ahead", minimum: 0, maximum: 7),
    ]
}

struct Forecast: Codable {
    var city: String
    var days: Int
    var celsius: Double
}

let deployment = try DeploymentEnvironment()  // what deploy/run.sh tells its workers
var logger = Logger(label: "weather")
logger.logLevel = deployment.logLevel ?? .info
// Blocks SIGTERM/SIGINT before any thread exists, builds the application, serves until a signal, drains.
try FastCGIServer.run(configuration: deployment.fastCGI, logger: logger) {
    let configuration = MCPServer.Configuration(serverInfo: .init(name: "weather", version: "1.0.0"), logger: logger)
    let server = MCPServer(configuration: deployment.server(configuration))
    // inputSchema from ForecastRequest, outputSchema and structuredContent from Forecast.
    server.registerTool(name: "forecast", description: "The forecast for a city") { (request: ForecastRequest, _) in
        Forecast(city: request.city, days: request.days ?? 0, celsius: 21.5)
    }
    return MCPApplication(server: server, configuration: deployment.application(), logger: logger)
}
