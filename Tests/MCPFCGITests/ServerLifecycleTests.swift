import Testing

@testable import MCPFCGI

/// The server's lifecycle state machine, without threads: every event in every state.
@Suite struct ServerLifecycleTests {
    typealias Machine = ServerLifecycle
    typealias State = ServerLifecycle.State
    typealias Action = ServerLifecycle.Action

    static let deadline = ContinuousClock.now + .seconds(30)
    static let later = deadline + .seconds(5)

    /// A machine brought to `state` through events only.
    static func machine(in state: State) -> Machine {
        var machine = Machine()
        switch state {
        case .idle:
            break
        case .starting(let pending):
            _ = machine.startRequested()
            if let pending { _ = machine.shutdownRequested(deadline: pending) }
        case .running(let threads):
            _ = machine.startRequested()
            _ = machine.started(acceptThreads: threads)
        case .draining(let step, let deadline, let threads):
            _ = machine.startRequested()
            _ = machine.started(acceptThreads: max(threads, 1))
            _ = machine.shutdownRequested(deadline: deadline)
            if step != .servingQueuedConnections {
                _ = machine.queuedConnectionsServed()
                for _ in 0..<max(threads, 1) where machine.drainStep == .stoppingAcceptThreads && step != .stoppingAcceptThreads {
                    _ = machine.acceptThreadReturned()
                }
                if step == .stoppingAcceptThreads {
                    for _ in threads..<max(threads, 1) { _ = machine.acceptThreadReturned() }
                }
                if step == .closingStreams { _ = machine.answersFinished() }
            }
        case .stopped:
            _ = machine.shutdownRequested(deadline: deadline)
        }
        #expect(machine.state == state, "setup reached \(machine.state), not \(state)")
        return machine
    }

    /// Every state the machine can be in (with 2 accept threads where threads count).
    static let states: [State] = [
        .idle, .starting(shutdownDeadline: nil), .starting(shutdownDeadline: deadline), .running(acceptThreads: 2),
        .draining(.servingQueuedConnections, deadline: deadline, acceptThreads: 2),
        .draining(.stoppingAcceptThreads, deadline: deadline, acceptThreads: 2),
        .draining(.finishingAnswers, deadline: deadline, acceptThreads: 0),
        .draining(.closingStreams, deadline: deadline, acceptThreads: 0),
        .stopped,
    ]

    /// The events, by name; `started` and `startFailed` are only legal while starting (the driver reports them
    /// for its own start alone), so they are checked in ``onlyAStartReportsItsOutcome()``.
    static let events: [(String, @Sendable (inout Machine) -> Action)] = [
        ("startRequested", { $0.startRequested() }),
        ("shutdownRequested", { $0.shutdownRequested(deadline: later) }),
        ("queuedConnectionsServed", { $0.queuedConnectionsServed() }),
        ("acceptThreadReturned", { $0.acceptThreadReturned() }),
        ("answersFinished", { $0.answersFinished() }),
        ("streamsClosed", { $0.streamsClosed() }),
        ("deadlineReached", { $0.deadlineReached() }),
    ]

    /// The expected outcome of event `event` in state `state`: the next state and the action.
    static func expected(_ event: String, in state: State) -> (State, Action) {
        let d = deadline
        switch (event, state) {
        case ("startRequested", .idle): return (.starting(shutdownDeadline: nil), .openSocketAndStartThreads)
        case ("startRequested", .stopped): return (.stopped, .refuseStart(.stopped))
        case ("startRequested", _): return (state, .refuseStart(.alreadyStarted))

        case ("shutdownRequested", .idle): return (.stopped, .stop)
        case ("shutdownRequested", .starting(nil)): return (.starting(shutdownDeadline: later), .none)
        case ("shutdownRequested", .running(let n)):
            return (.draining(.servingQueuedConnections, deadline: later, acceptThreads: n), .beginDrain(deadline: later))
        case ("shutdownRequested", _): return (state, .none)  // the first request's deadline holds

        case ("queuedConnectionsServed", .draining(.servingQueuedConnections, _, let n)):
            return (.draining(.stoppingAcceptThreads, deadline: d, acceptThreads: n), .stopAcceptThreads)
        case ("queuedConnectionsServed", _): return (state, .none)

        case ("acceptThreadReturned", .running(let n)): return (.running(acceptThreads: n - 1), .none)
        case ("acceptThreadReturned", .draining(.stoppingAcceptThreads, _, 2)):
            return (.draining(.stoppingAcceptThreads, deadline: d, acceptThreads: 1), .none)
        case ("acceptThreadReturned", .draining(let step, _, let n)):
            return (.draining(step, deadline: d, acceptThreads: max(0, n - 1)), .none)
        case ("acceptThreadReturned", _): return (state, .none)

        case ("answersFinished", .draining(.finishingAnswers, _, let n)):
            return (.draining(.closingStreams, deadline: d, acceptThreads: n), .closeStreams)
        case ("answersFinished", _): return (state, .none)

        case ("streamsClosed", .draining(.closingStreams, _, _)): return (.stopped, .stop)
        case ("streamsClosed", _): return (state, .none)

        case ("deadlineReached", .draining(let step, _, _)): return (.stopped, .forceStop(step))
        case ("deadlineReached", _): return (state, .none)
        default: fatalError("no expectation for \(event)")
        }
    }

    @Test(arguments: states)
    func everyEventInEveryState(_ state: State) {
        for (name, event) in Self.events {
            var machine = Self.machine(in: state)
            let action = event(&machine)
            let (next, expectedAction) = Self.expected(name, in: state)
            #expect(action == expectedAction, "\(name) in \(state)")
            #expect(machine.state == next, "\(name) in \(state)")
        }
    }

    @Test func onlyAStartReportsItsOutcome() {
        var machine = Machine()
        _ = machine.startRequested()
        #expect(machine.started(acceptThreads: 3) == .none)
        #expect(machine.state == .running(acceptThreads: 3))

        var failing = Machine()
        _ = failing.startRequested()
        #expect(failing.startFailed() == .startFailed)
        #expect(failing.state == .stopped)
        #expect(failing.startRequested() == .refuseStart(.stopped))

        // A shutdown requested while the server started begins the drain as soon as the threads run.
        var early = Machine()
        _ = early.startRequested()
        #expect(early.shutdownRequested(deadline: Self.deadline) == .none)
        #expect(early.started(acceptThreads: 2) == .beginDrain(deadline: Self.deadline))
        #expect(early.state == .draining(.servingQueuedConnections, deadline: Self.deadline, acceptThreads: 2))
    }

    @Test func aWholeDrainGoesThroughEveryStep() {
        var machine = Machine()
        #expect(machine.startRequested() == .openSocketAndStartThreads)
        #expect(machine.started(acceptThreads: 3) == .none)
        #expect(machine.shutdownRequested(deadline: Self.deadline) == .beginDrain(deadline: Self.deadline))
        #expect(machine.drainStep == .servingQueuedConnections)
        #expect(machine.queuedConnectionsServed() == .stopAcceptThreads)
        #expect(machine.acceptThreadReturned() == .none)
        #expect(machine.acceptThreadReturned() == .none)
        #expect(machine.drainStep == .stoppingAcceptThreads)
        #expect(machine.acceptThreadReturned() == .waitForAnswers)
        #expect(machine.drainStep == .finishingAnswers)
        #expect(machine.answersFinished() == .closeStreams)
        #expect(machine.streamsClosed() == .stop)
        #expect(machine.isStopped)
        #expect(machine.drainStep == nil)
    }

    @Test func threadsThatDiedWhileRunningAreNotWaitedFor() {
        var machine = Machine()
        _ = machine.startRequested()
        _ = machine.started(acceptThreads: 1)
        #expect(machine.acceptThreadReturned() == .none)
        #expect(machine.state == .running(acceptThreads: 0))
        _ = machine.shutdownRequested(deadline: Self.deadline)
        // No accept thread left to stop: straight to the answers in progress.
        #expect(machine.queuedConnectionsServed() == .waitForAnswers)
        #expect(machine.drainStep == .finishingAnswers)
    }

    @Test(arguments: ServerLifecycle.DrainStep.allCases)
    func theDeadlineForcesTheStopInEveryStep(_ step: ServerLifecycle.DrainStep) {
        let threads = step == .servingQueuedConnections || step == .stoppingAcceptThreads ? 2 : 0
        var machine = Self.machine(in: .draining(step, deadline: Self.deadline, acceptThreads: threads))
        #expect(machine.deadlineReached() == .forceStop(step))
        #expect(machine.isStopped)
        // Whatever still reports in after a forced stop changes nothing.
        #expect(machine.acceptThreadReturned() == .none)
        #expect(machine.streamsClosed() == .none)
        #expect(machine.state == .stopped)
    }
}
