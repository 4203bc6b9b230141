import Synchronization

/// Where a streamed response's bytes go once the response head is out: the FastCGI front's
/// ``StreamHub``, or a collector in tests.
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
/// on, and the ``onClose(_:)`` callbacks run once (the endpoint cancels the handler's task there).
public final class ResponseStream: Sendable {
    private struct State {
        var pending: [[UInt8]] = []
        var sink: (any StreamSink)?
        var finished = false
        var closed = false
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
            guard !s.closed, !s.finished else { return false }
            if let sink = s.sink { sink.write(bytes) } else { s.pending.append(bytes) }
            return true
        }
    }

    /// Ends the stream after everything written so far. Idempotent.
    public func finish() {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { s in
            guard !s.finished else { return [] }
            s.finished = true
            if !s.closed { s.sink?.finish() }
            let waiters = s.finishWaiters
            s.finishWaiters = []
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Connects the stream to its destination, delivering what was written before.
    public func attach(_ sink: any StreamSink) {
        state.withLock { s in
            s.sink = sink
            for chunk in s.pending { sink.write(chunk) }
            s.pending = []
            if s.finished, !s.closed { sink.finish() }
        }
    }

    /// Records that the client went away: later writes are dropped and the close callbacks run once.
    public func clientDisconnected() {
        let (callbacks, waiters): ([@Sendable () -> Void], [CheckedContinuation<Void, Never>]) = state.withLock { s in
            guard !s.closed else { return ([], []) }
            s.closed = true
            let callbacks = s.onClose
            s.onClose = []
            var waiters: [CheckedContinuation<Void, Never>] = []
            if !s.finished {
                s.finished = true
                waiters = s.finishWaiters
                s.finishWaiters = []
            }
            return (callbacks, waiters)
        }
        for callback in callbacks { callback() }
        for waiter in waiters { waiter.resume() }
    }

    /// Runs `callback` when the client goes away (at once when it already has).
    public func onClose(_ callback: @escaping @Sendable () -> Void) {
        let runNow = state.withLock { s in
            if s.closed { return true }
            s.onClose.append(callback)
            return false
        }
        if runNow { callback() }
    }

    /// Whether the client went away.
    public var isClosed: Bool { state.withLock { $0.closed } }

    /// Whether the producer finished (or the client went away).
    public var isFinished: Bool { state.withLock { $0.finished } }

    /// Waits until the stream is finished or the client went away.
    public func waitUntilFinished() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s in
                if s.finished { return true }
                s.finishWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }
}
