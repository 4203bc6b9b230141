import HTTPTypes
import MCPHandlers

/// What the HTTP layer answers: status and header fields, and a body.
public struct HTTPServerResponse: Sendable {
    /// Status and header fields.
    public var head: HTTPResponse
    /// The body bytes (ignored when ``stream`` is set).
    public var body: [UInt8]
    /// A streamed body: the head goes out at once (no Content-Length) and the bytes follow as they are written.
    public var stream: ResponseStream?

    /// Creates a response.
    /// - Parameters:
    ///   - status: the status.
    ///   - headerFields: header fields (Content-Length is added by the front end).
    ///   - body: the body bytes.
    public init(status: HTTPResponse.Status, headerFields: HTTPFields = [:], body: [UInt8] = []) {
        self.head = HTTPResponse(status: status, headerFields: headerFields)
        self.body = body
        self.stream = nil
    }

    /// A `text/event-stream` response whose events are written into `stream`.
    /// - Parameters:
    ///   - stream: the body.
    ///   - headerFields: extra header fields.
    public static func eventStream(_ stream: ResponseStream, headerFields: HTTPFields = [:]) -> Self {
        var fields = headerFields
        fields[.contentType] = "text/event-stream"
        fields[.cacheControl] = "no-cache, no-transform"
        fields[HTTPField.Name("X-Accel-Buffering")!] = "no"
        var response = HTTPServerResponse(status: .ok, headerFields: fields)
        response.stream = stream
        return response
    }

    /// A JSON response.
    /// - Parameters:
    ///   - status: the status.
    ///   - json: the body.
    ///   - headerFields: extra header fields.
    public static func json(_ status: HTTPResponse.Status, _ json: Value, headerFields: HTTPFields = [:]) -> Self {
        jsonBytes(status, JSONWriter.encode(json), headerFields: headerFields)
    }

    /// A JSON response from already-encoded bytes.
    /// - Parameters:
    ///   - status: the status.
    ///   - bytes: the encoded JSON body.
    ///   - headerFields: extra header fields.
    public static func jsonBytes(_ status: HTTPResponse.Status, _ bytes: [UInt8], headerFields: HTTPFields = [:])
        -> Self
    {
        var fields = headerFields
        // Room for the headers every response gets on its way out (security headers, CORS), so none regrows it.
        fields.reserveCapacity(fields.count + 8)
        fields[.contentType] = "application/json"
        return HTTPServerResponse(status: status, headerFields: fields, body: bytes)
    }

    /// `{"error":"<code>","message":"<message>"}` with the given status.
    /// - Parameters:
    ///   - status: the status.
    ///   - code: the `error` member, e.g. `method_not_allowed`.
    ///   - message: the `message` member, saying what to do.
    ///   - headerFields: extra header fields.
    public static func error(
        _ status: HTTPResponse.Status, code: String, message: String, headerFields: HTTPFields = [:]
    ) -> Self {
        json(status, ["error": .string(code), "message": .string(message)], headerFields: headerFields)
    }
}
