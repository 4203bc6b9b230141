import HTTPTypes

/// Routes requests by exact path and method.
///
/// An unknown path → 404 JSON; a known path with another method → 405 with `Allow`.
/// `HEAD` is served by a `GET` route, `OPTIONS` by the router's preflight responder when one is set.
public struct Router: HTTPResponder {
    /// A route's handler.
    public typealias Handler = @Sendable (HTTPServerRequest) async -> HTTPServerResponse

    private var routes: [String: [HTTPRequest.Method: Handler]] = [:]
    private var prefixRoutes: [(prefix: String, handlers: [HTTPRequest.Method: Handler])] = []

    /// Creates an empty router.
    public init() {}

    /// Adds a route (replacing one with the same method and path).
    /// - Parameters:
    ///   - method: the method.
    ///   - path: the exact path, without query.
    ///   - handler: the handler.
    public mutating func add(_ method: HTTPRequest.Method, _ path: String, handler: @escaping Handler) {
        routes[path, default: [:]][method] = handler
    }

    /// Adds a route for every path that starts with `prefix` (exact routes win; the longest prefix wins).
    /// - Parameters:
    ///   - method: the method.
    ///   - prefix: the path prefix, e.g. `/admin/`.
    ///   - handler: the handler.
    public mutating func add(_ method: HTTPRequest.Method, prefix: String, handler: @escaping Handler) {
        if let i = prefixRoutes.firstIndex(where: { $0.prefix == prefix }) {
            prefixRoutes[i].handlers[method] = handler
        } else {
            prefixRoutes.append((prefix, [method: handler]))
            prefixRoutes.sort { $0.prefix.count > $1.prefix.count }
        }
    }

    /// Adds a route that forwards to a responder.
    public mutating func add(_ method: HTTPRequest.Method, _ path: String, responder: some HTTPResponder) {
        add(method, path) { await responder.respond(to: $0) }
    }

    /// The methods routed at `path`, sorted, for `Allow`.
    public func allowedMethods(at path: some StringProtocol) -> [HTTPRequest.Method] {
        guard let byMethod = handlers(at: String(path)) else { return [] }
        return byMethod.keys.sorted { $0.rawValue < $1.rawValue }
    }

    /// Whether any route exists at `path`.
    public func hasRoute(at path: some StringProtocol) -> Bool { handlers(at: String(path)) != nil }

    /// The route `path` matches, as it was registered: the exact path, or the longest registered prefix that
    /// `path` starts with; nil when no route matches. Its values are the registered routes only (never a raw
    /// request path), so it suits a metric label or the `http.route` span attribute.
    /// - Parameter path: the request path, without query.
    /// - Returns: the registered path or prefix, or nil.
    public func matchedRoute(for path: some StringProtocol) -> String? {
        let path = String(path)
        if let index = routes.index(forKey: path) { return routes[index].key }
        return prefixRoutes.first(where: { path.hasPrefix($0.prefix) })?.prefix
    }

    /// Every registered exact path and prefix.
    package var registeredRoutes: [String] { Array(routes.keys) + prefixRoutes.map(\.prefix) }

    private func handlers(at path: String) -> [HTTPRequest.Method: Handler]? {
        if let exact = routes[path] { return exact }
        return prefixRoutes.first(where: { path.hasPrefix($0.prefix) })?.handlers
    }

    /// Dispatches the request.
    public func respond(to request: HTTPServerRequest) async -> HTTPServerResponse {
        let path = String(request.path)
        guard let byMethod = handlers(at: path) else {
            return .error(.notFound, code: "not_found", message: "No route for \(path)")
        }
        if let handler = byMethod[request.head.method] {
            return await handler(request)
        }
        if request.head.method == .head, let get = byMethod[.get] {
            var response = await get(request)
            response.body = []
            return response
        }
        var fields = HTTPFields()
        fields[.allow] = allowedMethods(at: path).map(\.rawValue).joined(separator: ", ")
        var response = HTTPServerResponse.error(
            .methodNotAllowed, code: "method_not_allowed",
            message: "\(request.head.method.rawValue) is not allowed on \(path)")
        response.head.headerFields.append(contentsOf: fields)
        return response
    }
}
