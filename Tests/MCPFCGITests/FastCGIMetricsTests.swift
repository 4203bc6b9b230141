import Foundation
import Logging
import MCPHandlers
import MetricsTestKit
import Synchronization
import Testing
import MCPFCGITesting

@testable import MCPFCGI

#if canImport(Glibc)
    import Glibc
#endif

/// A gate requests wait at until a test opens it.
final class TestGate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let open = state.withLock { s in
                if !s.open { s.waiters.append(continuation) }
                return s.open
            }
            if open { continuation.resume() }
        }
    }

    func open() {
        for waiter in state.withLock({ s in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }) { waiter.resume() }
    }
}

/// Answers the probes of the FastCGI metrics tests: `/block` waits for the gate, `/stream` streams two events,
/// `/flood` streams 8 MiB as fast as it can.
struct ProbeResponder: HTTPResponder {
    let gate: TestGate

    func respond(to request: HTTPServerRequest) async -> HTTPServerResponse {
        switch request.path {
        case "/block":
            await gate.wait()
            return .json(.ok, [:])
        case "/stream":
            let stream = ResponseStream()
            stream.write(ServerSentEvent.event(id: "1", data: Array("one".utf8)))
            stream.write(ServerSentEvent.event(id: "2", data: Array("two".utf8)))
            stream.finish()
            return .eventStream(stream)
        case "/flood":
            let stream = ResponseStream(isStandalone: true)
            Task.detached {
                // After the head is out and the hub owns the connection: the first bytes reach the socket.
                try? await Task.sleep(for: .milliseconds(50))
                let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 16 * 1024)
                // One chunk first, written by the hub while the queue is short (so some bytes are counted before the
                // cut, however late the hub's thread runs under load), then the flood.
                guard stream.write(chunk) else { return }
                try? await Task.sleep(for: .milliseconds(100))
                for _ in 0..<512 {
                    guard stream.write(chunk) else { return }
                    await Task.yield()
                }
                stream.finish()
            }
            return .eventStream(stream)
        default:
            return .error(.notFound, code: "not_found", message: "No route")
        }
    }
}

/// A FastCGI front of its own (own socket, own metrics) around ``ProbeResponder``.
struct ProbeServer {
    let metrics = TestMetrics()
    let gate = TestGate()
    let server: FastCGIServer
    let client: FastCGITestClient

    init(name: String, threads: Int = 2, streaming: StreamHub.Configuration = StreamHub.Configuration()) throws {
        let path = NSTemporaryDirectory() + "mcpfcgi-\(name)-\(getpid()).sock"
        server = FastCGIServer(
            configuration: .init(
                socketPath: path, socketMode: 0o600, threads: threads, streaming: streaming, metricsFactory: metrics),
            responder: ProbeResponder(gate: gate), logger: Logger(label: "test.probe"))
        try server.start()
        client = FastCGITestClient(socketPath: path)
    }

    static func params(_ path: String) -> [(String, String)] {
        baseParams + [("REQUEST_METHOD", "GET"), ("REQUEST_URI", path)]
    }

    /// Waits (at most 10 s) until `condition` holds.
    static func eventually(_ condition: () throws -> Bool) async rethrows {
        let deadline = ContinuousClock.now + .seconds(20)
        while try !condition(), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(5)) }
    }
}

@Suite struct FastCGIMetricsTests {
    @Test func busyAcceptThreadsAreCounted() async throws {
        let probe = try ProbeServer(name: "busy")
        let busy = try probe.metrics.expectMeter("mcpfcgi_fastcgi_accept_threads_busy")
        #expect(try probe.metrics.expectMeter("mcpfcgi_fastcgi_accept_threads").lastValue == 2)
        let client = probe.client
        let blocked = Task { try await client.fetch(params: ProbeServer.params("/block")) }
        await ProbeServer.eventually { busy.lastValue == 1 }
        #expect(busy.lastValue == 1)
        probe.gate.open()
        #expect(try await blocked.value.status == 200)
        await ProbeServer.eventually { busy.lastValue == 0 }
        #expect(busy.lastValue == 0)
        #expect(busy.values.max() == 1)
    }

    @Test func streamsAreCountedOpenedClosedAndTheirBytes() async throws {
        let probe = try ProbeServer(name: "streams")
        let response = try await probe.client.fetch(params: ProbeServer.params("/stream"))
        #expect(response.headers["content-type"] == "text/event-stream")
        #expect(String(decoding: response.body, as: UTF8.self) == "id: 1\ndata: one\n\nid: 2\ndata: two\n\n")
        let open = try probe.metrics.expectMeter("mcpfcgi_sse_streams_open")
        await ProbeServer.eventually { probe.server.hub.openStreamCount == 0 && open.lastValue == 0 }
        #expect(open.values.max() == 1)
        #expect(open.lastValue == 0)
        #expect(try probe.metrics.expectCounter("mcpfcgi_sse_streams_opened_total").totalValue == 1)
        // Every body byte went out through the hub, in FastCGI records (8-byte headers, padding, END_REQUEST).
        let bytes = try probe.metrics.expectCounter("mcpfcgi_sse_bytes_total").totalValue
        #expect(bytes >= Int64(response.body.count) + 16)
        #expect(bytes <= Int64(response.body.count) + 64)
        #expect(try probe.metrics.expectCounter("mcpfcgi_sse_stalled_cuts_total").totalValue == 0)
    }

    @Test func aClientThatStopsReadingIsCutAndCounted() async throws {
        let probe = try ProbeServer(name: "stall", streaming: .init(maxQueuedBytes: 256 * 1024))
        let fd = try probe.client.connectAndSend(params: ProbeServer.params("/flood"), body: [], requestID: 1)
        defer { close(fd) }
        let cuts = try probe.metrics.expectCounter("mcpfcgi_sse_stalled_cuts_total")
        await ProbeServer.eventually { cuts.totalValue == 1 }
        #expect(cuts.totalValue == 1)
        let open = try probe.metrics.expectMeter("mcpfcgi_sse_streams_open")
        await ProbeServer.eventually { open.lastValue == 0 }
        #expect(open.lastValue == 0)
        #expect(try probe.metrics.expectCounter("mcpfcgi_sse_bytes_total").totalValue > 0)
    }

    @Test func drainsAreCounted() async {
        // Draining sets libfcgi's process-wide shutdown flag: it runs in a process of its own.
        await #expect(processExitsWith: .success) {
            let metrics = TestMetrics()
            let path = NSTemporaryDirectory() + "mcpfcgi-drain-\(getpid()).sock"
            let server = FastCGIServer(
                configuration: .init(
                    socketPath: path, socketMode: 0o600, threads: 2, drainTimeout: .seconds(1),
                    metricsFactory: metrics),
                responder: ProbeResponder(gate: TestGate()), logger: Logger(label: "test.drain"))
            try server.start()
            let drainingBefore = try metrics.expectMeter("mcpfcgi_draining").values
            // drain() blocks its thread: on a thread of its own, as the standalone entry point runs it.
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                Thread {
                    server.drain()
                    done.resume()
                }.start()
            }
            let drains = try metrics.expectCounter("mcpfcgi_drains_total").totalValue
            let draining = try metrics.expectMeter("mcpfcgi_draining").values
            exit(drains == 1 && drainingBefore.isEmpty && draining == [1, 0] ? EXIT_SUCCESS : EXIT_FAILURE)
        }
    }
}
