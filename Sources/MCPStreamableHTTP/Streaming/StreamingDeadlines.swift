import MCPHTTP
import MCPOAuth

/// Switches answers that run longer than the streaming threshold to SSE: one entry of the process's
/// ``DeadlineScheduler`` per undecided answer, disarmed as soon as the answer is decided (no task or timer of
/// its own).
final class StreamingDeadlines: Sendable {
    private let threshold: Duration

    /// - Parameter threshold: how long an answer may run before it is switched to SSE.
    init(threshold: Duration) {
        self.threshold = threshold
    }

    /// Switches `exchange` to SSE if it is still undecided after the threshold.
    func watch(_ exchange: PostExchange) {
        exchange.watchThreshold(threshold)
    }
}
