import MCPHandlers

/// The lifecycle of one POSTed request's answer, in the swift-nio style: a value with an ``State``, mutating
/// events that return the ``Action`` its owner (``PostExchange``) executes. No locks, threads, clocks or I/O
/// inside: the owner holds it under its one lock, passes the time in, and writes, schedules and cancels.
///
/// ```
///                        result ready
///   ┌───────────┐ ───────────────────────────────────────────────▶ json (one JSON body; terminal)
///   │ undecided │
///   └───────────┘ ── stream needed (first notification or request to the client, closeStream,
///         │           an SSE-only client) | threshold passed ──▶ streaming(attached: POST's connection)
///         │ cancel: the handler is cancelled; its result still decides the answer
///
///   streaming(attached c) ── client disconnected c ──▶ streaming(detached since t)   [arm grace timer]
///                         ── (not resumable)      ──▶ finished                       [cancel handler]
///                         ── server closed c      ──▶ streaming(detached since t)   [no timer]
///                         ── resumed c'            ──▶ streaming(attached c')        [replay to c', finish c]
///                         ── result ready          ──▶ finished                       [result event, finish c]
///                         ── cancel                ──▶ finished                       [finish c, cancel handler]
///   streaming(detached)   ── resumed c'            ──▶ streaming(attached c')        [replay, disarm timer]
///                         ── grace period over     ──▶ finished                       [cancel handler]
///                         ── result ready          ──▶ streaming(replaying)           [buffer result, disarm]
///                         ── cancel                ──▶ finished                       [cancel handler, disarm]
///   streaming(replaying)  ── resumed c'            ──▶ finished                       [replay to c', finish c']
///                         ── cancel                ──▶ finished
///   finished              ── resumed c'            ──▶ finished                       [replay to c', finish c']
/// ```
///
/// Every other event in every state changes nothing (``Action/none``): a second result, a disconnect of a
/// connection that no longer carries the stream, a grace timer of an earlier detachment, a threshold after
/// the decision. A resumption before the answer became a stream is refused (``Action/refuse``).
///
/// `replaying` is the state of an answer whose handler finished while no connection carried the stream: the
/// outcome waits in the replay buffer for a `GET` with `Last-Event-ID`. `finished` answers that were
/// delivered, abandoned or cancelled can still be replayed from the buffer until the session forgets them.
///
/// Sink attachment is not an event here: a ``MCPHTTP/ResponseStream`` buffers what is written before the
/// front attaches its sink and delivers it in order, so the answer's lifecycle does not depend on it.
struct PostAnswerStateMachine<Connection: AnyObject> {
    /// Where the answer is.
    enum State {
        /// The handler runs and has sent nothing; the HTTP answer waits.
        case undecided
        /// Answered with one JSON body.
        case json
        /// Answered with an SSE stream that has not ended.
        case streaming(Streaming)
        /// The stream ended: its result went out, or it was abandoned or cancelled.
        case finished
    }

    /// Who receives a stream's events.
    enum Streaming {
        /// This HTTP connection carries the stream.
        case attached(Connection)
        /// No connection carries it since `since` (the client left or the handler closed the connection);
        /// the events are buffered for a resumption.
        case detached(since: ContinuousClock.Instant)
        /// The handler finished while detached: the outcome waits in the replay buffer for a resumption.
        case replaying
    }

    /// What the owner must do after an event.
    enum Action {
        /// Nothing.
        case none
        /// Answer the HTTP request with this JSON-RPC outcome as one JSON body; disarm the threshold timer.
        case answerJSON(Result<Value, MCPError>)
        /// Answer the HTTP request with an SSE stream on `connection` (the POST's own): give the stream its
        /// number, write the priming event, disarm the threshold timer.
        case startStream(on: Connection)
        /// The handler's outcome ends the stream: send `result` as the last event when non-nil (nil: the
        /// request was cancelled, which gets no response), finish `connection` when one is attached, disarm the
        /// grace timer when `disarmGraceTimer`.
        case endStream(result: Result<Value, MCPError>?, finish: Connection?, disarmGraceTimer: Bool)
        /// Arm the grace timer: at `deadline`, feed ``gracePeriodOver(since:)`` with `since`.
        case armGraceTimer(since: ContinuousClock.Instant, deadline: ContinuousClock.Instant)
        /// Finish `connection` now; the stream goes on without one (the client may resume).
        case closeConnection(Connection)
        /// Write the priming event and the buffered events after the resumption point to `connection`,
        /// finish it when `thenFinish` (the stream has ended), finish `replacing` (the connection that carried
        /// the stream before), disarm the grace timer when `disarmGraceTimer`.
        case replay(to: Connection, thenFinish: Bool, replacing: Connection?, disarmGraceTimer: Bool)
        /// Cancel the handler's task; finish `finish` when non-nil; disarm the grace timer when
        /// `disarmGraceTimer`.
        case cancelHandler(finish: Connection?, disarmGraceTimer: Bool)
        /// Refuse the resumption: there is no stream yet.
        case refuse
    }

    /// Whether the client accepts `text/event-stream` and streaming is on.
    let canStream: Bool
    /// How long a stream whose client left waits for a resumption before its handler is cancelled; nil when
    /// the stream cannot be resumed (stateless requests): then a disconnect cancels the handler at once.
    let resumeGracePeriod: Duration?
    /// The current state.
    private(set) var state: State = .undecided

    /// - Parameters:
    ///   - canStream: whether the answer may become an SSE stream.
    ///   - resumeGracePeriod: the grace period after a disconnect; nil when the stream is not resumable.
    init(canStream: Bool, resumeGracePeriod: Duration?) {
        self.canStream = canStream
        self.resumeGracePeriod = resumeGracePeriod
    }

    /// The connection that carries the stream now, if any.
    var attachedConnection: Connection? {
        if case .streaming(.attached(let connection)) = state { return connection }
        return nil
    }

    /// Whether the answer is a stream whose handler still runs (events may be sent).
    var acceptsEvents: Bool {
        switch state {
        case .streaming(.attached), .streaming(.detached): true
        case .undecided, .json, .streaming(.replaying), .finished: false
        }
    }

    /// Whether the answer's form (JSON or SSE) is decided.
    var isDecided: Bool {
        if case .undecided = state { return false }
        return true
    }

    /// The handler's outcome is ready.
    mutating func resultReady(_ outcome: Result<Value, MCPError>) -> Action {
        // The client cancelled: no response is sent for a cancelled request.
        let event: Result<Value, MCPError>? =
            if case .failure(let error) = outcome, error.code == MCPError.Code.requestCancelled { nil } else { outcome }
        switch state {
        case .undecided:
            state = .json
            return .answerJSON(outcome)
        case .streaming(.attached(let connection)):
            state = .finished
            return .endStream(result: event, finish: connection, disarmGraceTimer: false)
        case .streaming(.detached):
            state = .streaming(.replaying)
            return .endStream(result: event, finish: nil, disarmGraceTimer: true)
        case .json, .streaming(.replaying), .finished:
            return .none
        }
    }

    /// The answer must become a stream: the handler sends a notification or a request to the client, closes
    /// its stream, or the client accepts only SSE. `connection` is the POST's own response.
    mutating func streamNeeded(on connection: Connection) -> Action {
        guard case .undecided = state, canStream else { return .none }
        state = .streaming(.attached(connection))
        return .startStream(on: connection)
    }

    /// The handler has run longer than the streaming threshold.
    mutating func thresholdPassed(on connection: Connection) -> Action {
        streamNeeded(on: connection)
    }

    /// The handler closed its connection on purpose (`closeStream()`); the client is expected to resume.
    mutating func serverClosedConnection(now: ContinuousClock.Instant) -> Action {
        guard case .streaming(.attached(let connection)) = state else { return .none }
        state = .streaming(.detached(since: now))
        return .closeConnection(connection)
    }

    /// The client behind `connection` went away.
    mutating func clientDisconnected(_ connection: Connection, now: ContinuousClock.Instant) -> Action {
        guard case .streaming(.attached(let current)) = state, current === connection else { return .none }
        guard let grace = resumeGracePeriod else {
            state = .finished
            return .cancelHandler(finish: nil, disarmGraceTimer: false)
        }
        state = .streaming(.detached(since: now))
        return .armGraceTimer(since: now, deadline: now + grace)
    }

    /// A `GET` with `Last-Event-ID` takes the stream over on `connection` (the owner checked that the events
    /// after that id are still buffered).
    mutating func resumed(on connection: Connection) -> Action {
        switch state {
        case .undecided, .json:
            return .refuse
        case .streaming(.attached(let previous)):
            state = .streaming(.attached(connection))
            return .replay(
                to: connection, thenFinish: false, replacing: previous === connection ? nil : previous,
                disarmGraceTimer: false)
        case .streaming(.detached):
            state = .streaming(.attached(connection))
            return .replay(to: connection, thenFinish: false, replacing: nil, disarmGraceTimer: true)
        case .streaming(.replaying), .finished:
            state = .finished
            return .replay(to: connection, thenFinish: true, replacing: nil, disarmGraceTimer: false)
        }
    }

    /// The grace timer armed at the detachment of `since` fired.
    mutating func gracePeriodOver(since: ContinuousClock.Instant) -> Action {
        guard case .streaming(.detached(let detached)) = state, detached == since else { return .none }
        state = .finished
        return .cancelHandler(finish: nil, disarmGraceTimer: false)
    }

    /// The answer is no longer wanted (its session ended): cancel the handler and end the stream.
    mutating func cancel() -> Action {
        switch state {
        case .undecided:
            // Its (cancelled) result still decides and answers the HTTP request.
            return .cancelHandler(finish: nil, disarmGraceTimer: false)
        case .streaming(.attached(let connection)):
            state = .finished
            return .cancelHandler(finish: connection, disarmGraceTimer: false)
        case .streaming(.detached):
            state = .finished
            return .cancelHandler(finish: nil, disarmGraceTimer: true)
        case .streaming(.replaying):
            state = .finished
            return .none
        case .json, .finished:
            return .none
        }
    }
}
