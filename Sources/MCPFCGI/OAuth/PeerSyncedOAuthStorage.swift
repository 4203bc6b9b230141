import Dispatch
import Foundation
import HTTPTypes
import MCPHandlers

/// In-memory OAuth storage for a deployment of several workers where one worker serves `/oauth/*` and
/// every worker verifies access tokens: revocations (a revoked token, a replayed code or a reused refresh
/// token revoking its family) are pushed at once to the other workers, so a revoked access token is refused
/// by all of them. Everything else is kept by the ``InMemoryOAuthStorage`` it wraps.
///
/// The other workers receive the revoked `jti`s on the peer-only route
/// ``MCPApplication/revocationPath`` (a FastCGI parameter only workers set marks peer requests).
public final class PeerSyncedOAuthStorage: OAuthStorage {
    /// The storage that holds the state.
    public let base: InMemoryOAuthStorage
    private let peers: [ManagementPeer]
    private let timeout: Duration

    /// Creates the storage.
    /// - Parameters:
    ///   - base: where the state is kept. Default a new in-memory store.
    ///   - peers: the deployment's other workers.
    ///   - timeout: how long a revocation waits for the peers' acknowledgement. Default 2 s.
    public init(base: InMemoryOAuthStorage = InMemoryOAuthStorage(), peers: [ManagementPeer], timeout: Duration = .seconds(2)) {
        self.base = base
        self.peers = peers
        self.timeout = timeout
    }

    /// See ``OAuthStorage/client(id:)``.
    public func client(id: String) -> OAuthClient? { base.client(id: id) }
    /// See ``OAuthStorage/saveClient(_:)``.
    public func saveClient(_ client: OAuthClient) { base.saveClient(client) }
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
    public func revokeAccessToken(jti: String) {
        base.revokeAccessToken(jti: jti)
        broadcast([jti])
    }
    /// Revokes the family here, and its access tokens on every peer.
    public func revokeFamily(_ familyID: String) {
        base.revokeFamily(familyID)
        broadcast(base.accessTokenIDs(inFamily: familyID))
    }
    /// See ``OAuthStorage/isAccessTokenRevoked(jti:)``.
    public func isAccessTokenRevoked(jti: String) -> Bool { base.isAccessTokenRevoked(jti: jti) }
    /// See ``OAuthStorage/removeExpired(before:)``.
    public func removeExpired(before date: Date) { base.removeExpired(before: date) }

    /// Sends the revoked ids to every peer and waits (bounded) for their acknowledgement, so that a
    /// revocation answered to the client is in force on every worker that answered.
    private func broadcast(_ jtis: [String]) {
        guard !jtis.isEmpty, !peers.isEmpty else { return }
        let body = JSONWriter.encode(["jtis": .array(jtis.map(Value.string))])
        let request = HTTPServerRequest(
            head: HTTPRequest(
                method: .post, scheme: "http", authority: nil, path: MCPApplication.revocationPath,
                headerFields: [.contentType: "application/json"]),
            body: body, isPeerRequest: true)
        let done = DispatchSemaphore(value: 0)
        let peers = self.peers
        Task {
            await withTaskGroup(of: Void.self) { group in
                for peer in peers { group.addTask { _ = try? await peer.send(request) } }
            }
            done.signal()
        }
        let millis = Int(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        _ = done.wait(timeout: .now() + .milliseconds(millis))
    }
}
