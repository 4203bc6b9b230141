import Synchronization
import MCPHTTP
import MCPOAuth

/// A task that can be cancelled by code created before the task itself (a stream's abandonment callback).
final class TaskHandle: Sendable {
    private struct State {
        var task: Task<Void, Never>?
        var cancelled = false
    }
    private let state = Mutex(State())

    /// Stores the task; cancels it at once when ``cancel()`` came first.
    func set(_ task: Task<Void, Never>) {
        let cancelNow = state.withLock { s in
            s.task = task
            return s.cancelled
        }
        if cancelNow { task.cancel() }
    }

    /// Cancels the task (now, or as soon as it is set).
    func cancel() {
        let task = state.withLock { s in
            s.cancelled = true
            return s.task
        }
        task?.cancel()
    }
}
