import Foundation
import HTTPTypes
import Logging
import MCPHandlers
import Synchronization
import MCPHTTP

/// In-memory OAuth storage for a deployment of several workers where one worker serves `/oauth/*` and
/// every worker verifies access tokens: revocations (a revoked token, a replayed code or a reused refresh
/// token revoking its family) are pushed at once to the other workers, so a revoked access token is refused
/// by all of them. Everything else is kept by the ``InMemoryOAuthStorage`` it wraps.
///
/// The other workers receive the revoked `jti`s on the peer-only route ``revocationPath`` (a
/// FastCGI parameter only workers set marks peer requests) and record them with
/// ``applyPeerRevocations(_:)``, which never pushes them on: a revocation crosses each peer link once.
///
/// The request that revokes waits for the peers' acknowledgements at most ``acknowledgementWait`` (a short,
/// bounded time, in a suspension: no thread is blocked). A peer that has not acknowledged by then keeps getting
/// the revocation in the background, ``deliveryAttempts`` times in all with a doubling pause; a peer that never
/// acknowledges is logged as an error (its copies of the tokens stay valid there until they expire).
public final class PeerSyncedOAuthStorage: OAuthStorage {
    /// The peer-only route on which a worker receives access-token revocations from the worker that serves
    /// `/oauth/*` (`MCPApplication` serves it when its authorization server has a storage).
    public static let revocationPath = "/internal/oauth/revocations"

    /// The storage that holds the state.
    public let base: InMemoryOAuthStorage
    /// The peers revocations are pushed to: the ones given to the initializer, else the application's.
    private let peerList: Mutex<[ManagementPeer]>
    /// Whether the peers are settled: named by the initializer, or adopted from the first application.
    private let peersSettled: Mutex<Bool>
    /// The longest a revoking request waits for the peers' acknowledgements.
    public let acknowledgementWait: Duration
    /// How many times a revocation is sent to a peer that does not acknowledge it (the first send included).
    public let deliveryAttempts: Int
    /// The longest one send to a peer may take.
    public let peerTimeout: Duration
    private let logger: Logger

    /// Creates the storage.
    /// - Parameters:
    ///   - base: where the state is kept. Default a new in-memory store.
    ///   - peers: the deployment's other workers. Default nil: those of the application whose authorization
    ///     server uses this storage (`MCPApplication.Configuration.peers`, given once there).
    ///   - acknowledgementWait: how long a revoking request waits for the peers' acknowledgements. Default 500 ms.
    ///   - deliveryAttempts: sends per peer until one is acknowledged, at least 1. Default 4 (pauses of 0.25, 0.5
    ///     and 1 s between them).
    ///   - peerTimeout: the longest one send to a peer may take. Default 2 s.
    ///   - logger: where undelivered revocations are reported. Default `mcpfcgi.oauth`.
    public init(
        base: InMemoryOAuthStorage = InMemoryOAuthStorage(), peers: [ManagementPeer]? = nil,
        acknowledgementWait: Duration = .milliseconds(500), deliveryAttempts: Int = 4,
        peerTimeout: Duration = .seconds(2), logger: Logger = Logger(label: "mcpfcgi.oauth")
    ) {
        self.base = base
        self.peerList = Mutex(peers ?? [])
        self.peersSettled = Mutex(peers != nil)
        self.acknowledgementWait = acknowledgementWait
        self.deliveryAttempts = max(1, deliveryAttempts)
        self.peerTimeout = peerTimeout
        self.logger = logger
    }

    /// The peers revocations are pushed to.
    public var peers: [ManagementPeer] { peerList.withLock { $0 } }

    /// Takes the application's peers when the initializer was given none and no application gave them first.
    /// - Parameter peers: the deployment's other workers.
    package func adoptPeers(_ peers: [ManagementPeer]) {
        let adopt = peersSettled.withLock { settled in
            defer { settled = true }
            return !settled
        }
        if adopt { peerList.withLock { $0 = peers } }
    }

    /// See ``OAuthStorage/client(id:)``.
    public func client(id: String) -> OAuthClient? { base.client(id: id) }
    /// See ``OAuthStorage/saveClient(_:)``.
    public func saveClient(_ client: OAuthClient) { base.saveClient(client) }
    /// See ``OAuthStorage/registerClient(_:maximumClients:evictableBefore:)``.
    public func registerClient(_ client: OAuthClient, maximumClients: Int, evictableBefore: Date) -> Bool {
        base.registerClient(client, maximumClients: maximumClients, evictableBefore: evictableBefore)
    }
    /// See ``OAuthStorage/markClientUsed(id:at:)``.
    public func markClientUsed(id: String, at date: Date) { base.markClientUsed(id: id, at: date) }
    /// See ``OAuthStorage/removeIdleClients(unusedRegisteredBefore:lastUsedBefore:)``.
    public func removeIdleClients(unusedRegisteredBefore: Date, lastUsedBefore: Date) {
        base.removeIdleClients(unusedRegisteredBefore: unusedRegisteredBefore, lastUsedBefore: lastUsedBefore)
    }
    /// See ``OAuthStorage/saveAuthorizationCode(_:)``.
    public func saveAuthorizationCode(_ record: AuthorizationCodeRecord) { base.saveAuthorizationCode(record) }
    /// See ``OAuthStorage/consumeAuthorizationCode(digest:)``.
    public func consumeAuthorizationCode(digest: String) -> CodeLookup { base.consumeAuthorizationCode(digest: digest) }
    /// See ``OAuthStorage/saveRefreshToken(_:)``.
    public func saveRefreshToken(_ record: RefreshTokenRecord) { base.saveRefreshToken(record) }
    /// See ``OAuthStorage/rotateRefreshToken(digest:)``.
    public func rotateRefreshToken(digest: String) -> TokenLookup { base.rotateRefreshToken(digest: digest) }
    /// See ``OAuthStorage/refreshToken(digest:)``.
    public func refreshToken(digest: String) -> RefreshTokenRecord? { base.refreshToken(digest: digest) }
    /// See ``OAuthStorage/revokeRefreshToken(digest:)``.
    public func revokeRefreshToken(digest: String) { base.revokeRefreshToken(digest: digest) }
    /// See ``OAuthStorage/recordAccessToken(jti:familyID:expiresAt:)``.
    public func recordAccessToken(jti: String, familyID: String?, expiresAt: Date) {
        base.recordAccessToken(jti: jti, familyID: familyID, expiresAt: expiresAt)
    }
    /// Revokes the token here and on every peer.
    public func revokeAccessToken(jti: String) async {
        base.revokeAccessToken(jti: jti)
        await broadcast([jti])
    }
    /// Revokes the family here, and its access tokens on every peer.
    public func revokeFamily(_ familyID: String) async {
        base.revokeFamily(familyID)
        await broadcast(base.accessTokenIDs(inFamily: familyID))
    }
    /// Records revocations a peer pushed here, in this worker's store only.
    public func applyPeerRevocations(_ jtis: [String]) {
        for jti in jtis { base.revokeAccessToken(jti: jti) }
    }
    /// See ``OAuthStorage/isAccessTokenRevoked(jti:)``.
    public func isAccessTokenRevoked(jti: String) -> Bool { base.isAccessTokenRevoked(jti: jti) }
    /// See ``OAuthStorage/removeExpired(before:)``.
    public func removeExpired(before date: Date) { base.removeExpired(before: date) }

    /// Sends the revoked ids to every peer, each in a task of its own that retries, and waits until every peer
    /// acknowledged or ``acknowledgementWait`` passed, whichever comes first.
    private func broadcast(_ jtis: [String]) async {
        let peers = self.peers
        guard !jtis.isEmpty, !peers.isEmpty else { return }
        let body = JSONWriter.encode(["jtis": .array(jtis.map(Value.string))])
        let request = HTTPServerRequest(
            head: HTTPRequest(
                method: .post, scheme: "http", authority: nil, path: Self.revocationPath,
                headerFields: [.contentType: "application/json"]),
            body: body, isPeerRequest: true)
        let acknowledgements = AcknowledgementCountdown(count: peers.count)
        for peer in peers {
            Task { [deliveryAttempts, peerTimeout, logger] in
                if await Self.deliver(request, to: peer, attempts: deliveryAttempts, timeout: peerTimeout) {
                    acknowledgements.acknowledge()
                } else {
                    logger.error(
                        "revocation not delivered to a peer worker: the revoked tokens stay valid there until they expire",
                        metadata: ["peer": .string(peer.name), "tokens": .stringConvertible(jtis.count)])
                }
            }
        }
        await acknowledgements.wait(atMost: acknowledgementWait)
    }

    /// Sends `request` until the peer answers 200, at most `attempts` times, pausing 250 ms, then twice as long
    /// after each failure. Returns whether it was acknowledged.
    private static func deliver(
        _ request: HTTPServerRequest, to peer: ManagementPeer, attempts: Int, timeout: Duration
    ) async -> Bool {
        var pause = Duration.milliseconds(250)
        for attempt in 1...attempts {
            if case .success = await peer.answer(request, timeout: timeout) { return true }
            guard attempt < attempts else { break }
            try? await Task.sleep(for: pause)
            pause *= 2
        }
        return false
    }
}

/// Counts acknowledgements down to zero and lets one waiter resume when it gets there or when its time is up,
/// whichever comes first; no thread waits.
final class AcknowledgementCountdown: Sendable {
    private struct State {
        var remaining: Int
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false
    }

    private let state: Mutex<State>

    /// Starts at `count`.
    init(count: Int) { state = Mutex(State(remaining: count)) }

    /// One acknowledgement; the waiter resumes on the last one.
    func acknowledge() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.remaining -= 1
            guard s.remaining <= 0 else { return nil }
            return Self.finish(&s)
        }
        waiter?.resume()
    }

    /// Suspends until every acknowledgement arrived or `limit` passed.
    func wait(atMost limit: Duration) async {
        let timer = Task { [self] in
            try? await Task.sleep(for: limit)
            state.withLock { Self.finish(&$0) }?.resume()
        }
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { s -> Bool in
                if s.finished || s.remaining <= 0 {
                    s.finished = true
                    return true
                }
                s.waiter = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
        timer.cancel()
    }

    /// Marks the countdown finished and hands out the waiter to resume (once).
    private static func finish(_ s: inout State) -> CheckedContinuation<Void, Never>? {
        s.finished = true
        defer { s.waiter = nil }
        return s.waiter
    }
}
