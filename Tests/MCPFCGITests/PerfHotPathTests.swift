import Dispatch
import Foundation
import HTTPTypes
import Synchronization
import Testing
import MCPFCGITesting

@testable import MCPFCGI

#if canImport(Glibc)
    import Glibc
#endif

/// Runs `body` on a fresh plain thread (as an accept thread is) and waits for it.
private func onPlainThread(_ body: @escaping @Sendable () -> Void) async {
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
        _ = FastCGIServer.startThread {
            body()
            done.resume()
        }
    }
}

private final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

@Suite struct AcceptThreadExecutorTests {
    @Test func workThatNeverSuspendsRunsOnTheCallingThread() async {
        let same = Flag()
        await onPlainThread {
            let executor = AcceptThreadExecutor()
            let caller = pthread_self()
            let ranHere = executor.run { pthread_equal(pthread_self(), caller) != 0 }
            if ranHere { same.set() }
        }
        #expect(same.isSet)
    }

    @Test func structuredChildrenAndSuspensionsComeBackToTheThread() async {
        let result = Mutex(0)
        await onPlainThread {
            let executor = AcceptThreadExecutor()
            let value = executor.run {
                async let a = { 20 }()
                // Resumed by another thread: the job comes back through the executor's queue.
                let b: Int = await withCheckedContinuation { continuation in
                    DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(20)) { continuation.resume(returning: 22) }
                }
                return await a + b
            }
            result.withLock { $0 = value }
        }
        #expect(result.withLock { $0 } == 42)
    }

    @Test func tasksThatOutliveTheDecisionRunElsewhere() async throws {
        let finished = Flag()
        let returned = Flag()
        let executor = AcceptThreadExecutor()
        await onPlainThread {
            _ = executor.run {
                // A task that prefers this executor and goes on after the answer (a streamed response's handler).
                Task(executorPreference: executor) {
                    try? await Task.sleep(for: .milliseconds(50))
                    finished.set()
                }
                return 1
            }
            returned.set()
        }
        #expect(returned.isSet)
        // The accept thread has stopped draining (it returned): the sleeping task's next job must be forwarded
        // to the global executor, never stranded.
        for _ in 0..<200 where !finished.isSet { try await Task.sleep(for: .milliseconds(10)) }
        #expect(finished.isSet)
    }

    @Test func everyRequestOfTheServingTaskRunsOnTheCallingThread() async {
        let allHere = Flag()
        await onPlainThread {
            let executor = AcceptThreadExecutor()
            defer { executor.finish() }
            let caller = pthread_self()
            var here = 0
            for _ in 0..<50 {
                // Suspends once (a yield), so the request's tail is a job of the queue the thread drains.
                let ranHere = executor.run {
                    await Task.yield()
                    return pthread_equal(pthread_self(), caller) != 0
                }
                if ranHere { here += 1 }
            }
            if here == 50 { allHere.set() }
        }
        #expect(allHere.isSet)
    }

    @Test func finishEndsTheServingTaskAndReleasesTheExecutor() async throws {
        final class WeakBox: @unchecked Sendable { weak var executor: AcceptThreadExecutor? }
        let box = WeakBox()
        await onPlainThread {
            let executor = AcceptThreadExecutor()
            box.executor = executor
            _ = executor.run { 1 }
            executor.finish()
        }
        // The serving task ends (its last wake-up runs on the global executor) and lets go of the executor.
        for _ in 0..<200 where box.executor != nil { try await Task.sleep(for: .milliseconds(10)) }
        #expect(box.executor == nil)
    }

    @Test func oneThreadServesManyRequestsInARow() async {
        let total = Mutex(0)
        await onPlainThread {
            let executor = AcceptThreadExecutor()
            var sum = 0
            for i in 0..<1000 {
                sum += executor.run {
                    await Task.yield()
                    return i
                }
            }
            total.withLock { $0 = sum }
        }
        #expect(total.withLock { $0 } == 999 * 1000 / 2)
    }
}

@Suite struct PerfCGIDecoderTests {
    @Test func theNamesAndValuesReadMostAreMadeOnce() {
        func name(_ text: String) -> String { Array(text.utf8).withUnsafeBufferPointer { CGIRequestDecoder.name($0) } }
        func value(_ text: String) -> String { Array(text.utf8).withUnsafeBufferPointer { CGIRequestDecoder.value($0) } }
        // The literal list is the table's keys (a header added to one must be added to the other).
        #expect(Set(CGIRequestDecoder.commonHeaderCGINames) == Set(CGIRequestDecoder.commonHeaders.keys))
        for known in ["HTTP_MCP_PROTOCOL_VERSION", "REQUEST_METHOD", "HTTP_X_FORWARDED_PROTO"] {
            #expect(name(known) == known)
        }
        #expect(name("HTTP_X_SOMETHING_ELSE_ENTIRELY") == "HTTP_X_SOMETHING_ELSE_ENTIRELY")
        #expect(value("application/json, text/event-stream") == "application/json, text/event-stream")
        #expect(value("application/jsonx") == "application/jsonx")
        #expect(value("short") == "short")
        // Nginx's HTTP_* copies of CONTENT_TYPE and CONTENT_LENGTH are skipped before any string is made.
        for copy in ["HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"] {
            #expect(!Array(copy.utf8).withUnsafeBufferPointer { CGIRequestDecoder.isRead($0) })
        }
        #expect(Array("HTTP_CONTENT_MD5".utf8).withUnsafeBufferPointer { CGIRequestDecoder.isRead($0) })
    }

    @Test func headerNamesAreConvertedByteWise() throws {
        let r = try CGIRequestDecoder.decode(
            params: [
                ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/mcp"), ("HTTP_MCP_PARAM_REGION", "eu"),
                ("HTTP_X_SOME_THING", "1"), ("HTTP_ACCEPT", "application/json"), ("HTTP_ACCEPT", "ignored"),
                ("HTTP_MCP_PROTOCOL_VERSION", "2026-07-28"), ("HTTP_HOST", "a.example"), ("HTTP_HOST", "b.example"),
                ("REQUEST_METHOD", "GET"),
            ], body: [], requestID: "r")
        #expect(r.head.method == .post)
        #expect(r.head.authority == "a.example")
        #expect(r.head.headerFields[HTTPField.Name("Mcp-Param-Region")!] == "eu")
        #expect(r.head.headerFields[HTTPField.Name("x-some-thing")!] == "1")
        #expect(r.head.headerFields[values: .accept] == ["application/json"])
        #expect(r.head.headerFields[.mcpProtocolVersion] == "2026-07-28")
        #expect(CGIRequestDecoder.headerName(cgiName: "HTTP_BAD(NAME") == nil)
    }

    @Test func onlyReadParametersAreCopied() {
        func read(_ name: String) -> Bool {
            let bytes = Array(name.utf8)
            return bytes.withUnsafeBufferPointer { CGIRequestDecoder.isRead($0) }
        }
        for name in ["REQUEST_METHOD", "REQUEST_URI", "CONTENT_LENGTH", "CONTENT_TYPE", "HTTPS", "MCPFCGI_PEER", "HTTP_X"] {
            #expect(read(name), "\(name)")
        }
        for name in ["SCRIPT_FILENAME", "DOCUMENT_ROOT", "SERVER_SOFTWARE", "GATEWAY_INTERFACE", "HTTP_", "HTTPS_X"] {
            #expect(!read(name), "\(name)")
        }
    }
}
