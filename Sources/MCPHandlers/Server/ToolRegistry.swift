/// A tool handler: the raw arguments object and the request context in, a result out.
///
/// Throwing ``MCPError`` answers with that JSON-RPC error; throwing anything else answers with a tool
/// result whose `isError` is true and whose text is the error's description.
public typealias ToolHandler = @Sendable (_ arguments: [String: Value], _ context: RequestContext) async throws -> ToolResult

/// The registered tools, in registration order (the order of `tools/list` pages).
struct ToolRegistry: Sendable {
    struct Entry: Sendable {
        var tool: Tool
        var handler: ToolHandler
    }
    private(set) var entries: [Entry] = []
    private var index: [String: Int] = [:]

    /// Adds or replaces a tool; returns true when the list changed.
    mutating func register(_ tool: Tool, handler: @escaping ToolHandler) {
        if let i = index[tool.name] {
            entries[i] = Entry(tool: tool, handler: handler)
        } else {
            index[tool.name] = entries.count
            entries.append(Entry(tool: tool, handler: handler))
        }
    }

    /// Removes a tool; returns whether it existed.
    mutating func remove(_ name: String) -> Bool {
        guard let i = index.removeValue(forKey: name) else { return false }
        entries.remove(at: i)
        for j in i..<entries.count { index[entries[j].tool.name] = j }
        return true
    }

    func entry(named name: String) -> Entry? { index[name].map { entries[$0] } }

    var isEmpty: Bool { entries.isEmpty }
}
