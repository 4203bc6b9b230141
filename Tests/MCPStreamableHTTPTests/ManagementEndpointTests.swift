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

@Suite struct ManagementEndpointTests {
    static let unauthorizedBody: Value = ["error": "unauthorized", "message": "Invalid or missing management token"]
    static let badTimeoutBody: Value = [
        "error": "invalid_request", "message": "inactivityTimeoutMs must be a positive number",
    ]

    @Test func offWithoutAToken() async throws {
        for token in [nil, ""] as [String?] {
            let app = makeManagedApp(token: token)
            #expect(app.management == nil)
            let cleanup = await app.respond(to: managementRequest(.post, "/management/cleanup"))
            #expect(cleanup.head.status == .notFound)
            #expect(try json(cleanup)["error"] == "not_found")
            let sessions = await app.respond(to: managementRequest(.get, "/management/sessions"))
            #expect(sessions.head.status == .notFound)
        }
    }

    @Test(arguments: [
        nil, "Bearer wrong", "Bearer s3cre", "Bearer s3cret2", "Bearer S3CRET", "Basic czNjcmV0", "s3cret", "Bearer",
        "Bearer ",
    ] as [String?])
    func refusesAMissingOrWrongToken(_ authorization: String?) async throws {
        let recorder = ManagementLogRecorder()
        let app = makeManagedApp(logger: recorder.logger)
        _ = try await openUserSession(app, user: nil)
        var headers: [(String, String)] = [("Content-Type", "application/json")]
        if let authorization { headers.append(("Authorization", authorization)) }
        for (method, path) in [(HTTPRequest.Method.post, "/management/cleanup"), (.get, "/management/sessions")] {
            let response = await app.respond(
                to: userRequest(
                    method, path, headers: headers, body: method == .post ? #"{"inactivityTimeoutMs":0}"# : "",
                    remoteAddress: "198.51.100.4"))
            #expect(response.head.status == .unauthorized)
            #expect(try json(response) == Self.unauthorizedBody)
            #expect(response.head.headerFields[.cacheControl] == "no-store")
            #expect(response.head.headerFields[.wwwAuthenticate] == "Bearer")
        }
        #expect(try await app.activeSessionCount == 1)
        let warnings = recorder.all.filter { $0.level == .warning }
        #expect(warnings.count == 2)
        #expect(warnings.allSatisfy { $0.metadata["http.remote.address"] == "198.51.100.4" })
    }

    @Test func schemeIsCaseInsensitive() async throws {
        let app = makeManagedApp()
        let response = await app.respond(
            to: userRequest(.get, "/management/sessions", headers: [("Authorization", "bearer   s3cret")]))
        #expect(response.head.status == .ok)
    }

    @Test func constantTimeComparison() {
        #expect(OperatorToken.constantTimeEquals(Array("abc".utf8), Array("abc".utf8)))
        #expect(!OperatorToken.constantTimeEquals(Array("abc".utf8), Array("abd".utf8)))
        #expect(!OperatorToken.constantTimeEquals(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!OperatorToken.constantTimeEquals(Array("abcd".utf8), Array("abc".utf8)))
        #expect(!OperatorToken.constantTimeEquals([], Array("a".utf8)))
        #expect(OperatorToken.constantTimeEquals([], []))
        #expect(OperatorToken.bearerToken("Bearer  tok ") == "tok")
        #expect(OperatorToken.bearerToken("Bearertok") == nil)
    }

    @Test(arguments: [
        #"{"inactivityTimeoutMs":-1}"#, #"{"inactivityTimeoutMs":-0.5}"#, #"{"inactivityTimeoutMs":"1000"}"#,
        #"{"inactivityTimeoutMs":true}"#, #"{"inactivityTimeoutMs":null}"#, #"{"inactivityTimeoutMs":[1]}"#,
        #"{"inactivityTimeoutMs":{}}"#,
    ])
    func refusesABadTimeout(_ body: String) async throws {
        let app = makeManagedApp()
        _ = try await openUserSession(app, user: nil)
        let response = await app.respond(to: managementRequest(.post, "/management/cleanup", body: body))
        #expect(response.head.status == .badRequest)
        #expect(try json(response) == Self.badTimeoutBody)
        #expect(response.head.headerFields[.cacheControl] == "no-store")
        #expect(try await app.activeSessionCount == 1)
    }

    @Test(arguments: ["not json", "[1]", "42", #""x""#, "null", "{", #"{"inactivityTimeoutMs":1e400}"#])
    func refusesABodyThatIsNotAnObjectWithAFiniteTimeout(_ body: String) async throws {
        let app = makeManagedApp()
        let response = await app.respond(to: managementRequest(.post, "/management/cleanup", body: body))
        #expect(response.head.status == .badRequest)
        #expect(try json(response)["error"] == "invalid_request")
    }

    @Test func tokenIsCheckedBeforeTheBody() async throws {
        let app = makeManagedApp()
        let response = await app.respond(
            to: managementRequest(.post, "/management/cleanup", token: "nope", body: #"{"inactivityTimeoutMs":-1}"#))
        #expect(response.head.status == .unauthorized)
    }

    @Test(arguments: ["", "  \n", "{}", #"{"other":1}"#])
    func defaultTimeoutIsFiveMinutes(_ body: String) async throws {
        let clock = ManagementTestClock()
        let app = makeManagedApp(clock: clock)
        let old = try await openUserSession(app, user: nil)
        clock.advance(by: 240)
        let recent = try await openUserSession(app, user: nil)
        clock.advance(by: 61)  // old: 301 s idle, recent: 61 s.
        let response = await app.respond(to: managementRequest(.post, "/management/cleanup", body: body))
        #expect(response.head.status == .ok)
        #expect(response.head.headerFields[.cacheControl] == "no-store")
        let answer = try json(response)
        #expect(answer["success"] == true)
        #expect(answer["sessionsCleanedUp"] == 1)
        #expect(answer["inactivityTimeoutMs"] == 300_000)
        #expect(try await app.endpoint.server.sessions.contains(id: recent))
        #expect(try await !app.endpoint.server.sessions.contains(id: old))
    }

    @Test func customTimeoutAndCounts() async throws {
        let clock = ManagementTestClock()
        let gate = ManagementTestGate()
        let app = makeManagedApp(clock: clock, gate: gate)
        var sessions: [String] = []
        for _ in 0..<5 { sessions.append(try await openUserSession(app, user: nil)) }
        let busy = sessions[0]
        let call = Task { await callTool(app, session: busy, tool: "wait") }
        try await eventually { app.endpoint.server.inFlightRequestCount == 1 }
        clock.advance(by: 30)
        let fresh = try await openUserSession(app, user: nil)
        clock.advance(by: 35)  // the first five: 65 s idle (one busy); fresh: 35 s.

        let response = await app.respond(
            to: managementRequest(.post, "/management/cleanup", body: #"{"inactivityTimeoutMs":60000}"#))
        let answer = try json(response)
        #expect(answer["sessionsCleanedUp"] == 4)
        #expect(answer["inactivityTimeoutMs"] == 60000)
        #expect(answer["workers"] == [["node": "w1", "sessionsCleanedUp": 4]])
        #expect(answer["unreachable"] == [])
        let timestamp = try #require(answer["timestamp"]?.stringValue)
        #expect(timestamp.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil)
        #expect(try await app.activeSessionCount == 2)
        for id in sessions.dropFirst() { #expect(await callTool(app, session: id).head.status == .notFound) }

        // 0 removes every session with nothing in flight; a fractional value is accepted as sent.
        let zero = await app.respond(
            to: managementRequest(.post, "/management/cleanup", body: #"{"inactivityTimeoutMs":0.5}"#))
        #expect(try json(zero)["sessionsCleanedUp"] == 1)
        #expect(try json(zero)["inactivityTimeoutMs"] == 0.5)
        #expect(try await app.endpoint.server.sessions.contains(id: busy))
        #expect(try await !app.endpoint.server.sessions.contains(id: fresh))
        gate.release()
        _ = await call.value
    }

    @Test func integralDoubleIsEchoedAsAnInteger() async throws {
        let app = makeManagedApp()
        let response = await app.respond(
            to: managementRequest(.post, "/management/cleanup", body: #"{"inactivityTimeoutMs":6e4}"#))
        #expect(try json(response)["inactivityTimeoutMs"] == 60000)
    }

    @Test func wrongMethodIs405() async throws {
        let app = makeManagedApp()
        let get = await app.respond(to: managementRequest(.get, "/management/cleanup"))
        #expect(get.head.status == .methodNotAllowed)
        #expect(get.head.headerFields[.allow] == "POST")
        let post = await app.respond(to: managementRequest(.post, "/management/sessions"))
        #expect(post.head.status == .methodNotAllowed)
    }

    @Test func sessionsCountsThisWorker() async throws {
        let app = makeManagedApp()
        for _ in 0..<3 { _ = try await openUserSession(app, user: nil) }
        let response = await app.respond(to: managementRequest(.get, "/management/sessions"))
        #expect(response.head.status == .ok)
        #expect(response.head.headerFields[.cacheControl] == "no-store")
        #expect(
            try json(response)
                == ["activeSessions": 3, "workers": [["node": "w1", "activeSessions": 3]], "unreachable": []])
    }

    @Test func healthStaysOpen() async throws {
        let app = makeManagedApp()
        let response = await app.respond(to: request(.get, "/health"))
        #expect(response.head.status == .ok)
        #expect(try json(response)["node"] == "w1")
    }
}

/// Fan-out over injected peers: real applications answering in-process, and peers that fail.
@Suite struct ManagementFanOutTests {
    /// Records the requests a peer received and answers with an application's management endpoint.
    final class PeerLog: Sendable {
        private let requests = Mutex<[HTTPServerRequest]>([])
        var all: [HTTPServerRequest] { requests.withLock { $0 } }
        func append(_ request: HTTPServerRequest) { requests.withLock { $0.append(request) } }
    }

    static func peer(_ app: MCPApplication, name: String, log: PeerLog) -> ManagementPeer {
        ManagementPeer(name: name) { request, _ in
            log.append(request)
            return await app.respond(to: request)
        }
    }

    struct Unreachable: Error {}

    final class AskCounter: Sendable {
        let count = Mutex(0)
    }

    @Test func countsAreSummedAcrossWorkers() async throws {
        let clock = ManagementTestClock()
        let (w1, w2, w3) = (
            makeManagedApp(clock: clock, nodeID: "w1"), makeManagedApp(clock: clock, nodeID: "w2"),
            makeManagedApp(clock: clock, nodeID: "w3")
        )
        for (app, n) in [(w1, 1), (w2, 2), (w3, 4)] {
            for _ in 0..<n { _ = try await openUserSession(app, user: nil) }
        }
        let log = PeerLog()
        // w3 listed before w2: the answer lists workers by node either way.
        let management = ManagementEndpoint(
            token: "s3cret", nodeID: "w1", sweeper: w1.sweeper,
            peers: [Self.peer(w3, name: "w3", log: log), Self.peer(w2, name: "w2", log: log)],
            logger: Logger(label: "t"))

        let sessions = try json(await management.sessions(managementRequest(.get, "/management/sessions")))
        #expect(sessions["activeSessions"] == 7)
        #expect(
            sessions["workers"] == [
                ["node": "w1", "activeSessions": 1], ["node": "w2", "activeSessions": 2],
                ["node": "w3", "activeSessions": 4],
            ])
        #expect(sessions["unreachable"] == [])
        // Peers got a peer request with the token (no fan-out of their own).
        #expect(log.all.count == 2)
        #expect(log.all.allSatisfy { $0.isPeerRequest })
        #expect(log.all.allSatisfy { $0.head.headerFields[.authorization] == "Bearer s3cret" })

        clock.advance(by: 1)
        let cleanup = try json(
            await management.cleanup(
                managementRequest(.post, "/management/cleanup", body: #"{"inactivityTimeoutMs":0}"#)))
        #expect(cleanup["sessionsCleanedUp"] == 7)
        #expect(cleanup["inactivityTimeoutMs"] == 0)
        #expect(
            cleanup["workers"] == [
                ["node": "w1", "sessionsCleanedUp": 1], ["node": "w2", "sessionsCleanedUp": 2],
                ["node": "w3", "sessionsCleanedUp": 4],
            ])
        #expect(try await w1.activeSessionCount + w2.activeSessionCount + w3.activeSessionCount == 0)
        let forwarded = try #require(log.all.last)
        #expect(try JSONParser().parse(forwarded.body) == ["inactivityTimeoutMs": 0])
        #expect(forwarded.head.headerFields[.contentType] == "application/json")
    }

    @Test func aPeerRequestDoesOnlyTheLocalPart() async throws {
        let log = PeerLog()
        let w2 = makeManagedApp(nodeID: "w2")
        let management = ManagementEndpoint(
            token: "s3cret", nodeID: "w1", sweeper: makeManagedApp().sweeper,
            peers: [Self.peer(w2, name: "w2", log: log)], logger: Logger(label: "t"))
        let answer = try json(await management.sessions(managementRequest(.get, "/management/sessions", peer: true)))
        #expect(answer["workers"] == [["node": "w1", "activeSessions": 0]])
        #expect(log.all.isEmpty)
    }

    @Test func unreachablePeersAreReportedNot500() async throws {
        let recorder = ManagementLogRecorder()
        let w1 = makeManagedApp(nodeID: "w1")
        _ = try await openUserSession(w1, user: nil)
        let otherToken = makeManagedApp(token: "different", nodeID: "w4")
        let management = ManagementEndpoint(
            token: "s3cret", nodeID: "w1", sweeper: w1.sweeper,
            peers: [
                ManagementPeer(name: "w2") { _, _ in throw Unreachable() },
                ManagementPeer(name: "w3") { _, _ in .json(.ok, ["nonsense": true]) },
                Self.peer(otherToken, name: "w4", log: PeerLog()),
            ], logger: recorder.logger)
        let response = await management.sessions(managementRequest(.get, "/management/sessions"))
        #expect(response.head.status == .ok)
        let answer = try json(response)
        #expect(answer["activeSessions"] == 1)
        #expect(answer["workers"] == [["node": "w1", "activeSessions": 1]])
        #expect(answer["unreachable"] == ["w2", "w3", "w4"])
        let warned = recorder.all.filter { $0.level == .warning }.compactMap { $0.metadata["peer"] }
        #expect(Set(warned) == ["w2", "w3", "w4"])
    }

    @Test func aPeerThatIsThisWorkerIsNotCountedTwice() async throws {
        let w1 = makeManagedApp(nodeID: "w1")
        _ = try await openUserSession(w1, user: nil)
        let management = ManagementEndpoint(
            token: "s3cret", nodeID: "w1", sweeper: w1.sweeper, peers: [Self.peer(w1, name: "w1", log: PeerLog())],
            logger: Logger(label: "t"))
        let answer = try json(await management.sessions(managementRequest(.get, "/management/sessions")))
        #expect(answer["activeSessions"] == 1)
        #expect(answer["unreachable"] == [])
    }

    @Test func peersAreAskedConcurrently() async throws {
        // Each peer answers only once all three were asked: asked one after another, each would give up.
        let asked = AskCounter()
        let peer = { (name: String) in
            ManagementPeer(name: name) { _, _ in
                asked.count.withLock { $0 += 1 }
                for _ in 0..<1000 where asked.count.withLock({ $0 }) < 3 { try await Task.sleep(for: .milliseconds(5)) }
                guard asked.count.withLock({ $0 }) == 3 else { throw Unreachable() }
                return .json(.ok, ["workers": [["node": .string(name), "activeSessions": 1]]])
            }
        }
        let management = ManagementEndpoint(
            token: "s3cret", nodeID: "w1", sweeper: makeManagedApp().sweeper,
            peers: [peer("w2"), peer("w3"), peer("w4")], logger: Logger(label: "t"))
        let answer = try json(await management.sessions(managementRequest(.get, "/management/sessions")))
        #expect(answer["unreachable"] == [])
        #expect(answer["activeSessions"] == 3)
    }
}
