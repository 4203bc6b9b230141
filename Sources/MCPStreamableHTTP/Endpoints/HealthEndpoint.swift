import Foundation
import MCPHandlers
import MCPHTTP
import MCPOAuth

/// `GET /health`: unauthenticated and cheap. `{"status":"healthy","timestamp":…,"node":…,"uptimeSeconds":…}`.
public struct HealthEndpoint: Sendable {
    /// The worker's node id, reported as `node`.
    public let nodeID: String?
    private let startedAt: Double

    /// Creates the endpoint.
    /// - Parameter nodeID: the worker's node id.
    public init(nodeID: String?) {
        self.nodeID = nodeID
        self.startedAt = MCPServer.monotonicSeconds()
    }

    /// Answers the health check.
    public func respond(to request: HTTPServerRequest) -> HTTPServerResponse {
        var body: [String: Value] = [
            "status": "healthy",
            "timestamp": .string(ISO8601.now()),
            "uptimeSeconds": .int(Int(MCPServer.monotonicSeconds() - startedAt)),
        ]
        if let nodeID { body["node"] = .string(nodeID) }
        return .json(.ok, .object(body), headerFields: [.cacheControl: "no-store"])
    }
}

/// ISO 8601 timestamps with milliseconds in UTC (`2025-01-15T10:30:00.000Z`), as the seed's endpoints send them.
package enum ISO8601 {
    /// The current time.
    public static func now() -> String { string(from: Date()) }

    /// The given time.
    public static func string(from date: Date) -> String {
        date.formatted(
            Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(identifier: "UTC")!))
    }
}
