import MCPFCGITesting
import MCPHandlers
import Testing

@testable import MCPHTTP
@testable import MCPStreamableHTTP

/// ``PostExchange`` executing its state machine's actions, with timers from a scheduler the test fires by hand
/// (no sleeping for grace periods or thresholds).
@Suite struct PostExchangeLifecycleTests {
    let app = makeApp()
    let scheduler = DeadlineScheduler(drivesItself: false)
    let sessionID = "t1.lifecycle"
    var session: Session {
        Session(
            id: sessionID, protocolVersion: .v2025_11_25, clientInfo: nil, clientCapabilities: [:], owner: nil, now: 0)
    }

    func makeExchange(resumable: Bool = true, grace: Duration = .seconds(2), session: Session? = nil) -> PostExchange {
        var options =
            resumable
            ? app.endpoint.streams.answerStreamOptions(session: session ?? self.session, resumeGracePeriod: grace)
            : app.endpoint.streams.statelessStreamOptions()
        options.scheduler = scheduler
        return PostExchange(requestID: .number(7), stream: options, server: app.endpoint.server, sessionID: sessionID)
    }

    /// A handler that runs until cancelled.
    func runForever(_ exchange: PostExchange) -> Task<Void, Never> {
        let task = Task { _ = try? await Task.sleep(for: .seconds(3600)) }
        exchange.setHandler(task)
        return task
    }

    func isStream(_ decision: PostExchange.Decision) -> Bool {
        if case .stream = decision { return true }
        return false
    }

    /// A session that ended while its answer was undecided: the switch to SSE registers the stream and then closes
    /// it, outside the exchange's lock (closing takes that lock: inside it, the non-recursive Mutex would trap), and
    /// the session keeps no stream entry.
    @Test(arguments: [false, true]) func aSessionEndedBeforeTheSwitchLeavesNoStream(byThreshold: Bool) async throws {
        let ended = session
        app.endpoint.server.end(ended, reason: .deleted)
        let exchange = makeExchange(session: ended)
        let handler = runForever(exchange)
        if byThreshold { exchange.thresholdPassed() } else { exchange.streamIfPossible() }
        #expect(isStream(await exchange.decision()))
        #expect(exchange.isFinished)
        #expect(handler.isCancelled)
        #expect(app.endpoint.streams.existingStreams(for: sessionID) == nil)
    }

    @Test func theHandlerIsCancelledOnlyWhenTheGracePeriodIsOver() async throws {
        let exchange = makeExchange()
        let handler = runForever(exchange)
        exchange.streamIfPossible()
        #expect(isStream(await exchange.decision()))
        let sink = CollectingSink()
        exchange.connection.attach(sink)
        let left = ContinuousClock.now
        exchange.connection.clientDisconnected()
        #expect(scheduler.pendingCount == 1)
        #expect(scheduler.fireDue(now: left) == 0)
        #expect(!handler.isCancelled)
        #expect(scheduler.fireDue(now: left + .seconds(3)) == 1)
        #expect(handler.isCancelled)
        #expect(exchange.isFinished)
        // The cancelled handler's outcome sends nothing more.
        exchange.complete(.failure(.requestCancelled()))
        #expect(sink.events.map(\.id) == ["1-0"])
    }

    @Test func aResumptionWithinTheGracePeriodDisarmsTheTimer() async throws {
        let exchange = makeExchange()
        let handler = runForever(exchange)
        await exchange.send(JSONRPCNotification(method: "notifications/message", params: ["data": "one"]))
        #expect(isStream(await exchange.decision()))
        let first = CollectingSink()
        exchange.connection.attach(first)
        exchange.connection.clientDisconnected()
        #expect(scheduler.pendingCount == 1)
        await exchange.send(JSONRPCNotification(method: "notifications/message", params: ["data": "two"]))
        let resumed = ResponseStream()
        let streams = try #require(app.endpoint.streams.existingStreams(for: sessionID))
        #expect(streams.attachStandalone(resumed, resuming: (stream: 1, sequence: 1)) == .attached)
        #expect(scheduler.pendingCount == 0)
        #expect(scheduler.fireDue(now: .now + .seconds(3600)) == 0)
        #expect(!handler.isCancelled)
        let second = CollectingSink()
        resumed.attach(second)
        exchange.complete(.success(["content": []]))
        #expect(first.events.map(\.id) == ["1-0", "1-1"])
        #expect(second.events.map(\.id) == ["1-1", "1-2", "1-3"])
        #expect(second.events.last?.data?["id"] == 7)
        #expect(second.isFinished)
        handler.cancel()
    }

    @Test func theThresholdSwitchesAnUndecidedAnswerToSSE() async throws {
        let exchange = makeExchange()
        _ = runForever(exchange)
        exchange.watchThreshold(.milliseconds(500))
        exchange.watchThreshold(.milliseconds(500))  // one timer only
        #expect(scheduler.pendingCount == 1)
        #expect(!exchange.isDecided)
        #expect(scheduler.fireDue(now: .now + .seconds(1)) == 1)
        #expect(isStream(await exchange.decision()))
        let sink = CollectingSink()
        exchange.connection.attach(sink)
        exchange.complete(.success([:]))
        #expect(sink.isFinished)
        #expect(sink.events.map(\.id) == ["1-0", "1-1"])
    }

    @Test func aQuickResultDisarmsTheThreshold() async throws {
        let exchange = makeExchange()
        exchange.watchThreshold(.milliseconds(500))
        exchange.complete(.success([:]))
        #expect(scheduler.pendingCount == 0)
        guard case .json(.success) = await exchange.decision() else {
            Issue.record("expected a JSON answer")
            return
        }
        exchange.watchThreshold(.milliseconds(500))  // decided: nothing to watch
        #expect(scheduler.pendingCount == 0)
    }

    @Test func aStatelessStreamCancelsItsHandlerAsSoonAsTheClientLeaves() async throws {
        let exchange = makeExchange(resumable: false)
        let handler = runForever(exchange)
        exchange.streamIfPossible()
        #expect(isStream(await exchange.decision()))
        exchange.connection.clientDisconnected()
        #expect(handler.isCancelled)
        #expect(scheduler.pendingCount == 0)
        #expect(app.endpoint.streams.existingStreams(for: sessionID) == nil)
    }

    @Test func theEndOfTheSessionCancelsTheHandlerAndEndsTheStream() async throws {
        let exchange = makeExchange()
        let sink = CollectingSink()
        exchange.connection.attach(sink)
        exchange.streamIfPossible()
        app.endpoint.streams.remove(sessionID: sessionID)
        #expect(sink.isFinished)
        // A handler given after the end is cancelled at once.
        let late = Task { _ = try? await Task.sleep(for: .seconds(3600)) }
        exchange.setHandler(late)
        #expect(late.isCancelled)
    }

    @Test func aHandlerThatClosesItsStreamIsNotCancelledWhileTheClientResumes() async throws {
        let exchange = makeExchange()
        let handler = runForever(exchange)
        let sink = CollectingSink()
        exchange.connection.attach(sink)
        await exchange.closeStream()
        #expect(sink.isFinished)
        #expect(exchange.answerState.isDetached)
        #expect(scheduler.pendingCount == 0)
        exchange.connection.clientDisconnected()  // the closed connection no longer carries the stream
        #expect(scheduler.pendingCount == 0)
        #expect(!handler.isCancelled)
        handler.cancel()
    }
}

extension PostAnswerStateMachine.State {
    fileprivate var isDetached: Bool {
        if case .streaming(.detached) = self { return true }
        return false
    }
}
