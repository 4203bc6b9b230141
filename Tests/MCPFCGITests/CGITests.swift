import HTTPTypes
import Testing
import MCPFCGITesting

@testable import MCPFCGI

@Suite struct CGIRequestDecoderTests {
    let nginxParams: [(String, String)] = [
        ("QUERY_STRING", "a=1"), ("REQUEST_METHOD", "POST"), ("CONTENT_TYPE", "application/json"),
        ("CONTENT_LENGTH", "2"), ("SCRIPT_NAME", "/mcp"), ("REQUEST_URI", "/mcp?a=1"), ("DOCUMENT_URI", "/mcp"),
        ("REQUEST_SCHEME", "https"), ("HTTPS", "on"), ("REMOTE_ADDR", "127.0.0.1"), ("REMOTE_USER", "alice"),
        ("HTTP_X_FORWARDED_PROTO", "https"), ("HTTP_HOST", "mcp.example.com"),
        ("HTTP_CONTENT_TYPE", "application/json"), ("HTTP_CONTENT_LENGTH", "2"),
        ("HTTP_MCP_SESSION_ID", "w1.abc"), ("HTTP_MCP_SESSION_ID", "w2.second-is-ignored"),
        ("HTTP_AUTHORIZATION", "Bearer t"),
    ]

    @Test func decodesWhatNginxSends() throws {
        let r = try CGIRequestDecoder.decode(params: nginxParams, body: Array("{}".utf8), requestID: "r1")
        #expect(r.head.method == .post)
        #expect(r.head.path == "/mcp?a=1")
        #expect(r.head.scheme == "https")
        #expect(r.head.authority == "mcp.example.com")
        #expect(r.head.headerFields[.contentType] == "application/json")
        #expect(r.head.headerFields[values: .contentType].count == 1)
        #expect(r.head.headerFields[.contentLength] == "2")
        #expect(r.head.headerFields[HTTPField.Name("Mcp-Session-Id")!] == "w1.abc")
        #expect(r.head.headerFields[.authorization] == "Bearer t")
        #expect(r.head.headerFields[HTTPField.Name("X-Forwarded-Proto")!] == "https")
        #expect(r.remoteAddress == "127.0.0.1")
        #expect(r.remoteUser == "alice")
        #expect(r.requestID == "r1")
        #expect(r.body == Array("{}".utf8))
    }

    @Test func fallsBackToScriptNameAndQuery() throws {
        let r = try CGIRequestDecoder.decode(
            params: [("REQUEST_METHOD", "GET"), ("SCRIPT_NAME", "/health"), ("QUERY_STRING", "x=1"), ("HTTPS", "off")],
            body: [], requestID: "r")
        #expect(r.head.path == "/health?x=1")
        #expect(r.head.scheme == "http")
        let root = try CGIRequestDecoder.decode(params: [("REQUEST_METHOD", "GET"), ("REMOTE_USER", "")], body: [], requestID: "r")
        #expect(root.head.path == "/")
        #expect(root.remoteUser == nil)
    }

    @Test func requestIDComesFromNginxsParameterOnly() throws {
        let base: [(String, String)] = [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/health")]
        let nginxID = "0f8a1c2e9b7d4a6f8e1c3b5a7d9f2e4c"  // the shape of nginx's $request_id
        let fromNginx = try CGIRequestDecoder.decode(
            params: base + [("REQUEST_ID", nginxID), ("REQUEST_ID", "second-is-ignored")], body: [], requestID: "own")
        #expect(fromNginx.requestID == nginxID)
        // No parameter: the worker's own id.
        #expect(try CGIRequestDecoder.decode(params: base, body: [], requestID: "own").requestID == "own")
        // What a client's "Request-Id: forged" header becomes behind nginx: not the request id.
        let forged = try CGIRequestDecoder.decode(
            params: base + [("HTTP_REQUEST_ID", "forged"), ("HTTP_X_REQUEST_ID", "forged")], body: [], requestID: "own")
        #expect(forged.requestID == "own")
        // An unusable value (empty, too long, characters that could forge a log line) is ignored.
        let tooLong = String(repeating: "a", count: CGIRequestDecoder.maxRequestIDLength + 1)
        for bad in ["", tooLong, "a b", "a\nlevel=error", "a\"b", "ü"] {
            let r = try CGIRequestDecoder.decode(params: base + [("REQUEST_ID", bad)], body: [], requestID: "own")
            #expect(r.requestID == "own", "REQUEST_ID \(bad.debugDescription) was taken")
        }
        let longest = String(repeating: "a", count: CGIRequestDecoder.maxRequestIDLength)
        #expect(try CGIRequestDecoder.decode(params: base + [("REQUEST_ID", longest)], body: [], requestID: "own").requestID == longest)
        // The FastCGI front copies only the parameters the decoder reads: REQUEST_ID must be one of them.
        #expect(Array("REQUEST_ID".utf8).withUnsafeBufferPointer { CGIRequestDecoder.isRead($0) })
    }

    @Test func missingOrInvalidMethod() {
        #expect(throws: CGIRequestDecoder.Failure.invalidMethod) {
            try CGIRequestDecoder.decode(params: [], body: [], requestID: "r")
        }
        #expect(throws: CGIRequestDecoder.Failure.invalidMethod) {
            try CGIRequestDecoder.decode(params: [("REQUEST_METHOD", "GE T")], body: [], requestID: "r")
        }
    }

    @Test func encodesTheResponseHead() {
        var response = HTTPResponse(status: .notFound)
        response.headerFields[.contentType] = "application/json"
        response.headerFields[.contentLength] = "999"
        let head = String(decoding: CGIResponseEncoder.head(response, bodyLength: 5), as: UTF8.self)
        #expect(head == "Status: 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n")
        let streamed = String(decoding: CGIResponseEncoder.head(HTTPResponse(status: .ok), bodyLength: nil), as: UTF8.self)
        #expect(streamed == "Status: 200 OK\r\n\r\n")
    }
}
