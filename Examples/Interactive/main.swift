import Logging
import MCPFCGI

// Tools that ask back: a typed form (elicitation), the client's model (sampling), the client's roots, and a page of
// the server's own (URL-mode elicitation and the -32042 error that asks for one).

/// The form `plan_trip` asks the user to fill in: `requestedSchema` is derived from it.
struct TripForm: Decodable, Sendable, SchemaDescribed {
    enum Style: String, Decodable, CaseIterable, Sendable { case budget, comfort, luxury }
    var destination: String
    var nights: Int
    var style: Style?
    static let fields: [String: FieldSchema] = [
        "destination": .init("Where to", minLength: 1), "nights": .init("How many nights", minimum: 1, maximum: 30),
        "style": "How you like to travel",
    ]
}

/// Where the calendar of this example would be connected (a page of the server's own in a real deployment).
func connectLink() -> URLElicitation {
    URLElicitation(message: "Connect your calendar", url: "https://calendar.example.com/connect")
}

func registerInteractiveTools(on server: MCPServer) {
    server.registerTool(Tool(name: "plan_trip", description: "Asks where to go, then asks the model for a plan")) {
        _, context in
        guard case .accepted(let trip) = try await context.elicit("Where would you like to go?", as: TripForm.self)
        else { return .text("No trip planned.") }
        let style = trip.style ?? .comfort
        let plan = try await context.sample(
            [.user("Plan \(trip.nights) nights in \(trip.destination), \(style.rawValue) style, in three lines.")],
            maxTokens: 300, modelPreferences: .init(hints: ["claude"], speedPriority: 0.5))
        return .text("\(trip.nights) nights in \(trip.destination) (\(style.rawValue)), by \(plan.model): \(plan.text ?? "")")
    }

    server.registerTool(Tool(name: "project_roots", description: "Lists the folders the client shares")) { _, context in
        let roots = try await context.roots()
        return .text(roots.map { "\($0.name ?? "?") \($0.uri)" }.joined(separator: "\n"))
    }

    // URL mode: the user consents to open the page; what they do there reaches the server out of band, which then
    // tells the client with server.notifyElicitationComplete(link.elicitationID, sessionID:).
    server.registerTool(Tool(name: "connect_calendar", description: "Sends you to the calendar's sign-in page")) {
        _, context in
        let link = connectLink()
        switch try await context.elicit(link) {
        case .accepted: return .text("Opened \(link.url) (elicitation \(link.elicitationID)).")
        case .declined, .cancelled: return .text("The calendar stays disconnected.")
        }
    }

    // Or answer with -32042: the client sends the user to the page, then may retry the call.
    server.registerTool(Tool(name: "calendar_events", description: "Your next events (needs a connected calendar)")) {
        _, _ in
        throw MCPError.urlElicitationRequired([connectLink()], message: "Connect your calendar first.")
    }
}

let deployment = try DeploymentEnvironment()
var logger = Logger(label: "interactive")
logger.logLevel = deployment.logLevel ?? .info
try FastCGIServer.run(configuration: deployment.fastCGI, logger: logger) {
    let configuration = MCPServer.Configuration(serverInfo: .init(name: "interactive", version: "1.0.0"), logger: logger)
    let server = MCPServer(configuration: deployment.server(configuration))
    registerInteractiveTools(on: server)
    return MCPApplication(server: server, configuration: deployment.application(), logger: logger)
}
