/// Where a task stands (2025-11-25 tasks). A task starts `working`; `completed`, `failed` and `cancelled` are
/// terminal and never change again.
public enum TaskStatus: String, Sendable, Hashable, CaseIterable {
    /// Running.
    case working
    /// Waiting for the requestor: a request to the client (elicitation, sampling) is pending.
    case inputRequired = "input_required"
    /// Finished with a result (`tasks/result` returns it).
    case completed
    /// Finished with a JSON-RPC error or a tool result with `isError` (`tasks/result` returns either as it is).
    case failed
    /// Cancelled by `tasks/cancel`, by the end of its session, or by the stop of the worker running it.
    case cancelled

    /// Whether the status is final.
    public var isTerminal: Bool {
        switch self {
        case .working, .inputRequired: false
        case .completed, .failed, .cancelled: true
        }
    }
}
