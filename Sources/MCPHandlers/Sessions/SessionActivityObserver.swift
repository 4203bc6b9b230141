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
}
