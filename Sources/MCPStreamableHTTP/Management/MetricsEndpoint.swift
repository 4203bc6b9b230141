import Foundation
import HTTPTypes
import Logging
import Prometheus
import Synchronization
import MCPHTTP
import MCPOAuth

/// `GET /metrics`: the Prometheus text page of the whole deployment, protected by a bearer token.
///
/// The worker that receives the scrape renders its own registry and asks every peer worker for theirs (over
/// FastCGI, as ``ManagementEndpoint`` does: a peer request, answered with the peer's own part only), then merges
/// the pages into one valid exposition: every sample carries `worker="<node id>"`, each family's `# TYPE` appears
/// once with all workers' samples under it, and `mcpfcgi_scrape_peer_up{worker}` is 1 for each worker whose
/// samples are on the page (this one included) and 0 for a peer that gave no answer within
/// ``Configuration/peerTimeout`` — a dead peer never fails the scrape. So one scrape target (nginx) covers the
/// deployment, whichever worker nginx hands the scrape to.
///
/// Before rendering, the scrape-time gauges are set in the registry: `mcpfcgi_sessions_active{endpoint}` from each
/// tracked endpoint's ``MCPEndpoint/activeSessionCount`` (the application's and its mounts'),
/// `process_resident_memory_bytes` (`/proc/self/statm`) and `process_start_time_seconds`.
///
/// A missing or wrong token is answered 401 with `WWW-Authenticate: Bearer` (compared in constant time, logged
/// with the client's address). Every answer carries `Cache-Control: no-store`; the page's content type is
/// `text/plain; version=0.0.4; charset=utf-8`.
public final class MetricsEndpoint: Sendable {
    /// Settings of the metrics endpoint.
    public struct Configuration: Sendable {
        /// The token scrapers send as `Authorization: Bearer <token>`; every worker of the deployment needs the same
        /// one (peers are asked with it). Empty: the endpoint is off (404). No default.
        public var token: String
        /// The registry rendered: the one the application's `PrometheusMetricsFactory` writes to. Default
        /// `PrometheusMetricsFactory.defaultRegistry` (the registry of a factory made with `PrometheusMetricsFactory()`).
        public var registry: PrometheusCollectorRegistry
        /// The route. Default `/metrics`.
        public var path: String
        /// The longest a peer may take to answer; a peer that takes longer is reported with
        /// `mcpfcgi_scrape_peer_up 0`. Default 2 s (keep it below the scraper's `scrape_timeout`, 10 s by default).
        public var peerTimeout: Duration

        /// Creates a configuration; every parameter but the token has the default documented on its property.
        public init(
            token: String, registry: PrometheusCollectorRegistry = PrometheusMetricsFactory.defaultRegistry,
            path: String = "/metrics", peerTimeout: Duration = .seconds(2)
        ) {
            self.token = token
            self.registry = registry
            self.path = path
            self.peerTimeout = peerTimeout
        }
    }

    /// The content type of the page (Prometheus text exposition format 0.0.4).
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The settings.
    public let configuration: Configuration
    /// This worker's node id, the `worker` label of its samples (``ManagementEndpoint/unnamedNode`` when nil).
    public let nodeID: String?
    /// The other workers of the deployment.
    public let peers: [ManagementPeer]
    private let token: OperatorToken
    private let logger: Logger
    private let endpoints = Mutex<[(path: String, endpoint: MCPEndpoint)]>([])
    private let startTime: Double

    /// Creates the endpoint.
    /// - Parameters:
    ///   - configuration: the settings.
    ///   - nodeID: this worker's node id.
    ///   - peers: the other workers of the deployment. Default none.
    ///   - logger: where refused scrapes and unanswered peers are logged.
    public init(configuration: Configuration, nodeID: String?, peers: [ManagementPeer] = [], logger: Logger) {
        self.configuration = configuration
        self.nodeID = nodeID
        self.peers = peers
        self.token = OperatorToken(configuration.token, purpose: "metrics")
        self.logger = logger
        self.startTime = ProcessStatistics.startTime() ?? Date().timeIntervalSince1970
        if nodeID == nil, !peers.isEmpty {
            logger.warning(
                "metrics: this worker has no node id but has peers; give every worker its own (MCPApplication.Configuration.nodeID)")
        }
    }

    /// Counts the live sessions of `endpoint` as `mcpfcgi_sessions_active{endpoint="<path>"}` at every scrape.
    /// ``MCPApplication`` tracks its own endpoint and every mount.
    /// - Parameters:
    ///   - endpoint: the MCP endpoint.
    ///   - path: its path, the label's value (`/mcp`, `/tenant-a/mcp`).
    public func track(_ endpoint: MCPEndpoint, at path: String) {
        endpoints.withLock { list in
            list.removeAll { $0.path == path }
            list.append((path, endpoint))
        }
    }

    private var node: String { nodeID ?? ManagementEndpoint.unnamedNode }

    /// Answers `GET /metrics`: this worker's page merged with its peers' (a peer request: this worker's only).
    public func respond(to request: HTTPServerRequest) async -> HTTPServerResponse {
        guard isAuthorized(request) else { return unauthorized(request) }
        var page = await localPage()
        if !request.isPeerRequest {
            var up: [(labels: [(name: String, value: String)], value: Double)] = [([("worker", node)], 1)]
            var onPage: Set<String> = [PrometheusExposition.escape(node)]
            for (peer, answer) in await askPeers(request) {
                var merged = false
                if let part = answer {
                    // A worker name already on the page (a peer list naming this worker, two workers with one node
                    // id) would give duplicate series, which Prometheus drops: such a page is left out, and said.
                    let names = part.workers
                    if names.isDisjoint(with: onPage) {
                        page.merge(part)
                        onPage.formUnion(names)
                        merged = true
                    } else {
                        logger.warning(
                            "metrics peer reports a worker name already on the page; its samples are left out",
                            metadata: [
                                "peer": "\(peer.name)", "workers": "\(names.sorted())",
                                "http.request.id": "\(request.requestID)",
                            ])
                    }
                }
                up.append(([("worker", peer.name)], merged ? 1 : 0))
            }
            page.setGauge("mcpfcgi_scrape_peer_up", samples: up)
        }
        let fields: HTTPFields = [.contentType: Self.contentType, .cacheControl: "no-store"]
        return HTTPServerResponse(status: .ok, headerFields: fields, body: page.render())
    }

    /// Sets the scrape-time gauges and renders this worker's registry, every sample labelled with this worker.
    func localPage() async -> PrometheusExposition {
        let registry = configuration.registry
        for (path, endpoint) in endpoints.withLock({ $0 }) {
            do {
                let count = try await endpoint.activeSessionCount
                // A shared store's count is the whole database's, the same on every worker: its own name, so that
                // summing `mcpfcgi_sessions_active` over workers stays right (take the max of this one).
                let name = endpoint.server.sessions.isShared ? "mcpfcgi_sessions_shared" : "mcpfcgi_sessions_active"
                registry.makeGauge(descriptor: Self.descriptor(name), labels: [("endpoint", path)]).set(Double(count))
            } catch {
                // The last value stays; the store's own refusals are counted by the endpoint.
                logger.debug("metrics: session count unavailable", metadata: ["endpoint": "\(path)", "error": "\(error)"])
            }
        }
        if let resident = ProcessStatistics.residentMemoryBytes() {
            registry.makeGauge(descriptor: Self.descriptor("process_resident_memory_bytes")).set(Double(resident))
        }
        registry.makeGauge(descriptor: Self.descriptor("process_start_time_seconds")).set(startTime)
        return PrometheusExposition(parsing: String(decoding: registry.emitToBuffer(), as: UTF8.self), worker: node)
    }

    private static func descriptor(_ name: String) -> MetricNameDescriptor {
        // No help text: the swift-metrics factory registers none, and one name must keep one help text.
        MetricNameDescriptor(metricName: name, unitName: "", helpText: "")
    }

    // MARK: Peers

    /// Every peer's page (nil: no usable answer), in the order of ``peers``.
    private func askPeers(_ request: HTTPServerRequest) async -> [(ManagementPeer, PrometheusExposition?)] {
        guard !peers.isEmpty else { return [] }
        let forwarded = HTTPServerRequest(
            head: HTTPRequest(
                method: .get, scheme: "http", authority: "localhost", path: configuration.path,
                headerFields: [.authorization: "Bearer " + configuration.token]),
            requestID: request.requestID, isPeerRequest: true)
        let timeout = configuration.peerTimeout
        let answers = await withTaskGroup(of: (Int, Result<PrometheusExposition, PeerError>).self) { group in
            for (index, peer) in peers.enumerated() {
                group.addTask { (index, await Self.ask(peer, forwarded, timeout: timeout)) }
            }
            return await group.reduce(into: [Int: Result<PrometheusExposition, PeerError>]()) { $0[$1.0] = $1.1 }
        }
        return peers.indices.map { index in
            let peer = peers[index]
            switch answers[index] {
            case .success(let page):
                return (peer, page)
            case .failure(let error):
                logger.warning(
                    "metrics peer gave no answer",
                    metadata: [
                        "peer": "\(peer.name)", "error": "\(error.reason)", "http.request.id": "\(request.requestID)",
                    ])
                return (peer, nil)
            case nil:
                return (peer, nil)
            }
        }
    }

    private typealias PeerError = ManagementPeer.Failure

    /// Asks one peer; its answer must be 200 with a Prometheus text page.
    private static func ask(_ peer: ManagementPeer, _ request: HTTPServerRequest, timeout: Duration) async -> Result<
        PrometheusExposition, PeerError
    > {
        let response: HTTPServerResponse
        switch await peer.answer(request, timeout: timeout) {
        case .success(let answer): response = answer
        case .failure(let failure): return .failure(failure)
        }
        guard response.head.headerFields[.contentType]?.hasPrefix("text/plain") == true else {
            return .failure(PeerError(reason: "not a Prometheus text page"))
        }
        return .success(PrometheusExposition(parsing: String(decoding: response.body, as: UTF8.self)))
    }

    // MARK: Token

    private func isAuthorized(_ request: HTTPServerRequest) -> Bool { token.admits(request) }

    private func unauthorized(_ request: HTTPServerRequest) -> HTTPServerResponse {
        token.refusal(request, logger: logger)
    }
}

/// Figures of this process read from `/proc` (Linux).
enum ProcessStatistics {
    /// The resident set size in bytes (`/proc/self/statm`, second field × page size), or nil when unreadable.
    static func residentMemoryBytes() -> Int? {
        guard let statm = readFile("/proc/self/statm") else { return nil }
        let fields = statm.split(separator: " ")
        guard fields.count >= 2, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// When this process started, in seconds since the Unix epoch (`/proc/self/stat`'s start time after boot plus
    /// `/proc/stat`'s `btime`), or nil when unreadable.
    static func startTime() -> Double? {
        guard let stat = readFile("/proc/self/stat"), let close = stat.lastIndex(of: ")"),
            let system = readFile("/proc/stat")
        else { return nil }
        // Fields after "(comm)": state is field 3, start time field 22.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let ticks = Double(fields[19]) else { return nil }
        guard let line = system.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
            let boot = Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces))
        else { return nil }
        let hertz = Double(sysconf(Int32(_SC_CLK_TCK)))
        guard hertz > 0 else { return nil }
        return boot + ticks / hertz
    }

    /// A whole `/proc` file (their size is reported as 0, so it is read until the end).
    static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
