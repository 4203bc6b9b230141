import Foundation
import HTTPTypes
import MCPHandlers
import Logging
import Prometheus
import Testing
import MCPFCGITesting

@testable import MCPFCGI

#if canImport(Glibc)
    import Glibc
#endif

/// The management API's FastCGI client against the real libfcgi worker pool of ``SharedFastCGIServer``.
@Suite struct ManagementFastCGIClientTests {
    static var client: FastCGIClient {
        _ = SharedFastCGIServer.server
        return FastCGIClient(socketPath: SharedFastCGIServer.socketPath, timeout: .seconds(20))
    }

    @Test func getsAnAnswerFromLibfcgi() async throws {
        let response = try await Self.client.send(
            params: baseParams + [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/health")])
        #expect(response.status == 200)
        #expect(response.headers["content-type"] == "application/json")
        #expect(response.headers["cache-control"] == "no-store")
        #expect(try JSONParser().parse(response.body)["status"] == "healthy")
    }

    @Test func sendsABody() async throws {
        let body = Array(initializeBody.utf8)
        let response = try await Self.client.send(
            params: baseParams + [
                ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/mcp"), ("CONTENT_TYPE", "application/json"),
                ("CONTENT_LENGTH", String(body.count)),
            ], body: body)
        #expect(response.status == 200)
        #expect(response.headers["mcp-session-id"]?.isEmpty == false)
        #expect(try JSONParser().parse(response.body)["result"]?["protocolVersion"] == "2025-11-25")
    }

    @Test func peerOverFastCGI() async throws {
        _ = SharedFastCGIServer.server
        let peer = ManagementPeer.fastCGI(socketPath: SharedFastCGIServer.socketPath)
        #expect(peer.name == "mcpfcgi-test-\(getpid())")
        let health = try await peer.send(request(.get, "/health"), .seconds(20))
        #expect(health.head.status == .ok)
        #expect(try json(health)["status"] == "healthy")
        // The shared test application has no management token: the API is off there.
        var sessions = request(.get, "/management/sessions", headers: [("Authorization", "Bearer x")])
        sessions.isPeerRequest = true
        let off = try await peer.send(sessions, .seconds(20))
        #expect(off.head.status == .notFound)
    }

    @Test func missingSocketFailsAtOnce() async throws {
        let client = FastCGIClient(socketPath: NSTemporaryDirectory() + "mcpfcgi-nothing-\(getpid()).sock")
        let failure = await #expect(throws: FastCGIClient.Failure.self) {
            _ = try await client.send(params: [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/health")])
        }
        // Refused at connect, not after waiting for the timeout.
        #expect(failure?.description.hasPrefix("connect ") == true)
    }

    @Test func silentPeerTimesOut() async throws {
        // A socket that accepts connections (in the kernel's backlog) but never answers.
        let path = NSTemporaryDirectory() + "mcpfcgi-silent-\(getpid()).sock"
        let fd = try FastCGIServer.listenUnix(path: path, mode: 0o600, backlog: 4)
        defer {
            close(fd)
            unlink(path)
        }
        let client = FastCGIClient(socketPath: path, timeout: .milliseconds(200))
        let started = ContinuousClock.now
        let failure = await #expect(throws: FastCGIClient.Failure.self) {
            _ = try await client.send(params: [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/health")])
        }
        #expect(failure?.description == "timed out")
        #expect(ContinuousClock.now - started >= .milliseconds(150))
    }

    @Test func peerFlagComesOnlyFromTheFastCGIParameter() throws {
        let base: [(String, String)] = [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/management/sessions")]
        #expect(try CGIRequestDecoder.decode(params: base + [("MCPFCGI_PEER", "1")], body: [], requestID: "r").isPeerRequest)
        #expect(try !CGIRequestDecoder.decode(params: base, body: [], requestID: "r").isPeerRequest)
        #expect(try !CGIRequestDecoder.decode(params: base + [("MCPFCGI_PEER", "0")], body: [], requestID: "r").isPeerRequest)
        // What a client's "MCPFCGI-Peer: 1" header becomes behind nginx.
        let forged = try CGIRequestDecoder.decode(params: base + [("HTTP_MCPFCGI_PEER", "1")], body: [], requestID: "r")
        #expect(!forged.isPeerRequest)
    }

    @Test func forwardedRequestParameters() throws {
        var forwarded = request(
            .post, "/management/cleanup", headers: [("Authorization", "Bearer t"), ("Content-Type", "application/json")],
            body: "{}")
        forwarded.isPeerRequest = true
        let params = ManagementPeer.params(of: forwarded)
        let byName = Dictionary(params, uniquingKeysWith: { first, _ in first })
        #expect(byName["REQUEST_METHOD"] == "POST")
        #expect(byName["REQUEST_URI"] == "/management/cleanup")
        #expect(byName["MCPFCGI_PEER"] == "1")
        #expect(byName["HTTP_AUTHORIZATION"] == "Bearer t")
        #expect(byName["CONTENT_TYPE"] == "application/json")
        #expect(byName["CONTENT_LENGTH"] == "2")
        // The peer logs the request under the caller's id.
        #expect(byName["REQUEST_ID"] == forwarded.requestID)
        #expect(try CGIRequestDecoder.decode(params: params, body: [], requestID: "other").requestID == forwarded.requestID)
        forwarded.isPeerRequest = false
        #expect(!ManagementPeer.params(of: forwarded).contains { $0.0 == "MCPFCGI_PEER" })
    }

    @Test func socketPeersAreNamedAfterTheirSockets() {
        let app = MCPApplication(
            server: MCPServer(name: "t", version: "1"),
            configuration: .init(
                nodeID: "w1", managementToken: "x",
                peers: [.fastCGI(socketPath: "/run/mcp/w2.sock"), .fastCGI(socketPath: "/tmp/w3")]),
            logger: Logger(label: "t"))
        #expect(app.management?.peers.map(\.name) == ["w2", "w3"])
    }

    @Test func aDeadFastCGIPeerIsDownOnTheMetricsPage() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UUID().uuidString)")
        let metrics = MetricsEndpoint(
            configuration: .init(token: "metrics-s3cret", registry: PrometheusCollectorRegistry(), peerTimeout: .milliseconds(500)),
            nodeID: "w1", peers: [.fastCGI(socketPath: directory.path + "/w9.sock")], logger: Logger(label: "t"))
        let response = await metrics.respond(
            to: request(.get, "/metrics", headers: [("Authorization", "Bearer metrics-s3cret")]))
        #expect(response.head.status == .ok)
        let page = String(decoding: response.body, as: UTF8.self)
        #expect(page.contains(#"mcpfcgi_scrape_peer_up{worker="w9"} 0"#))
        #expect(page.contains(#"mcpfcgi_scrape_peer_up{worker="w1"} 1"#))
    }

    /// A peer's `Status` must be an HTTP status: `HTTPResponse.Status(code:)` traps outside 0…999, so a hostile or
    /// broken peer answering `Status: -1` would otherwise crash the worker that asked.
    @Test(arguments: ["Status: -1", "Status: 099 Low", "Status: 42", "Status: abc"])
    func aPeerStatusOutsideHTTPIsAFailure(line: String) throws {
        #expect(throws: FastCGIClient.Failure.self) {
            _ = try FastCGIClient.parse(Array((line + "\r\nContent-Type: text/plain\r\n\r\nbody").utf8))
        }
        #expect(try FastCGIClient.parse(Array("Status: 503 Busy\r\n\r\n".utf8)).status == 503)
    }
}
