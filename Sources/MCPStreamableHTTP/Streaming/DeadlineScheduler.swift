import MCPHandlers
import Synchronization

/// The one source of the transport's timers: the streaming threshold of undecided answers and the resume
/// grace period of streams whose client left. (The keep-alive pings are the FastCGI front's `StreamHub` tick.)
///
/// One heap of deadlines for the whole process and at most one driving task, which sleeps until the
/// earliest deadline, runs the actions that are due in deadline order (ties in scheduling order) and sleeps
/// again; it ends when the heap is empty and is started again by the next ``schedule(at:_:)``. No task
/// sleeps per stream or per request. An entry scheduled earlier than the one the driver sleeps for replaces
/// the driver (the old one is cancelled and ends at once).
///
/// Cancelling an entry (``cancel(_:)``) frees its action at once; its heap slot is dropped when it reaches
/// the top. Actions run outside the scheduler's lock on the global concurrent executor and must be short
/// (they feed an event to a state machine).
///
/// A scheduler created with `drivesItself: false` never starts a task: tests call ``fireDue(now:)`` with
/// instants of their choosing, so ordering and cancellation are tested without sleeping.
package final class DeadlineScheduler: Sendable {
    /// The scheduler every endpoint of the process uses.
    package static let shared = DeadlineScheduler()

    /// A scheduled entry, for ``cancel(_:)``.
    package struct Timer: Sendable, Hashable {
        fileprivate let id: UInt64
    }

    /// One deadline in the heap; its action stays in `actions` until it runs or is cancelled.
    private struct HeapEntry {
        var deadline: ContinuousClock.Instant
        var id: UInt64

        func precedes(_ other: HeapEntry) -> Bool {
            deadline < other.deadline || (deadline == other.deadline && id < other.id)
        }
    }

    /// The task that sleeps until the earliest deadline.
    private struct Driver {
        var task: Task<Void, Never>
        var generation: UInt64
        /// The deadline it sleeps until (nil while it is starting or firing).
        var wakeAt: ContinuousClock.Instant?
    }

    /// Everything the lock guards.
    private struct State {
        var heap: [HeapEntry] = []
        var actions: [UInt64: @Sendable () -> Void] = [:]
        var nextID: UInt64 = 0
        var driver: Driver?
        var driverGeneration: UInt64 = 0
    }
    /// A plain lock: every POST arms and cancels a deadline here, from every accept thread (see PlainLock).
    private let state = PlainLock(State())
    private let drivesItself: Bool

    /// Creates a scheduler. No task starts before the first ``schedule(at:_:)``.
    /// - Parameter drivesItself: false for a scheduler that fires only when ``fireDue(now:)`` is called.
    package init(drivesItself: Bool = true) {
        self.drivesItself = drivesItself
    }

    /// Runs `action` once at `deadline` (as soon as possible when it has passed), unless cancelled first.
    /// - Returns: the entry, for ``cancel(_:)``.
    @discardableResult
    package func schedule(at deadline: ContinuousClock.Instant, _ action: @escaping @Sendable () -> Void) -> Timer {
        state.withLock { s in
            s.nextID &+= 1
            let id = s.nextID
            s.actions[id] = action
            Self.push(HeapEntry(deadline: deadline, id: id), into: &s.heap)
            guard drivesItself else { return Timer(id: id) }
            if let driver = s.driver {
                // A driver that is firing looks at the heap again before it sleeps; one that sleeps past the
                // new deadline is replaced.
                guard let wakeAt = driver.wakeAt, deadline < wakeAt else { return Timer(id: id) }
                driver.task.cancel()
            }
            s.driverGeneration &+= 1
            let generation = s.driverGeneration
            s.driver = Driver(task: Task { await self.drive(generation: generation) }, generation: generation)
            return Timer(id: id)
        }
    }

    /// Runs `action` once after `delay`, unless cancelled first.
    @discardableResult
    package func schedule(after delay: Duration, _ action: @escaping @Sendable () -> Void) -> Timer {
        schedule(at: .now + delay, action)
    }

    /// Cancels an entry.
    /// - Returns: false when it already ran or was cancelled.
    @discardableResult package func cancel(_ timer: Timer) -> Bool {
        state.withLock { $0.actions.removeValue(forKey: timer.id) } != nil
    }

    /// The number of entries that are neither run nor cancelled.
    package var pendingCount: Int { state.withLock { $0.actions.count } }

    /// Runs, in deadline order, every entry due at `now`.
    /// - Returns: how many ran.
    @discardableResult package func fireDue(now: ContinuousClock.Instant) -> Int {
        let due = state.withLock { s in Self.popDue(now: now, from: &s) }
        for action in due { action() }
        return due.count
    }

    private func drive(generation: UInt64) async {
        while true {
            let now = ContinuousClock.now
            let (due, next): ([@Sendable () -> Void], ContinuousClock.Instant?) = state.withLock { s in
                guard s.driver?.generation == generation else { return ([], nil) }  // replaced
                let due = Self.popDue(now: now, from: &s)
                let next = s.heap.first?.deadline
                // The deadline it will sleep until is recorded under the same lock that read it, so an entry
                // scheduled for earlier from now on replaces this driver.
                if due.isEmpty {
                    if next == nil { s.driver = nil } else { s.driver?.wakeAt = next }
                }
                return (due, next)
            }
            if !due.isEmpty {
                for action in due { action() }
                continue  // entries scheduled meanwhile are looked at before sleeping
            }
            guard let next else { return }
            do {
                try await Task.sleep(until: next, tolerance: .milliseconds(1), clock: .continuous)
            } catch {
                return  // replaced by a driver for an earlier deadline
            }
            let current = state.withLock { s in
                guard s.driver?.generation == generation else { return false }
                s.driver?.wakeAt = nil
                return true
            }
            if !current { return }
        }
    }

    /// Pops the due entries' actions in order and drops cancelled entries from the top, so the heap's first
    /// entry is the next live deadline.
    private static func popDue(now: ContinuousClock.Instant, from s: inout State) -> [@Sendable () -> Void] {
        var due: [@Sendable () -> Void] = []
        while let top = s.heap.first {
            guard let action = s.actions[top.id] else {
                pop(&s.heap)
                continue
            }
            guard top.deadline <= now else { break }
            pop(&s.heap)
            s.actions[top.id] = nil
            due.append(action)
        }
        return due
    }

    private static func push(_ entry: HeapEntry, into heap: inout [HeapEntry]) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private static func pop(_ heap: inout [HeapEntry]) {
        guard heap.count > 1 else {
            heap.removeAll(keepingCapacity: true)
            return
        }
        heap[0] = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var first = parent
            if left < heap.count, heap[left].precedes(heap[first]) { first = left }
            if right < heap.count, heap[right].precedes(heap[first]) { first = right }
            if first == parent { return }
            heap.swapAt(parent, first)
            parent = first
        }
    }
}
