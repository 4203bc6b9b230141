import MCPHandlers
import MCPHTTP
import MCPOAuth

/// Server-Sent Events wire format (`text/event-stream`).
package enum ServerSentEvent {
    /// `id: <id>\n[retry: <ms>\n]data: <json>\n\n`; `data` empty for a priming event.
    /// - Parameters:
    ///   - id: the event id (no newlines).
    ///   - data: the event data (JSON text; it has no raw newlines).
    ///   - retry: the reconnection delay to announce, in milliseconds.
    public static func event(id: String?, data: [UInt8], retry: Int? = nil) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 48)
        if let id {
            out.append(contentsOf: "id: ".utf8)
            out.append(contentsOf: id.utf8)
            out.append(10)
        }
        if let retry {
            out.append(contentsOf: "retry: ".utf8)
            out.append(contentsOf: String(retry).utf8)
            out.append(10)
        }
        out.append(contentsOf: "data: ".utf8)
        out.append(contentsOf: data)
        out.append(contentsOf: [10, 10])
        return out
    }

    /// A JSON-RPC message as one event.
    public static func message(_ value: Value, id: String?) -> [UInt8] {
        event(id: id, data: JSONWriter.encode(value))
    }

    /// `: ping\n\n`, the keep-alive comment.
    public static let keepAlive: [UInt8] = Array(": ping\n\n".utf8)
}
