/// Anything that answers HTTP requests: the router, an endpoint, a whole application.
public protocol HTTPResponder: Sendable {
    /// Answers one request. Never throws: every failure is an HTTP response.
    func respond(to request: HTTPServerRequest) async -> HTTPServerResponse
}
