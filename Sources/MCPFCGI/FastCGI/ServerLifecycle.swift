/// The lifecycle of one ``FastCGIServer`` as a state machine: `idle → starting → running → draining(step, deadline)
/// → stopped`.
///
/// Events are mutating methods that return the ``Action`` the driver performs; the machine starts no thread,
/// touches no socket and reads no clock (deadlines are given to it), so every event is tested in every state
/// without threads (`ServerLifecycleTests`). ``FastCGIServer`` keeps it under a lock and wakes its waits when
/// the state changes.
///
/// ```
/// idle ──startRequested──▶ starting ──started(n)──▶ running(n) ──shutdownRequested(d)──▶ draining(.servingQueuedConnections, d)
///   │                        │  └─startFailed──▶ stopped          │                                │ queuedConnectionsServed
///   └─shutdownRequested──▶ stopped   (a shutdown requested while starting drains as soon as started)      ▼
///                                                                        draining(.stoppingAcceptThreads) ─ last acceptThreadReturned ─▶
///   draining(.finishingAnswers) ─answersFinished─▶ draining(.closingStreams) ─streamsClosed─▶ stopped
///   any draining step ─deadlineReached─▶ stopped (forced)
/// ```
struct ServerLifecycle: Sendable {
    /// The steps of a drain, in order.
    enum DrainStep: Sendable, Equatable, CaseIterable {
        /// The socket's name is gone; connections already queued on it are still served.
        case servingQueuedConnections
        /// libfcgi's shutdown flag is set and the accept threads are woken; waiting for every one to return.
        case stoppingAcceptThreads
        /// No accept thread left; waiting for streamed answers whose producer has not finished.
        case finishingAnswers
        /// Every remaining stream (GET streams, listens) was told to finish; waiting for the hub to close them.
        case closingStreams
    }

    /// Where the server is.
    enum State: Sendable, Equatable {
        /// Created; nothing started.
        case idle
        /// The socket is being opened and the threads started; `shutdownDeadline` is set when a shutdown was
        /// requested meanwhile (the drain starts as soon as the threads run).
        case starting(shutdownDeadline: ContinuousClock.Instant?)
        /// Serving with this many accept threads alive.
        case running(acceptThreads: Int)
        /// Draining: the step, the drain's deadline and the accept threads still alive.
        case draining(DrainStep, deadline: ContinuousClock.Instant, acceptThreads: Int)
        /// Done: drained, never started, or failed to start. libfcgi's shutdown flag is process-wide, so a
        /// stopped server never starts again.
        case stopped
    }

    /// Why ``startRequested()`` refused.
    enum StartRefusal: Sendable, Equatable {
        /// The server was started already (or is starting).
        case alreadyStarted
        /// The server stopped (or shut down before it started); it cannot start again.
        case stopped
    }

    /// What the driver does after an event.
    enum Action: Sendable, Equatable {
        /// Nothing.
        case none
        /// Open the socket, start the hub and the accept threads, then report ``ServerLifecycle/started(acceptThreads:)``
        /// or ``ServerLifecycle/startFailed()``.
        case openSocketAndStartThreads
        /// Refuse the start.
        case refuseStart(StartRefusal)
        /// Begin the drain: unlink the socket's name, serve the queued connections until the deadline, then
        /// report ``ServerLifecycle/queuedConnectionsServed()``.
        case beginDrain(deadline: ContinuousClock.Instant)
        /// Tell the responder it drains, set libfcgi's shutdown flag and wake the accept threads.
        case stopAcceptThreads
        /// Every accept thread returned: wait for the streamed answers in progress, then report
        /// ``ServerLifecycle/answersFinished()``.
        case waitForAnswers
        /// Tell every open stream to finish and wait until the hub closed them, then report
        /// ``ServerLifecycle/streamsClosed()``.
        case closeStreams
        /// Drained: shut the hub down, tell the responder it stopped, wake whoever waits for the stop.
        case stop
        /// The deadline passed during `step`: cut what is left, then as ``stop``.
        case forceStop(DrainStep)
        /// The start failed: wake whoever waits for the stop.
        case startFailed
    }

    /// The current state.
    private(set) var state: State = .idle

    /// Whether the server has stopped.
    var isStopped: Bool { state == .stopped }

    /// The current drain step, nil when not draining.
    var drainStep: DrainStep? {
        if case .draining(let step, _, _) = state { return step }
        return nil
    }

    /// ``FastCGIServer/start()`` was called.
    mutating func startRequested() -> Action {
        switch state {
        case .idle:
            state = .starting(shutdownDeadline: nil)
            return .openSocketAndStartThreads
        case .starting, .running, .draining:
            return .refuseStart(.alreadyStarted)
        case .stopped:
            return .refuseStart(.stopped)
        }
    }

    /// The socket is open and `acceptThreads` threads run.
    mutating func started(acceptThreads: Int) -> Action {
        switch state {
        case .starting(let deadline?):
            state = .draining(.servingQueuedConnections, deadline: deadline, acceptThreads: acceptThreads)
            return .beginDrain(deadline: deadline)
        case .starting(nil):
            state = .running(acceptThreads: acceptThreads)
            return .none
        case .idle, .running, .draining, .stopped:
            preconditionFailure("started(acceptThreads:) in \(state)")
        }
    }

    /// The socket could not be opened (or libfcgi not initialised).
    mutating func startFailed() -> Action {
        switch state {
        case .starting:
            state = .stopped
            return .startFailed
        case .idle, .running, .draining, .stopped:
            preconditionFailure("startFailed() in \(state)")
        }
    }

    /// SIGTERM/SIGINT, a graceful shutdown, task cancellation or ``FastCGIServer/drain()``: drain, at most until
    /// `deadline`. Requests after the first are ignored (the first drain's deadline holds).
    mutating func shutdownRequested(deadline: ContinuousClock.Instant) -> Action {
        switch state {
        case .idle:
            state = .stopped
            return .stop
        case .starting(nil):
            state = .starting(shutdownDeadline: deadline)
            return .none
        case .running(let threads):
            state = .draining(.servingQueuedConnections, deadline: deadline, acceptThreads: threads)
            return .beginDrain(deadline: deadline)
        case .starting(.some), .draining, .stopped:
            return .none
        }
    }

    /// The connections queued on the socket were served (or the deadline came first).
    mutating func queuedConnectionsServed() -> Action {
        switch state {
        case .draining(.servingQueuedConnections, let deadline, let threads):
            guard threads > 0 else {
                state = .draining(.finishingAnswers, deadline: deadline, acceptThreads: 0)
                return .waitForAnswers
            }
            state = .draining(.stoppingAcceptThreads, deadline: deadline, acceptThreads: threads)
            return .stopAcceptThreads
        case .idle, .starting, .running, .draining, .stopped:
            return .none
        }
    }

    /// An accept thread returned from its loop.
    mutating func acceptThreadReturned() -> Action {
        switch state {
        case .running(let threads):
            // libfcgi gave up on the socket (an accept error): the thread is gone, the others serve on.
            state = .running(acceptThreads: max(0, threads - 1))
            return .none
        case .draining(.stoppingAcceptThreads, let deadline, let threads):
            if threads <= 1 {
                state = .draining(.finishingAnswers, deadline: deadline, acceptThreads: 0)
                return .waitForAnswers
            }
            state = .draining(.stoppingAcceptThreads, deadline: deadline, acceptThreads: threads - 1)
            return .none
        case .draining(let step, let deadline, let threads):
            state = .draining(step, deadline: deadline, acceptThreads: max(0, threads - 1))
            return .none
        case .idle, .starting, .stopped:
            // A thread of a start still in progress, or one that outlived a forced stop: nothing waits for it.
            return .none
        }
    }

    /// No streamed answer is in progress any more.
    mutating func answersFinished() -> Action {
        switch state {
        case .draining(.finishingAnswers, let deadline, let threads):
            state = .draining(.closingStreams, deadline: deadline, acceptThreads: threads)
            return .closeStreams
        case .idle, .starting, .running, .draining, .stopped:
            return .none
        }
    }

    /// The hub closed every stream.
    mutating func streamsClosed() -> Action {
        switch state {
        case .draining(.closingStreams, _, _):
            state = .stopped
            return .stop
        case .idle, .starting, .running, .draining, .stopped:
            return .none
        }
    }

    /// The drain's deadline passed before the drain finished.
    mutating func deadlineReached() -> Action {
        switch state {
        case .draining(let step, _, _):
            state = .stopped
            return .forceStop(step)
        case .idle, .starting, .running, .stopped:
            return .none
        }
    }
}
