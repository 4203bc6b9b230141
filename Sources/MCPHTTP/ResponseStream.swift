import Synchronization

/// Where a streamed response's bytes go once the response head is out: the FastCGI front's
/// `StreamHub`, or a collector in tests.
public protocol StreamSink: Sendable {
    /// Queues bytes for the client. Never blocks.
    func write(_ bytes: [UInt8])
    /// Ends the response after everything queued.
    func finish()
}

/// The body of a streamed (Server-Sent Events) response: the producer (a handler's task) writes into it
/// from any thread; the front end attaches a ``StreamSink`` once the head is sent. Bytes written before
/// that are kept and delivered on attach, in order.
///
/// When the client goes away, the front end calls ``clientDisconnected()``: writes are dropped from then
/// on, and the ``onClose(_:)`` callbacks run once (the endpoint feeds the disconnect to the answer's state
/// machine there).
///
/// Its lifecycle is one `Phase` (open → finished → closed, or open → closed) and the sink (none: bytes
/// are kept; attached: bytes go through), under one lock.
public final class ResponseStream: Sendable {
    /// Where the connection is.
    private enum Phase {
        /// The producer may write.
        case open
        /// The producer ended the stream; the sink finishes after what was queued.
        case finished
        /// The client went away: writes are dropped, the close callbacks ran.
        case closed
    }

    /// Everything the lock guards.
    private struct State {
        var phase = Phase.open
        var pending: [[UInt8]] = []
        var sink: (any StreamSink)?
        var onClose: [@Sendable () -> Void] = []
        var finishWaiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    /// Whether this is a standalone stream (GET): it stays open until the client or the server ends it,
    /// rather than finishing with a request's result.
    public let isStandalone: Bool

    /// Creates an empty stream.
    /// - Parameter isStandalone: true for a GET stream that is not tied to one request.
    public init(isStandalone: Bool = false) {
        self.isStandalone = isStandalone
    }

    /// Queues bytes for the client.
    /// - Returns: false when the client is gone or the stream is finished (the bytes are dropped).
    @discardableResult public func write(_ bytes: [UInt8]) -> Bool {
        // Handed to the sink under the lock, so that writes, the flush of pending bytes on attach and
        // finish() reach the sink in exactly the order they happened (the sink never blocks).
        state.withLock { s in
            guard case .open = s.phase else { return false }
            if let sink = s.sink { sink.write(bytes) } else { s.pending.append(bytes) }
            return true
        }
    }

    /// Ends the stream after everything written so far. Idempotent.
    public func finish() {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { s in
            guard case .open = s.phase else { return [] }
            s.phase = .finished
            s.sink?.finish()
            defer { s.finishWaiters = [] }
            return s.finishWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Connects the stream to its destination, delivering what was written before.
    public func attach(_ sink: any StreamSink) {
        state.withLock { s in
            s.sink = sink
            for chunk in s.pending { sink.write(chunk) }
            s.pending = []
            if case .finished = s.phase { sink.finish() }
        }
    }

    /// Records that the client went away: later writes are dropped and the close callbacks run once.
    public func clientDisconnected() {
        let (callbacks, waiters): ([@Sendable () -> Void], [CheckedContinuation<Void, Never>]) = state.withLock { s in
            let wasOpen: Bool
            switch s.phase {
            case .closed: return ([], [])
            case .open: wasOpen = true
            case .finished: wasOpen = false
            }
            s.phase = .closed
            defer {
                s.onClose = []
                s.finishWaiters = []
            }
            return (s.onClose, wasOpen ? s.finishWaiters : [])
        }
        for callback in callbacks { callback() }
        for waiter in waiters { waiter.resume() }
    }

    /// Runs `callback` when the client goes away (at once when it already has).
    public func onClose(_ callback: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { s in
            if case .closed = s.phase { return true }
            s.onClose.append(callback)
            return false
        }
        if runNow { callback() }
    }

    /// Whether the client went away.
    public var isClosed: Bool {
        state.withLock { s in
            if case .closed = s.phase { return true }
            return false
        }
    }

    /// Whether the producer finished (or the client went away).
    public var isFinished: Bool {
        state.withLock { s in
            if case .open = s.phase { return false }
            return true
        }
    }

    /// Waits until the stream is finished or the client went away.
    public func waitUntilFinished() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s in
                if case .open = s.phase {
                    s.finishWaiters.append(continuation)
                    return false
                }
                return true
            }
            if done { continuation.resume() }
        }
    }
}
