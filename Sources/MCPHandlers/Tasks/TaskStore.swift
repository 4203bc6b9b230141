/// Where tasks live: ``InMemoryTaskStore`` (one process, the default) or a shared store (MCPPostgres'
/// `PostgresTaskStore`, so that any worker reads a task and it outlives the worker that created it).
///
/// Times are wall-clock seconds since 1970 (shared by workers). A store forgets a task once its ttl has passed,
/// whatever its status; a task that is terminal never changes again.
public protocol TaskStore: Sendable {
    /// Records a new task unless its session, user or address holds the most tasks ``TaskLimits`` allows (tasks not yet
    /// expired count, terminal ones too: their results take room until their ttl).
    /// - Parameters:
    ///   - task: the new task (status ``TaskStatus/working``).
    ///   - limits: the bounds.
    /// - Returns: whether it was recorded, or which bound refused it.
    func create(_ task: TaskRecord, limits: TaskLimits) async throws -> TaskCreation

    /// The task with that id; nil when unknown or expired.
    /// - Parameters:
    ///   - id: the task id.
    ///   - now: the current wall-clock time.
    func task(id: String, now: Double) async throws -> TaskRecord?

    /// Changes a task that is not terminal: its status (nil keeps it), its message, and — for a terminal status —
    /// its outcome. A terminal task is left as it is.
    /// - Parameters:
    ///   - id: the task id.
    ///   - status: the new status; nil keeps the current one.
    ///   - message: the new status message (nil clears it).
    ///   - outcome: the outcome, with a terminal status.
    ///   - now: the current wall-clock time (the new `lastUpdatedAt`).
    /// - Returns: the task as it stands afterwards (unchanged when it was terminal already), nil when unknown.
    func update(
        id: String, status: TaskStatus?, message: String?, outcome: Result<Value, MCPError>?, now: Double
    ) async throws -> TaskRecord?

    /// Every task of an owner that has not expired, oldest first.
    /// - Parameters:
    ///   - owner: the owner key.
    ///   - now: the current wall-clock time.
    func tasks(owner: String, now: Double) async throws -> [TaskRecord]

    /// Waits until the task is terminal, expired or unknown, or `timeout` passed.
    /// - Parameters:
    ///   - id: the task id.
    ///   - timeout: the longest wait.
    /// - Returns: the task as it stands then (terminal unless the timeout passed), nil when unknown or expired.
    func waitUntilTerminal(id: String, timeout: Duration) async throws -> TaskRecord?

    /// Forgets every task of a session that ended (nobody can read them any more).
    /// - Parameter sessionID: the session.
    func removeTasks(ofSession sessionID: String) async throws

    /// Whether tasks are shared by several processes (then a task may be read on a worker that does not run it).
    var isShared: Bool { get }

    /// Installs what to do when a task became terminal in another process (a `tasks/cancel` that reached another
    /// worker): the server cancels the tool if it runs here. Stores of one process never call it.
    /// - Parameter handler: called with the task id.
    func setTerminalElsewhereHandler(_ handler: @escaping @Sendable (String) -> Void)
}

extension TaskStore {
    /// False: a store is per process unless it says otherwise.
    public var isShared: Bool { false }
    /// Does nothing: in one process every change is made here.
    public func setTerminalElsewhereHandler(_ handler: @escaping @Sendable (String) -> Void) {}
}

/// The bounds of the tasks a client can make.
public struct TaskLimits: Sendable, Hashable {
    /// The most unexpired tasks of one session. Default 32.
    public var maxTasksPerSession: Int
    /// The most unexpired tasks of one user. Default 100.
    public var maxTasksPerUser: Int
    /// The most unexpired tasks of one client address (so that one client cannot fill the store). Default 200.
    public var maxTasksPerAddress: Int
    /// The most unexpired tasks in the store. Default 10,000.
    public var capacity: Int

    /// Creates limits; every parameter has the default documented on its property.
    public init(maxTasksPerSession: Int = 32, maxTasksPerUser: Int = 100, maxTasksPerAddress: Int = 200, capacity: Int = 10_000) {
        self.maxTasksPerSession = maxTasksPerSession
        self.maxTasksPerUser = maxTasksPerUser
        self.maxTasksPerAddress = maxTasksPerAddress
        self.capacity = capacity
    }
}

/// What ``TaskStore/create(_:limits:)`` did.
public enum TaskCreation: Sendable, Hashable {
    /// Recorded.
    case created
    /// The session holds ``TaskLimits/maxTasksPerSession`` (`limit`) unexpired tasks.
    case sessionQuotaReached(limit: Int)
    /// The user holds ``TaskLimits/maxTasksPerUser`` (`limit`) unexpired tasks.
    case userQuotaReached(limit: Int)
    /// The client address holds ``TaskLimits/maxTasksPerAddress`` (`limit`) unexpired tasks.
    case addressQuotaReached(limit: Int)
    /// The store holds ``TaskLimits/capacity`` unexpired tasks.
    case full
}
