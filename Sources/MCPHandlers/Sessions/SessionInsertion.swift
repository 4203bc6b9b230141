/// The outcome of ``SessionStore/insert(_:limits:now:)``: the session was stored (perhaps after evicting
/// another), or why it was not.
public enum SessionInsertion: Sendable {
    /// The session is live. `evicted` holds the sessions removed to make room (least recently used, idle at
    /// least ``SessionLimits/minimumIdleBeforeEviction``): the caller ends what they held (streams,
    /// subscriptions), as for an expired session.
    case inserted(evicted: [Session])
    /// A session with that id exists already; nothing changed (the caller retries with another id).
    case duplicateID
    /// The session's client address holds ``SessionLimits/maxSessionsPerAddress`` live sessions already.
    case addressQuotaReached(limit: Int)
    /// The session's owner holds ``SessionLimits/maxSessionsPerUser`` live sessions already.
    case userQuotaReached(limit: Int)
    /// The store is full and no session has been idle long enough to be evicted.
    case full
}
