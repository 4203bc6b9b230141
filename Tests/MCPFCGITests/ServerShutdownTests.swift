import Foundation
import Logging
import ServiceLifecycle
import Testing

@testable import MCPFCGI

#if canImport(Glibc)
    import Glibc
#endif

/// Starting and stopping the FastCGI front: side-effect-free initializers, the hub's real shutdown, and the
/// server as a swift-service-lifecycle `Service`. A drain sets libfcgi's process-wide shutdown flag, so every
/// test that drains runs in a process of its own (an exit test).
@Suite struct ServerShutdownTests {
    @Test func initializersStartNothing() {
        let hub = StreamHub(logger: Logger(label: "test.hub"))
        #expect(!hub.isRunning)
        let app = makeApp()
        #expect(!app.sweeper.isRunning)
        let server = FastCGIServer(
            configuration: .init(socketPath: "/nonexistent-dir/never.sock"), responder: app, logger: Logger(label: "t"))
        #expect(!server.hub.isRunning)
        #expect(server.lifecycleState == .idle)
    }

    @Test func theHubThreadEndsAtShutdown() {
        let hub = StreamHub(logger: Logger(label: "test.hub"))
        hub.start()
        #expect(hub.isRunning)
        hub.start()  // a second start changes nothing
        #expect(hub.isRunning)
        // shutdown() joins the thread: it returns only once the hub's loop has returned.
        hub.shutdown()
        #expect(!hub.isRunning)
        hub.shutdown()
        hub.start()  // a hub that shut down does not start again
        #expect(!hub.isRunning)
        #expect(hub.openStreamCount == 0)
    }

    @Test func drainWithoutStartStopsAtOnce() {
        let server = FastCGIServer(
            configuration: .init(socketPath: "/nonexistent-dir/never.sock"), responder: makeApp(), logger: Logger(label: "t"))
        server.drain()
        #expect(server.isStopped)
        #expect(server.lifecycleState == .stopped)
        #expect(throws: FastCGIServer.StartupError.self) { try server.start() }
        #expect(!server.hub.isRunning)
    }

    @Test func runsInAServiceGroupAndDrainsOnGracefulShutdown() async {
        await #expect(processExitsWith: .success) {
            let path = NSTemporaryDirectory() + "mcpfcgi-group-\(getpid()).sock"
            let app = makeApp()
            let server = FastCGIServer(
                configuration: .init(
                    socketPath: path, socketMode: 0o600, threads: 2, drainTimeout: .seconds(10),
                    handlesTerminationSignals: false),
                responder: app, logger: Logger(label: "test.group"))
            let group = ServiceGroup(
                configuration: .init(services: [server], logger: Logger(label: "test.group")))
            let running = Task { try await group.run() }
            let client = FastCGITestClient(socketPath: path)
            try await ServerShutdownTests.waitUntilServing(client)
            let sweeping = app.sweeper.isRunning  // the server started the application's background work
            let session = try await ServerShutdownTests.initialize(client)
            // A request in flight when the shutdown comes: the drain lets it finish.
            let body = Array(#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"slow"}}"#.utf8)
            async let slow = client.fetch(
                params: baseParams + [
                    ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/mcp"), ("CONTENT_TYPE", "application/json"),
                    ("CONTENT_LENGTH", String(body.count)), ("HTTP_MCP_SESSION_ID", session),
                ], body: body)
            while server.inFlightCount == 0 { try await Task.sleep(for: .milliseconds(2)) }
            let shutdownAt = ContinuousClock.now
            await group.triggerGracefulShutdown()
            let response = try await slow
            try await running.value  // run() returned: the group finished
            // Woken by its events, the drain takes about as long as the slow request (200 ms), far from the 10 s
            // deadline: accept threads started from the cooperative pool must still get the drain's SIGUSR1.
            let prompt = ContinuousClock.now - shutdownAt < .seconds(5)
            let answered = try JSONParser().parse(response.body)["result"]?["content"]?.arrayValue?.first?["text"] == "done"
            let stopped = server.isStopped && server.lifecycleState == .stopped
            let cleaned = !server.hub.isRunning && !app.sweeper.isRunning && access(path, F_OK) != 0
            exit(sweeping && response.status == 200 && answered && stopped && cleaned && prompt ? EXIT_SUCCESS : EXIT_FAILURE)
        }
    }

    @Test func standaloneRunDrainsOnSIGTERM() async {
        await #expect(processExitsWith: .success) {
            let path = NSTemporaryDirectory() + "mcpfcgi-sigterm-\(getpid()).sock"
            let server = FastCGIServer(
                configuration: .init(socketPath: path, socketMode: 0o600, threads: 2, drainTimeout: .seconds(10)),
                responder: makeApp(), logger: Logger(label: "test.sigterm"))
            let running = Task { try await server.run() }
            let client = FastCGITestClient(socketPath: path)
            try await ServerShutdownTests.waitUntilServing(client)
            let signalledAt = ContinuousClock.now
            kill(getpid(), SIGTERM)
            try await running.value
            let prompt = ContinuousClock.now - signalledAt < .seconds(5)  // not the 10 s deadline
            exit(
                server.isStopped && !server.hub.isRunning && access(path, F_OK) != 0 && prompt
                    ? EXIT_SUCCESS : EXIT_FAILURE)
        }
    }

    /// Retries `/health` until the server answers it (the socket exists once `start()` ran).
    static func waitUntilServing(_ client: FastCGITestClient) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            if let response = try? await client.fetch(
                params: baseParams + [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/health")]),
                response.status == 200
            {
                return
            }
            guard ContinuousClock.now < deadline else { throw POSIXError(.ETIMEDOUT) }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Opens an MCP session over FastCGI; returns its id.
    static func initialize(_ client: FastCGITestClient) async throws -> String {
        let body = Array(initializeBody.utf8)
        let response = try await client.fetch(
            params: baseParams + [
                ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/mcp"), ("CONTENT_TYPE", "application/json"),
                ("CONTENT_LENGTH", String(body.count)),
            ], body: body)
        return response.headers["mcp-session-id"] ?? ""
    }
}
