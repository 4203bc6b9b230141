import HTTPTypes
import MCPHTTP
import MCPStreamableHTTP
import MCPHandlers

#if canImport(Glibc)
    import Glibc
#endif

/// Turns the CGI/FastCGI parameters nginx sends (`REQUEST_METHOD`, `REQUEST_URI`, `HTTP_*`, …) into an
/// ``/MCPHTTP/HTTPServerRequest``. Pure: tested without libfcgi.
///
/// `MCPFCGI_PEER=1`, which only another worker's ``FastCGIClient`` sends (never nginx), sets
/// ``HTTPServerRequest/isPeerRequest``. `REQUEST_ID` (nginx's `$request_id`, set by `deploy/mcp_fastcgi.conf`)
/// becomes ``HTTPServerRequest/requestID``, so nginx's access log and the worker's log name a request alike; a
/// client cannot set it (its headers arrive as `HTTP_*` parameters).
package enum CGIRequestDecoder {
    /// Why the parameters do not describe a request.
    public enum Failure: Error, Equatable, Sendable {
        /// `REQUEST_METHOD` is missing or not a valid token.
        case invalidMethod
    }

    /// Builds the request head from parameters; the first occurrence of a repeated name wins (as in libfcgi).
    /// - Parameters:
    ///   - params: `(name, value)` pairs in the order received.
    ///   - body: the request body.
    ///   - requestID: the log-correlation id used when the parameters carry no usable `REQUEST_ID` (1 to
    ///     ``maxRequestIDLength`` characters of `A-Z a-z 0-9 . _ -`; anything else is ignored).
    /// - Returns: the request.
    /// - Throws: ``Failure/invalidMethod`` when `REQUEST_METHOD` is missing or invalid.
    public static func decode(params: [(String, String)], body: [UInt8], requestID: String) throws(Failure)
        -> HTTPServerRequest
    {
        var method: String?
        var uri: String?
        var scriptName: String?
        var pathInfo: String?
        var queryString: String?
        var https: Bool?
        var scheme: String?
        var host: String?
        var remoteAddress: String?
        var remoteUser: String??
        var isPeer: Bool?
        var contentType: String?
        var contentLength: String?
        var forwardedRequestID: String?
        var fields = FirstWinsFields()
        fields.fields.reserveCapacity(params.count)
        // nginx sends every name once; "first wins" for repeats: nil checks for the CGI variables, and
        // `FirstWinsFields` for the headers.
        for (name, value) in params {
            if name.utf8.count > 5, name.utf8.starts(with: "HTTP_".utf8) {
                // nginx passes Content-Type and Content-Length both as CGI variables and as HTTP_* copies.
                if let known = commonHeaders[name] {
                    guard let fieldName = known else { continue }
                    if fieldName == hostName {
                        guard host == nil else { continue }
                        host = value
                        fields.append(fieldName, value, firstWins: false)
                    } else {
                        fields.append(fieldName, value, firstWins: true)
                    }
                } else if let fieldName = headerName(cgiName: name) {
                    fields.append(fieldName, value, firstWins: true)
                }
                continue
            }
            switch name {
            case "REQUEST_METHOD": if method == nil { method = value }
            case "REQUEST_URI": if uri == nil { uri = value }
            case "SCRIPT_NAME": if scriptName == nil { scriptName = value }
            case "PATH_INFO": if pathInfo == nil { pathInfo = value }
            case "QUERY_STRING": if queryString == nil { queryString = value }
            case "HTTPS": if https == nil { https = !value.isEmpty && value.lowercased() != "off" }
            case "REQUEST_SCHEME": if scheme == nil { scheme = value }
            case "REMOTE_ADDR": if remoteAddress == nil { remoteAddress = value }
            case "REMOTE_USER": if remoteUser == nil { remoteUser = .some(value.isEmpty ? nil : value) }
            case "MCPFCGI_PEER": if isPeer == nil { isPeer = value == "1" }
            case "CONTENT_TYPE": if contentType == nil { contentType = value }
            case "CONTENT_LENGTH": if contentLength == nil { contentLength = value }
            case "REQUEST_ID": if forwardedRequestID == nil { forwardedRequestID = value }
            default: continue
            }
        }
        if let contentType, !contentType.isEmpty { fields.fields[.contentType] = contentType }
        if let contentLength, !contentLength.isEmpty { fields.fields[.contentLength] = contentLength }
        guard let method, let parsedMethod = HTTPRequest.Method(method) else { throw .invalidMethod }
        var path = uri ?? ((scriptName ?? "") + (pathInfo ?? ""))
        if uri == nil, let queryString, !queryString.isEmpty { path += "?" + queryString }
        if path.isEmpty { path = "/" }
        var head = HTTPRequest(
            method: parsedMethod, scheme: scheme ?? (https == true ? "https" : "http"), authority: host, path: path,
            headerFields: fields.fields)
        // HTTPTypes legalizes the path like a field value (control characters become spaces, surrounding
        // whitespace is trimmed): a path of only such characters comes out empty.
        if head.path?.isEmpty != false { head.path = "/" }
        return HTTPServerRequest(
            head: head, body: body, remoteAddress: remoteAddress, remoteUser: remoteUser ?? nil,
            requestID: forwardedRequestID.flatMap { isValidRequestID($0) ? $0 : nil } ?? requestID,
            isPeerRequest: isPeer ?? false)
    }

    /// The longest `REQUEST_ID` taken from the parameters (nginx's `$request_id` has 32 hex digits).
    public static let maxRequestIDLength = 64

    /// Whether `id` is 1 to ``maxRequestIDLength`` characters of `A-Z a-z 0-9 . _ -` (safe in any log line).
    static func isValidRequestID(_ id: String) -> Bool {
        let bytes = id.utf8
        guard !bytes.isEmpty, bytes.count <= maxRequestIDLength else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                true
            default: false
            }
        }
    }

    private static let hostName = HTTPField.Name("Host")!

    /// Header fields where the first of a repeated name wins. Whether a name is already there is a scan of the
    /// fields while they are few (the usual dozen headers: cheaper than hashing), a set of their names past
    /// ``scanLimit``: a scan per header would make a request with thousands of distinct headers (tens of KB,
    /// within nginx's limits) cost time quadratic in their number.
    struct FirstWinsFields {
        static let scanLimit = 32
        var fields = HTTPFields()
        private var names: Set<HTTPField.Name>?

        /// Appends the field; with `firstWins`, only when no field has this name yet.
        mutating func append(_ name: HTTPField.Name, _ value: String, firstWins: Bool) {
            if names != nil {
                if !names!.insert(name).inserted, firstWins { return }
            } else {
                if firstWins, fields.contains(name) { return }
                if fields.count >= Self.scanLimit {
                    names = Set(fields.lazy.map(\.name))
                    names!.insert(name)
                }
            }
            fields.append(HTTPField(name: name, value: value))
        }
    }

    /// Prebuilt field names of the headers clients send most, by CGI name; nil for the `HTTP_*` copies of
    /// `CONTENT_TYPE` and `CONTENT_LENGTH`, which are skipped.
    static let commonHeaders: [String: HTTPField.Name?] = {
        let skip: HTTPField.Name? = nil
        var table: [String: HTTPField.Name?] = ["HTTP_CONTENT_TYPE": skip, "HTTP_CONTENT_LENGTH": skip]
        let names: [HTTPField.Name] = [
            hostName, .accept, .acceptEncoding, .acceptLanguage, .userAgent, .origin, .authorization, .connection,
            .cookie, .referer, .cacheControl, .mcpSessionID, .mcpProtocolVersion, HTTPField.Name("Last-Event-ID")!,
            HTTPField.Name("Mcp-Method")!, HTTPField.Name("Mcp-Name")!, HTTPField.Name("X-Forwarded-For")!,
            HTTPField.Name("X-Forwarded-Proto")!, HTTPField.Name("X-Real-IP")!,
        ]
        for name in names {
            let cgi = "HTTP_" + String(name.canonicalName.uppercased().map { $0 == "-" ? "_" : $0 })
            table[cgi] = .some(name)
        }
        return table
    }()

    /// `HTTP_FOO_BAR` → the field name `foo-bar`, converted byte by byte; nil when it is not a valid token.
    static func headerName(cgiName name: String) -> HTTPField.Name? {
        let count = name.utf8.count - 5
        guard count > 0 else { return nil }
        let converted = String(unsafeUninitializedCapacity: count) { out in
            var i = 0
            for byte in name.utf8.dropFirst(5) {
                switch byte {
                case UInt8(ascii: "_"): out[i] = UInt8(ascii: "-")
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): out[i] = byte | 0x20
                default: out[i] = byte
                }
                i += 1
            }
            return i
        }
        return HTTPField.Name(converted)
    }

    /// The CGI variables ``decode(params:body:requestID:)`` reads.
    private static let readNameStrings = [
        "REQUEST_METHOD", "REQUEST_URI", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "HTTPS", "REQUEST_SCHEME",
        "REMOTE_ADDR", "REMOTE_USER", "MCPFCGI_PEER", "CONTENT_TYPE", "CONTENT_LENGTH", "REQUEST_ID",
    ]
    /// The same, as bytes.
    private static let readNames: [[UInt8]] = readNameStrings.map { Array($0.utf8) }
    /// `HTTP_CONTENT_TYPE` and `HTTP_CONTENT_LENGTH`, as bytes.
    private static let skippedHeaderCopies = (Array("HTTP_CONTENT_TYPE".utf8), Array("HTTP_CONTENT_LENGTH".utf8))

    /// The `HTTP_*` names of the headers clients send most (``commonHeaders``' keys), as literals: a literal is never
    /// reference-counted, so every accept thread can hand out the same one without touching shared memory.
    static let commonHeaderCGINames = [
        "HTTP_HOST", "HTTP_ACCEPT", "HTTP_ACCEPT_ENCODING", "HTTP_ACCEPT_LANGUAGE", "HTTP_USER_AGENT", "HTTP_ORIGIN",
        "HTTP_AUTHORIZATION", "HTTP_CONNECTION", "HTTP_COOKIE", "HTTP_REFERER", "HTTP_CACHE_CONTROL",
        "HTTP_MCP_SESSION_ID", "HTTP_MCP_PROTOCOL_VERSION", "HTTP_LAST_EVENT_ID", "HTTP_MCP_METHOD", "HTTP_MCP_NAME",
        "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_REAL_IP", "HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH",
    ]

    /// The names the decoder reads most (its CGI variables and the common headers' `HTTP_*` names), by length:
    /// ``name(_:)`` returns one of these literals instead of a new string for every parameter of every request.
    private static let internedNames: [[(bytes: [UInt8], name: String)]] = {
        var byLength = [[(bytes: [UInt8], name: String)]](repeating: [], count: 40)
        for name in readNameStrings + commonHeaderCGINames {
            let bytes = Array(name.utf8)
            if bytes.count < byLength.count { byLength[bytes.count].append((bytes, name)) }
        }
        return byLength
    }()

    /// The parameter name in `bytes`: a string made once for the names the decoder reads most, a new one otherwise.
    static func name(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        if bytes.count < internedNames.count {
            for entry in internedNames[bytes.count] where equals(bytes, entry.bytes) { return entry.name }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Values most requests carry (their `Accept` and `Content-Type`), made once: longer than a small string, each
    /// would cost an allocation per request.
    private static let internedValues: [(bytes: [UInt8], value: String)] = [
        "application/json", "application/json, text/event-stream", "text/event-stream",
    ].map { (Array($0.utf8), $0) }

    /// The parameter value in `bytes`: a string made once for the most common values, a new one otherwise.
    static func value(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        if bytes.count > 15 {
            for entry in internedValues where equals(bytes, entry.bytes) { return entry.value }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func equals(_ bytes: UnsafeBufferPointer<UInt8>, _ other: [UInt8]) -> Bool {
        bytes.count == other.count
            && other.withUnsafeBufferPointer { memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }
    }

    /// Whether a parameter name is one ``decode(params:body:requestID:)`` reads: any `HTTP_*` name but the copies
    /// of `CONTENT_TYPE` and `CONTENT_LENGTH` (which it skips), or one of the CGI variables it uses. Lets the FastCGI
    /// front skip the others before making strings.
    static func isRead(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        if name.count > 5, name[0] == UInt8(ascii: "H"), name[1] == UInt8(ascii: "T"), name[2] == UInt8(ascii: "T"),
            name[3] == UInt8(ascii: "P"), name[4] == UInt8(ascii: "_")
        {
            return !equals(name, skippedHeaderCopies.0) && !equals(name, skippedHeaderCopies.1)
        }
        for candidate in readNames where candidate.count == name.count {
            if candidate.withUnsafeBufferPointer({ memcmp($0.baseAddress!, name.baseAddress!, name.count) == 0 }) {
                return true
            }
        }
        return false
    }
}
