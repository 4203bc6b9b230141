import MCPHandlers
import Testing

@testable import MCPStreamableHTTP

/// Every event of ``PostAnswerStateMachine`` in every state, with the action it returns and the state it
/// leaves, without threads, locks or clocks.
@Suite struct PostAnswerStateMachineTests {
    /// A stand-in for an HTTP connection, compared by identity.
    final class Connection: Sendable {
        let name: String
        init(_ name: String) { self.name = name }
    }
    typealias Machine = PostAnswerStateMachine<Connection>

    /// The POST's own connection, a resuming GET's, and one the answer never had.
    static let post = Connection("post")
    static let resume = Connection("resume")
    static let stranger = Connection("stranger")
    static let t0 = ContinuousClock.now
    /// When the client left (the detached state's instant).
    static let detachedAt = t0 + .seconds(1)
    /// When the events are fed.
    static let now = t0 + .seconds(2)
    static let grace = Duration.seconds(2)

    enum StartState: String, CaseIterable, CustomTestStringConvertible {
        case undecided, json, attached, detached, replaying, finished
        var testDescription: String { rawValue }
    }

    enum Event: String, CaseIterable, CustomTestStringConvertible {
        case result, cancelledResult, streamNeeded, thresholdPassed, serverClosed, disconnect, strangerDisconnect,
            resumed, graceOver, staleGraceOver, cancel
        var testDescription: String { rawValue }
    }

    static let cancelled = MCPError(code: MCPError.Code.requestCancelled, message: "cancelled")

    /// A resumable machine of a client that accepts SSE, brought to `start`.
    static func machine(in start: StartState) -> Machine {
        var m = Machine(canStream: true, resumeGracePeriod: grace)
        switch start {
        case .undecided: break
        case .json: _ = m.resultReady(.success(1))
        case .attached: _ = m.streamNeeded(on: post)
        case .detached:
            _ = m.streamNeeded(on: post)
            _ = m.clientDisconnected(post, now: detachedAt)
        case .replaying:
            _ = m.streamNeeded(on: post)
            _ = m.clientDisconnected(post, now: detachedAt)
            _ = m.resultReady(.success(1))
        case .finished:
            _ = m.streamNeeded(on: post)
            _ = m.resultReady(.success(1))
        }
        #expect(describe(m.state) == expectedStartDescription(start))
        return m
    }

    static func expectedStartDescription(_ start: StartState) -> String {
        switch start {
        case .undecided: "undecided"
        case .json: "json"
        case .attached: "attached(post)"
        case .detached: "detached(1s)"
        case .replaying: "replaying"
        case .finished: "finished"
        }
    }

    static func feed(_ event: Event, to m: inout Machine) -> Machine.Action {
        switch event {
        case .result: m.resultReady(.success(1))
        case .cancelledResult: m.resultReady(.failure(cancelled))
        case .streamNeeded: m.streamNeeded(on: post)
        case .thresholdPassed: m.thresholdPassed(on: post)
        case .serverClosed: m.serverClosedConnection(now: now)
        case .disconnect: m.clientDisconnected(post, now: now)
        case .strangerDisconnect: m.clientDisconnected(stranger, now: now)
        case .resumed: m.resumed(on: resume)
        case .graceOver: m.gracePeriodOver(since: detachedAt)
        case .staleGraceOver: m.gracePeriodOver(since: t0)
        case .cancel: m.cancel()
        }
    }

    static func seconds(_ instant: ContinuousClock.Instant) -> String {
        "\((instant - t0).components.seconds)s"
    }

    static func describe(_ state: Machine.State) -> String {
        switch state {
        case .undecided: "undecided"
        case .json: "json"
        case .streaming(.attached(let c)): "attached(\(c.name))"
        case .streaming(.detached(let since)): "detached(\(seconds(since)))"
        case .streaming(.replaying): "replaying"
        case .finished: "finished"
        }
    }

    static func describe(_ result: Result<Value, MCPError>?) -> String {
        switch result {
        case nil: "nil"
        case .success(let value)?: "ok(\(value))"
        case .failure(let error)?: "error(\(error.code))"
        }
    }

    static func describe(_ action: Machine.Action) -> String {
        switch action {
        case .none: "none"
        case .refuse: "refuse"
        case .answerJSON(let result): "answerJSON(\(describe(result)))"
        case .startStream(let c): "startStream(\(c.name))"
        case .endStream(let result, let finish, let disarm):
            "endStream(\(describe(result)), finish: \(finish?.name ?? "-"), disarm: \(disarm))"
        case .armGraceTimer(let since, let deadline): "armGraceTimer(\(seconds(since)), \(seconds(deadline)))"
        case .closeConnection(let c): "closeConnection(\(c.name))"
        case .replay(let to, let thenFinish, let replacing, let disarm):
            "replay(\(to.name), finish: \(thenFinish), replacing: \(replacing?.name ?? "-"), disarm: \(disarm))"
        case .cancelHandler(let finish, let disarm): "cancelHandler(finish: \(finish?.name ?? "-"), disarm: \(disarm))"
        }
    }

    /// The whole table: (action, state after) for every event in every state.
    static let expected: [StartState: [Event: (String, String)]] = [
        .undecided: [
            .result: ("answerJSON(ok(1))", "json"),
            .cancelledResult: ("answerJSON(error(-32800))", "json"),
            .streamNeeded: ("startStream(post)", "attached(post)"),
            .thresholdPassed: ("startStream(post)", "attached(post)"),
            .serverClosed: ("none", "undecided"),
            .disconnect: ("none", "undecided"),
            .strangerDisconnect: ("none", "undecided"),
            .resumed: ("refuse", "undecided"),
            .graceOver: ("none", "undecided"),
            .staleGraceOver: ("none", "undecided"),
            .cancel: ("cancelHandler(finish: -, disarm: false)", "undecided"),
        ],
        .json: [
            .result: ("none", "json"), .cancelledResult: ("none", "json"), .streamNeeded: ("none", "json"),
            .thresholdPassed: ("none", "json"), .serverClosed: ("none", "json"), .disconnect: ("none", "json"),
            .strangerDisconnect: ("none", "json"), .resumed: ("refuse", "json"), .graceOver: ("none", "json"),
            .staleGraceOver: ("none", "json"), .cancel: ("none", "json"),
        ],
        .attached: [
            .result: ("endStream(ok(1), finish: post, disarm: false)", "finished"),
            .cancelledResult: ("endStream(nil, finish: post, disarm: false)", "finished"),
            .streamNeeded: ("none", "attached(post)"),
            .thresholdPassed: ("none", "attached(post)"),
            .serverClosed: ("closeConnection(post)", "detached(2s)"),
            .disconnect: ("armGraceTimer(2s, 4s)", "detached(2s)"),
            .strangerDisconnect: ("none", "attached(post)"),
            .resumed: ("replay(resume, finish: false, replacing: post, disarm: false)", "attached(resume)"),
            .graceOver: ("none", "attached(post)"),
            .staleGraceOver: ("none", "attached(post)"),
            .cancel: ("cancelHandler(finish: post, disarm: false)", "finished"),
        ],
        .detached: [
            .result: ("endStream(ok(1), finish: -, disarm: true)", "replaying"),
            .cancelledResult: ("endStream(nil, finish: -, disarm: true)", "replaying"),
            .streamNeeded: ("none", "detached(1s)"),
            .thresholdPassed: ("none", "detached(1s)"),
            .serverClosed: ("none", "detached(1s)"),
            .disconnect: ("none", "detached(1s)"),
            .strangerDisconnect: ("none", "detached(1s)"),
            .resumed: ("replay(resume, finish: false, replacing: -, disarm: true)", "attached(resume)"),
            .graceOver: ("cancelHandler(finish: -, disarm: false)", "finished"),
            .staleGraceOver: ("none", "detached(1s)"),
            .cancel: ("cancelHandler(finish: -, disarm: true)", "finished"),
        ],
        .replaying: [
            .result: ("none", "replaying"), .cancelledResult: ("none", "replaying"),
            .streamNeeded: ("none", "replaying"), .thresholdPassed: ("none", "replaying"),
            .serverClosed: ("none", "replaying"), .disconnect: ("none", "replaying"),
            .strangerDisconnect: ("none", "replaying"),
            .resumed: ("replay(resume, finish: true, replacing: -, disarm: false)", "finished"),
            .graceOver: ("none", "replaying"), .staleGraceOver: ("none", "replaying"),
            .cancel: ("none", "finished"),
        ],
        .finished: [
            .result: ("none", "finished"), .cancelledResult: ("none", "finished"),
            .streamNeeded: ("none", "finished"), .thresholdPassed: ("none", "finished"),
            .serverClosed: ("none", "finished"), .disconnect: ("none", "finished"),
            .strangerDisconnect: ("none", "finished"),
            .resumed: ("replay(resume, finish: true, replacing: -, disarm: false)", "finished"),
            .graceOver: ("none", "finished"), .staleGraceOver: ("none", "finished"),
            .cancel: ("none", "finished"),
        ],
    ]

    @Test(arguments: StartState.allCases, Event.allCases)
    func everyEventInEveryState(_ start: StartState, _ event: Event) throws {
        var m = Self.machine(in: start)
        let action = Self.feed(event, to: &m)
        let (expectedAction, expectedState) = try #require(Self.expected[start]?[event])
        #expect(Self.describe(action) == expectedAction)
        #expect(Self.describe(m.state) == expectedState)
    }

    @Test func theTableCoversEveryPair() {
        for start in StartState.allCases {
            #expect(Set(Self.expected[start]?.keys.map(\.rawValue) ?? []) == Set(Event.allCases.map(\.rawValue)))
        }
    }

    /// A client that cannot take SSE: the answer stays undecided until its result, which is JSON.
    @Test(arguments: Event.allCases)
    func withoutSSEOnlyTheResultDecides(_ event: Event) {
        var m = Machine(canStream: false, resumeGracePeriod: Self.grace)
        let action = Self.feed(event, to: &m)
        switch event {
        case .result:
            #expect(Self.describe(action) == "answerJSON(ok(1))")
            #expect(Self.describe(m.state) == "json")
        case .cancelledResult:
            #expect(Self.describe(action) == "answerJSON(error(-32800))")
        case .resumed:
            #expect(Self.describe(action) == "refuse")
            #expect(Self.describe(m.state) == "undecided")
        case .cancel:
            #expect(Self.describe(action) == "cancelHandler(finish: -, disarm: false)")
            #expect(Self.describe(m.state) == "undecided")
        default:
            #expect(Self.describe(action) == "none")
            #expect(Self.describe(m.state) == "undecided")
        }
    }

    /// A stream that cannot be resumed (stateless): a disconnect cancels the handler at once, with no timer.
    @Test func aStreamThatCannotBeResumedEndsOnDisconnect() {
        var m = Machine(canStream: true, resumeGracePeriod: nil)
        #expect(Self.describe(m.streamNeeded(on: Self.post)) == "startStream(post)")
        #expect(Self.describe(m.clientDisconnected(Self.post, now: Self.now)) == "cancelHandler(finish: -, disarm: false)")
        #expect(Self.describe(m.state) == "finished")
        #expect(Self.describe(m.resultReady(.success(1))) == "none")
    }

    /// The same connection resuming again replaces nothing.
    @Test func resumingOnTheAttachedConnectionReplacesNothing() {
        var m = Self.machine(in: .attached)
        #expect(Self.describe(m.resumed(on: Self.post)) == "replay(post, finish: false, replacing: -, disarm: false)")
    }

    /// A full life: streamed, left, resumed, left again; only the latest detachment's timer counts.
    @Test func onlyTheLatestDetachmentsTimerCancels() {
        var m = Self.machine(in: .attached)
        let first = Self.t0 + .seconds(10)
        let second = Self.t0 + .seconds(20)
        #expect(Self.describe(m.clientDisconnected(Self.post, now: first)) == "armGraceTimer(10s, 12s)")
        #expect(Self.describe(m.resumed(on: Self.resume)).hasPrefix("replay(resume"))
        #expect(Self.describe(m.clientDisconnected(Self.resume, now: second)) == "armGraceTimer(20s, 22s)")
        #expect(Self.describe(m.gracePeriodOver(since: first)) == "none")
        #expect(Self.describe(m.state) == "detached(20s)")
        #expect(Self.describe(m.gracePeriodOver(since: second)) == "cancelHandler(finish: -, disarm: false)")
        #expect(Self.describe(m.state) == "finished")
        #expect(m.isDecided && !m.acceptsEvents && m.attachedConnection == nil)
    }

    @Test func accessors() {
        let attached = Self.machine(in: .attached)
        #expect(attached.attachedConnection === Self.post && attached.acceptsEvents && attached.isDecided)
        let detached = Self.machine(in: .detached)
        #expect(detached.attachedConnection == nil && detached.acceptsEvents)
        let undecided = Self.machine(in: .undecided)
        #expect(!undecided.isDecided && !undecided.acceptsEvents)
        #expect(!Self.machine(in: .replaying).acceptsEvents)
    }
}
