import Synchronization

/// What one attempt of a stateless multi round-trip request knows and gathers: the answers so far (from the
/// verified `requestState` and the retry's `inputResponses`), the handler's own state, and the input
/// requests the handler made that are not answered yet.
final class InputRound: Sendable {
    struct State {
        var answers: [String: Value]
        var toolState: Value?
        var pending: [(key: String, request: InputRequest)] = []
        var raised = false
        var derivedKeys = 0
    }

    /// 1 on the first attempt, then one more per retry.
    let number: Int
    private let state: Mutex<State>

    init(number: Int, answers: [String: Value], toolState: Value?) {
        self.number = number
        self.state = Mutex(State(answers: answers, toolState: toolState))
    }

    /// The key of `request`: its own, or one derived from the call order.
    func key(for request: InputRequest) -> String {
        if let key = request.key { return key }
        let n = state.withLock { state -> Int in
            state.derivedKeys += 1
            return state.derivedKeys
        }
        let prefix = request.requiredCapability ?? "input"
        return "\(prefix)-\(n)"
    }

    /// The answer to `key`, when the client gave one.
    func answer(_ key: String) -> Value? { state.withLock { $0.answers[key] } }

    /// Every answer known in this attempt.
    var answers: [String: Value] { state.withLock { $0.answers } }

    /// Records the unanswered requests and marks the attempt as needing input.
    func require(_ requests: [(key: String, request: InputRequest)]) {
        state.withLock { state in
            for item in requests where !state.pending.contains(where: { $0.key == item.key }) {
                state.pending.append(item)
            }
            state.raised = true
        }
    }

    /// The handler's state, carried across rounds.
    var toolState: Value? {
        get { state.withLock { $0.toolState } }
        set { state.withLock { $0.toolState = newValue } }
    }

    /// Whether the handler asked for input that is not answered yet, and what it asked for.
    var inputRequired: (raised: Bool, pending: [(key: String, request: InputRequest)]) {
        state.withLock { ($0.raised, $0.pending) }
    }
}
