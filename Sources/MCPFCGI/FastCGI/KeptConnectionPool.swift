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
/// Bookkeeping is one uncontended lock when a connection is taken and when it is parked; the lock also keeps the
/// drain from touching a connection a thread is serving (whose descriptor that thread may close and reuse).
final class KeptConnectionPool: @unchecked Sendable {
    /// One kept connection: libfcgi's request structure, which holds the socket between requests.
    final class Connection: @unchecked Sendable {
        /// libfcgi's request (and the connection's descriptor, `ipcFd`).
        let request: UnsafeMutablePointer<FCGX_Request>
        /// Whether the descriptor was added to the epoll set once (then re-armed with `EPOLL_CTL_MOD`). Touched
        /// only by the thread that owns the connection.
        var registered = false
        /// Whether it waits in the epoll set, owned by no thread. Guarded by the pool's lock.
        var parked = false
        /// When it was parked last. Guarded by the pool's lock.
        var parkedAt = ContinuousClock.now
        /// Set when the drain closed it while parked: a thread that epoll woke for it in that instant leaves it
        /// alone. Guarded by the pool's lock.
        var closed = false
        /// Whether the stream hub holds it for a streamed answer. Guarded by the pool's lock.
        var lent = false

        init(request: UnsafeMutablePointer<FCGX_Request>) { self.request = request }
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

    private struct State {
        /// Every connection the pool knows (parked or being served), which keeps their objects alive.
        var connections: [ObjectIdentifier: Connection] = [:]
        var parkedCount = 0
        /// Set by the drain's first ``closeIdle(idleFor:)``.
        var closing = false
        /// Set by ``finish()``: no connection is parked again.
        var finished = false
        /// Connections the drain closed while parked, kept alive until ``closeAll()``: a thread may hold one
        /// of their addresses from epoll.
        var closedByDrain: [Connection] = []
    }

    /// How long a connection must have been idle before the drain closes it: by then nginx has read the last answer
    /// on it, cached it and watches it for its end.
    static let settleTime: Duration = .milliseconds(50)

    /// The epoll set.
    let epollFD: Int32
    /// The listening socket (made non-blocking).
    let listenFD: Int32
    /// The most idle connections parked at once; beyond it a connection is closed after its request.
    let maxParked: Int
    /// Whether connections are unix sockets (closed with a plain `close()`, no lingering close).
    let plainClose: Bool
    private let state = Mutex(State())
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
            throw FastCGIServer.StartupError(description: "epoll_ctl(listening socket): errno \(code)")
        }
    }

    /// Idle connections parked now.
    var parkedCount: Int { state.withLock { $0.parkedCount } }

    /// Connections open now (parked or being served).
    var connectionCount: Int { state.withLock { $0.connections.count } }

    /// Waits until the listening socket or a parked connection is ready, or a signal arrives. A connection
    /// returned here is the caller's: ``take(_:)`` it first.
    func wait() -> Event {
        var event = epoll_event()
        let n = epoll_wait(epollFD, &event, 1, -1)
        guard n == 1 else { return .interrupted }
        if event.data.u64 == Self.listeningKey { return .listening }
        let object = UnsafeRawPointer(bitPattern: UInt(event.data.u64))!
        return .connection(Unmanaged<Connection>.fromOpaque(object).takeUnretainedValue())
    }

    /// Re-arms the listening socket after an accept (unless libfcgi's shutdown flag makes every accept fail).
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
        state.withLock { $0.connections[ObjectIdentifier(connection)] = connection }
        return connection
    }

    /// Takes a parked connection epoll woke this thread for; the drain no longer touches it.
    /// - Returns: false when the drain closed it in the meantime (then it is not the caller's).
    func take(_ connection: Connection) -> Bool {
        let (taken, wasParked) = state.withLock { state in
            guard !connection.closed else { return (false, false) }
            guard connection.parked else { return (true, false) }
            connection.parked = false
            state.parkedCount -= 1
            return (true, true)
        }
        if wasParked { parkedGauge.decrement() }
        return taken
    }

    /// Whether a connection whose request is done may be kept: the pool has room and is not closing. Decided before
    /// the request's `END_REQUEST` is written: a connection that may not be kept is told so in the same write (see
    /// ``FastCGIRecord/endBeforeClosing(requestID:)``).
    var mayKeep: Bool { state.withLock { !$0.closing && !$0.finished && $0.parkedCount < maxParked } }

    /// Parks a connection whose request is finished (its descriptor open); closes it when the pool is finished (the
    /// accept threads stopped).
    func park(_ connection: Connection) {
        if plainClose { connection.request.pointee.detached = 1 }
        let fd = connection.request.pointee.ipcFd
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLONESHOT.rawValue
        event.data.u64 = UInt64(UInt(bitPattern: Unmanaged.passUnretained(connection).toOpaque()))
        // Armed under the lock: a thread epoll wakes at once waits in take() until it is parked, and the drain's
        // closeIdle() never sees a parked connection whose registration is not done.
        let parked = state.withLock { state in
            guard !state.finished else { return false }
            connection.lent = false
            connection.parked = true
            connection.parkedAt = .now
            state.parkedCount += 1
            let operation = connection.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD
            connection.registered = true
            var rc = epoll_ctl(epollFD, operation, fd, &event)
            // A connection back from the stream hub is still in the set (disarmed) from before its streamed answer.
            if rc != 0, errno == EEXIST { rc = epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, &event) }
            guard rc == 0 else {
                // Not armed (the descriptor is bad): nobody else can own it.
                connection.parked = false
                state.parkedCount -= 1
                return false
            }
            return true
        }
        if parked { parkedGauge.increment() } else { discard(connection) }
    }

    /// Lends a connection the calling thread owns to the stream hub for a streamed answer: it stays counted (a drain
    /// waits for it) and comes back with ``readopt(_:)`` when the answer ends, or is forgotten with ``release(_:)``
    /// when the hub closes it.
    func lend(_ connection: Connection) {
        state.withLock { _ in connection.lent = true }
    }

    /// Takes back a connection lent to the stream hub, once its answer's `END_REQUEST` is written: nginx asked to keep
    /// it and will send its next request on it. The hub has freed the request's streams and left the socket open (and
    /// blocking again).
    func readopt(_ connection: Connection) {
        park(connection)
    }

    /// Forgets a connection whose request structure the stream hub took over (it closes the socket, or gives it
    /// back with ``readopt(_:)``).
    func release(_ connection: Connection) {
        let closing = state.withLock { state in
            state.connections.removeValue(forKey: ObjectIdentifier(connection))
            return state.closing
        }
        if closing { changed.signal() }
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
        let now = ContinuousClock.now
        let closed = state.withLock { state in
            state.closing = true
            var closed = 0
            for connection in Array(state.connections.values)
            where connection.parked && now - connection.parkedAt >= idle {
                // Under the lock: a parked connection is no thread's, and a thread epoll wakes for it now finds it
                // closed in take().
                let fd = connection.request.pointee.ipcFd
                var byte: UInt8 = 0
                let peeked = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
                guard peeked < 0, errno == EAGAIN || errno == EWOULDBLOCK else { continue }
                epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
                // A plain close, TCP too: nothing is left to read, so libfcgi's lingering close would only wait.
                connection.request.pointee.detached = 1
                FCGX_Free(connection.request, 1)
                connection.request.deallocate()
                connection.closed = true
                connection.parked = false
                state.parkedCount -= 1
                state.connections.removeValue(forKey: ObjectIdentifier(connection))
                state.closedByDrain.append(connection)
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
    func finish() { state.withLock { $0.finished = true } }

    /// After every accept thread returned: closes the connections left (parked ones nobody woke for) and the epoll
    /// set. Not called after a forced stop (a thread may still be serving, or about to take a parked connection):
    /// the process is about to exit then.
    func closeAll() {
        let leftovers = state.withLock { state in
            state.finished = true
            state.parkedCount = 0
            state.closedByDrain = []
            defer { state.connections = [:] }
            return Array(state.connections.values)
        }
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
