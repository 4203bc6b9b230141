import CFCGI
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import UnixSignals
import MCPHTTP
import MCPStreamableHTTP
import MCPHandlers

#if canImport(Glibc)
    import Glibc
#endif

/// The FastCGI front: a pool of accept threads on libfcgi, each taking a request from nginx, handing it
/// to an ``/MCPHTTP/HTTPResponder`` and writing the answer back.
///
/// The one entry point of an executable masks the termination signals before any thread exists, builds the
/// responder, serves until SIGTERM/SIGINT and drains:
///
/// ```swift
/// try FastCGIServer.run(configuration: .init(socketPath: "/run/mcp/app.sock"), logger: logger) {
///     MCPApplication(server: server, configuration: .init(publicURL: "https://mcp.example.com"), logger: logger)
/// }
/// ```
///
/// The server is also a swift-service-lifecycle `Service`, to run in a `ServiceGroup` beside other services:
/// its ``run()`` returns after a drain started by the group's graceful shutdown, by cancellation, or (with
/// ``Configuration/handlesTerminationSignals``) by SIGTERM/SIGINT.
///
/// **Signals.** libfcgi wants SIGTERM/SIGINT blocked in every thread (a signal that lands on a thread with libfcgi's
/// handler, or with the default action, is lost or kills the process without a drain). The static
/// ``run(configuration:logger:makeResponder:)`` blocks them first and takes them with `sigwait`. Every thread
/// this server starts (accept threads, the hub, the drain) blocks them itself, whoever started the server. Under
/// ``run()`` the signals are taken through libdispatch's signal sources (`UnixSignalsSequence`, the mechanism a
/// `ServiceGroup`'s `gracefulShutdownSignals` use too): on Linux those read a `signalfd`, and libdispatch's
/// handler moves a signal that lands on a thread which did not block it over to its own thread, so the group and
/// the server may both trap SIGTERM — each is told, the group shuts its services down gracefully, and this server
/// drains once whichever asks first. Set ``Configuration/handlesTerminationSignals`` to false to leave the signals
/// to the group alone. Only a signal that arrives before any signal source is registered is not covered: call
/// ``blockTerminationSignals()`` first thing in `main` when the process may be signalled that early.
///
/// **Lifecycle.** One state machine (`ServerLifecycle`: idle → starting → running → draining(step, deadline) →
/// stopped) decides every step; its waits are woken by the events themselves (the last accept thread returning,
/// the last streamed answer finishing, the last stream closing) and bounded by the drain's deadline.
///
/// Facts it relies on (see README, Architecture): `FCGX_Init` once before any thread; many threads may
/// call `FCGX_Accept_r` at once without a mutex; parameters are copied before `FCGX_Finish_r`.
public final class FastCGIServer: Service, Sendable {
    /// Settings of the FastCGI front.
    public struct Configuration: Sendable {
        /// Unix socket path to create and listen on; nil to use the listening socket spawn-fcgi passes as fd 0.
        /// Default nil.
        public var socketPath: String?
        /// Permission bits of a socket this process creates. Default `0o660` (the app user and nginx's group).
        public var socketMode: UInt16
        /// `listen()` backlog of a socket this process creates. Default 1024.
        public var backlog: Int32
        /// Accept threads. Default: twice the number of cores, at least 4.
        public var threads: Int
        /// Largest request body read; larger ones get 413. Default 4 MiB.
        public var maxBodySize: Int
        /// How long in-flight requests may take to finish after SIGTERM/SIGINT. Default 30 s.
        public var drainTimeout: Duration
        /// Whether this process is the only one listening on spawn-fcgi's socket (one socket per worker, as
        /// `deploy/run.sh` starts them): then draining unlinks the socket path so nginx stops connecting and
        /// sends new requests to the other workers. Leave false under `spawn-fcgi -F n`. A socket this
        /// process creates itself is always unlinked on drain. Default false.
        public var exclusiveInheritedSocket: Bool
        /// Whether ``FastCGIServer/run()`` (the `Service` entry) drains on SIGTERM/SIGINT by itself, besides a
        /// graceful shutdown of its `ServiceGroup`. Set it to false when the group's `gracefulShutdownSignals`
        /// should be the only way the signals act. The static ``FastCGIServer/run(configuration:logger:makeResponder:)``
        /// always waits for them. Default true.
        public var handlesTerminationSignals: Bool
        /// Settings of the thread that serves streamed (SSE) responses. Default
        /// ``FastCGIServer/StreamingConfiguration/init(pingInterval:stallTimeout:maxQueuedBytes:metricsFactory:)``.
        public var streaming: StreamingConfiguration
        /// The swift-metrics backend; nil (default): the process-wide `MetricsSystem.factory`, read when the
        /// server is created, so bootstrap `MetricsSystem` first. Also the stream hub's when
        /// ``FastCGIServer/StreamingConfiguration/metricsFactory`` is nil.
        ///
        /// The server records `mcpfcgi_fastcgi_accept_threads` (gauge: the accept threads started),
        /// `mcpfcgi_fastcgi_accept_threads_busy` (gauge: accept threads serving a request now, which is also
        /// the number of requests in flight on them), `mcpfcgi_drains_total` (drains started) and
        /// `mcpfcgi_draining` (gauge: 1 while draining), `mcpfcgi_fastcgi_connections_idle` (gauge: kept connections
        /// waiting for their next request, ``ConnectionReuse/keepAlive(maxIdle:)``). The listen backlog of the unix socket (connections nginx
        /// made that no thread accepted yet) is not measurable from user space on Linux (no `SO_*` option or
        /// `/proc` entry reports a unix socket's accept queue), so it is not reported; a busy count that stays at
        /// the thread count is the sign that requests queue.
        public var metricsFactory: (any MetricsFactory)?
        /// What happens to a FastCGI connection after its request: closed (one connection per request), or kept
        /// open for the next one when nginx asks (`fastcgi_keep_conn on` with an upstream `keepalive` pool) and
        /// parked in epoll while idle, so that no accept thread waits on an idle connection. Default
        /// ``FastCGIServer/ConnectionReuse/default``.
        public var connectionReuse: ConnectionReuse

        /// Creates a configuration; every parameter has the default documented on its property.
        public init(
            socketPath: String? = nil, socketMode: UInt16 = 0o660, backlog: Int32 = 1024,
            threads: Int = max(4, 2 * ProcessInfo.processInfo.activeProcessorCount),
            maxBodySize: Int = 4 << 20, drainTimeout: Duration = .seconds(30),
            exclusiveInheritedSocket: Bool = false, handlesTerminationSignals: Bool = true,
            streaming: StreamingConfiguration = StreamingConfiguration(),
            metricsFactory: (any MetricsFactory)? = nil,
            connectionReuse: ConnectionReuse = .default
        ) {
            self.socketPath = socketPath
            self.socketMode = socketMode
            self.backlog = backlog
            self.threads = threads
            self.maxBodySize = maxBodySize
            self.drainTimeout = drainTimeout
            self.streaming = streaming
            self.exclusiveInheritedSocket = exclusiveInheritedSocket
            self.handlesTerminationSignals = handlesTerminationSignals
            self.metricsFactory = metricsFactory
            self.connectionReuse = connectionReuse
        }
    }

    /// What the worker does with a FastCGI connection once its request is answered.
    public enum ConnectionReuse: Sendable, Hashable {
        /// Closes it, whatever nginx asked: every request comes on a connection of its own (accept, request,
        /// close). Each accept thread waits in `accept()` for the next connection. nginx: `fastcgi_keep_conn off`,
        /// or no `keepalive` in the upstream.
        case closeAfterEachRequest
        /// Keeps it open when nginx asks (its `FCGI_KEEP_CONN` flag: `fastcgi_keep_conn on` with an upstream
        /// `keepalive` pool), which spares both sides a connection's set-up and tear-down per request. Between
        /// requests the connection waits in an epoll set, not in a thread: the accept threads all wait on that set
        /// (and on the listening socket in it), and the one woken for a connection serves its next request on the
        /// spot. At most `maxIdle` connections wait at once, give or take one per accept thread finishing a
        /// request at that moment (a bound on descriptors, whatever nginx does); beyond it a connection is closed after
        /// its request, which nginx is told. A worker draining closes its idle connections first thing
        /// (nginx then sends its next requests to another worker) and every other one after its request.
        case keepAlive(maxIdle: Int)

        /// The default: ``keepAlive(maxIdle:)`` with 256 idle connections, what `deploy/run.sh` configures nginx for
        /// (`fastcgi_keep_conn on`, `keepalive` in every upstream) and the faster mode in the benchmark
        /// (bench/results/latest.md). A worker in this mode also serves an nginx that closes its connections.
        public static let `default` = ConnectionReuse.keepAlive(maxIdle: 256)

        /// The reuse a count of idle connections stands for (`MCPFCGI_KEEP_CONNECTIONS`, `--keep-connections`): 0
        /// closes every connection after its request, N keeps at most N idle.
        public init(keepingAtMost idle: Int) {
            self = idle > 0 ? .keepAlive(maxIdle: idle) : .closeAfterEachRequest
        }
    }

    /// Why the server could not start.
    public struct StartupError: Error, CustomStringConvertible, Sendable {
        /// What went wrong.
        public var description: String
    }

    /// The settings.
    public let configuration: Configuration
    let responder: any HTTPResponder
    let logger: Logger
    /// The lifecycle and who waits for its end.
    private let control = Mutex(Control())
    /// Signalled on every lifecycle event, and on every accept while the queued connections are served.
    private let changed = ChangeSignal()
    /// The accept threads' bookkeeping (taken twice per request).
    private let pool = Mutex(Pool())
    /// Requests being served by the accept threads (an atomic: every request changes it twice, from every thread).
    private let inFlightRequests = Atomic<Int>(0)
    /// Set by the drain: a thread that comes back from a request returns instead of waiting again. Atomics, not the
    /// pool's lock, for what every request reads or writes: a lock taken by every thread on every request is
    /// contended, and a contended lock whose holder was preempted costs far more than the work it guards.
    private let stopAccepting = Atomic<Bool>(false)
    /// Set by the drain: every accept signals ``changed``.
    private let watched = Atomic<Bool>(false)
    /// Connections accepted from the listening socket so far.
    private let acceptedCount = Atomic<UInt64>(0)

    /// Whether one accept thread waits for work.
    final class WaitFlag: Sendable {
        let value = Atomic<Bool>(false)
    }
    /// The thread that serves streamed responses.
    package let hub: StreamHub
    private let metrics: FrontMetrics

    /// The front's metric handles, made once.
    private struct FrontMetrics: Sendable {
        let acceptThreads: Meter
        let busyThreads: Meter
        let drains: Counter
        let draining: Meter
        let parkedConnections: Meter

        init(factory: any MetricsFactory) {
            acceptThreads = Meter(label: "mcpfcgi_fastcgi_accept_threads", factory: factory)
            busyThreads = Meter(label: "mcpfcgi_fastcgi_accept_threads_busy", factory: factory)
            drains = Counter(label: "mcpfcgi_drains_total", factory: factory)
            draining = Meter(label: "mcpfcgi_draining", factory: factory)
            parkedConnections = Meter(label: "mcpfcgi_fastcgi_connections_idle", factory: factory)
        }
    }

    private struct Control {
        var lifecycle = ServerLifecycle()
        /// Set once the stop's work is done (hub shut down, responder told): ``run()`` and ``drain()`` return then.
        var stopCompleted = false
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private struct Pool {
        var listenFD: Int32 = -1
        var threads: [pthread_t] = []
        /// Per thread: whether it waits for work (in `FCGX_Accept_r` or `epoll_wait`): the ones a drain wakes with
        /// SIGUSR1.
        var waiting: [WaitFlag] = []
        /// The kept connections (``ConnectionReuse/keepAlive(maxIdle:)``).
        var kept: KeptConnectionPool?
    }

    /// Creates the front end; nothing starts (no thread, no socket) until ``start()`` or ``run()``.
    /// - Parameters:
    ///   - configuration: socket and pool settings.
    ///   - responder: the application that answers requests.
    ///   - logger: where the front end logs.
    public init(configuration: Configuration, responder: any HTTPResponder, logger: Logger) {
        self.configuration = configuration
        self.responder = responder
        self.logger = logger
        let factory = configuration.metricsFactory ?? MetricsSystem.factory
        self.metrics = FrontMetrics(factory: factory)
        var streaming = configuration.streaming
        if streaming.metricsFactory == nil { streaming.metricsFactory = factory }
        self.hub = StreamHub(configuration: streaming, logger: logger)
    }

    /// The one entry point of an executable: blocks SIGTERM and SIGINT in the calling thread before anything
    /// starts a thread (so every later thread inherits the mask), builds the responder, starts the server, waits
    /// for SIGTERM or SIGINT with `sigwait`, drains (bounded by ``Configuration/drainTimeout``) and returns.
    ///
    /// Call it from `main` before anything starts a thread or a task, and build everything that might (metrics
    /// and tracing backends, the application) in `makeResponder`.
    /// - Parameters:
    ///   - configuration: socket and pool settings.
    ///   - logger: where the front end logs.
    ///   - makeResponder: builds the application; runs after the signals are blocked. Its errors are rethrown.
    /// - Throws: what `makeResponder` throws, or ``StartupError`` when the socket cannot be opened.
    public static func run(
        configuration: Configuration, logger: Logger, makeResponder: () throws -> any HTTPResponder
    ) throws {
        blockTerminationSignals()
        let server = FastCGIServer(configuration: configuration, responder: try makeResponder(), logger: logger)
        try server.start()
        var set = terminationSignals
        var signal: Int32 = 0
        sigwait(&set, &signal)
        logger.info("signal received; draining", metadata: ["signal": "\(signal)"])
        server.drain()
    }

    /// Blocks SIGTERM and SIGINT in the calling thread (and so in every thread it starts later). The static
    /// ``run(configuration:logger:makeResponder:)`` calls it first; call it yourself first thing in `main` when
    /// you run the server as a `Service` and the process may be signalled before the signal sources exist.
    public static func blockTerminationSignals() {
        var set = terminationSignals
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// SIGTERM and SIGINT.
    private static var terminationSignals: sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        return set
    }

    /// Runs the server as a swift-service-lifecycle `Service`: starts it, then drains and returns when the
    /// `ServiceGroup` shuts down gracefully, when the task is cancelled, or on SIGTERM/SIGINT when
    /// ``Configuration/handlesTerminationSignals`` is set (see the type's discussion of signals). The drain
    /// runs on a thread of its own, so no cooperative thread waits for it.
    /// - Throws: ``StartupError`` when the socket cannot be opened.
    public func run() async throws {
        let signals = configuration.handlesTerminationSignals ? await UnixSignalsSequence(trapping: .sigterm, .sigint) : nil
        try start()
        await withTaskGroup(of: Void.self) { group in
            if let signals {
                group.addTask { [self] in
                    for await signal in signals {
                        logger.info("signal received; draining", metadata: ["signal": "\(signal)"])
                        requestShutdown()
                        return
                    }
                }
            }
            await withGracefulShutdownHandler {
                await withTaskCancellationHandler {
                    await stopped()
                } onCancel: {
                    self.requestShutdown()
                }
            } onGracefulShutdown: {
                self.logger.info("graceful shutdown; draining")
                self.requestShutdown()
            }
            group.cancelAll()
        }
    }

    /// Opens the socket and starts the stream hub and the accept threads, then returns.
    /// - Throws: ``StartupError`` when libfcgi cannot initialise, the socket cannot be opened, or the server was
    ///   started before.
    public func start() throws {
        switch handle({ $0.startRequested() }) {
        case .openSocketAndStartThreads:
            break
        case .refuseStart(.alreadyStarted):
            throw StartupError(description: "the server was started already")
        default:
            throw StartupError(description: "the server has stopped; a stopped server does not start again")
        }
        let fd: Int32
        do {
            guard FCGX_Init() == 0 else { throw StartupError(description: "FCGX_Init failed") }
            fd = try openListeningSocket()
        } catch {
            _ = handle { $0.startFailed() }
            completeStop()
            throw error
        }
        let count = max(1, configuration.threads)
        var kept: KeptConnectionPool?
        if configuration.connectionReuse == .closeAfterEachRequest {
            // Blocking, as libfcgi's accept() expects: a socket that outlives processes (systemd's) may come from a
            // worker that kept connections, which made it non-blocking.
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        }
        if case .keepAlive(let maxIdle) = configuration.connectionReuse {
            do {
                kept = try KeptConnectionPool(
                    listenFD: fd, maxParked: max(0, maxIdle), plainClose: Self.isUnixSocket(fd),
                    parkedGauge: metrics.parkedConnections, changed: changed)
            } catch {
                if configuration.socketPath != nil { close(fd) }
                _ = handle { $0.startFailed() }
                completeStop()
                throw error
            }
        }
        hub.start()
        responder.willStart()
        pool.withLock {
            $0.listenFD = fd
            $0.waiting = (0..<count).map { _ in WaitFlag() }
            $0.kept = kept
        }
        // Reported before the threads exist, so that a thread that returns early is counted off a known total.
        let action = handle { $0.started(acceptThreads: count) }
        metrics.acceptThreads.set(count)
        for index in 0..<count {
            let tid = Self.startThread { [self] in self.acceptLoop(listenFD: fd, index: index, kept: kept) }
            pool.withLock { $0.threads.append(tid) }
        }
        logger.info(
            "FastCGI worker listening",
            metadata: ["socket": "\(configuration.socketPath ?? "fd 0 (spawn-fcgi)")", "threads": "\(count)"])
        if case .beginDrain(let deadline) = action {
            // A shutdown was requested while the server started: the drain starts now.
            Self.detachThread { [self] in performDrain(until: deadline) }
        }
    }

    /// Stops accepting and waits for in-flight requests, at most ``Configuration/drainTimeout``, on the calling
    /// thread; returns when the server has stopped (also when another caller's drain stopped it).
    /// libfcgi's shutdown flag is process-wide: a drained server cannot be started again in this process.
    @available(*, noasync, message: "drain() blocks its thread until the drain ends: from async code, cancel run() or shut its ServiceGroup down")
    public func drain() {
        switch handle({ $0.shutdownRequested(deadline: .now + configuration.drainTimeout) }) {
        case .beginDrain(let deadline): performDrain(until: deadline)
        case .stop: completeStop()
        default: break
        }
        _ = changed.wait(until: .now + .seconds(365 * 86_400)) { !control.withLock { $0.stopCompleted } }
    }

    /// Whether the server has stopped and finished its stop (drained, or failed to start).
    public var isStopped: Bool { control.withLock { $0.stopCompleted } }

    /// The lifecycle's state (for tests).
    var lifecycleState: ServerLifecycle.State { control.withLock { $0.lifecycle.state } }

    /// Asks for a drain without waiting for it: it runs on a thread of its own.
    private func requestShutdown() {
        switch handle({ $0.shutdownRequested(deadline: .now + configuration.drainTimeout) }) {
        case .beginDrain(let deadline): Self.detachThread { [self] in performDrain(until: deadline) }
        case .stop: completeStop()
        default: break
        }
    }

    /// Returns once the stop's work is done.
    private func stopped() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = control.withLock { control in
                if control.stopCompleted { return true }
                control.stopWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Applies one lifecycle event and wakes every wait on the lifecycle.
    private func handle(_ event: (inout ServerLifecycle) -> ServerLifecycle.Action) -> ServerLifecycle.Action {
        let action = control.withLock { event(&$0.lifecycle) }
        changed.signal()
        return action
    }

    /// Marks the stop done and wakes whoever waits for it.
    private func completeStop() {
        let waiters = control.withLock { control in
            control.stopCompleted = true
            defer { control.stopWaiters = [] }
            return control.stopWaiters
        }
        changed.signal()
        for waiter in waiters { waiter.resume() }
    }

    /// The drain, step by step as the lifecycle decides: serve the queued connections, stop the accept threads,
    /// wait for the streamed answers in progress, close the remaining streams; each wait ends with its event or at
    /// `deadline`. Then the hub shuts down and the responder is told.
    private func performDrain(until deadline: ContinuousClock.Instant) {
        metrics.drains.increment()
        metrics.draining.set(1)
        watched.store(true, ordering: .sequentiallyConsistent)
        let (listenFD, kept) = pool.withLock { ($0.listenFD, $0.kept) }
        // 1. No new connections: remove the socket's name (nginx then uses the other workers), and close the idle
        // kept connections (nginx notices at once and stops sending requests on them; the others are closed once
        // idle, in step 2).
        if let path = configuration.socketPath ?? (configuration.exclusiveInheritedSocket ? Self.boundPath(of: listenFD) : nil) {
            unlink(path)
        }
        kept?.closeIdle(idleFor: KeptConnectionPool.settleTime)
        var forced: ServerLifecycle.DrainStep?
        while let step = control.withLock({ $0.lifecycle.drainStep }) {
            let done: Bool
            switch step {
            case .servingQueuedConnections:
                // 2. Serve the connections already queued on the socket: they reached this worker and must not be reset.
                serveQueuedConnections(listenFD: listenFD, until: deadline)
                // …and close the kept connections, each once idle: a request nginx sends on one before is served.
                if let kept { closeKeptConnections(kept, until: deadline) }
                // 3. End long-lived streams (listen), then stop the accept threads once their request is done
                // (`.stopAcceptThreads`; `.waitForAnswers` when no accept thread is left).
                _ = handle { $0.queuedConnectionsServed() }
                responder.willDrain()
                kept?.stopAccepting()
                FCGX_ShutdownPending()
                done = true
            case .stoppingAcceptThreads:
                done = waitForAcceptThreads(until: deadline)
            case .finishingAnswers:
                // 4. Streamed answers still being produced finish on their own.
                done = hub.waitForActiveRequestStreams(until: deadline)
                if done, handle({ $0.answersFinished() }) == .closeStreams { hub.finishAll() }
            case .closingStreams:
                // 5. The other streams (GET streams, what is left) were told to finish; the hub closes them.
                done = hub.waitForOpenStreams(until: deadline)
                if done { _ = handle { $0.streamsClosed() } }
            }
            if !done, case .forceStop(let step) = handle({ $0.deadlineReached() }) { forced = step }
        }
        if let forced {
            logger.error(
                "drain timeout reached; exiting with requests in flight",
                metadata: [
                    "step": "\(forced)", "inFlight": "\(inFlightCount)", "streams": "\(hub.activeRequestStreamCount)",
                ])
            hub.finishAll()
        }
        hub.shutdown()
        releaseAcceptThreads(joining: forced == nil)
        responder.didStop()
        metrics.draining.set(0)
        if forced == nil { logger.info("drained; all accept threads stopped") }
        completeStop()
    }

    /// Joins the accept threads (every one returned) or detaches them (a forced stop: some may still be in a
    /// request), and closes a listening socket this process opened itself, so that a server stopped inside a
    /// longer-lived process (a `ServiceGroup`) leaves no thread or descriptor behind. spawn-fcgi's inherited socket
    /// (fd 0) stays open: it belongs to the process that passed it.
    private func releaseAcceptThreads(joining: Bool) {
        let (threads, listenFD, kept) = pool.withLock { pool in
            defer { pool.threads = [] }
            return (pool.threads, pool.listenFD, pool.kept)
        }
        for thread in threads {
            if joining { pthread_join(thread, nil) } else { pthread_detach(thread) }
        }
        if joining { kept?.closeAll() }
        if joining, configuration.socketPath != nil, listenFD >= 0 { close(listenFD) }
    }

    /// Returns when no connection has been waiting on the socket for a short quiet window, or at `deadline`.
    /// Waits on the socket itself (`poll`) while it is empty, and on the accept threads' progress while it is not.
    private func serveQueuedConnections(listenFD: Int32, until deadline: ContinuousClock.Instant) {
        while ContinuousClock.now < deadline {
            let accepted = acceptedCount.load(ordering: .sequentiallyConsistent)
            var descriptor = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, 0) <= 0 {
                // Empty: done unless a connection arrives within the quiet window (poll wakes when one does).
                let window = min(Self.quietWindow, deadline - ContinuousClock.now)
                if poll(&descriptor, 1, Int32(max(0, window / .milliseconds(1)))) <= 0 { return }
                continue
            }
            // A connection waits: sleep until an accept thread takes it (every accept signals `changed`). Under
            // `spawn-fcgi -F` a sibling process may take it instead, which signals nothing here: the socket is
            // looked at again after a quiet window at the latest.
            _ = changed.wait(until: min(deadline, .now + Self.quietWindow)) { acceptedCount.load(ordering: .sequentiallyConsistent) == accepted }
        }
    }

    /// How long the socket must stay empty before the queued connections count as served.
    static let quietWindow: Duration = .milliseconds(30)

    /// Closes the kept connections, looking every 10 ms, until none is left (or `deadline`); then no connection is
    /// parked again. From the first look on, every connection is closed after its request (nginx is told) and an idle
    /// one once idle for ``KeptConnectionPool/settleTime``. Connections lent to the stream hub are not waited for here:
    /// their answers are the drain's later steps' (and are closed after them, announced).
    private func closeKeptConnections(_ kept: KeptConnectionPool, until deadline: ContinuousClock.Instant) {
        while kept.unlentConnectionCount > 0, ContinuousClock.now < deadline {
            kept.closeIdle(idleFor: KeptConnectionPool.settleTime)
            _ = changed.wait(until: min(deadline, .now + .milliseconds(10))) { kept.unlentConnectionCount > 0 }
        }
        kept.finish()
    }

    /// Wakes the accept threads and waits until the last one returned, at most until `deadline`.
    ///
    /// The wait is woken by the last thread's return. SIGUSR1 is sent again now and then to the threads still
    /// in `FCGX_Accept_r`: libfcgi checks its shutdown flag just before `accept()`, so a signal landing between
    /// that check and the call is lost (libfcgi's own comment: "There's a window here"); a resend is the only
    /// way out of it, as nothing else wakes a thread blocked in `accept()` (shutting the socket down would stop
    /// spawn-fcgi's sibling processes).
    /// - Returns: false when the deadline came first.
    private func waitForAcceptThreads(until deadline: ContinuousClock.Instant) -> Bool {
        var resend = Duration.milliseconds(10)
        while true {
            stopAccepting.store(true, ordering: .sequentiallyConsistent)
            let blocked = pool.withLock { pool in
                pool.threads.indices.filter { pool.waiting[$0].value.load(ordering: .sequentiallyConsistent) }
                    .map { pool.threads[$0] }
            }
            // SIGUSR1 makes accept() fail with EINTR (FCGI_FAIL_ACCEPT_ON_INTR).
            for tid in blocked { pthread_kill(tid, SIGUSR1) }
            let until = min(deadline, .now + resend)
            if changed.wait(until: until, while: { control.withLock { $0.lifecycle.drainStep == .stoppingAcceptThreads } }) {
                return true
            }
            if ContinuousClock.now >= deadline { return false }
            resend = min(resend * 2, .milliseconds(200))
        }
    }

    /// The path a unix listening socket is bound to, if any.
    static func boundPath(of fd: Int32) -> String? {
        var address = sockaddr_un()
        var length = socklen_t(MemoryLayout<sockaddr_un>.size)
        let rc = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0, address.sun_family == sa_family_t(AF_UNIX) else { return nil }
        let path = withUnsafeBytes(of: address.sun_path) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return path.isEmpty ? nil : path
    }

    /// Requests being served right now.
    public var inFlightCount: Int { inFlightRequests.load(ordering: .relaxed) }

    /// The kept connections now: open (parked or being served) and idle (parked); nil when every connection is
    /// closed after its request (``ConnectionReuse/closeAfterEachRequest``) or before ``start()``.
    var keptConnections: (open: Int, idle: Int)? {
        pool.withLock { $0.kept }.map { ($0.connectionCount, $0.parkedCount) }
    }

    private func openListeningSocket() throws -> Int32 {
        if let path = configuration.socketPath {
            // Bound here rather than with FCGX_OpenSocket, which exit()s the process when bind fails.
            return try Self.listenUnix(path: path, mode: configuration.socketMode, backlog: configuration.backlog)
        }
        guard FCGX_IsCGI() == 0 else {
            throw StartupError(
                description: "no FastCGI socket: pass a socket path, or start the worker under spawn-fcgi")
        }
        return 0
    }

    /// A listening unix stream socket at `path` (an old socket file there is replaced) with `mode` bits.
    static func listenUnix(path: String, mode: UInt16, backlog: Int32) throws(StartupError) -> Int32 {
        guard let address = UnixSocketAddress(path: path) else {
            throw StartupError(description: "socket path too long: \(path)")
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StartupError(description: "socket(): errno \(errno)") }
        var status = stat()
        if lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFSOCK { unlink(path) }
        let bound = address.withSockaddr { bind(fd, $0, $1) }
        guard bound == 0, chmod(path, mode_t(mode)) == 0, listen(fd, backlog) == 0 else {
            let code = errno
            close(fd)
            throw StartupError(description: "cannot listen on \(path): \(String(cString: strerror(code)))")
        }
        return fd
    }

    private func acceptLoop(listenFD: Int32, index: Int, kept: KeptConnectionPool?) {
        defer { _ = handle { $0.acceptThreadReturned() } }
        let executor = AcceptThreadExecutor()
        defer { executor.finish() }
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: 16 * 1024)
        defer { buffer.deallocate() }
        var params: [(String, String)] = []
        params.reserveCapacity(32)
        let flag = pool.withLock { $0.waiting[index] }
        if let kept {
            keptConnectionLoop(kept, flag: flag, buffer: buffer, params: &params, executor: executor)
            return
        }
        let plainClose = Self.isUnixSocket(listenFD)
        var request = Self.newRequest(listenFD: listenFD)
        defer {
            FCGX_Free(request, 1)
            request.deallocate()
        }
        while enterWait(flag) {
            let rc = FCGX_Accept_r(request)
            leaveWait(flag, accepted: rc >= 0)
            if rc < 0 { break }
            startServing()
            defer { stopServing() }
            if serve(request, buffer: buffer, params: &params, executor: executor) {
                // The hub owns that request now; never pass it to FCGX_Accept_r again.
                request = Self.newRequest(listenFD: listenFD)
            } else if request.pointee.keepConnection != 0 {
                // nginx asked to keep it (fastcgi_keep_conn on with a keepalive pool): closed all the same, as
                // FCGX_Accept_r would otherwise wait on this idle connection, and nginx is told so.
                Self.finishAndClose(request, plainClose: plainClose)
            } else {
                // FCGX_Finish_r still writes the last STDOUT/END_REQUEST records (FCGX_FClose of `out`) before it
                // closes; `detached` only turns libfcgi's lingering close (shutdown(SHUT_WR), then poll/read until
                // nginx closes its end) into a plain close(), which loses nothing on a unix socket.
                if plainClose { request.pointee.detached = 1 }
                FCGX_Finish_r(request)
            }
        }
    }

    /// The accept loop of ``ConnectionReuse/keepAlive(maxIdle:)``: waits on the kept connections' epoll set (with
    /// the listening socket in it) and serves whatever is ready, a new connection or a kept one.
    private func keptConnectionLoop(
        _ kept: KeptConnectionPool, flag: WaitFlag, buffer: UnsafeMutablePointer<CChar>,
        params: inout [(String, String)], executor: AcceptThreadExecutor
    ) {
        while enterWait(flag) {
            let event = kept.wait()
            let connection: KeptConnectionPool.Connection
            switch event {
            case .interrupted:
                leaveWait(flag, accepted: false)
                continue
            case .listening:
                leaveWait(flag, accepted: false)
                // Re-armed first: while this thread reads the new connection's first request (libfcgi may wait for
                // it), the others go on accepting.
                kept.rearmListening()
                let request = kept.newRequest()
                let rc = FCGX_Accept_r(request)
                guard rc >= 0 else {
                    FCGX_Free(request, 1)
                    request.deallocate()
                    // EAGAIN: another process took the connection. Anything else (EMFILE…): not in a tight loop.
                    if rc != -EAGAIN { usleep(1000) }
                    continue
                }
                countAccept()
                connection = kept.register(request)
            case .connection(let ready):
                leaveWait(flag, accepted: false)
                guard kept.take(ready) else { continue }  // the drain closed it this instant
                // Readable: the next request (FCGX_Accept_r does not block), or its end (then it is closed, and the
                // attempt to accept a replacement fails at once: listen_sock is -1).
                guard FCGX_Accept_r(ready.request) >= 0 else {
                    kept.discard(ready)
                    continue
                }
                connection = ready
            }
            let request = connection.request
            startServing()
            defer { stopServing() }
            if serve(request, buffer: buffer, params: &params, executor: executor, kept: (kept, connection)) {
                continue  // the hub owns the request now (and gives a lent connection back when its stream ends)
            }
            // Kept only when nginx asked, the request's input was read to its end (the next request must not find
            // this one's records), and there is room; otherwise FCGX_Finish_r closes it after the last records.
            let keep = request.pointee.keepConnection != 0 && consumeInput(request, buffer: buffer) && kept.mayKeep
            if keep {
                FCGX_Finish_r(request)
                if request.pointee.ipcFd >= 0 {
                    kept.park(connection)
                } else {
                    kept.discard(connection)
                }
            } else if request.pointee.keepConnection != 0 {
                Self.finishAndClose(request, plainClose: kept.plainClose)
                kept.discard(connection)
            } else {
                if kept.plainClose { request.pointee.detached = 1 }
                FCGX_Finish_r(request)
                kept.discard(connection)
            }
        }
    }

    /// Marks the thread as waiting (the drain wakes it with SIGUSR1), unless the drain stopped accepting. The flag
    /// is set before the stop is read, and the drain sets the stop before it reads the flags: one of the two sees
    /// the other.
    private func enterWait(_ flag: WaitFlag) -> Bool {
        guard !stopAccepting.load(ordering: .sequentiallyConsistent) else { return false }
        flag.value.store(true, ordering: .sequentiallyConsistent)
        guard !stopAccepting.load(ordering: .sequentiallyConsistent) else {
            flag.value.store(false, ordering: .sequentiallyConsistent)
            return false
        }
        return true
    }

    /// Marks the thread as no longer waiting, counting a connection it accepted.
    private func leaveWait(_ flag: WaitFlag, accepted: Bool) {
        flag.value.store(false, ordering: .sequentiallyConsistent)
        if accepted { countAccept() } else if watched.load(ordering: .relaxed) { changed.signal() }
    }

    /// Counts a connection accepted from the listening socket (the drain watches the count).
    private func countAccept() {
        acceptedCount.add(1, ordering: .sequentiallyConsistent)
        if watched.load(ordering: .sequentiallyConsistent) { changed.signal() }
    }

    /// Finishes a request whose connection nginx asked to keep (`FCGI_KEEP_CONN`) but which closes now: the answer's
    /// last bytes, then `END_REQUEST` followed by one more record in a single write, which makes nginx drop the
    /// connection rather than cache it (``FastCGIRecord/endBeforeClosing(requestID:)``), then a plain close. libfcgi's
    /// streams are freed without writing anything more. Not a unix socket (`plainClose` false): libfcgi's lingering
    /// close.
    static func finishAndClose(_ request: UnsafeMutablePointer<FCGX_Request>, plainClose: Bool) {
        let fd = request.pointee.ipcFd
        if FCGX_FFlush(request.pointee.out) == 0 {
            let tail = FastCGIRecord.endBeforeClosing(requestID: UInt16(truncatingIfNeeded: request.pointee.requestId))
            var sent = 0
            while sent < tail.count {
                let n = tail[sent...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                if n < 0, errno == EINTR { continue }
                if n <= 0 { break }
                sent += n
            }
        }
        if plainClose {
            close(fd)
            request.pointee.ipcFd = -1
            FCGX_Free(request, 0)
        } else {
            // Lingering close: shutdown(SHUT_WR), then read until nginx closes (its unread input is not reset).
            // FCGX_Free frees the streams without writing.
            request.pointee.detached = 0
            FCGX_Free(request, 1)
        }
    }

    /// Reads what is left of a request's input (at most twice ``Configuration/maxBodySize``, the most nginx sends with
    /// `client_max_body_size` equal to it), so that its connection can carry the next request.
    /// - Returns: whether the input was read to its end without an error.
    private func consumeInput(_ request: UnsafeMutablePointer<FCGX_Request>, buffer: UnsafeMutablePointer<CChar>) -> Bool {
        let input = request.pointee.in
        let limit = 2 * configuration.maxBodySize
        var skipped = 0
        while skipped <= limit {
            let n = FCGX_GetStr(buffer, 16 * 1024, input)
            if n <= 0 { break }
            skipped += Int(n)
        }
        return skipped <= limit && FCGX_HasSeenEOF(input) != 0 && FCGX_GetError(input) == 0
    }

    /// Counts a request as in flight on an accept thread, until ``stopServing()`` (after it is finished).
    private func startServing() {
        inFlightRequests.add(1, ordering: .relaxed)
        metrics.busyThreads.increment()
    }

    /// The request counted by ``startServing()`` is done.
    private func stopServing() {
        inFlightRequests.subtract(1, ordering: .relaxed)
        metrics.busyThreads.decrement()
    }

    /// Whether `fd` is a unix-domain socket (then closing a connection needs no lingering close).
    static func isUnixSocket(_ fd: Int32) -> Bool {
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return rc == 0 && address.ss_family == sa_family_t(AF_UNIX)
    }

    private static func newRequest(listenFD: Int32) -> UnsafeMutablePointer<FCGX_Request> {
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        FCGX_InitRequest(request, listenFD, Int32(FCGI_FAIL_ACCEPT_ON_INTR))
        return request
    }

    /// Answers one request; returns true when its connection was handed to the stream hub. With `kept` (the pool
    /// and the request's connection), a streamed answer's connection nginx asked to keep is lent to the hub and goes
    /// back to the pool when the answer ends; any other streamed connection leaves the pool.
    private func serve(
        _ request: UnsafeMutablePointer<FCGX_Request>, buffer: UnsafeMutablePointer<CChar>,
        params: inout [(String, String)], executor: AcceptThreadExecutor,
        kept: (pool: KeptConnectionPool, connection: KeptConnectionPool.Connection)? = nil
    ) -> Bool {
        let requestID = HTTPServerRequest.makeRequestID()
        params.removeAll(keepingCapacity: true)
        Self.copyParams(request.pointee.envp, into: &params)
        // Nothing of this request (its bearer token, its cookies) stays in the thread's array once it is decoded.
        defer { params.removeAll(keepingCapacity: params.capacity <= 256) }
        let contentLength = params.first(where: { $0.0 == "CONTENT_LENGTH" }).flatMap { Int($0.1) } ?? 0
        let response: HTTPServerResponse
        if contentLength > configuration.maxBodySize {
            response = .error(.contentTooLarge, code: "payload_too_large", message: "Request body too large")
        } else {
            var body = [UInt8]()
            body.reserveCapacity(contentLength)
            while body.count < contentLength {
                let n = FCGX_GetStr(buffer, Int32(min(16 * 1024, contentLength - body.count)), request.pointee.in)
                if n <= 0 { break }
                buffer.withMemoryRebound(to: UInt8.self, capacity: Int(n)) {
                    body.append(contentsOf: UnsafeBufferPointer(start: $0, count: Int(n)))
                }
            }
            do {
                let httpRequest = try CGIRequestDecoder.decode(params: params, body: body, requestID: requestID)
                let responder = self.responder
                response = executor.run { await responder.respond(to: httpRequest) }
            } catch {
                response = .error(.badRequest, code: "bad_request", message: "Malformed request")
            }
        }
        guard let stream = response.stream else {
            write(response, to: request)
            return false
        }
        let head = CGIResponseEncoder.head(response.head, bodyLength: nil)
        let out = request.pointee.out
        head.withUnsafeBufferPointer { buf in
            buf.withMemoryRebound(to: CChar.self) { _ = FCGX_PutStr($0.baseAddress, Int32($0.count), out) }
        }
        if FCGX_FFlush(out) != 0 || FCGX_GetError(out) != 0 {
            stream.clientDisconnected()
            return false
        }
        guard let kept else {
            hub.adopt(request, stream: stream)
            return true
        }
        // An answer's connection (not a GET stream's, which lasts until the client leaves) comes back to the pool,
        // when nginx asked to keep it and its input was read to the end (the next request must not find this one's).
        if !stream.isStandalone, request.pointee.keepConnection != 0, consumeInput(request, buffer: buffer) {
            // Lent: it stays in the pool until the hub gives it back or closes it.
            kept.pool.lend(kept.connection)
            hub.adopt(request, stream: stream, lease: KeptConnectionPool.Lease(pool: kept.pool, connection: kept.connection))
        } else {
            kept.pool.release(kept.connection)
            hub.adopt(request, stream: stream)
        }
        return true
    }

    private func write(_ response: HTTPServerResponse, to request: UnsafeMutablePointer<FCGX_Request>) {
        let head = CGIResponseEncoder.head(response.head, bodyLength: response.body.count)
        let out = request.pointee.out
        head.withUnsafeBufferPointer { buf in
            buf.withMemoryRebound(to: CChar.self) { _ = FCGX_PutStr($0.baseAddress, Int32($0.count), out) }
        }
        if !response.body.isEmpty {
            response.body.withUnsafeBufferPointer { buf in
                buf.withMemoryRebound(to: CChar.self) { _ = FCGX_PutStr($0.baseAddress, Int32($0.count), out) }
            }
        }
    }

    /// Copies the `NAME=value` strings something reads out of libfcgi's parameter array (they die at
    /// `FCGX_Finish_r`): every `HTTP_*` name and the CGI variables ``CGIRequestDecoder`` uses; the others
    /// nginx sends (`SCRIPT_FILENAME`, `DOCUMENT_ROOT`, `SERVER_SOFTWARE`, …) are skipped by comparing bytes,
    /// before any `String` is made.
    static func copyParams(_ envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> [(String, String)] {
        var result: [(String, String)] = []
        result.reserveCapacity(24)
        copyParams(envp, into: &result)
        return result
    }

    /// ``copyParams(_:)`` appending to `result` (an accept thread reuses one array for every request).
    static func copyParams(
        _ envp: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, into result: inout [(String, String)]
    ) {
        guard var cursor = envp else { return }
        while let entry = cursor.pointee {
            let length = strlen(entry)
            entry.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
                let buffer = UnsafeBufferPointer(start: bytes, count: length)
                if let eq = buffer.firstIndex(of: UInt8(ascii: "=")) {
                    let nameBytes = UnsafeBufferPointer(rebasing: buffer[..<eq])
                    if CGIRequestDecoder.isRead(nameBytes) {
                        let name = CGIRequestDecoder.name(nameBytes)
                        let value = CGIRequestDecoder.value(UnsafeBufferPointer(rebasing: buffer[(eq + 1)...]))
                        result.append((name, value))
                    }
                }
            }
            cursor += 1
        }
    }

    private final class ThreadBody {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Starts a thread running `body`; SIGTERM and SIGINT are blocked in it and SIGUSR1 (the drain's wake-up of a
    /// thread in `accept()`) is unblocked before `body` runs, whoever calls this. A thread inherits its creator's
    /// mask, and the cooperative pool's threads (where `run()` as a `Service` starts the server) block every
    /// signal: an accept thread started from one would never see the drain's SIGUSR1.
    static func startThread(_ body: @escaping () -> Void) -> pthread_t {
        var tid = pthread_t()
        let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        let rc = pthread_create(
            &tid, nil,
            { raw in
                FastCGIServer.blockTerminationSignals()
                var wake = sigset_t()
                sigemptyset(&wake)
                sigaddset(&wake, SIGUSR1)
                pthread_sigmask(SIG_UNBLOCK, &wake, nil)
                let body = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
                body.body()
                return nil
            }, context)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        return tid
    }

    /// Starts a thread nobody joins.
    static func detachThread(_ body: @escaping () -> Void) {
        pthread_detach(startThread(body))
    }
}
