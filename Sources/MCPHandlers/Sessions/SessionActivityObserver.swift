/// Told when a ``Session`` turns busy (its first request or stream in flight begins) or idle (its last one
/// ends): a session store keeps its least recently used idle sessions in order with it, without scanning.
///
/// Both methods are called with the session's lock held, in the order the transitions happen: they must be
/// quick and must not call back into the session (its id and other immutable properties may be read).
public protocol SessionActivityObserver: AnyObject, Sendable {
    /// The session has a request or stream in flight: it cannot be evicted or expire until it is idle again.
    /// - Parameter session: the session.
    func sessionBecameBusy(_ session: Session)
    /// The session's last request or stream ended: it is idle from `time` on.
    /// - Parameters:
    ///   - session: the session.
    ///   - time: when it became idle, on the store's clock.
    func sessionBecameIdle(_ session: Session, at time: Double)
    /// The session's state changed: it was initialized, or its log level or subscriptions changed. Called after
    /// the session's lock is released, so the observer may read the session (``Session/phase``,
    /// ``Session/logLevel``, ``Session/subscriptions``); a shared store writes them through. The default does
    /// nothing (a store in this process's memory holds the session itself).
    /// - Parameter session: the session.
    func sessionStateChanged(_ session: Session)
}

extension SessionActivityObserver {
    /// Does nothing: a store that holds its sessions in memory has nothing to write.
    /// - Parameter session: the session.
    public func sessionStateChanged(_ session: Session) {}
}
