import HTTPTypes
import Testing
import MCPFCGITesting

@testable import MCPFCGI

/// Inputs found by the fuzz targets in Fuzz/ (see Fuzz/README.md), kept as tests once fixed.
@Suite struct FuzzRegressionTests {
    /// FuzzCGI (timeout): thousands of distinct `HTTP_*` parameters. The "first wins" check scanned the fields
    /// for every header, so decoding cost time quadratic in their number (about 100 ms of CPU in release for the
    /// 6000 short headers that fit in nginx's default 32 KB of request headers).
    @Test func manyDistinctHeadersDecodeInLinearTime() throws {
        let count = 20_000
        var params: [(String, String)] = [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/mcp")]
        for i in 0..<count { params.append(("HTTP_X_\(i)", "v\(i)")) }
        let clock = ContinuousClock()
        var request: HTTPServerRequest?
        let elapsed = try clock.measure {
            request = try CGIRequestDecoder.decode(params: params, body: [], requestID: "r")
        }
        #expect(request?.head.headerFields.count == count)
        // Quadratic took minutes in a debug build; linear takes well under a second.
        #expect(elapsed < .seconds(10), "decoding \(count) headers took \(elapsed)")
    }

    /// The first of a repeated header still wins once there are more fields than a scan handles (a set of
    /// names takes over past `FirstWinsFields.scanLimit`), and the Host field follows `HTTP_HOST` as before.
    @Test func firstRepeatedHeaderWinsPastTheScanLimit() throws {
        var params: [(String, String)] = [("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/mcp")]
        let many = CGIRequestDecoder.FirstWinsFields.scanLimit * 3
        params.append(("HTTP_ACCEPT", "application/json"))
        for i in 0..<many { params.append(("HTTP_X_\(i)", "first")) }
        for i in 0..<many { params.append(("HTTP_X_\(i)", "second")) }
        params += [
            ("HTTP_ACCEPT", "text/html"), ("HTTP_HOST", "a.example"), ("HTTP_HOST", "b.example"),
            ("HTTP_X_LATE", "first"), ("HTTP_X_LATE", "second"), ("HTTP_X_0", "third"),
        ]
        let r = try CGIRequestDecoder.decode(params: params, body: [], requestID: "r")
        let fields = r.head.headerFields
        #expect(fields.count == 1 + many + 2)
        #expect(fields[values: .accept] == ["application/json"])
        #expect(fields[values: HTTPField.Name("x-0")!] == ["first"])
        #expect(fields[values: HTTPField.Name("x-\(many - 1)")!] == ["first"])
        #expect(fields[values: HTTPField.Name("x-late")!] == ["first"])
        #expect(fields[values: HTTPField.Name("host")!] == ["a.example"])
        #expect(r.head.authority == "a.example")
    }

    /// FuzzCGI (crash: "empty path"): `PATH_INFO=\u{02}` without `REQUEST_URI`. HTTPTypes legalizes the path like a
    /// field value (control characters become spaces, surrounding whitespace is trimmed), so the decoder's "empty
    /// path is /" ran too early and the request came out with an empty path.
    @Test(arguments: [
        [("REQUEST_METHOD", "DELETE"), ("PATH_INFO", "\u{02}"), ("HTTPS", "off"), ("REMOTE_USER", "alice")],
        [("REQUEST_METHOD", "GET"), ("REQUEST_URI", " \t ")],
        [("REQUEST_METHOD", "GET"), ("SCRIPT_NAME", "\u{7F}"), ("PATH_INFO", "\r\n")],
    ])
    func pathOfOnlyIllegalCharactersIsTheRoot(params: [(String, String)]) throws {
        let r = try CGIRequestDecoder.decode(params: params, body: [], requestID: "r")
        #expect(r.head.path == "/")
        #expect(r.path == "/")
        #expect(r.query == nil)
    }
}
