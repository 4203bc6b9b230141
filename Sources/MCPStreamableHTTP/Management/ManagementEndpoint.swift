import Foundation
import HTTPTypes
import Logging
import MCPHandlers
import MCPHTTP
import MCPOAuth

/// The management API (`/management/*`), for the whole deployment: the worker that receives a request
/// does its own part and asks every peer worker for theirs (``/MCPHTTP/ManagementPeer``), then sums the counts.
///
/// Every request needs `Authorization: Bearer <management token>`, compared in constant time; a missing or
/// wrong token is answered 401 and logged with the client's address. ``MCPApplication`` routes these only
/// when a token is configured (otherwise the paths answer 404). Every answer carries `Cache-Control: no-store`.
///
/// - `POST /management/cleanup`, body optional: `{"inactivityTimeoutMs": n}` (default 300,000; `n` ≥ 0) →
///   `{"success":true,"sessionsCleanedUp":n,"inactivityTimeoutMs":n,"timestamp":"…Z","workers":[{"node":"w1",
///   "sessionsCleanedUp":n},…],"unreachable":[]}`. A session with a request or stream in flight is kept.
/// - `GET /management/sessions` → `{"activeSessions":n,"workers":[{"node":"w1","activeSessions":n},…],
///   "unreachable":[]}`.
///
/// A peer that does not answer (or answers with an error) is named in `unreachable` and logged; the
/// answer is still 200 with the counts of the workers that did answer.
///
/// With a shared session store (`SessionStore/isShared`, PostgreSQL) the worker asks the store, which
/// covers every worker of every deployment on it: the answers carry `"store":"shared"`, an empty `workers` list
/// and no peer is asked.
public struct ManagementEndpoint: Sendable {
    /// The inactivity threshold of a cleanup whose body names none: 300,000 ms (5 minutes).
    public static let defaultInactivityTimeoutMs = 300_000
    /// How this worker is named in `workers` when it has no node id.
    public static let unnamedNode = "local"

    /// This worker's node id, reported as `node`.
    public let nodeID: String?
    /// The other workers of the deployment.
    public let peers: [ManagementPeer]
    /// The longest one peer may take to answer.
    public let peerTimeout: Duration
    /// The sweeper that removes this worker's idle sessions.
    public let sweeper: SessionSweeper
    private let token: OperatorToken
    private let tokenValue: String
    private let logger: Logger

    /// Creates the endpoint.
    /// - Parameters:
    ///   - token: the management token clients must send as `Authorization: Bearer <token>`.
    ///   - nodeID: this worker's node id.
    ///   - sweeper: removes this worker's idle sessions (and knows its endpoint, for the session count).
    ///   - peers: the other workers of the deployment. Default none.
    ///   - peerTimeout: the longest one peer may take to answer. Default 2 s.
    ///   - logger: where refused requests and unreachable peers are logged.
    public init(
        token: String, nodeID: String?, sweeper: SessionSweeper, peers: [ManagementPeer] = [],
        peerTimeout: Duration = .seconds(2), logger: Logger
    ) {
        self.token = OperatorToken(token, purpose: "management")
        self.tokenValue = token
        self.nodeID = nodeID
        self.sweeper = sweeper
        self.peers = peers
        self.peerTimeout = peerTimeout
        self.logger = logger
    }

    private var node: String { nodeID ?? Self.unnamedNode }

    /// Whether the sessions live in a shared store (a database): then this worker's store answers for the whole
    /// deployment (and every deployment on the database), with no fan-out to the peers.
    private var isShared: Bool { sweeper.endpoint.server.sessions.isShared }

    /// Answers `POST /management/cleanup`: removes the sessions idle for at least `inactivityTimeoutMs` on
    /// every worker.
    public func cleanup(_ request: HTTPServerRequest) async -> HTTPServerResponse {
        guard isAuthorized(request) else { return unauthorized(request) }
        let milliseconds: Value
        switch Self.inactivityTimeout(request.body) {
        case .success(let value): milliseconds = value
        case .failure(let failure): return .json(.badRequest, failure.body, headerFields: Self.noStore)
        }
        let timeout = Duration.milliseconds(min(milliseconds.doubleValue ?? 0, 1e15))
        let removed: [String]
        do { removed = try await sweeper.sweep(idleFor: timeout, reason: .cleanedUp) } catch {
            return storeUnavailable(request, error)
        }
        if isShared {
            return .json(
                .ok,
                [
                    "success": true, "sessionsCleanedUp": .int(removed.count), "inactivityTimeoutMs": milliseconds,
                    "timestamp": .string(ISO8601.now()), "store": "shared", "workers": [], "unreachable": [],
                ], headerFields: Self.noStore)
        }
        let local: Value = ["node": .string(node), "sessionsCleanedUp": .int(removed.count)]
        let (workers, unreachable) = await gather(
            local, count: "sessionsCleanedUp", request: request,
            body: JSONWriter.encode(["inactivityTimeoutMs": milliseconds]))
        let total = workers.reduce(0) { $0 + ($1["sessionsCleanedUp"]?.intValue ?? 0) }
        return .json(
            .ok,
            [
                "success": true, "sessionsCleanedUp": .int(total), "inactivityTimeoutMs": milliseconds,
                "timestamp": .string(ISO8601.now()), "workers": .array(workers),
                "unreachable": .array(unreachable.map { .string($0) }),
            ], headerFields: Self.noStore)
    }

    /// Answers `GET /management/sessions`: the live sessions of every worker.
    public func sessions(_ request: HTTPServerRequest) async -> HTTPServerResponse {
        guard isAuthorized(request) else { return unauthorized(request) }
        let active: Int
        do { active = try await sweeper.endpoint.activeSessionCount } catch { return storeUnavailable(request, error) }
        if isShared {
            return .json(
                .ok, ["activeSessions": .int(active), "store": "shared", "workers": [], "unreachable": []],
                headerFields: Self.noStore)
        }
        let local: Value = ["node": .string(node), "activeSessions": .int(active)]
        let (workers, unreachable) = await gather(local, count: "activeSessions", request: request, body: [])
        let total = workers.reduce(0) { $0 + ($1["activeSessions"]?.intValue ?? 0) }
        return .json(
            .ok,
            [
                "activeSessions": .int(total), "workers": .array(workers),
                "unreachable": .array(unreachable.map { .string($0) }),
            ], headerFields: Self.noStore)
    }

    /// 503 with `Retry-After` when this worker's session store cannot be reached.
    private func storeUnavailable(_ request: HTTPServerRequest, _ error: any Error) -> HTTPServerResponse {
        logger.error(
            "management request failed: session store unavailable",
            metadata: ["http.request.id": "\(request.requestID)", "error": "\(error)"])
        var fields = Self.noStore
        fields[.retryAfter] = "5"
        return .json(
            .serviceUnavailable,
            ["error": "unavailable", "message": "The session store cannot be reached; retry later"],
            headerFields: fields)
    }

    // MARK: Fan-out

    /// This worker's entry plus every peer's (for a client request; a peer request stops here), sorted by
    /// node, and the names of the peers that gave no usable answer.
    private func gather(
        _ local: Value, count: String, request: HTTPServerRequest, body: [UInt8]
    ) async -> (workers: [Value], unreachable: [String]) {
        guard !request.isPeerRequest, !peers.isEmpty else { return ([local], []) }
        var fields: HTTPFields = [.authorization: "Bearer " + tokenValue]
        if !body.isEmpty { fields[.contentType] = "application/json" }
        let forwarded = HTTPServerRequest(
            head: HTTPRequest(
                method: request.head.method, scheme: "http", authority: "localhost", path: String(request.path),
                headerFields: fields),
            body: body, requestID: request.requestID, isPeerRequest: true)
        let answers = await withTaskGroup(of: (Int, Result<[Value], PeerError>).self) { group in
            for (index, peer) in peers.enumerated() {
                group.addTask { (index, await Self.ask(peer, forwarded, count: count, timeout: peerTimeout)) }
            }
            return await group.reduce(into: [(Int, Result<[Value], PeerError>)]()) { $0.append($1) }
        }
        var workers = [local]
        var unreachable: [String] = []
        for (index, answer) in answers.sorted(by: { $0.0 < $1.0 }) {
            let peer = peers[index]
            switch answer {
            case .success(let entries):
                for entry in entries {
                    // A peer list that names this worker itself would count it twice.
                    guard entry["node"]?.stringValue != node else { continue }
                    workers.append(entry)
                }
            case .failure(let error):
                unreachable.append(peer.name)
                logger.warning(
                    "management peer gave no answer",
                    metadata: [
                        "peer": "\(peer.name)", "error": "\(error.reason)", "http.request.id": "\(request.requestID)",
                    ])
            }
        }
        workers.sort {
            ($0["node"]?.stringValue ?? "").compare($1["node"]?.stringValue ?? "", options: .numeric)
                == .orderedAscending
        }
        return (workers, unreachable)
    }

    private typealias PeerError = ManagementPeer.Failure

    /// Asks one peer; its answer must be 200 with a `workers` array of `{node, <count>}` entries.
    private static func ask(
        _ peer: ManagementPeer, _ request: HTTPServerRequest, count: String, timeout: Duration
    ) async -> Result<[Value], PeerError> {
        let response: HTTPServerResponse
        switch await peer.answer(request, timeout: timeout) {
        case .success(let answer): response = answer
        case .failure(let failure): return .failure(failure)
        }
        guard let answer = try? JSONParser().parse(response.body), let workers = answer["workers"]?.arrayValue,
            workers.allSatisfy({ $0["node"]?.stringValue != nil && $0[count]?.intValue != nil })
        else {
            return .failure(PeerError(reason: "malformed answer"))
        }
        return .success(workers)
    }

    // MARK: Token and body

    private func isAuthorized(_ request: HTTPServerRequest) -> Bool { token.admits(request) }

    private func unauthorized(_ request: HTTPServerRequest) -> HTTPServerResponse {
        token.refusal(request, logger: logger)
    }

    struct BadRequest: Error {
        var body: Value
    }

    /// `inactivityTimeoutMs` of a cleanup body: the default when the body is empty or does not name it,
    /// else a finite number ≥ 0 (as sent: `.int` or `.double`).
    static func inactivityTimeout(_ body: [UInt8]) -> Result<Value, BadRequest> {
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) {
            return .success(.int(defaultInactivityTimeoutMs))
        }
        guard let parsed = try? JSONParser().parse(body), case .object(let members) = parsed else {
            return .failure(BadRequest(body: ["error": "invalid_request", "message": "Request body must be a JSON object"]))
        }
        guard let value = members["inactivityTimeoutMs"] else { return .success(.int(defaultInactivityTimeoutMs)) }
        switch value {
        case .int(let n) where n >= 0:
            return .success(value)
        case .double(let d) where d.isFinite && d >= 0:
            return .success(d.rounded() == d && d < 9e15 ? .int(Int(d)) : value)
        default:
            return .failure(
                BadRequest(body: ["error": "invalid_request", "message": "inactivityTimeoutMs must be a positive number"]))
        }
    }

    private static let noStore: HTTPFields = [.cacheControl: "no-store"]
}
