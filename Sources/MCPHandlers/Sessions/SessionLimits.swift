/// What one client may hold in a session store, and what one session may hold: the bounds that keep one
/// client (or a flood from one address) from locking everyone else out.
///
/// The quotas and the eviction are enforced by the store, atomically with the insertion
/// (``SessionStore/insert(_:limits:now:)``); the per-session bounds by ``MCPServer``. Every limit counts per
/// store: with one in-memory store per worker process, a client may hold the quota on each worker.
public struct SessionLimits: Sendable, Equatable {
    /// The most live sessions created from one client address (``Session/clientAddress``); `initialize`
    /// beyond it is refused (HTTP 429 with `Retry-After`). nil: no quota. Default 500.
    public var maxSessionsPerAddress: Int?
    /// The most live sessions bound to one user (``Session/owner``: the OAuth token's `sub`, nginx's user or
    /// what `resolveUserID` returns); `initialize` beyond it is refused (HTTP 429 with `Retry-After`). nil: no
    /// quota. Default 100. It counts by owner: where callers without an identity share one placeholder owner
    /// (an anonymous endpoint whose `resolveUserID` names them all alike), that placeholder would be one pool for
    /// everybody — give such an endpoint nil here and rely on ``maxSessionsPerAddress``.
    public var maxSessionsPerUser: Int?
    /// When the store is full, the least recently used session idle at least this long is evicted to make
    /// room (its client gets 404 and initializes again); when no session has been idle that long, the new
    /// session is refused (503). nil: never evict. Default 5 minutes.
    public var minimumIdleBeforeEviction: Duration?
    /// The most bytes the `clientInfo` and `capabilities` of `initialize` may take together (as compact JSON);
    /// a larger `initialize` is refused with -32602. Default 16 KiB.
    public var maxClientMetadataBytes: Int
    /// The most resource subscriptions one session may hold; `resources/subscribe` beyond it fails with
    /// -32602. Default 100.
    public var maxSubscriptionsPerSession: Int

    /// Creates limits; every parameter has the default documented on its property.
    public init(
        maxSessionsPerAddress: Int? = 500, maxSessionsPerUser: Int? = 100,
        minimumIdleBeforeEviction: Duration? = .seconds(300), maxClientMetadataBytes: Int = 16 * 1024,
        maxSubscriptionsPerSession: Int = 100
    ) {
        self.maxSessionsPerAddress = maxSessionsPerAddress
        self.maxSessionsPerUser = maxSessionsPerUser
        self.minimumIdleBeforeEviction = minimumIdleBeforeEviction
        self.maxClientMetadataBytes = maxClientMetadataBytes
        self.maxSubscriptionsPerSession = maxSubscriptionsPerSession
    }

    /// No quota and no eviction (the store only refuses when full); the per-session bounds keep their defaults.
    public static let noQuotas = SessionLimits(
        maxSessionsPerAddress: nil, maxSessionsPerUser: nil, minimumIdleBeforeEviction: nil)

    /// ``minimumIdleBeforeEviction`` in seconds of the store's clock, nil when eviction is off.
    public var minimumIdleSecondsBeforeEviction: Double? {
        minimumIdleBeforeEviction?.secondsValue
    }
}
