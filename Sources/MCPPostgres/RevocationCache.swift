import Synchronization

/// One worker's memory of access tokens the database found not revoked, so that a request with a token costs no
/// query while the answer cannot have changed unnoticed.
///
/// An entry is trusted only while the worker listens for revocations (``DatabaseNotifications``) and for at most
/// the time to live (the backstop should an announcement be lost). Every revocation, on any worker, is announced
/// (`r|`) and drops every entry here ( revocations are rare; requests many); so does each new start of the
/// listener, because announcements made while it was down are lost. An answer read before a drop is not
/// remembered after it (a generation counter), so a revocation racing a check is never undone.
final class RevocationCache: Sendable {
    private struct State {
        var generation: UInt64 = 0
        /// Token id → when it was found not revoked.
        var notRevoked: [String: Double] = [:]
    }
    private let state = Mutex(State())
    /// How long an entry is trusted, in seconds.
    let timeToLive: Double
    /// The most entries kept; a full cache starts over.
    let capacity: Int
    private let clock: @Sendable () -> Double

    init(timeToLive: Double, capacity: Int, clock: @escaping @Sendable () -> Double) {
        self.timeToLive = timeToLive
        self.capacity = capacity
        self.clock = clock
    }

    /// Whether `jti` was found not revoked within the time to live, since the last drop.
    func isKnownNotRevoked(_ jti: String) -> Bool {
        let now = clock()
        return state.withLock { s in
            guard let since = s.notRevoked[jti] else { return false }
            if now - since < timeToLive { return true }
            s.notRevoked[jti] = nil
            return false
        }
    }

    /// The current generation: pass it to ``remember(_:asOf:)`` with the answer of a query started after.
    var generation: UInt64 { state.withLock { $0.generation } }

    /// Remembers that `jti` is not revoked, unless a drop happened since `generation` was read.
    func remember(_ jti: String, asOf generation: UInt64) {
        let now = clock()
        state.withLock { s in
            guard s.generation == generation, timeToLive > 0 else { return }
            if s.notRevoked.count >= capacity { s.notRevoked.removeAll(keepingCapacity: true) }
            s.notRevoked[jti] = now
        }
    }

    /// Forgets everything (a revocation was announced, or the listener started again).
    func dropAll() {
        state.withLock { s in
            s.generation &+= 1
            s.notRevoked.removeAll(keepingCapacity: true)
        }
    }
}
