import Synchronization
import Testing

@testable import MCPHandlers

/// Collects what the server hands to its notification sink.
final class RecordingSink: Sendable {
    let delivered = Mutex<[(sessionID: String?, notification: JSONRPCNotification)]>([])

    func install(on server: MCPServer) {
        server.setNotificationSink { [self] sessionID, notification in
            delivered.withLock { $0.append((sessionID, notification)) }
        }
    }

    var all: [(sessionID: String?, notification: JSONRPCNotification)] { delivered.withLock { $0 } }
    var methods: [String] { all.map(\.notification.method) }
    func clear() { delivered.withLock { $0.removeAll() } }
}

/// Sends one request through ``MCPServer/handle(_:context:)``.
func call(
    _ server: MCPServer, _ method: String, _ params: Value? = nil, session: Session? = nil, id: RequestID = .number(1)
) async -> Result<Value, MCPError> {
    await server.handle(JSONRPCRequest(id: id, method: method, params: params), context: context(session, id: id))
}

/// The error of a failed result (nil on success).
func failure(_ result: Result<Value, MCPError>) -> MCPError? {
    if case .failure(let error) = result { return error }
    return nil
}

/// Walks every page of a list method and returns the items' `key` fields and how many pages it took.
func collectPages(
    _ server: MCPServer, _ method: String, items: String, key: String
) async throws -> (keys: [String], pages: Int) {
    var keys: [String] = []
    var cursor: Value? = nil
    var pages = 0
    repeat {
        let params: Value = cursor.map { ["cursor": $0] } ?? [:]
        let page = try await call(server, method, params).get()
        keys += page[items]?.arrayValue?.compactMap { $0[key]?.stringValue } ?? []
        cursor = page["nextCursor"]
        pages += 1
    } while cursor != nil && pages < 100
    return (keys, pages)
}
