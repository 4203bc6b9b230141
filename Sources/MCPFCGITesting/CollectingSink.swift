import MCPHTTP
import MCPHandlers
import Synchronization

/// Collects what a streamed (Server-Sent Events) response writes, as the FastCGI front's stream hub would receive it.
///
/// ```swift
/// let response = await app.respond(to: request)
/// let sink = CollectingSink()
/// response.stream?.attach(sink)
/// await sink.waitForFinish()
/// #expect(sink.events.last?.data?["result"] != nil)
/// ```
public final class CollectingSink: StreamSink {
    private struct State {
        var bytes: [UInt8] = []
        var finished = false
    }
    private let state = Mutex(State())

    /// Creates an empty sink.
    public init() {}

    /// Appends the bytes (``/MCPHTTP/StreamSink``).
    public func write(_ bytes: [UInt8]) { state.withLock { $0.bytes += bytes } }

    /// Records the end of the response (``/MCPHTTP/StreamSink``).
    public func finish() { state.withLock { $0.finished = true } }

    /// Everything written so far, as UTF-8 text.
    public var text: String { state.withLock { String(decoding: $0.bytes, as: UTF8.self) } }

    /// Whether the response ended.
    public var isFinished: Bool { state.withLock { $0.finished } }

    /// The events so far: each event's `id` and its `data` parsed as JSON (nil for an empty `data` line or data
    /// that is not JSON). Comments (pings) are left out.
    public var events: [(id: String?, data: Value?)] { Self.events(in: text) }

    /// The events of a Server-Sent Events body, as ``events``.
    /// - Parameter text: the body.
    /// - Returns: each event's `id` and its `data` parsed as JSON.
    public static func events(in text: String) -> [(id: String?, data: Value?)] {
        text.components(separatedBy: "\n\n").compactMap { block -> (String?, Value?)? in
            var id: String?
            var data: String?
            for line in block.split(separator: "\n", omittingEmptySubsequences: true) {
                if line.hasPrefix("id: ") { id = String(line.dropFirst(4)) }
                if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
                if line == "data:" { data = "" }
            }
            guard id != nil || data != nil else { return nil }
            return (id, data.flatMap { $0.isEmpty ? nil : try? JSONParser().parse($0) })
        }
    }

    /// Waits until the response ended, at most `timeout`. The wait ends as soon as it does: the long default only
    /// matters on a machine so loaded that the cooperative pool runs the producer's tasks seconds late.
    /// - Parameter timeout: the longest wait. Default 30 s.
    public func waitForFinish(timeout: Duration = .seconds(30)) async {
        await waitUntil(timeout: timeout) { $0.isFinished }
    }

    /// Waits until `predicate` holds for the events, at most `timeout`.
    /// - Parameters:
    ///   - timeout: the longest wait. Default 30 s.
    ///   - predicate: the condition on the events so far.
    public func waitFor(timeout: Duration = .seconds(30), _ predicate: ([(id: String?, data: Value?)]) -> Bool) async {
        await waitUntil(timeout: timeout) { predicate($0.events) }
    }

    private func waitUntil(timeout: Duration, _ condition: (CollectingSink) -> Bool) async {
        let deadline = ContinuousClock.now + timeout
        while !condition(self), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(2)) }
    }
}
