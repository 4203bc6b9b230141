import CFCGI
import Dispatch
import Logging
import Metrics
import Synchronization
import MCPHTTP
import MCPStreamableHTTP
import MCPHandlers

#if canImport(Glibc)
    import Glibc
#endif

/// One thread that owns every streamed response after its head is sent, so that open streams never pin
/// an accept thread.
///
/// An accept thread hands over its `FCGX_Request` (plain memory plus the connection) and takes a fresh
/// one. The hub writes FastCGI records itself on the now non-blocking socket from a bounded per-stream
/// queue (a client that stops reading stalls only its own stream, and is cut after
/// ``Configuration/stallTimeout``), sends `: ping` comments on idle streams, and notices at once when nginx
/// closes the connection (the client went away) through epoll.
///
/// Creating a hub starts nothing: ``FastCGIServer`` calls ``start()`` when it starts (the epoll and wake-up
/// descriptors are made and the thread starts) and ``shutdown()`` at the end of its drain (the remaining streams
/// are closed, the thread returns and is joined, the descriptors are closed). A hub that shut down does not start
/// again.
package final class StreamHub: Sendable {
    /// Settings of the hub (``FastCGIServer/StreamingConfiguration``).
    package typealias Configuration = FastCGIServer.StreamingConfiguration

    private struct Entry {
        let fd: Int32
        let requestID: UInt16
        let request: OwnedRequest
        let stream: ResponseStream
        /// The kept connection this answer is streamed on, lent by its pool: back to it when the stream has ended
        /// cleanly, if ``reusable``; forgotten by it when closed.
        let lease: KeptConnectionPool.Lease?
        /// Whether the connection goes back to the pool when the stream ends (false once the pool is closing or full).
        var reusable: Bool
        /// Whether the pool was told the answer is ending (``KeptConnectionPool/returning(_:)``).
        var returned = false
        /// Whether nginx asked to keep the connection (`FCGI_KEEP_CONN`): closing it is then announced.
        let keepRequested: Bool
        var out: [UInt8] = []
        var offset = 0
        var finishing = false
        var watchingOut = false
        var lastWrite: ContinuousClock.Instant
        var stalledSince: ContinuousClock.Instant?
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var dirty: Set<UInt64> = []
        /// The keys of the entries, in ``StreamHub/sweepSlices`` slices (by key); one slice is swept per tick.
        var slices = [Set<UInt64>](repeating: [], count: StreamHub.sweepSlices)
        var nextKey: UInt64 = 1
        var signalled = false
        var phase = Phase.idle
        /// The epoll descriptor (-1 unless running).
        var epollFD: Int32 = -1
        /// The eventfd that wakes the thread (-1 unless running).
        var wakeFD: Int32 = -1
        /// Set by a drain's wait: the changes it waits for are then signalled on ``StreamHub/changes``.
        var watched = false
    }

    /// The hub's lifecycle: idle → running → stopping (the thread was asked to return) → stopped.
    private enum Phase: Equatable {
        case idle
        case running(pthread_t)
        case stopping
        case stopped
    }

    /// The settings.
    public let configuration: Configuration
    private let state = Mutex(State())
    /// Signalled when a stream closes or its producer finishes while a drain waits (``State/watched``).
    private let changes = ChangeSignal()
    private let logger: Logger
    private let metrics: HubMetrics

    /// The hub's metric handles, made once.
    private struct HubMetrics: Sendable {
        let open: Meter
        let opened: Counter
        let bytes: Counter
        let stalledCuts: Counter

        init(factory: any MetricsFactory) {
            open = Meter(label: "mcpfcgi_sse_streams_open", factory: factory)
            opened = Counter(label: "mcpfcgi_sse_streams_opened_total", factory: factory)
            bytes = Counter(label: "mcpfcgi_sse_bytes_total", factory: factory)
            stalledCuts = Counter(label: "mcpfcgi_sse_stalled_cuts_total", factory: factory)
        }
    }

    /// Creates the hub; nothing starts until ``start()``.
    /// - Parameters:
    ///   - configuration: ping, stall and queue limits.
    ///   - logger: where stream events are logged.
    public init(configuration: Configuration = Configuration(), logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.metrics = HubMetrics(factory: configuration.metricsFactory ?? MetricsSystem.factory)
    }

    /// Makes the epoll and wake-up descriptors and starts the hub's thread; does nothing unless the hub is new.
    public func start() {
        state.withLock { s in
            guard s.phase == .idle else { return }
            let epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
            let wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
            precondition(epollFD >= 0 && wakeFD >= 0, "epoll_create1/eventfd failed: errno \(errno)")
            var event = epoll_event()
            event.events = EPOLLIN.rawValue
            event.data.u64 = 0
            epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event)
            s.epollFD = epollFD
            s.wakeFD = wakeFD
            s.phase = .running(FastCGIServer.startThread { [self] in self.loop(epollFD: epollFD, wakeFD: wakeFD) })
        }
    }

    /// Stops the hub: its thread returns and is joined, the streams still open are closed (their producers are
    /// told the client went away) and the descriptors are closed. Returns when all that is done; does nothing
    /// when the hub is not running.
    public func shutdown() {
        let (thread, wakeFD): (pthread_t?, Int32) = state.withLock { s in
            guard case .running(let thread) = s.phase else { return (nil, -1) }
            s.phase = .stopping
            return (thread, s.wakeFD)
        }
        guard let thread else { return }
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, 8)
        pthread_join(thread, nil)
        let streams: [ResponseStream] = state.withLock { s in
            let open = s.entries.filter { !$0.value.finishing }.map(\.value.stream)
            for key in Array(s.entries.keys) { close(&s, key: key) }
            Glibc.close(s.epollFD)
            Glibc.close(s.wakeFD)
            s.epollFD = -1
            s.wakeFD = -1
            s.phase = .stopped
            return open
        }
        for stream in streams { stream.clientDisconnected() }
        if !streams.isEmpty { logger.notice("stream hub stopped with streams open; they were cut", metadata: ["streams": "\(streams.count)"]) }
    }

    /// Whether the hub's thread runs (between ``start()`` and ``shutdown()``).
    public var isRunning: Bool {
        state.withLock { if case .running = $0.phase { return true } else { return false } }
    }

    /// Streams currently open.
    public var openStreamCount: Int { state.withLock { $0.entries.count } }

    /// Open streams whose producer has not finished (requests still being answered).
    public var activeRequestStreamCount: Int {
        state.withLock { $0.entries.values.filter { !$0.stream.isStandalone && !$0.finishing }.count }
    }

    /// Takes over a request whose head was sent; its bytes now come from `stream`.
    /// The caller must not touch `request` again (the hub frees it).
    /// - Parameter lease: the kept connection the answer is streamed on (nginx asked to keep it and its input was read
    ///   to the end): once the stream's `END_REQUEST` is written it goes back to its pool instead of being closed.
    func adopt(_ request: UnsafeMutablePointer<FCGX_Request>, stream: ResponseStream, lease: KeptConnectionPool.Lease? = nil) {
        let fd = request.pointee.ipcFd
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let adopted: UInt64? = state.withLock { s in
            guard case .running = s.phase else { return nil }
            let key = s.nextKey
            s.nextKey += 1
            s.entries[key] = Entry(
                fd: fd, requestID: UInt16(truncatingIfNeeded: request.pointee.requestId),
                request: OwnedRequest(pointer: request),
                stream: stream, lease: lease, reusable: lease != nil, keepRequested: request.pointee.keepConnection != 0,
                lastWrite: .now)
            s.slices[Self.slice(of: key)].insert(key)
            // Registered under the lock: shutdown() closes the epoll descriptor under it too, so it is never
            // closed (or its number reused) between the check above and this call.
            var event = epoll_event()
            event.events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue
            event.data.u64 = key
            epoll_ctl(s.epollFD, EPOLL_CTL_ADD, fd, &event)
            return key
        }
        guard let key = adopted else {
            // A forced stop left an accept thread serving after the hub shut down: the answer cannot go on.
            lease.map { $0.pool.releaseLent($0.connection) }
            Glibc.close(fd)
            request.pointee.ipcFd = -1
            FCGX_Free(request, 0)
            request.deallocate()
            stream.clientDisconnected()
            return
        }
        metrics.opened.increment()
        metrics.open.increment()
        stream.attach(Sink(hub: self, key: key))
    }

    /// Waits until no stream's producer is still answering a request (``activeRequestStreamCount`` is 0), woken
    /// by the change itself, at most until `deadline`.
    /// - Returns: false when the deadline came first.
    func waitForActiveRequestStreams(until deadline: ContinuousClock.Instant) -> Bool {
        state.withLock { $0.watched = true }
        return changes.wait(until: deadline) { activeRequestStreamCount > 0 }
    }

    /// Waits until every stream is closed (``openStreamCount`` is 0), woken by the last close, at most until
    /// `deadline`.
    /// - Returns: false when the deadline came first.
    func waitForOpenStreams(until deadline: ContinuousClock.Instant) -> Bool {
        state.withLock { $0.watched = true }
        return changes.wait(until: deadline) { openStreamCount > 0 }
    }

    /// Finishes every open stream (used when the worker shuts down).
    public func finishAll() {
        let streams = state.withLock { $0.entries.values.map(\.stream) }
        for stream in streams { stream.finish() }
    }

    /// A request's memory, owned by the hub alone once adopted (only the hub thread and `adopt` touch it,
    /// under the hub's lock).
    private struct OwnedRequest: @unchecked Sendable {
        let pointer: UnsafeMutablePointer<FCGX_Request>
    }

    private struct Sink: StreamSink {
        let hub: StreamHub
        let key: UInt64
        func write(_ bytes: [UInt8]) { hub.enqueue(key, bytes: bytes, finish: false) }
        func finish() { hub.enqueue(key, bytes: [], finish: true) }
    }

    private func enqueue(_ key: UInt64, bytes: [UInt8], finish: Bool) {
        var cut: ResponseStream?
        let wakeFD: Int32? = state.withLock { s in
            guard var entry = s.entries[key], !entry.finishing else { return nil }
            if !bytes.isEmpty { entry.out += FastCGIRecord.stdout(requestID: entry.requestID, bytes) }
            if finish {
                // Kept (back to the kept connections once written), or closed: then nginx, if it asked to keep the
                // connection, is told in the same write (it would not notice a close reaching it just after).
                if let lease = entry.lease {
                    entry.reusable = lease.pool.returning(lease.connection)
                    entry.returned = true
                }
                entry.out += !entry.reusable && entry.keepRequested
                    ? FastCGIRecord.endBeforeClosing(requestID: entry.requestID)
                    : FastCGIRecord.end(requestID: entry.requestID)
                entry.finishing = true
                if s.watched { changes.signal() }
            }
            if entry.out.count - entry.offset > configuration.maxQueuedBytes {
                cut = entry.stream
                metrics.stalledCuts.increment()
                close(&s, key: key)
                return nil
            }
            s.entries[key] = entry
            s.dirty.insert(key)
            guard !s.signalled else { return nil }
            s.signalled = true
            return s.wakeFD
        }
        if let cut {
            logger.notice("stream cut: client not reading (queue limit)")
            // Not inline: the producer may hold the stream's lock while it writes.
            DispatchQueue.global().async { cut.clientDisconnected() }
        }
        if let wakeFD {
            var one: UInt64 = 1
            _ = Glibc.write(wakeFD, &one, 8)
        }
    }

    /// The hub's thread: returns once ``shutdown()`` moved the phase on from running (it writes the wake-up fd).
    private func loop(epollFD: Int32, wakeFD: Int32) {
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var lastTick = ContinuousClock.now
        var nextSlice = 0
        var scratch = [UInt8](repeating: 0, count: 4096)
        while state.withLock({ if case .running = $0.phase { return true } else { return false } }) {
            let n = epoll_wait(epollFD, &events, Int32(events.count), Self.tickMilliseconds)
            var gone: [ResponseStream] = []
            state.withLock { s in
                if n > 0 {
                    for i in 0..<Int(n) {
                        let key = events[i].data.u64
                        let flags = events[i].events
                        if key == 0 {
                            var value: UInt64 = 0
                            _ = read(wakeFD, &value, 8)
                            s.signalled = false
                            continue
                        }
                        guard let entry = s.entries[key] else { continue }
                        var disconnected = flags & (EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0
                        if !disconnected, flags & EPOLLIN.rawValue != 0 {
                            // Stray bytes (the request's end-of-stdin record) are drained; EOF means nginx closed.
                            while true {
                                let r = recv(entry.fd, &scratch, scratch.count, Int32(MSG_DONTWAIT))
                                if r > 0 { continue }
                                if r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) { disconnected = true }
                                break
                            }
                        }
                        if disconnected {
                            gone.append(entry.stream)
                            close(&s, key: key)
                        } else if flags & EPOLLOUT.rawValue != 0 {
                            s.dirty.insert(key)
                        }
                    }
                }
                for key in s.dirty {
                    if let stream = flush(&s, key: key) { gone.append(stream) }
                }
                s.dirty.removeAll(keepingCapacity: true)
                let now = ContinuousClock.now
                while now - lastTick >= Self.tick {
                    lastTick += Self.tick
                    if now - lastTick > .seconds(1) { lastTick = now }  // the thread was held up: no catch-up burst
                    gone += sweep(&s, slice: nextSlice, now: now)
                    nextSlice = (nextSlice + 1) % Self.sweepSlices
                }
            }
            for stream in gone { stream.clientDisconnected() }
        }
    }

    /// Writes what is queued; returns the stream when the client turned out to be gone.
    private func flush(_ s: inout State, key: UInt64) -> ResponseStream? {
        guard var entry = s.entries[key] else { return nil }
        var sent = 0
        defer { if sent > 0 { metrics.bytes.increment(by: sent) } }
        while entry.offset < entry.out.count {
            let written = entry.out.withUnsafeBytes { raw in
                Glibc.send(entry.fd, raw.baseAddress! + entry.offset, raw.count - entry.offset, Int32(MSG_NOSIGNAL))
            }
            if written > 0 {
                sent += written
                entry.offset += written
                entry.lastWrite = .now
                continue
            }
            if written < 0, errno == EAGAIN || errno == EWOULDBLOCK {
                if entry.stalledSince == nil { entry.stalledSince = .now }
                if !entry.watchingOut { watch(&s, &entry, out: true, key: key) }
                s.entries[key] = entry
                return nil
            }
            let stream = entry.stream
            close(&s, key: key)
            return entry.finishing ? nil : stream
        }
        entry.out.removeAll(keepingCapacity: true)
        entry.offset = 0
        entry.stalledSince = nil
        if entry.watchingOut { watch(&s, &entry, out: false, key: key) }
        if entry.finishing {
            // Everything up to END_REQUEST is written: a connection nginx keeps goes back to the kept ones.
            close(&s, key: key, reusable: true)
            return nil
        }
        s.entries[key] = entry
        return nil
    }

    /// Streams are swept in this many slices, one per ``tick``: every stream is looked at once a second, but
    /// only a tenth of them at a time.
    static let sweepSlices = 10
    /// Time between two slices' sweeps.
    static let tick: Duration = .milliseconds(100)
    private static let tickMilliseconds: Int32 = 100

    private static func slice(of key: UInt64) -> Int { Int(key % UInt64(sweepSlices)) }

    /// How much earlier than ``Configuration/pingInterval`` a stream may get its ping: under a tenth of the
    /// interval (in eight steps, by key), so that streams opened together do not all ping in the same tick
    /// while every ping stays close to the configured interval.
    private func pingDue(key: UInt64) -> Duration {
        configuration.pingInterval - configuration.pingInterval * Int((key / UInt64(Self.sweepSlices)) % 8) / 80
    }

    /// Pings idle streams and cuts stalled ones, in one slice of the streams.
    private func sweep(_ s: inout State, slice: Int, now: ContinuousClock.Instant) -> [ResponseStream] {
        var gone: [ResponseStream] = []
        for key in s.slices[slice] {
            guard let entry = s.entries[key] else { continue }
            if let since = entry.stalledSince, now - since > configuration.stallTimeout {
                logger.notice("stream cut: client stalled")
                metrics.stalledCuts.increment()
                gone.append(entry.stream)
                close(&s, key: key)
            } else if !entry.finishing, entry.offset == entry.out.count, now - entry.lastWrite >= pingDue(key: key) {
                s.entries[key]!.out += FastCGIRecord.stdout(requestID: entry.requestID, ServerSentEvent.keepAlive)
                s.entries[key]!.lastWrite = now
                if let stream = flush(&s, key: key) { gone.append(stream) }
            }
        }
        return gone
    }

    private func watch(_ s: inout State, _ entry: inout Entry, out: Bool, key: UInt64) {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue | (out ? EPOLLOUT.rawValue : 0)
        event.data.u64 = key
        epoll_ctl(s.epollFD, EPOLL_CTL_MOD, entry.fd, &event)
        entry.watchingOut = out
    }

    /// Removes the fd from epoll before closing it (accept threads reuse fd numbers at once), then frees
    /// libfcgi's request memory without letting libfcgi touch the socket.
    /// With `reusable` (the stream ended with its `END_REQUEST` written), a connection nginx keeps goes back to
    /// the kept connections, blocking again, instead.
    private func close(_ s: inout State, key: UInt64, reusable: Bool = false) {
        guard let entry = s.entries.removeValue(forKey: key) else { return }
        metrics.open.decrement()
        s.dirty.remove(key)
        s.slices[Self.slice(of: key)].remove(key)
        epoll_ctl(s.epollFD, EPOLL_CTL_DEL, entry.fd, nil)
        if reusable, entry.reusable, let lease = entry.lease {
            _ = fcntl(entry.fd, F_SETFL, fcntl(entry.fd, F_GETFL) & ~O_NONBLOCK)
            FCGX_Free(entry.request.pointer, 0)
            lease.pool.readopt(lease.connection)
            if s.watched { changes.signal() }
            return
        }
        if let lease = entry.lease {
            if entry.returned { lease.pool.release(lease.connection) } else { lease.pool.releaseLent(lease.connection) }
        }
        Glibc.close(entry.fd)
        entry.request.pointer.pointee.ipcFd = -1
        FCGX_Free(entry.request.pointer, 0)
        entry.request.pointer.deallocate()
        if s.watched { changes.signal() }
    }
}

extension FastCGIServer {
    /// Settings of the thread that serves streamed (SSE) responses: ping interval, stall cut-off, queue bound.
    public struct StreamingConfiguration: Sendable {
        /// Idle time after which a stream gets a `: ping` comment. Default 15 s (below nginx's read timeout).
        public var pingInterval: Duration
        /// How long a stream may stay unwritable before it is cut. Default 30 s.
        public var stallTimeout: Duration
        /// Most bytes queued for one stream; a stream over it is cut. Default 4 MiB.
        public var maxQueuedBytes: Int
        /// The swift-metrics backend; nil (default): the process-wide `MetricsSystem.factory`, read when the
        /// hub is created, so bootstrap `MetricsSystem` first. ``FastCGIServer`` sets its own
        /// ``FastCGIServer/Configuration/metricsFactory`` here when this is nil.
        ///
        /// The hub records `mcpfcgi_sse_streams_open` (gauge), `mcpfcgi_sse_streams_opened_total`,
        /// `mcpfcgi_sse_bytes_total` (bytes written to nginx on streams, FastCGI framing and pings included)
        /// and `mcpfcgi_sse_stalled_cuts_total` (streams cut because the client stopped reading: queue over
        /// ``maxQueuedBytes`` or unwritable for ``stallTimeout``).
        public var metricsFactory: (any MetricsFactory)?

        /// Creates a configuration; every parameter has the default documented on its property.
        public init(
            pingInterval: Duration = .seconds(15), stallTimeout: Duration = .seconds(30), maxQueuedBytes: Int = 4 << 20,
            metricsFactory: (any MetricsFactory)? = nil
        ) {
            self.pingInterval = pingInterval
            self.stallTimeout = stallTimeout
            self.maxQueuedBytes = maxQueuedBytes
            self.metricsFactory = metricsFactory
        }
    }
}
