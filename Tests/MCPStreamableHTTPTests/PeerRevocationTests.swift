import Foundation
import HTTPTypes
import Logging
import MCPHandlers
import Synchronization
import Testing
import MCPFCGITesting

@testable import MCPHTTP
@testable import MCPOAuth
@testable import MCPStreamableHTTP

/// Revocations pushed between workers (``PeerSyncedOAuthStorage``): bounded waits, retries, no echo.
@Suite struct PeerRevocationTests {
    /// A peer that records what it received and answers as told.
    final class RecordingPeer: Sendable {
        let received = Mutex<[[String]]>([])
        let attempts = Atomic<Int>(0)
        let behaviour: @Sendable (Int) async throws -> HTTPResponse.Status

        init(_ behaviour: @escaping @Sendable (Int) async throws -> HTTPResponse.Status) { self.behaviour = behaviour }

        var peer: ManagementPeer {
            ManagementPeer(name: "p") { request, _ in
                let attempt = self.attempts.add(1, ordering: .relaxed).newValue
                let status = try await self.behaviour(attempt)
                let jtis = (try? JSONParser().parse(request.body))?["jtis"]?.arrayValue?.compactMap(\.stringValue) ?? []
                #expect(request.isPeerRequest)
                #expect(request.head.path == MCPApplication.revocationPath)
                if status == .ok { self.received.withLock { $0.append(jtis) } }
                return HTTPServerResponse(status: status)
            }
        }
    }

    struct Unreachable: Error {}

    @Test func revocationReachesEveryPeerBeforeTheCallReturns() async {
        let a = RecordingPeer { _ in .ok }
        let b = RecordingPeer { _ in .ok }
        let storage = PeerSyncedOAuthStorage(peers: [a.peer, b.peer], acknowledgementWait: .seconds(5))
        await storage.revokeAccessToken(jti: "j1")
        #expect(storage.isAccessTokenRevoked(jti: "j1"))
        #expect(a.received.withLock { $0 } == [["j1"]])
        #expect(b.received.withLock { $0 } == [["j1"]])
    }

    @Test func aHungPeerDelaysTheRevocationOnlyByTheAcknowledgementWait() async {
        let hung = RecordingPeer { _ in
            try await Task.sleep(for: .seconds(30))
            return .ok
        }
        let fine = RecordingPeer { _ in .ok }
        let storage = PeerSyncedOAuthStorage(
            peers: [hung.peer, fine.peer], acknowledgementWait: .milliseconds(200), deliveryAttempts: 1)
        let clock = ContinuousClock()
        let elapsed = await clock.measure { await storage.revokeAccessToken(jti: "j1") }
        #expect(elapsed >= .milliseconds(200))
        // The hung peer answers after 30 s; the bound leaves room for a loaded CI machine (timers were seen 5 s late).
        #expect(elapsed < .seconds(15), "a hung peer must not hold the revoking request (took \(elapsed))")
        #expect(storage.isAccessTokenRevoked(jti: "j1"))
        #expect(fine.received.withLock { $0 } == [["j1"]])
    }

    @Test func anUnreachablePeerIsRetriedInTheBackground() async throws {
        // Fails twice, then acknowledges: the revoking call returns after the wait, the retries go on.
        let flaky = RecordingPeer { attempt in
            if attempt < 3 { throw Unreachable() }
            return .ok
        }
        let storage = PeerSyncedOAuthStorage(
            peers: [flaky.peer], acknowledgementWait: .milliseconds(50), deliveryAttempts: 4)
        await storage.revokeAccessToken(jti: "j2")
        for _ in 0..<200 where flaky.received.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(20)) }
        #expect(flaky.received.withLock { $0 } == [["j2"]])
        #expect(flaky.attempts.load(ordering: .relaxed) == 3)
    }

    @Test func aPeerThatNeverAcknowledgesGetsExactlyTheConfiguredAttempts() async throws {
        let down = RecordingPeer { _ in .serviceUnavailable }
        let storage = PeerSyncedOAuthStorage(
            peers: [down.peer], acknowledgementWait: .milliseconds(10), deliveryAttempts: 2)
        await storage.revokeAccessToken(jti: "j3")
        try await Task.sleep(for: .milliseconds(600))
        #expect(down.attempts.load(ordering: .relaxed) == 2)
        #expect(down.received.withLock { $0 }.isEmpty)
    }

    @Test func familyRevocationPushesTheFamilysAccessTokens() async {
        let peer = RecordingPeer { _ in .ok }
        let storage = PeerSyncedOAuthStorage(peers: [peer.peer])
        let later = Date().addingTimeInterval(600)
        storage.recordAccessToken(jti: "a", familyID: "f", expiresAt: later)
        storage.recordAccessToken(jti: "b", familyID: "f", expiresAt: later)
        storage.recordAccessToken(jti: "c", familyID: "g", expiresAt: later)
        await storage.revokeFamily("f")
        #expect(peer.received.withLock { $0.map { Set($0) } } == [["a", "b"]])
        #expect(storage.isAccessTokenRevoked(jti: "a") && !storage.isAccessTokenRevoked(jti: "c"))
    }

    /// The echo that froze a 2-worker deployment: a worker that receives a peer's revocation records it and
    /// never pushes it back.
    @Test func aReceivedRevocationIsNotPushedOn() async throws {
        let peer = RecordingPeer { _ in .ok }
        let storage = PeerSyncedOAuthStorage(peers: [peer.peer])
        let auth = try MCPAuthorization(
            configuration: .builtIn(.init(issuer: "https://mcp.example.com", storage: storage)),
            logger: Logger(label: "t"))
        let app = MCPApplication(
            server: MCPServer(configuration: .init(serverInfo: .init(name: "t", version: "1"))),
            configuration: .init(publicURL: "https://mcp.example.com", authorization: auth), logger: Logger(label: "t"))
        var pushed = request(.post, MCPApplication.revocationPath, body: #"{"jtis":["x","y"]}"#)
        pushed.isPeerRequest = true
        let response = await app.respond(to: pushed)
        #expect(response.head.status == .ok)
        #expect(storage.isAccessTokenRevoked(jti: "x") && storage.isAccessTokenRevoked(jti: "y"))
        #expect(peer.attempts.load(ordering: .relaxed) == 0)
        // A client cannot reach the peer route.
        let forged = await app.respond(to: request(.post, MCPApplication.revocationPath, body: #"{"jtis":["z"]}"#))
        #expect(forged.head.status == .notFound)
        #expect(!storage.isAccessTokenRevoked(jti: "z"))
    }

    @Test func countdownResumesOnTheLastAcknowledgementOrTheDeadline() async {
        let done = AcknowledgementCountdown(count: 2)
        done.acknowledge()
        done.acknowledge()
        let clock = ContinuousClock()
        #expect(await clock.measure { await done.wait(atMost: .seconds(10)) } < .seconds(5))
        let never = AcknowledgementCountdown(count: 1)
        let elapsed = await clock.measure { await never.wait(atMost: .milliseconds(50)) }
        #expect(elapsed >= .milliseconds(50) && elapsed < .seconds(9))  // ends at its deadline (room for a loaded machine)
        never.acknowledge()  // after the deadline: nothing to resume, no crash
    }
}
