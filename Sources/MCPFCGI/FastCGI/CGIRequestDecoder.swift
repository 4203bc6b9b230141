import HTTPTypes

/// Turns the CGI/FastCGI parameters nginx sends (`REQUEST_METHOD`, `REQUEST_URI`, `HTTP_*`, …) into an
/// ``HTTPServerRequest``. Pure: tested without libfcgi.
///
/// `MCPFCGI_PEER=1`, which only another worker's ``FastCGIClient`` sends (never nginx), sets
/// ``HTTPServerRequest/isPeerRequest``.
public enum CGIRequestDecoder {
    /// Why the parameters do not describe a request.
    public enum Failure: Error, Equatable, Sendable {
        /// `REQUEST_METHOD` is missing or not a valid token.
        case invalidMethod
    }

    /// Builds the request head from parameters; the first occurrence of a repeated name wins (as in libfcgi).
    /// - Parameters:
    ///   - params: `(name, value)` pairs in the order received.
    ///   - body: the request body.
    ///   - requestID: the log-correlation id.
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
        var https = false
        var scheme: String?
        var host: String?
        var remoteAddress: String?
        var remoteUser: String?
        var isPeer = false
        var fields = HTTPFields()
        var seen = Set<String>()
        for (name, value) in params {
            guard seen.insert(name).inserted else { continue }
            switch name {
            case "REQUEST_METHOD": method = value
            case "REQUEST_URI": uri = value
            case "SCRIPT_NAME": scriptName = value
            case "PATH_INFO": pathInfo = value
            case "QUERY_STRING": queryString = value
            case "HTTPS": https = !value.isEmpty && value.lowercased() != "off"
            case "REQUEST_SCHEME": scheme = value
            case "REMOTE_ADDR": remoteAddress = value
            case "REMOTE_USER": remoteUser = value.isEmpty ? nil : value
            case "MCPFCGI_PEER": isPeer = value == "1"
            case "CONTENT_TYPE":
                if !value.isEmpty { fields[.contentType] = value }
            case "CONTENT_LENGTH":
                if !value.isEmpty { fields[.contentLength] = value }
            default:
                // nginx passes Content-Type and Content-Length both as CGI variables and as HTTP_* copies.
                guard name.hasPrefix("HTTP_"), name != "HTTP_CONTENT_TYPE", name != "HTTP_CONTENT_LENGTH" else {
                    continue
                }
                let headerName = String(name.dropFirst(5).map { $0 == "_" ? "-" : $0 })
                if headerName == "HOST" { host = value }
                if let fieldName = HTTPField.Name(headerName) {
                    fields.append(HTTPField(name: fieldName, value: value))
                }
            }
        }
        guard let method, let parsedMethod = HTTPRequest.Method(method) else { throw .invalidMethod }
        var path = uri ?? ((scriptName ?? "") + (pathInfo ?? ""))
        if uri == nil, let queryString, !queryString.isEmpty { path += "?" + queryString }
        if path.isEmpty { path = "/" }
        let head = HTTPRequest(
            method: parsedMethod, scheme: scheme ?? (https ? "https" : "http"), authority: host, path: path,
            headerFields: fields)
        return HTTPServerRequest(
            head: head, body: body, remoteAddress: remoteAddress, remoteUser: remoteUser, requestID: requestID,
            isPeerRequest: isPeer)
    }
}
