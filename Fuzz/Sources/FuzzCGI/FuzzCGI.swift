// Fuzz target: CGI parameters and body to an HTTP request — the path every request takes from libfcgi:
// `FastCGIServer.copyParams` (libfcgi's `NAME=value` strings, filtered with `CGIRequestDecoder.isRead`), then
// `CGIRequestDecoder.decode(params:body:requestID:)`, then the request accessors the HTTP layer reads.
//
// Input format: parameters as `NAME=value` entries, each ended by a NUL byte (libfcgi hands them over as C
// strings, so no entry can contain NUL); an empty entry (two NULs in a row) ends the parameters and what follows
// is the body. Without an empty entry everything is parameters (the last entry may lack its NUL).
// Checked properties: no crash; `copyParams` keeps exactly the entries that have `=` and a read name, in order;
// a decoded request's path is never empty and its query, when present, is what follows the first `?`.
@testable import MCPFCGI
@testable import MCPHTTP
import MCPHandlers

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    var entries: [[UInt8]] = []
    var body: [UInt8] = []
    var start = 0
    while start < size {
        let end = bytes[start...].firstIndex(of: 0) ?? size
        if end == start {
            body = Array(bytes[(start + 1)...])
            break
        }
        entries.append(Array(bytes[start..<end]))
        start = end + 1
    }
    // The envp array libfcgi builds: NUL-terminated strings, then a null pointer.
    var strings: [UnsafeMutablePointer<CChar>?] = entries.map { entry in
        let string = UnsafeMutablePointer<CChar>.allocate(capacity: entry.count + 1)
        entry.withUnsafeBufferPointer { source in
            source.withMemoryRebound(to: CChar.self) { string.initialize(from: $0.baseAddress!, count: entry.count) }
        }
        string[entry.count] = 0
        return string
    }
    strings.append(nil)
    defer { for string in strings { string?.deallocate() } }
    let params = strings.withUnsafeMutableBufferPointer { FastCGIServer.copyParams($0.baseAddress) }

    var expected: [(String, String)] = []
    for entry in entries {
        guard let eq = entry.firstIndex(of: UInt8(ascii: "=")) else { continue }
        let name = Array(entry[..<eq])
        let isRead = name.withUnsafeBufferPointer { CGIRequestDecoder.isRead($0) }
        if isRead {
            expected.append((String(decoding: name, as: UTF8.self), String(decoding: entry[(eq + 1)...], as: UTF8.self)))
        }
    }
    precondition(params.elementsEqual(expected, by: { $0 == $1 }), "copyParams kept other entries than expected")

    guard let request = try? CGIRequestDecoder.decode(params: params, body: body, requestID: "fuzz") else { return 0 }
    precondition(request.body == body)
    let full = request.head.path ?? ""
    precondition(!full.isEmpty, "empty path")
    let path = request.path
    if let query = request.query {
        precondition(path.utf8.count + 1 + query.utf8.count == full.utf8.count, "path and query do not add up")
    } else {
        precondition(path == full, "path without query differs from the full path")
    }
    // The lookups the HTTP layer makes (each scans the fields; never once per field, which is quadratic).
    _ = request.head.headerFields.value(.contentType)
    _ = request.head.headerFields.value(.accept)
    _ = request.head.headerFields.value(.origin)
    _ = request.head.headerFields.value(.mcpSessionID)
    _ = request.head.authority
    _ = request.head.scheme
    return 0
}
