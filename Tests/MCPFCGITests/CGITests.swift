import HTTPTypes
import Testing

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
