import CFCGI
import Metrics
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The FastCGI connections nginx keeps open between requests (`fastcgi_keep_conn on` with an upstream `keepalive`
/// pool), and the listening socket, in one epoll set that every accept thread waits on.
///
/// libfcgi reads a kept connection's next request with a blocking `read`: an accept thread that called
/// `FCGX_Accept_r` on an idle kept connection would wait there until nginx used that connection again. Here no
/// thread ever waits on one connection: an idle connection is *parked* (registered with `EPOLLONESHOT`), and the
/// one thread that epoll wakes for it — when its next request is readable, or it was closed — takes it, reads the
/// request with `FCGX_Accept_r` (nginx writes a request's records at once, so the read does not wait) and serves it
/// on the spot, with no hand-over between threads. The listening socket is in the same set (non-blocking, `EPOLLONESHOT`, re-armed
/// after each accept), so a new connection and a parked one are served by whichever thread is free.
///
/// A parked connection's `listen_sock` is -1: when its peer closed it, `FCGX_Accept_r` closes it and its attempt to
/// accept a replacement fails at once instead of blocking in `accept()`.
///
/// **Closing.** A connection ends when nginx closes it (reload, `keepalive_timeout`, `keepalive_requests`, its cache
/// full): the thread woken by the end of stream closes it. The worker closes a connection nginx asked to keep only
/// in two ways that nginx cannot miss. Right after an answer, the answer's `END_REQUEST` is followed in the same write
/// by one more record (``FastCGIRecord/endBeforeClosing(requestID:)``), so that nginx does not cache the connection
/// (a plain close could reach nginx just after it cached the connection, and go unnoticed until it sends the next
/// request into it: a 502 for a POST, which nginx does not retry). When idle for ``settleTime`` with nothing to read
/// (nginx has long cached it and watches it: it drops a closed one at once): ``closeIdle(idleFor:)``. Only a request
/// nginx writes in the very instant of that close can fail, as with any upstream keep-alive. A streamed answer's
/// connection comes back here when the stream ends. The first happens when the pool is full (at most ``maxParked``
/// idle) and in a drain, the second in a drain.
///
/// Taking and parking a connection is lock-free (one atomic state per connection: owned, arming, parked, being
/// checked by the drain, closed): every request does both, on every accept thread, and a lock they all take is
/// contended — a thread spinning for a lock whose holder was preempted costs far more than the work it guards. The
/// registry of connections (for the drain and the bound) takes a lock only when a connection opens or ends.
final class KeptConnectionPool: @unchecked Sendable {
    /// One kept connection: libfcgi's request structure, which holds the socket between requests.
    final class Connection: @unchecked Sendable {
        /// libfcgi's request (and the connection's descriptor, `ipcFd`).
        let request: UnsafeMutablePointer<FCGX_Request>
        /// Whether the descriptor was added to the epoll set once (then re-armed with `EPOLL_CTL_MOD`). Touched
        /// only by the thread that owns the connection.
        var registered = false
        /// Who has it: a generation (bits 8 and up, counted by every ``KeptConnectionPool/park(_:)``) and ``Phase``'s
        /// raw value (the low byte). The generation keeps a parker that was preempted after arming from marking parked a
        /// connection that another thread has taken and is parking anew.
        let phase = Atomic<UInt64>(UInt64(Phase.owned.rawValue))
        /// When it was parked last (monotonic nanoseconds).
        let parkedAt = Atomic<Int64>(0)

        init(request: UnsafeMutablePointer<FCGX_Request>) { self.request = request }
    }

    /// Who has a connection. A thread owns it while serving a request; ``park(_:)`` arms it in epoll (arming) and
    /// then marks it parked; the thread epoll wakes for it takes it (parked or still arming → owned); the drain
    /// checks a parked one (checking) and closes it (closed) or puts it back (parked).
    enum Phase: UInt8 {
        case owned, arming, parked, checking, closed
    }

    /// A connection lent to the stream hub for a streamed answer, and the pool it goes back to.
    struct Lease: Sendable {
        /// The pool.
        let pool: KeptConnectionPool
        /// The connection.
        let connection: Connection
    }

    /// What a thread woke up for.
    enum Event {
        /// The listening socket has a connection to accept.
        case listening
        /// A parked connection is readable (a request, or its end).
        case connection(Connection)
        /// A signal (the drain's SIGUSR1) interrupted the wait.
        case interrupted
    }

    private struct Registry {
        /// Every connection the pool knows (parked, being served, or lent to the hub), which keeps their objects
        /// alive: epoll's data is their address.
        var connections: [ObjectIdentifier: Connection] = [:]
        /// Connections the drain closed while parked, kept alive until ``closeAll()``: a thread may hold one of their
        /// addresses from epoll.
        var closedByDrain: [Connection] = []
    }

    /// How long a connection must have been idle before the drain closes it: by then nginx has read the last answer
    /// on it, cached it and watches it for its end.
    static let settleTime: Duration = .milliseconds(50)

    /// The epoll set.
    let epollFD: Int32
    /// The listening socket (made non-blocking).
    let listenFD: Int32
    /// The most idle connections parked at once; beyond it a connection is closed after its request (a bound that
    /// threads finishing at the same moment may pass by one each).
    let maxParked: Int
    /// Whether connections are unix sockets (closed with a plain `close()`, no lingering close).
    let plainClose: Bool
    private let registry = PlainLock(Registry())
    private let parked = Atomic<Int>(0)
    /// Connections lent to the stream hub for a streamed answer now.
    private let lent = Atomic<Int>(0)
    /// Set by the drain's first ``closeIdle(idleFor:)``: every connection is closed after its request.
    private let closing = Atomic<Bool>(false)
    /// Set by ``finish()``: no connection is parked again.
    private let finished = Atomic<Bool>(false)
    /// Set when libfcgi's shutdown flag is set: an accept then fails at once, so the listening socket is not re-armed.
    private let acceptStopped = Atomic<Bool>(false)
    /// `mcpfcgi_fastcgi_connections_idle`.
    private let parkedGauge: Meter
    /// Signalled when the drain closes connections and when one is forgotten while closing (the drain waits until
    /// none is left).
    private let changed: ChangeSignal
    /// The listening socket's file status flags before they were made non-blocking (restored by ``closeAll()``: the
    /// socket may outlive this process, under systemd).
    private let listenFlags: Int32

    /// The epoll data of the listening socket (connections carry their object's address, never 0).
    private static let listeningKey: UInt64 = 0

    /// Creates the set and registers `listenFD` (made non-blocking: a connection another process took first
    /// must not leave a thread waiting in `accept()`).
    init(
        listenFD: Int32, maxParked: Int, plainClose: Bool, parkedGauge: Meter, changed: ChangeSignal
    ) throws(FastCGIServer.StartupError) {
        let fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard fd >= 0 else { throw FastCGIServer.StartupError(description: "epoll_create1(): errno \(errno)") }
        self.epollFD = fd
        self.listenFD = listenFD
        self.maxParked = maxParked
        self.plainClose = plainClose
        self.parkedGauge = parkedGauge
        self.changed = changed
        listenFlags = fcntl(listenFD, F_GETFL)
        _ = fcntl(listenFD, F_SETFL, listenFlags | O_NONBLOCK)
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLONESHOT.rawValue
        event.data.u64 = Self.listeningKey
        guard epoll_ctl(fd, EPOLL_CTL_ADD, listenFD, &event) == 0 else {
            let code = errno
            Glibc.close(fd)
            _ = fcntl(listenFD, F_SETFL, listenFlags)
            throw FastCGIServer.StartupError(description: "epoll_ctl(listening socket): errno \(code)")
        }
    }

    /// Idle connections parked now.
    var parkedCount: Int { parked.load(ordering: .relaxed) }

    /// Connections open now (parked, being served, or lent to the stream hub).
    var connectionCount: Int { registry.withLock { $0.connections.count } }

    /// Connections open now that are not lent to the stream hub: what a drain waits for. A lent connection carries a
    /// streamed answer, which the drain's later steps wait for or end (a 2026-07-28 `subscriptions/listen` answer
    /// lasts until the drain ends it); it is closed after its answer, announced, since the pool is closing then.
    var unlentConnectionCount: Int { connectionCount - lent.load(ordering: .sequentiallyConsistent) }

    /// Monotonic nanoseconds.
    private static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }

    /// Waits until the listening socket or a parked connection is ready, or a signal arrives. A connection
    /// returned here is the caller's only once ``take(_:)`` says so.
    func wait() -> Event {
        var event = epoll_event()
        let n = epoll_wait(epollFD, &event, 1, -1)
        guard n == 1 else { return .interrupted }
        if event.data.u64 == Self.listeningKey { return .listening }
        let object = UnsafeRawPointer(bitPattern: UInt(event.data.u64))!
        return .connection(Unmanaged<Connection>.fromOpaque(object).takeUnretainedValue())
    }

    /// Re-arms the listening socket (unless libfcgi's shutdown flag makes every accept fail).
    func rearmListening() {
        guard !acceptStopped.load(ordering: .relaxed) else { return }
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLONESHOT.rawValue
        event.data.u64 = Self.listeningKey
        epoll_ctl(epollFD, EPOLL_CTL_MOD, listenFD, &event)
    }

    /// Marks that libfcgi's shutdown flag is set: the listening socket is no longer re-armed.
    func stopAccepting() { acceptStopped.store(true, ordering: .relaxed) }

    /// A request structure for a new connection on the listening socket.
    func newRequest() -> UnsafeMutablePointer<FCGX_Request> {
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        FCGX_InitRequest(request, listenFD, Int32(FCGI_FAIL_ACCEPT_ON_INTR))
        return request
    }

    /// Adopts a request that `FCGX_Accept_r` has just accepted on the listening socket.
    func register(_ request: UnsafeMutablePointer<FCGX_Request>) -> Connection {
        // Never accept() through this request again: a kept connection found closed must not wait for a new one.
        request.pointee.listen_sock = -1
        let connection = Connection(request: request)
        registry.withLock { $0.connections[ObjectIdentifier(connection)] = connection }
        return connection
    }

    /// Takes a connection epoll woke this thread for.
    /// - Returns: false when the drain closed it in the meantime (then it is not the caller's).
    func take(_ connection: Connection) -> Bool {
        while true {
            let current = connection.phase.load(ordering: .acquiring)
            let owned = Self.with(current, Phase.owned)
            switch Self.phase(of: current) {
            case .parked?:
                if connection.phase.compareExchange(expected: current, desired: owned, ordering: .acquiringAndReleasing)
                    .exchanged
                {
                    parked.subtract(1, ordering: .relaxed)
                    parkedGauge.decrement()
                    return true
                }
            case .arming?:
                // Armed and ready before its parker marked it parked: the parker's own exchange then fails.
                if connection.phase.compareExchange(expected: current, desired: owned, ordering: .acquiringAndReleasing)
                    .exchanged
                {
                    return true
                }
            case .checking?:
                // The drain looks at it for a moment (a peek): it closes it or puts it back.
                sched_yield()
            default:
                return false
            }
        }
    }

    /// The phase in a ``Connection/phase`` value.
    private static func phase(of value: UInt64) -> Phase? { Phase(rawValue: UInt8(truncatingIfNeeded: value)) }

    /// `value`'s generation with `phase`.
    private static func with(_ value: UInt64, _ phase: Phase) -> UInt64 { value & ~0xFF | UInt64(phase.rawValue) }

    /// Whether a connection whose request is done may be kept: the pool has room and is not closing. Decided before
    /// the request's `END_REQUEST` is written: a connection that may not be kept is told so in the same write (see
    /// ``FastCGIRecord/endBeforeClosing(requestID:)``).
    var mayKeep: Bool {
        !closing.load(ordering: .relaxed) && !finished.load(ordering: .relaxed)
            && parked.load(ordering: .relaxed) < maxParked
    }

    /// Parks a connection the calling thread owns, whose request is finished (its descriptor open); closes it when
    /// the pool is finished (the accept threads stopped).
    func park(_ connection: Connection) {
        guard !finished.load(ordering: .acquiring) else { return discard(connection) }
        if plainClose { connection.request.pointee.detached = 1 }
        let fd = connection.request.pointee.ipcFd
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLONESHOT.rawValue
        event.data.u64 = UInt64(UInt(bitPattern: Unmanaged.passUnretained(connection).toOpaque()))
        connection.parkedAt.store(Self.now(), ordering: .relaxed)
        let operation = connection.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD
        connection.registered = true
        // Arming before it is marked parked: the drain never touches it meanwhile (it only checks parked ones), and a
        // thread epoll wakes at once takes it from arming. A new generation: only this park's exchange below can mark it.
        let arming = (connection.phase.load(ordering: .relaxed) >> 8 &+ 1) << 8 | UInt64(Phase.arming.rawValue)
        connection.phase.store(arming, ordering: .releasing)
        var rc = epoll_ctl(epollFD, operation, fd, &event)
        // A connection back from the stream hub is still in the set (disarmed) from before its streamed answer.
        if rc != 0, errno == EEXIST { rc = epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, &event) }
        guard rc == 0 else {
            // Not armed (the descriptor is bad): nobody else can have it.
            connection.phase.store(Self.with(arming, .owned), ordering: .relaxed)
            return discard(connection)
        }
        if connection.phase.compareExchange(
            expected: arming, desired: Self.with(arming, .parked), ordering: .acquiringAndReleasing
        ).exchanged {
            parked.add(1, ordering: .relaxed)
            parkedGauge.increment()
        }
        // Else a thread epoll woke has taken it already: nothing here touches it any more.
    }

    /// Takes back a connection lent to the stream hub, once its answer's `END_REQUEST` is written: nginx asked to keep
    /// it and will send its next request on it. The hub has freed the request's streams and left the socket open (and
    /// blocking again).
    func readopt(_ connection: Connection) {
        park(connection)
    }

    /// The stream hub's answer on a lent connection is ending (its `END_REQUEST` about to be queued): the connection
    /// is no longer counted as lent, so a drain starting from now on waits for it.
    /// - Returns: whether it may be kept (``mayKeep``): otherwise the hub ends the answer with the closing record and
    ///   closes it. The lent count falls before the closing flag is read, and the drain sets that flag before it reads
    ///   the count: either the hub sees the drain (and closes), or the drain sees the connection (and waits for it).
    func returning(_ connection: Connection) -> Bool {
        lent.subtract(1, ordering: .sequentiallyConsistent)
        return !closing.load(ordering: .sequentiallyConsistent) && !finished.load(ordering: .sequentiallyConsistent)
            && parked.load(ordering: .relaxed) < maxParked
    }

    /// Lends a connection the calling thread owns to the stream hub for a streamed answer: it stays in the registry
    /// until the hub gives it back (``readopt(_:)``) or closes it (``releaseLent(_:)``).
    func lend(_ connection: Connection) {
        lent.add(1, ordering: .relaxed)
    }

    /// Forgets a lent connection the stream hub closed before its answer ended (``returning(_:)`` not called).
    func releaseLent(_ connection: Connection) {
        lent.subtract(1, ordering: .relaxed)
        release(connection)
    }

    /// Forgets a connection: its request structure was taken over by the stream hub (which closes the socket), or the
    /// hub closed a connection lent to it.
    func release(_ connection: Connection) {
        registry.withLock { _ = $0.connections.removeValue(forKey: ObjectIdentifier(connection)) }
        if closing.load(ordering: .relaxed) { changed.signal() }
    }

    /// Closes a connection the calling thread owns (not parked), unless closed already, and frees its request
    /// structure.
    func discard(_ connection: Connection) {
        release(connection)
        // epoll forgets a descriptor when it is closed (nothing else holds it).
        if plainClose { connection.request.pointee.detached = 1 }
        FCGX_Free(connection.request, connection.request.pointee.ipcFd >= 0 ? 1 : 0)
        connection.request.deallocate()
    }

    /// The drain, again and again until no connection is left: closes every connection parked for at least `idle`
    /// with nothing to read (nginx notices at once and drops it from its cache); one with a request on its way is left
    /// to the thread epoll wakes for it, which serves it and closes the connection (the pool is closing). From the
    /// first call on, every connection is closed after its request, which nginx is told (``mayKeep`` is false).
    func closeIdle(idleFor idle: Duration) {
        closing.store(true, ordering: .sequentiallyConsistent)
        let idleNanoseconds = Int64(idle / .nanoseconds(1))
        let closed = registry.withLock { registry in
            var closed = 0
            for connection in Array(registry.connections.values) {
                let current = connection.phase.load(ordering: .acquiring)
                guard Self.phase(of: current) == .parked,
                    connection.phase.compareExchange(
                        expected: current, desired: Self.with(current, .checking), ordering: .acquiringAndReleasing
                    ).exchanged
                else { continue }
                // The drain's now: no thread owns it (one epoll wakes waits in take()), its descriptor is open.
                let fd = connection.request.pointee.ipcFd
                var byte: UInt8 = 0
                let idleLongEnough = Self.now() - connection.parkedAt.load(ordering: .relaxed) >= idleNanoseconds
                let peeked = idleLongEnough ? recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) : 1
                guard peeked < 0, errno == EAGAIN || errno == EWOULDBLOCK else {
                    connection.phase.store(current, ordering: .releasing)
                    continue
                }
                epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
                // A plain close, TCP too: nothing is left to read, so libfcgi's lingering close would only wait.
                connection.request.pointee.detached = 1
                FCGX_Free(connection.request, 1)
                connection.request.deallocate()
                parked.subtract(1, ordering: .relaxed)
                connection.phase.store(Self.with(current, .closed), ordering: .releasing)
                registry.connections.removeValue(forKey: ObjectIdentifier(connection))
                registry.closedByDrain.append(connection)
                closed += 1
            }
            return closed
        }
        if closed > 0 {
            parkedGauge.decrement(by: Double(closed))
            changed.signal()
        }
    }

    /// The drain, before the accept threads stop: no connection is parked again (a thread, or the hub, closes each
    /// one after its request).
    func finish() { finished.store(true, ordering: .sequentiallyConsistent) }

    /// After every accept thread returned: closes the connections left (parked ones nobody woke for) and the epoll
    /// set. Not called after a forced stop (a thread may still be serving, or about to take a parked connection):
    /// the process is about to exit then.
    func closeAll() {
        finished.store(true, ordering: .sequentiallyConsistent)
        let leftovers = registry.withLock { registry in
            defer {
                registry.connections = [:]
                registry.closedByDrain = []
            }
            return Array(registry.connections.values)
        }
        parked.store(0, ordering: .relaxed)
        for connection in leftovers {
            if plainClose { connection.request.pointee.detached = 1 }
            FCGX_Free(connection.request, 1)
            connection.request.deallocate()
        }
        Glibc.close(epollFD)
        _ = fcntl(listenFD, F_SETFL, listenFlags)
        parkedGauge.set(0)
    }
}
