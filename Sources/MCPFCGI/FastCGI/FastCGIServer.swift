import CFCGI
import Foundation
import Logging
import Metrics
import Synchronization
import MCPHTTP
import MCPStreamableHTTP
import MCPHandlers

#if canImport(Glibc)
    import Glibc
#endif

/// The FastCGI front: a pool of accept threads on libfcgi, each taking a request from nginx, handing it
/// to an ``HTTPResponder`` and writing the answer back.
///
/// ```swift
/// FastCGIServer.blockTerminationSignals()   // first thing in main, before any thread exists
/// let server = FastCGIServer(configuration: .init(socketPath: "/run/mcp/app.sock"), responder: app, logger: logger)
/// try server.run()                            // returns after SIGTERM/SIGINT and a clean drain
/// ```
///
/// Facts it relies on (see README, Architecture): `FCGX_Init` once before any thread; many threads may
/// call `FCGX_Accept_r` at once without a mutex; parameters are copied before `FCGX_Finish_r`;
/// SIGTERM/SIGINT are blocked in every thread and taken by `sigwait` in the thread that runs ``run()``.
public final class FastCGIServer: Sendable {
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
        /// Settings of the thread that serves streamed (SSE) responses. Default ``StreamHub/Configuration/init(pingInterval:stallTimeout:maxQueuedBytes:)``.
        public var streaming: StreamHub.Configuration
        /// The swift-metrics backend; nil (default): the process-wide `MetricsSystem.factory`, read when the
        /// server is created, so bootstrap `MetricsSystem` first. Also the stream hub's when
        /// ``StreamHub/Configuration/metricsFactory`` is nil.
        ///
        /// The server records `mcpfcgi_fastcgi_accept_threads` (gauge: the accept threads started),
        /// `mcpfcgi_fastcgi_accept_threads_busy` (gauge: accept threads serving a request now, which is also
        /// the number of requests in flight on them), `mcpfcgi_drains_total` (drains started) and
        /// `mcpfcgi_draining` (gauge: 1 while draining). The listen backlog of the unix socket (connections nginx
        /// made that no thread accepted yet) is not measurable from user space on Linux (no `SO_*` option or
        /// `/proc` entry reports a unix socket's accept queue), so it is not reported; a busy count that stays at
        /// the thread count is the sign that requests queue.
        public var metricsFactory: (any MetricsFactory)?

        /// Creates a configuration; every parameter has the default documented on its property.
        public init(
            socketPath: String? = nil, socketMode: UInt16 = 0o660, backlog: Int32 = 1024,
            threads: Int = max(4, 2 * ProcessInfo.processInfo.activeProcessorCount),
            maxBodySize: Int = 4 << 20, drainTimeout: Duration = .seconds(30),
            exclusiveInheritedSocket: Bool = false, streaming: StreamHub.Configuration = StreamHub.Configuration(),
            metricsFactory: (any MetricsFactory)? = nil
        ) {
            self.socketPath = socketPath
            self.socketMode = socketMode
            self.backlog = backlog
            self.threads = threads
            self.maxBodySize = maxBodySize
            self.drainTimeout = drainTimeout
            self.streaming = streaming
            self.exclusiveInheritedSocket = exclusiveInheritedSocket
            self.metricsFactory = metricsFactory
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
    private let state = Mutex(State())
    /// Requests being served by the accept threads (an atomic: every request changes it twice, from every thread).
    private let inFlightRequests = Atomic<Int>(0)
    /// The thread that serves streamed responses.
    public let hub: StreamHub
    private let metrics: FrontMetrics

    /// The front's metric handles, made once.
    private struct FrontMetrics: Sendable {
        let acceptThreads: Meter
        let busyThreads: Meter
        let drains: Counter
        let draining: Meter

        init(factory: any MetricsFactory) {
            acceptThreads = Meter(label: "mcpfcgi_fastcgi_accept_threads", factory: factory)
            busyThreads = Meter(label: "mcpfcgi_fastcgi_accept_threads_busy", factory: factory)
            drains = Counter(label: "mcpfcgi_drains_total", factory: factory)
            draining = Meter(label: "mcpfcgi_draining", factory: factory)
        }
    }

    private struct State {
        var started = false
        var threads: [pthread_t] = []
        var running = 0
        var listenFD: Int32 = -1
    }

    /// Creates the front end; nothing happens until ``start()`` or ``run()``.
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

    /// Blocks SIGTERM and SIGINT in the calling thread (and so in every thread it starts later), so that
    /// ``run()`` can take them with `sigwait`. Call it first thing in `main`, before anything starts a thread.
    public static func blockTerminationSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Starts the server, waits for SIGTERM or SIGINT, then drains: stops accepting, lets in-flight requests
    /// finish (bounded by ``Configuration/drainTimeout``) and returns.
    /// - Throws: ``StartupError`` when the socket cannot be opened.
    public func run() throws {
        Self.blockTerminationSignals()
        try start()
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        var signal: Int32 = 0
        sigwait(&set, &signal)
        logger.info("signal received; draining", metadata: ["signal": "\(signal)"])
        drain()
    }

    /// Opens the socket and starts the accept threads, then returns.
    /// - Throws: ``StartupError`` when libfcgi cannot initialise or the socket cannot be opened.
    public func start() throws {
        guard FCGX_Init() == 0 else { throw StartupError(description: "FCGX_Init failed") }
        let fd = try openListeningSocket()
        let count = max(1, configuration.threads)
        state.withLock {
            $0.listenFD = fd
            $0.started = true
        }
        metrics.acceptThreads.set(count)
        for index in 0..<count {
            let tid = Self.startThread { [self] in self.acceptLoop(listenFD: fd, index: index) }
            state.withLock {
                $0.threads.append(tid)
                $0.running += 1
            }
        }
        logger.info(
            "FastCGI worker listening",
            metadata: ["socket": "\(configuration.socketPath ?? "fd 0 (spawn-fcgi)")", "threads": "\(count)"])
    }

    /// Stops accepting and waits for in-flight requests, at most ``Configuration/drainTimeout``.
    /// libfcgi's shutdown flag is process-wide: a drained server cannot be started again in this process.
    public func drain() {
        let deadline = ContinuousClock.now + configuration.drainTimeout
        metrics.drains.increment()
        metrics.draining.set(1)
        defer { metrics.draining.set(0) }
        let listenFD = state.withLock { $0.listenFD }
        // 1. No new connections: remove the socket's name (nginx then uses the other workers).
        if let path = configuration.socketPath ?? (configuration.exclusiveInheritedSocket ? Self.boundPath(of: listenFD) : nil) {
            unlink(path)
        }
        // 2. Serve the connections already queued on the socket: they reached this worker and must not be reset.
        var quietChecks = 0
        while quietChecks < 3, ContinuousClock.now < deadline {
            var descriptor = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
            quietChecks = poll(&descriptor, 1, 0) > 0 ? 0 : quietChecks + 1
            usleep(10_000)
        }
        // 3. End long-lived streams (listen), then stop the accept threads once their current request is done.
        responder.willDrain()
        FCGX_ShutdownPending()
        while true {
            let (threads, running) = state.withLock { ($0.threads, $0.running) }
            let inFlight = inFlightRequests.load(ordering: .relaxed)
            if running == 0, hub.activeRequestStreamCount == 0 { break }
            if ContinuousClock.now >= deadline {
                logger.error(
                    "drain timeout reached; exiting with requests in flight",
                    metadata: ["inFlight": "\(inFlight)", "streams": "\(hub.activeRequestStreamCount)"])
                hub.finishAll()
                return
            }
            // Wake threads blocked in accept(): SIGUSR1 makes it fail with EINTR (FCGI_FAIL_ACCEPT_ON_INTR).
            for tid in threads { pthread_kill(tid, SIGUSR1) }
            usleep(10_000)
        }
        hub.finishAll()
        for _ in 0..<100 where hub.openStreamCount > 0 { usleep(10_000) }
        logger.info("drained; all accept threads stopped")
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

    private func acceptLoop(listenFD: Int32, index: Int) {
        defer { state.withLock { $0.running -= 1 } }
        let executor = AcceptThreadExecutor()
        let plainClose = Self.isUnixSocket(listenFD)
        var request = Self.newRequest(listenFD: listenFD)
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: 16 * 1024)
        defer { buffer.deallocate() }
        while true {
            let rc = FCGX_Accept_r(request)
            if rc < 0 {
                FCGX_Free(request, 1)
                request.deallocate()
                break
            }
            inFlightRequests.add(1, ordering: .relaxed)
            metrics.busyThreads.increment()
            let handedOff = serve(request, buffer: buffer, executor: executor)
            if handedOff {
                // The hub owns that request now; never pass it to FCGX_Accept_r again.
                request = Self.newRequest(listenFD: listenFD)
            } else {
                // FCGX_Finish_r still writes the last STDOUT/END_REQUEST records (FCGX_FClose of `out`) before
                // it closes; `detached` only turns libfcgi's lingering close (shutdown(SHUT_WR), then poll/read
                // until nginx closes its end) into a plain close(), which loses nothing on a unix socket.
                if plainClose { request.pointee.detached = 1 }
                FCGX_Finish_r(request)
            }
            inFlightRequests.subtract(1, ordering: .relaxed)
            metrics.busyThreads.decrement()
        }
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

    /// Answers one request; returns true when its connection was handed to the stream hub.
    private func serve(
        _ request: UnsafeMutablePointer<FCGX_Request>, buffer: UnsafeMutablePointer<CChar>, executor: AcceptThreadExecutor
    ) -> Bool {
        let requestID = HTTPServerRequest.makeRequestID()
        let params = Self.copyParams(request.pointee.envp)
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
        hub.adopt(request, stream: stream)
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
        guard var cursor = envp else { return [] }
        var result: [(String, String)] = []
        result.reserveCapacity(24)
        while let entry = cursor.pointee {
            let length = strlen(entry)
            entry.withMemoryRebound(to: UInt8.self, capacity: length) { bytes in
                let buffer = UnsafeBufferPointer(start: bytes, count: length)
                if let eq = buffer.firstIndex(of: UInt8(ascii: "=")) {
                    let nameBytes = UnsafeBufferPointer(rebasing: buffer[..<eq])
                    if CGIRequestDecoder.isRead(nameBytes) {
                        let name = String(decoding: nameBytes, as: UTF8.self)
                        let value = String(decoding: UnsafeBufferPointer(rebasing: buffer[(eq + 1)...]), as: UTF8.self)
                        result.append((name, value))
                    }
                }
            }
            cursor += 1
        }
        return result
    }

    private final class ThreadBody {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    static func startThread(_ body: @escaping () -> Void) -> pthread_t {
        var tid = pthread_t()
        let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        let rc = pthread_create(
            &tid, nil,
            { raw in
                let body = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
                body.body()
                return nil
            }, context)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        return tid
    }
}
