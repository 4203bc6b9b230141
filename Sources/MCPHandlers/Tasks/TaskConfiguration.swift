/// How a server runs tasks (2025-11-25 task-augmented `tools/call`): where they live, how long they are kept and
/// how many a client may hold.
public struct TaskConfiguration: Sendable {
    /// Where tasks live. Default an ``InMemoryTaskStore`` (this process only).
    public var store: any TaskStore
    /// How many unexpired tasks a session, a user, a client address and the store may hold. Default
    /// ``TaskLimits/init(maxTasksPerSession:maxTasksPerUser:maxTasksPerAddress:capacity:)`` (32 per session, 100 per
    /// user, 200 per address, 10,000 in all).
    public var limits: TaskLimits
    /// How long a task is kept when the request names no `ttl`. Default 10 minutes.
    public var defaultTTL: Duration
    /// The longest `ttl` granted (a longer or `null` request gets this). Default 1 hour.
    public var maxTTL: Duration
    /// The shortest `ttl` granted (so a result outlives the call that made it). Default 10 seconds.
    public var minTTL: Duration
    /// The `pollInterval` suggested to clients. Default 1 second.
    public var pollInterval: Duration
    /// When set, a request to the client that it declared it runs as a task (`capabilities.tasks.requests`:
    /// `elicitation.create`, `sampling.createMessage`) is sent with `params.task` of this `ttl`; the server then
    /// polls the client's `tasks/get` and fetches `tasks/result` (a user may take long to answer without a request
    /// waiting on a stream). nil (default): such requests are sent plainly.
    public var clientTaskTTL: Duration?
    /// How long `tasks/result` on a running task waits for a client that does not accept `text/event-stream` (its
    /// wait holds a FastCGI accept thread) before answering -32001 (poll `tasks/get`, then ask again). A client that
    /// accepts SSE waits until the task ends. Default 30 seconds.
    public var resultWaitWithoutStream: Duration

    /// Creates a configuration; every parameter has the default documented on its property.
    public init(
        store: any TaskStore = InMemoryTaskStore(), limits: TaskLimits = TaskLimits(),
        defaultTTL: Duration = .seconds(600), maxTTL: Duration = .seconds(3600), minTTL: Duration = .seconds(10),
        pollInterval: Duration = .seconds(1), resultWaitWithoutStream: Duration = .seconds(30),
        clientTaskTTL: Duration? = nil
    ) {
        self.clientTaskTTL = clientTaskTTL
        self.resultWaitWithoutStream = resultWaitWithoutStream
        self.store = store
        self.limits = limits
        self.defaultTTL = defaultTTL
        self.maxTTL = maxTTL
        self.minTTL = minTTL
        self.pollInterval = pollInterval
    }

    /// The ttl granted for a requested one (milliseconds; nil or `null`: the default), within
    /// [``minTTL``, ``maxTTL``].
    func grantedTTL(requested: Int?) -> Int {
        let low = Int(minTTL.wholeMilliseconds)
        let high = max(low, Int(maxTTL.wholeMilliseconds))
        guard let requested else { return min(high, max(low, Int(defaultTTL.wholeMilliseconds))) }
        return min(high, max(low, requested))
    }
}
