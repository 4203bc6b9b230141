import HTTPTypes
import MCPHTTP

extension HTTPServerRequest {
    /// A request as the front end would hand it to a responder, for in-process tests.
    ///
    /// ```swift
    /// let response = await app.respond(to: .test(.get, "/health"))
    /// ```
    /// - Parameters:
    ///   - method: the method.
    ///   - path: the path and query.
    ///   - headers: header fields, in order (names must be valid field names).
    ///   - body: the body, as UTF-8.
    ///   - authority: the `Host`. Default `127.0.0.1` (one of the hosts the default host policy answers).
    ///   - remoteAddress: the client address nginx would report. Default nil.
    /// - Returns: the request.
    public static func test(
        _ method: HTTPRequest.Method, _ path: String, headers: [(String, String)] = [], body: String = "",
        authority: String = "127.0.0.1", remoteAddress: String? = nil
    ) -> HTTPServerRequest {
        var fields = HTTPFields()
        for (name, value) in headers {
            guard let name = HTTPField.Name(name) else { preconditionFailure("not a header field name: \(name)") }
            fields.append(HTTPField(name: name, value: value))
        }
        var request = HTTPServerRequest(
            head: HTTPRequest(method: method, scheme: "http", authority: authority, path: path, headerFields: fields),
            body: Array(body.utf8))
        request.remoteAddress = remoteAddress
        return request
    }
}
