import CoreMetrics
import HTTPTypes
import Metrics
import Synchronization
import Tracing
import MCPHandlers

/// The HTTP layer's metrics, per route: `mcpfcgi_http_requests_total{route,method,status_class}` and
/// `mcpfcgi_http_request_duration_seconds{route}`.
///
/// One ``RouteMetrics`` exists per registered route (made when the route is added, never per request) plus one
/// for `unmatched`; its handles are made through the factory the first time a method × status class occurs,
/// so the metrics page lists only series that happened, and later requests only take a lock and increment.
package final class HTTPMetrics: Sendable {
    /// The request counter's name.
    static let requestsLabel = "mcpfcgi_http_requests_total"
    /// The duration timer's name.
    static let durationLabel = "mcpfcgi_http_request_duration_seconds"
    /// The route label of a request no route matched.
    static let unmatchedRoute = "unmatched"

    /// The backend.
    let factory: any MetricsFactory
    /// The metrics of requests no route matched.
    package let unmatched: RouteMetrics

    package init(factory: any MetricsFactory) {
        self.factory = factory
        self.unmatched = RouteMetrics(route: Self.unmatchedRoute, factory: factory)
    }

    /// `existing` plus a ``RouteMetrics`` for every route in `routes` that has none yet.
    package func adding(routes: [String], to existing: [String: RouteMetrics]) -> [String: RouteMetrics] {
        var all = existing
        for route in routes where all[route] == nil { all[route] = RouteMetrics(route: route, factory: factory) }
        return all
    }
}

/// The bounded `method` label: the common methods by name, anything else `other`.
package enum HTTPMethodLabel {
    /// The label values, by index.
    static let names = ["GET", "POST", "DELETE", "OPTIONS", "HEAD", "PUT", "PATCH", "other"]

    /// The index of `method`'s label in ``names``.
    package static func index(of method: HTTPRequest.Method) -> Int {
        switch method {
        case .get: 0
        case .post: 1
        case .delete: 2
        case .options: 3
        case .head: 4
        case .put: 5
        case .patch: 6
        default: 7
        }
    }
}

/// The metric handles and span names of one route (its label is the registered path, or `unmatched`).
///
/// Every request of the route records here, from every accept thread: the handles are made on first use (under a
/// lock) and then read without one (published through atomics), so the threads never contend for a lock per
/// request — a thread spinning for a lock whose holder was preempted costs far more than the recording.
package final class RouteMetrics: @unchecked Sendable {
    /// The `route` label and `http.route` attribute.
    package let route: String
    /// The HTTP span's name for each method label (`"POST /mcp"`), built once.
    package let spanNames: [String]
    private let factory: any MetricsFactory
    /// Serializes the making of handles (the first request of each method and status class).
    private let making = Mutex(())
    /// By method index × 5 + status class index (1xx … 5xx): the counter, retained once made, or nil.
    private let counters: UnsafeMutablePointer<Atomic<Unmanaged<Counter>?>>
    private let slotCount = HTTPMethodLabel.names.count * 5
    /// The duration timer, retained once made, or nil.
    private let duration = Atomic<Unmanaged<Timer>?>(nil)

    package init(route: String, factory: any MetricsFactory) {
        self.route = route
        self.factory = factory
        self.spanNames = HTTPMethodLabel.names.map { "\($0) \(route)" }
        counters = .allocate(capacity: slotCount)
        for index in 0..<slotCount { (counters + index).initialize(to: Atomic(nil)) }
    }

    deinit {
        for index in 0..<slotCount { counters[index].load(ordering: .acquiring)?.release() }
        counters.deinitialize(count: slotCount)
        counters.deallocate()
        duration.load(ordering: .acquiring)?.release()
    }

    /// Counts one answered request and records how long it took to decide its response head.
    /// - Parameters:
    ///   - method: the method's index in ``HTTPMethodLabel/names``.
    ///   - status: the response status code.
    ///   - nanoseconds: the time from receipt to the response head.
    package func record(method: Int, status: Int, nanoseconds: Int64) {
        precondition(HTTPMethodLabel.names.indices.contains(method), "not a method label index: \(method)")
        let statusClass = min(max(status / 100, 1), 5)
        let slot = method * 5 + statusClass - 1
        counter(slot: slot, method: method, statusClass: statusClass).increment()
        timer().recordNanoseconds(nanoseconds)
    }

    private func counter(slot: Int, method: Int, statusClass: Int) -> Counter {
        if let made = counters[slot].load(ordering: .acquiring) { return made.takeUnretainedValue() }
        return making.withLock { _ in
            if let made = counters[slot].load(ordering: .acquiring) { return made.takeUnretainedValue() }
            let counter = Counter(
                label: HTTPMetrics.requestsLabel,
                dimensions: [
                    ("route", route), ("method", HTTPMethodLabel.names[method]), ("status_class", "\(statusClass)xx"),
                ], factory: factory)
            counters[slot].store(Unmanaged.passRetained(counter), ordering: .releasing)
            return counter
        }
    }

    private func timer() -> Timer {
        if let made = duration.load(ordering: .acquiring) { return made.takeUnretainedValue() }
        return making.withLock { _ in
            if let made = duration.load(ordering: .acquiring) { return made.takeUnretainedValue() }
            let timer = Timer(label: HTTPMetrics.durationLabel, dimensions: [("route", route)], factory: factory)
            duration.store(Unmanaged.passRetained(timer), ordering: .releasing)
            return timer
        }
    }
}

/// Reads trace-propagation headers (`traceparent`, `tracestate`, or whatever the bootstrapped instrument asks
/// for) out of a request's header fields, for `InstrumentationSystem.instrument.extract(_:into:using:)`.
///
/// Header names are matched case-insensitively; a key that is not a valid header name finds nothing. nginx
/// passes a client's `traceparent` as the FastCGI parameter `HTTP_TRACEPARENT`, which becomes the field
/// `traceparent` of ``HTTPServerRequest/head``.
package struct HTTPFieldsExtractor: Extractor {
    /// Creates the extractor.
    public init() {}

    /// The value of the header field named `key` (several fields of that name combined), or nil.
    /// - Parameters:
    ///   - key: the header name the instrument asks for.
    ///   - carrier: the request's header fields.
    /// - Returns: the value, or nil when absent.
    public func extract(key: String, from carrier: HTTPFields) -> String? {
        guard let name = HTTPField.Name(key) else { return nil }
        return carrier.value(name)
    }
}
