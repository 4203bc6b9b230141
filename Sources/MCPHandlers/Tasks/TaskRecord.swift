import Foundation

/// One task as a ``TaskStore`` keeps it: its identity, owner, status and, once terminal, its outcome.
public struct TaskRecord: Sendable {
    /// The task id (random, unguessable).
    public var id: String
    /// Whom the task belongs to: ``TaskRecord/owner(user:sessionID:)`` — its session, and its user when there is one.
    /// Only the owner reads, lists or cancels it.
    public var owner: String
    /// The session that created it (its status notifications go there), nil when none.
    public var sessionID: String?
    /// The user that created it, when there is one (counted against ``TaskLimits/maxTasksPerUser``).
    public var user: String?
    /// The key of the client address that created it, when known (counted against
    /// ``TaskLimits/maxTasksPerAddress``).
    public var clientAddress: String?
    /// The status.
    public var status: TaskStatus
    /// A human-readable note on the status (the last progress message, or why it failed).
    public var statusMessage: String?
    /// When it was created, in wall-clock seconds since 1970.
    public var createdAt: Double
    /// When its status or message last changed, in wall-clock seconds since 1970.
    public var lastUpdatedAt: Double
    /// How long it is kept after its creation, in milliseconds (the granted `ttl`).
    public var ttlMilliseconds: Int
    /// The polling interval suggested to the requestor, in milliseconds.
    public var pollIntervalMilliseconds: Int
    /// What `tasks/result` answers once the task is terminal: the tool's result, or the JSON-RPC error.
    public var outcome: Result<Value, MCPError>?

    /// Creates a record.
    /// - Parameters:
    ///   - id: the task id.
    ///   - owner: its owner key.
    ///   - sessionID: the session that created it.
    ///   - user: the user that created it.
    ///   - clientAddress: the client address that created it.
    ///   - status: its status. Default ``TaskStatus/working``.
    ///   - statusMessage: a note on the status.
    ///   - createdAt: creation time (wall-clock seconds).
    ///   - lastUpdatedAt: last change (wall-clock seconds); nil: `createdAt`.
    ///   - ttlMilliseconds: how long it is kept.
    ///   - pollIntervalMilliseconds: the suggested polling interval.
    ///   - outcome: the outcome of a terminal task.
    public init(
        id: String, owner: String, sessionID: String?, user: String? = nil, clientAddress: String? = nil,
        status: TaskStatus = .working, statusMessage: String? = nil,
        createdAt: Double, lastUpdatedAt: Double? = nil, ttlMilliseconds: Int, pollIntervalMilliseconds: Int,
        outcome: Result<Value, MCPError>? = nil
    ) {
        self.id = id
        self.owner = owner
        self.sessionID = sessionID
        self.user = user
        self.clientAddress = clientAddress
        self.status = status
        self.statusMessage = statusMessage
        self.createdAt = createdAt
        self.lastUpdatedAt = lastUpdatedAt ?? createdAt
        self.ttlMilliseconds = ttlMilliseconds
        self.pollIntervalMilliseconds = pollIntervalMilliseconds
        self.outcome = outcome
    }

    /// The owner key of a task created by `user` in session `sessionID`: a task is bound to its session and to its
    /// user (the authorization context) when there is one — a user id a server resolves without authentication
    /// (a placeholder shared by anonymous clients) then grants nobody else's tasks.
    public static func owner(user: String?, sessionID: String?) -> String {
        "session:" + (sessionID ?? "") + (user.map { "|user:" + $0 } ?? "")
    }

    /// When it may be forgotten (wall-clock seconds).
    public var expiresAt: Double { createdAt + Double(ttlMilliseconds) / 1000 }

    /// The `Task` object of the protocol (`tasks/get`, `tasks/list`, `CreateTaskResult.task`,
    /// `notifications/tasks/status`).
    public var value: Value {
        var o: [String: Value] = [
            "taskId": .string(id), "status": .string(status.rawValue),
            "createdAt": .string(Self.timestamp(createdAt)), "lastUpdatedAt": .string(Self.timestamp(lastUpdatedAt)),
            "ttl": .int(ttlMilliseconds), "pollInterval": .int(pollIntervalMilliseconds),
        ]
        if let statusMessage { o["statusMessage"] = .string(statusMessage) }
        return .object(o)
    }

    /// The outcome as JSON (for stores that serialise it): `{"result": …}` or `{"error": {code, message, data}}`.
    public static func encode(_ outcome: Result<Value, MCPError>) -> Value {
        switch outcome {
        case .success(let result): ["result": result]
        case .failure(let error): ["error": error.value]
        }
    }

    /// The outcome from ``encode(_:)``'s form; nil when it is not one.
    public static func decode(_ value: Value) -> Result<Value, MCPError>? {
        if let result = value["result"] { return .success(result) }
        guard let error = value["error"], let code = error["code"]?.intValue else { return nil }
        return .failure(MCPError(code: code, message: error["message"]?.stringValue ?? "", data: error["data"]))
    }

    /// ISO 8601 with milliseconds, UTC.
    static func timestamp(_ seconds: Double) -> String {
        Date(timeIntervalSince1970: seconds).formatted(
            Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt))
    }
}
