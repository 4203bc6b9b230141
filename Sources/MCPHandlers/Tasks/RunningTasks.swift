import Synchronization

/// The tasks this process is running: their Swift tasks (to cancel them), and the `tasks/result` requests waiting
/// on each, whose streams carry the task's requests to the client (elicitation, sampling) while they wait.
final class RunningTasks: Sendable {
    struct Entry {
        var sessionID: String?
        var owner: String
        var handle: Task<Void, Never>?
        /// The task that stops the tool when the task's ttl passes (cancelled when the task ends first).
        var expiry: Task<Void, Never>?
        /// The outbounds of `tasks/result` requests waiting on the task, by registration number.
        var listeners: [UInt64: any ServerOutbound] = [:]
        /// Task requests waiting for a listener to appear.
        var waitingForListener: [UInt64: CheckedContinuation<(any ServerOutbound)?, Never>] = [:]
    }
    private struct State {
        var entries: [String: Entry] = [:]
        var next: UInt64 = 0
    }
    private let state = Mutex(State())

    /// Records a task before it starts.
    func add(_ id: String, sessionID: String?, owner: String) {
        state.withLock { $0.entries[id] = Entry(sessionID: sessionID, owner: owner) }
    }

    /// Records the Swift task running it and the one watching its ttl (both cancelled at once when the task was
    /// cancelled before).
    func attach(_ id: String, handle: Task<Void, Never>, expiry: Task<Void, Never>) {
        let gone = state.withLock { s -> Bool in
            guard s.entries[id] != nil else { return true }
            s.entries[id]!.handle = handle
            s.entries[id]!.expiry = expiry
            return false
        }
        if gone {
            handle.cancel()
            expiry.cancel()
        }
    }

    /// Forgets a finished task; wakes whoever waited for a listener (with none).
    func remove(_ id: String) {
        guard let entry = state.withLock({ $0.entries.removeValue(forKey: id) }) else { return }
        entry.expiry?.cancel()
        for continuation in entry.waitingForListener.values { continuation.resume(returning: nil) }
    }

    /// Cancels a task's Swift task and forgets it; false when it does not run here.
    @discardableResult func cancel(_ id: String) -> Bool {
        let entry = state.withLock { $0.entries.removeValue(forKey: id) }
        guard let entry else { return false }
        entry.handle?.cancel()
        entry.expiry?.cancel()
        for continuation in entry.waitingForListener.values { continuation.resume(returning: nil) }
        return true
    }

    /// The ids of the running tasks that match.
    func ids(where predicate: (Entry) -> Bool) -> [String] {
        state.withLock { s in s.entries.filter { predicate($0.value) }.map(\.key) }
    }

    /// Registers the outbound of a `tasks/result` request waiting on the task; returns its number (nil when the
    /// task does not run here). Wakes a task request waiting for a way to the client.
    func addListener(_ id: String, _ outbound: any ServerOutbound) -> UInt64? {
        let (number, woken) = state.withLock { s -> (UInt64?, [CheckedContinuation<(any ServerOutbound)?, Never>]) in
            guard s.entries[id] != nil else { return (nil, []) }
            s.next &+= 1
            s.entries[id]!.listeners[s.next] = outbound
            let woken = Array(s.entries[id]!.waitingForListener.values)
            s.entries[id]!.waitingForListener = [:]
            return (s.next, woken)
        }
        for continuation in woken { continuation.resume(returning: outbound) }
        return number
    }

    /// Forgets a listener.
    func removeListener(_ id: String, _ number: UInt64) {
        state.withLock { s in _ = s.entries[id]?.listeners.removeValue(forKey: number) }
    }

    /// A listener of the task, if one waits.
    func listener(_ id: String) -> (any ServerOutbound)? {
        state.withLock { s in s.entries[id]?.listeners.values.first }
    }

    /// Waits up to `timeout` for a `tasks/result` request on the task; nil when none came (or the task ended).
    func waitForListener(_ id: String, timeout: Duration) async -> (any ServerOutbound)? {
        let number = state.withLock { s in
            s.next &+= 1
            return s.next
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<(any ServerOutbound)?, Never>) in
                let ready: (any ServerOutbound)?? = state.withLock { s in
                    guard let entry = s.entries[id] else { return .some(nil) }
                    if let listener = entry.listeners.values.first { return .some(listener) }
                    s.entries[id]!.waitingForListener[number] = continuation
                    return .none
                }
                if let ready {
                    continuation.resume(returning: ready)
                    return
                }
                Task { [weak self] in
                    try? await Task.sleep(for: timeout)
                    self?.stopWaiting(id, number)
                }
            }
        } onCancel: {
            stopWaiting(id, number)
        }
    }

    private func stopWaiting(_ id: String, _ number: UInt64) {
        let continuation = state.withLock { s in s.entries[id]?.waitingForListener.removeValue(forKey: number) }
        continuation?.resume(returning: nil)
    }
}
