import Synchronization
import MCPHTTP
import MCPOAuth

/// Switches answers that run longer than the streaming threshold to SSE, with one timer for all of them
/// (a sleeping task per request would cost a timer and a task on every request).
final class StreamingDeadlines: Sendable {
    private struct Entry {
        var deadline: ContinuousClock.Instant
        weak var exchange: PostExchange?
    }
    private struct State {
        var entries: [Entry] = []
        var running = false
    }
    private let state = Mutex(State())
    private let threshold: Duration
    private let tick: Duration

    /// - Parameter threshold: how long an answer may run before it is switched to SSE.
    init(threshold: Duration) {
        self.threshold = threshold
        self.tick = max(.milliseconds(10), threshold / 5)
    }

    /// Switches `exchange` to SSE if it is still undecided after the threshold.
    func watch(_ exchange: PostExchange) {
        let start = state.withLock { s in
            s.entries.append(Entry(deadline: .now + threshold, exchange: exchange))
            guard !s.running else { return false }
            s.running = true
            return true
        }
        if start { Task { await self.run() } }
    }

    private func run() async {
        while true {
            try? await Task.sleep(for: tick)
            let now = ContinuousClock.now
            let (due, more): ([PostExchange], Bool) = state.withLock { s in
                var due: [PostExchange] = []
                s.entries.removeAll { entry in
                    guard let exchange = entry.exchange, !exchange.isDecided else { return true }
                    guard entry.deadline <= now else { return false }
                    due.append(exchange)
                    return true
                }
                if s.entries.isEmpty { s.running = false }
                return (due, !s.entries.isEmpty)
            }
            for exchange in due { exchange.streamIfPossible() }
            if !more { return }
        }
    }
}
