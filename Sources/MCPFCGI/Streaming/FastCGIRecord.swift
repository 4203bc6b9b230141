import MCPHTTP
import MCPStreamableHTTP
import MCPHandlers
/// FastCGI records the ``StreamHub`` writes itself on a handed-off connection (FastCGI 1.0 spec, §3.3, §5.5).
enum FastCGIRecord {
    static let stdoutType: UInt8 = 6
    static let endRequestType: UInt8 = 3
    static let maxContent = 32_768

    /// `bytes` as FCGI_STDOUT records of at most 32 KiB each.
    static func stdout(requestID: UInt16, _ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 8 * (bytes.count / maxContent + 1))
        var offset = 0
        repeat {
            let count = min(maxContent, bytes.count - offset)
            out += header(type: stdoutType, requestID: requestID, contentLength: count)
            out += bytes[offset..<(offset + count)]
            offset += count
        } while offset < bytes.count
        return out
    }

    /// The end of a response: an empty FCGI_STDOUT record, then FCGI_END_REQUEST (status 0, request complete).
    static func end(requestID: UInt16) -> [UInt8] {
        header(type: stdoutType, requestID: requestID, contentLength: 0)
            + header(type: endRequestType, requestID: requestID, contentLength: 8) + [0, 0, 0, 0, 0, 0, 0, 0]
    }

    static func header(type: UInt8, requestID: UInt16, contentLength: Int) -> [UInt8] {
        [
            1, type, UInt8(requestID >> 8), UInt8(requestID & 0xFF), UInt8(contentLength >> 8),
            UInt8(contentLength & 0xFF), 0, 0,
        ]
    }
}
