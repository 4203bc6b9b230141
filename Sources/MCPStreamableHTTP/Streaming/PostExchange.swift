import MCPHandlers
import Synchronization
import MCPHTTP
import MCPOAuth

/// The answer to one POSTed request: plain JSON when the handler finishes before sending anything, an
/// SSE stream as soon as it sends a notification or a request to the client (or runs longer than the
/// streaming threshold), with the result as the stream's last event.
///
/// It holds the answer's ``PostAnswerStateMachine`` under one lock, together with what the machine's
/// actions act on: the replay buffer, the handler's task, the waiting HTTP answer and the two timers
/// (threshold and resume grace, both entries of the process's ``DeadlineScheduler``). Every event — from the
/// handler, the front end (a client disconnect), a resumption, a timer — goes through the machine; the
/// actions are executed under the same lock (writes to a ``MCPHTTP/ResponseStream`` never block), except
/// resuming the HTTP answer and cancelling the task, which run after it.
final class PostExchange: ServerOutbound, SessionStream {
    /// How the HTTP response goes out.
    enum Decision: Sendable {
        /// One JSON body.
        case json(Result<Value, MCPError>)
        /// An SSE stream.
        case stream
    }

    /// Where a streamed answer is numbered and how it can be resumed.
    struct StreamOptions: Sendable {
        /// Registers the answer with its session's streams and returns its number; nil for an answer that
        /// belongs to no session (stateless requests): numbered 1, never resumable, and a disconnect cancels
        /// its handler at once.
        var register: (@Sendable (PostExchange) -> Int)?
        /// Runs after a registration, once the exchange's lock is released (it may call back into the exchange:
        /// the session's end closes its streams). Default none.
        var afterRegister: (@Sendable () -> Void)? = nil
        /// The replay buffer's limits.
        var limits: EventStream.Limits
        /// How long a stream whose client left waits for a resumption before its handler is cancelled.
        var resumeGracePeriod: Duration
        /// Where the threshold and grace timers are scheduled.
        var scheduler: DeadlineScheduler = .shared
    }

    /// The machine and what its actions act on, under the one lock.
    private struct State {
        var machine: PostAnswerStateMachine<ResponseStream>
        var buffer: ReplayBuffer?
        var decision: Decision?
        var waiter: UnsafeContinuation<Decision, Never>?
        var handler: Task<Void, Never>?
        var handlerCancelled = false
        var thresholdTimer: DeadlineScheduler.Timer?
        var graceTimer: DeadlineScheduler.Timer?
    }

    /// What must run after the lock is released.
    private struct Deferred {
        var resume: (UnsafeContinuation<Decision, Never>, Decision)?
        var cancel: Task<Void, Never>?
        var onClose: ResponseStream?
        var afterRegister: (@Sendable () -> Void)?

        /// Adds what `other` defers (the later of two decisions cannot happen: the machine decides once).
        mutating func merge(_ other: Deferred) {
            resume = resume ?? other.resume
            cancel = cancel ?? other.cancel
            onClose = onClose ?? other.onClose
            afterRegister = afterRegister ?? other.afterRegister
        }

        func run(for exchange: PostExchange) {
            if let (waiter, decision) = resume { waiter.resume(returning: decision) }
            cancel?.cancel()
            if let connection = onClose {
                connection.onClose { [weak exchange] in exchange?.clientDisconnected(connection) }
            }
            afterRegister?()
        }
    }

    private let state: Mutex<State>
    let requestID: RequestID
    private let options: StreamOptions?
    /// The POST's own HTTP response, which carries the stream when the answer becomes one.
    let connection = ResponseStream()
    private let server: MCPServer
    private let sessionID: String?
    /// Always false: this is one request's answer.
    var isStandalone: Bool { false }

    /// - Parameters:
    ///   - requestID: the request being answered.
    ///   - stream: how the answer streams; nil when the client cannot take SSE (then notifications are
    ///     dropped and requests to the client fail). The stream is registered on the first switch to SSE, so
    ///     answers that stay JSON cost no stream.
    ///   - server: whose pending requests route the client's answers back.
    ///   - sessionID: the session the client's answers must come from.
    init(requestID: RequestID, stream: StreamOptions?, server: MCPServer, sessionID: String?) {
        self.requestID = requestID
        self.options = stream
        self.server = server
        self.sessionID = sessionID
        let grace: Duration? = stream?.register == nil ? nil : stream?.resumeGracePeriod
        self.state = Mutex(State(machine: PostAnswerStateMachine(canStream: stream != nil, resumeGracePeriod: grace)))
    }

    // MARK: ServerOutbound (the handler)

    func send(_ notification: JSONRPCNotification) async {
        guard options != nil else { return }
        sendEvent(notification.value)
    }

    /// Whether the answer can become a stream (the client accepts SSE).
    var reachesClient: Bool { options != nil }

    func request(_ method: String, params: Value?) async throws(MCPError) -> Value {
        guard options != nil else {
            throw MCPError(
                code: MCPError.Code.internalError,
                message: "\(method) needs a response stream, but the client does not accept text/event-stream")
        }
        let id = server.pendingRequests.makeID()
        let message = JSONRPCRequest(id: id, method: method, params: params).value
        return try await server.pendingRequests.request(
            id: id, timeout: server.configuration.clientRequestTimeout, sessionID: sessionID
        ) {
            self.sendEvent(message)
        }
    }

    func closeStream() async {
        guard options != nil else { return }
        let now = ContinuousClock.now
        perform { s in
            var deferred = Self.execute(s.machine.streamNeeded(on: connection), in: &s, exchange: self)
            deferred.merge(Self.execute(s.machine.serverClosedConnection(now: now), in: &s, exchange: self))
            return deferred
        }
    }

    // MARK: Events from the endpoint, the front end and the timers

    /// Gives the exchange the task that runs the handler, which a disconnect without resumption or the end of
    /// the session cancels (at once when that happened already).
    func setHandler(_ task: Task<Void, Never>) {
        let cancelNow = state.withLock { s in
            s.handler = task
            return s.handlerCancelled
        }
        if cancelNow { task.cancel() }
    }

    /// Switches to SSE now (the client accepts only SSE), when the client can take it.
    func streamIfPossible() {
        perform { s in Self.execute(s.machine.streamNeeded(on: connection), in: &s, exchange: self) }
    }

    /// Switches to SSE when still undecided after `threshold`.
    func watchThreshold(_ threshold: Duration) {
        guard let scheduler = options?.scheduler else { return }
        state.withLock { s in
            guard !s.machine.isDecided, s.thresholdTimer == nil else { return }
            s.thresholdTimer = scheduler.schedule(after: threshold) { [weak self] in self?.thresholdPassed() }
        }
    }

    /// The streaming threshold passed.
    func thresholdPassed() {
        perform { s in
            s.thresholdTimer = nil
            return Self.execute(s.machine.thresholdPassed(on: connection), in: &s, exchange: self)
        }
    }

    /// Delivers the handler's outcome: as the JSON body, or as the stream's last event.
    func complete(_ outcome: Result<Value, MCPError>) {
        perform { s in Self.execute(s.machine.resultReady(outcome), in: &s, exchange: self) }
    }

    /// The client behind `connection` went away.
    func clientDisconnected(_ connection: ResponseStream) {
        let now = ContinuousClock.now
        perform { s in Self.execute(s.machine.clientDisconnected(connection, now: now), in: &s, exchange: self) }
    }

    /// The resume grace period of the detachment at `since` is over.
    func gracePeriodOver(since: ContinuousClock.Instant) {
        perform { s in
            s.graceTimer = nil
            return Self.execute(s.machine.gracePeriodOver(since: since), in: &s, exchange: self)
        }
    }

    /// Waits for the decision.
    func decision() async -> Decision {
        // Unsafe (no canary object per request): resumed exactly once, here or by the one `execute` that decides.
        await withUnsafeContinuation { continuation in
            let ready: Decision? = state.withLock { s in
                if let d = s.decision { return d }
                s.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Whether the answer's form (JSON or SSE) is decided.
    var isDecided: Bool { state.withLock { $0.machine.isDecided } }

    /// The answer's state (for tests).
    var answerState: PostAnswerStateMachine<ResponseStream>.State { state.withLock { $0.machine.state } }

    // MARK: SessionStream (resumption, session end)

    /// Whether an HTTP connection currently carries the stream. Read without the exchange's lock (the session's
    /// streams read it under theirs, and a switch to SSE registers with them under this one: taking both in the
    /// two orders could deadlock); set under the lock after every event.
    var isConnected: Bool { connected.load(ordering: .acquiring) }
    private let connected = Atomic<Bool>(false)

    /// Whether the answer went out as JSON, or its stream ended (its handler finished, was cancelled or
    /// abandoned).
    var isFinished: Bool {
        state.withLock { s in
            switch s.machine.state {
            case .undecided, .streaming(.attached), .streaming(.detached): false
            case .json, .streaming(.replaying), .finished: true
            }
        }
    }

    /// Resumes the stream on `connection` (a `GET` with `Last-Event-ID`).
    func attach(_ connection: ResponseStream, after lastSequence: Int?) -> Bool {
        var attached = false
        perform { s in
            guard let buffer = s.buffer, buffer.canReplay(after: lastSequence) else { return Deferred() }
            let action = s.machine.resumed(on: connection)
            guard case .replay = action else { return Deferred() }
            attached = true
            return Self.execute(action, in: &s, exchange: self, replayAfter: lastSequence)
        }
        return attached
    }

    /// The session ended: cancels the handler and ends the stream.
    func finish() {
        perform { s in Self.execute(s.machine.cancel(), in: &s, exchange: self) }
    }

    // MARK: Executing the machine's actions

    private func sendEvent(_ message: Value) {
        let now = ContinuousClock.now
        perform { s in
            let deferred = Self.execute(s.machine.streamNeeded(on: connection), in: &s, exchange: self)
            if s.machine.acceptsEvents, s.buffer != nil {
                let bytes = s.buffer!.append(message, now: now)
                s.machine.attachedConnection?.write(bytes)
            }
            return deferred
        }
    }

    private func perform(_ body: (inout State) -> Deferred) {
        let deferred = state.withLock { s in
            let deferred = body(&s)
            connected.store(s.machine.attachedConnection != nil, ordering: .releasing)
            return deferred
        }
        deferred.run(for: self)
    }

    private static func execute(
        _ action: PostAnswerStateMachine<ResponseStream>.Action, in s: inout State, exchange: PostExchange,
        replayAfter lastSequence: Int? = nil
    ) -> Deferred {
        var deferred = Deferred()
        switch action {
        case .none, .refuse:
            break
        case .answerJSON(let outcome):
            disarm(&s.thresholdTimer, exchange)
            deferred.resume = decide(.json(outcome), in: &s)
        case .startStream(let connection):
            disarm(&s.thresholdTimer, exchange)
            guard let options = exchange.options else { break }
            // Numbered and primed before the decision is visible, so the result cannot miss the connection.
            let id = options.register?(exchange) ?? 1
            deferred.afterRegister = options.afterRegister
            let buffer = ReplayBuffer(streamID: id, limits: options.limits, standalone: false)
            buffer.replay(to: connection, after: nil)
            s.buffer = buffer
            deferred.onClose = connection
            deferred.resume = decide(.stream, in: &s)
        case .endStream(let result, let connection, let disarmGraceTimer):
            if disarmGraceTimer { disarm(&s.graceTimer, exchange) }
            if let result, s.buffer != nil {
                let message: Value
                switch result {
                case .success(let value): message = ["jsonrpc": "2.0", "id": exchange.requestID.value, "result": value]
                case .failure(let error): message = ["jsonrpc": "2.0", "id": exchange.requestID.value, "error": error.value]
                }
                let bytes = s.buffer!.append(message, now: .now)
                connection?.write(bytes)
            }
            connection?.finish()
        case .armGraceTimer(let since, let deadline):
            disarm(&s.graceTimer, exchange)
            s.graceTimer = exchange.options?.scheduler.schedule(at: deadline) { [weak exchange] in
                exchange?.gracePeriodOver(since: since)
            }
        case .closeConnection(let connection):
            connection.finish()
        case .replay(let connection, let thenFinish, let replacing, let disarmGraceTimer):
            if disarmGraceTimer { disarm(&s.graceTimer, exchange) }
            // Written under the lock, so no concurrent event can overtake the priming event or the replay.
            s.buffer?.replay(to: connection, after: lastSequence)
            if thenFinish { connection.finish() } else { deferred.onClose = connection }
            replacing?.finish()
        case .cancelHandler(let connection, let disarmGraceTimer):
            if disarmGraceTimer { disarm(&s.graceTimer, exchange) }
            connection?.finish()
            s.handlerCancelled = true
            deferred.cancel = s.handler
        }
        return deferred
    }

    private static func disarm(_ timer: inout DeadlineScheduler.Timer?, _ exchange: PostExchange) {
        if let entry = timer { exchange.options?.scheduler.cancel(entry) }
        timer = nil
    }

    private static func decide(_ decision: Decision, in s: inout State) -> (UnsafeContinuation<Decision, Never>, Decision)? {
        s.decision = decision
        defer { s.waiter = nil }
        return s.waiter.map { ($0, decision) }
    }
}
