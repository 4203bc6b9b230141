import HTTPTypes
import MCPHTTP
import MCPStreamableHTTP
import MCPHandlers

/// Writes an ``HTTPServerResponse`` head in the CGI response form nginx reads from FastCGI:
/// `Status: 200 OK`, the header fields, and `Content-Length`.
package enum CGIResponseEncoder {
    /// The head bytes, ending with the empty line; `Content-Length` is set from `bodyLength`.
    /// - Parameters:
    ///   - response: status and header fields.
    ///   - bodyLength: the body's length, or nil for a streamed body (no Content-Length).
    public static func head(_ response: HTTPResponse, bodyLength: Int?) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512)  // a usual head with the security headers, without growing
        out.append(contentsOf: "Status: ".utf8)
        out.append(contentsOf: String(response.status.code).utf8)
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: response.status.reasonPhrase.utf8)
        out.append(contentsOf: "\r\n".utf8)
        for field in response.headerFields where field.name != .contentLength {
            out.append(contentsOf: field.name.rawName.utf8)
            out.append(contentsOf: ": ".utf8)
            out.append(contentsOf: field.value.utf8)
            out.append(contentsOf: "\r\n".utf8)
        }
        if let bodyLength {
            out.append(contentsOf: "Content-Length: ".utf8)
            out.append(contentsOf: String(bodyLength).utf8)
            out.append(contentsOf: "\r\n".utf8)
        }
        out.append(contentsOf: "\r\n".utf8)
        return out
    }
}
