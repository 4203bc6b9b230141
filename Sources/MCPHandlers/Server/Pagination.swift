/// Cursor pagination over a list in a stable order: the cursor is the offset of the next page, as text.
enum Pagination {
    /// The page that starts at `cursor`, and the cursor of the next page (nil on the last page).
    /// - Throws: ``MCPError`` -32602 when the cursor is not one this server handed out.
    static func page<T>(_ items: [T], cursor: Value?, pageSize: Int) throws(MCPError) -> (ArraySlice<T>, String?) {
        var start = 0
        if let cursor, !cursor.isNull {
            guard let text = cursor.stringValue, let offset = Int(text), offset >= 0, offset <= items.count else {
                throw MCPError.invalidParams("Invalid cursor")
            }
            start = offset
        }
        let end = min(items.count, start + max(1, pageSize))
        return (items[start..<end], end < items.count ? String(end) : nil)
    }
}
