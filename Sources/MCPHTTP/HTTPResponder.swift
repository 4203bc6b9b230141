/// Anything that answers HTTP requests: the router, an endpoint, a whole application.
public protocol HTTPResponder: Sendable {
    /// Answers one request. Never throws: every failure is an HTTP response.
    func respond(to request: HTTPServerRequest) async -> HTTPServerResponse
    /// Called once when the server starts, before the first request: start background work here (e.g. session
    /// sweepers), never in an initializer.
    func willStart()
    /// Called once when the server starts draining: end long-lived streams that would otherwise hold the
    /// drain until its timeout (e.g. `subscriptions/listen`).
    func willDrain()
    /// Called once when the server has stopped (drained, or the drain timed out): stop what ``willStart()`` started.
    func didStop()
}

extension HTTPResponder {
    /// Does nothing.
    public func willStart() {}
    /// Does nothing.
    public func willDrain() {}
    /// Does nothing.
    public func didStop() {}
}
