import Logging

/// Delivers a message to a session's client outside any request (on its `GET` stream); false when it has none.
/// Installed by the transport with ``MCPServer/setClientMessageSink(_:)``.
public typealias ClientMessageSink = @Sendable (_ sessionID: String, _ message: Value) -> Bool

extension MCPServer {
    /// Installs where a running task's requests to the client go when no `tasks/result` request waits on it: the
    /// session's `GET` stream. The transport installs it once, at start; the sink must not block.
    /// - Parameter sink: the delivery function; it replaces any earlier one.
    public func setClientMessageSink(_ sink: @escaping ClientMessageSink) {
        clientMessageSink.withLock { $0 = sink }
    }

    /// Whether a registered tool runs as a task (then the server declares the `tasks` capability).
    var runsTasks: Bool {
        tools.withLock { registry in registry.entries.contains { ($0.tool.taskSupport ?? .forbidden) != .forbidden } }
    }

    /// Whether a request's revision has tasks: a session of 2025-11-25 (older revisions have none; 2026-07-28 moved
    /// them to an extension this server does not offer).
    static func speaksTasks(_ context: RequestContext) -> Bool {
        context.era == .session && context.protocolVersion >= .v2025_11_25
    }

    /// `capabilities` without `tasks` (for revisions that have none).
    static func withoutTasks(_ capabilities: Value) -> Value {
        guard case .object(var object) = capabilities else { return capabilities }
        object["tasks"] = nil
        return .object(object)
    }

    /// The number of tasks this process is running.
    public var runningTaskCount: Int { runningTasks.ids { _ in true }.count }

    // MARK: Starting

    /// Records a task for a task-augmented `tools/call` and runs the tool in a task of its own; answers at once
    /// with the `CreateTaskResult`.
    func startTask(
        _ entry: ToolRegistry.Entry, arguments: [String: Value], task: Value, context: RequestContext
    ) async throws(MCPError) -> Value {
        guard case .object(let options) = task else {
            throw .invalidParams("tools/call \"task\" must be an object, e.g. {\"ttl\": 60000}")
        }
        var requested: Int?
        if let ttl = options["ttl"], ttl.isNull {
            requested = Int(Int32.max)  // unlimited asked: the longest granted
        } else if let ttl = options["ttl"] {
            guard let milliseconds = ttl.doubleValue, milliseconds >= 0, milliseconds.isFinite else {
                throw .invalidParams("tools/call \"task.ttl\" must be a number of milliseconds (0 or more), or null")
            }
            requested = Int(min(milliseconds, Double(Int32.max)))
        }
        let settings = configuration.tasks
        let now = configuration.wallClock()
        let owner = TaskRecord.owner(user: context.user, sessionID: context.session?.id)
        let record = TaskRecord(
            id: SessionIDGenerator.randomBase62(count: 22), owner: owner, sessionID: context.session?.id,
            user: context.user, clientAddress: context.session?.clientAddress, createdAt: now,
            ttlMilliseconds: settings.grantedTTL(requested: requested),
            pollIntervalMilliseconds: max(1, Int(settings.pollInterval.wholeMilliseconds)))
        let creation: TaskCreation
        do {
            creation = try await settings.store.create(record, limits: settings.limits)
        } catch {
            context.logger.error("the task store cannot be reached", metadata: ["error": "\(error)"])
            throw .internalError("The task store cannot be reached; try again later")
        }
        switch creation {
        case .created: break
        case .sessionQuotaReached(let limit):
            throw MCPError(
                code: MCPError.Code.connectionClosed,
                message: "This session holds \(limit) tasks, the most allowed; wait until some expire (their ttl)")
        case .userQuotaReached(let limit):
            throw MCPError(
                code: MCPError.Code.connectionClosed,
                message: "This user holds \(limit) tasks, the most allowed; wait until some expire (their ttl)")
        case .addressQuotaReached(let limit):
            throw MCPError(
                code: MCPError.Code.connectionClosed,
                message: "This client address holds \(limit) tasks, the most allowed; wait until some expire (their ttl)")
        case .full:
            throw MCPError(code: MCPError.Code.internalError, message: "The server holds too many tasks; try again later")
        }
        runningTasks.add(record.id, sessionID: record.sessionID, owner: owner)
        var taskContext = RequestContext(
            requestID: context.requestID, session: context.session, user: context.user,
            protocolVersion: context.protocolVersion, clientCapabilities: context.clientCapabilities,
            progressToken: context.progressToken, logger: configuration.logger,
            outbound: TaskOutbound(server: self, taskID: record.id, sessionID: record.sessionID))
        taskContext.runningTask = RunningTaskReference(id: record.id, server: self)
        taskContext.clientTaskTTL = context.clientTaskTTL
        let handle = Task { [self] in
            let outcome: Result<Value, MCPError>
            do {
                outcome = .success(try await runTool(entry, arguments: arguments, context: taskContext))
            } catch let error as MCPError {
                outcome = .failure(error)
            } catch {
                outcome = .failure(.requestCancelled())
            }
            await finishTask(record.id, outcome: outcome)
        }
        // A task past its ttl is forgotten: its tool stops then too (what runs stays within the quotas).
        let ttl = Duration.milliseconds(record.ttlMilliseconds)
        let expiry = Task { [weak self, id = record.id] in
            do { try await Task.sleep(for: ttl) } catch { return }
            guard let self, self.runningTasks.cancel(id) else { return }
            // (`cancel` cancelled this task too: the write runs in a task of its own.)
            await Task {
                await self.setTaskStatus(
                    id, .failed, message: "The task's ttl passed before it finished",
                    outcome: .failure(.internalError("The task's ttl passed before it finished")))
            }.value
        }
        runningTasks.attach(record.id, handle: handle, expiry: expiry)
        return ["task": record.value]
    }

    /// Records a running task's outcome (a tool result with `isError` and any JSON-RPC error are `failed`).
    private func finishTask(_ id: String, outcome: Result<Value, MCPError>) async {
        defer { runningTasks.remove(id) }
        let status: TaskStatus
        var message: String?
        switch outcome {
        case .success(let result):
            status = result["isError"]?.boolValue == true ? .failed : .completed
            if status == .failed { message = "The tool reported an error (isError); tasks/result returns its result" }
        case .failure(let error) where error.code == MCPError.Code.requestCancelled:
            // Cancelled by tasks/cancel, the session's end or the worker's drain (the record says so already and
            // stays), or by the tool itself or the client's answer to its request: then it ends here.
            status = .cancelled
            message = error.message
        case .failure(let error):
            status = .failed
            message = error.message
        }
        // Written whatever happened to the tool's task (a cancelled task's own writes would be cancelled too).
        await Task { await setTaskStatus(id, status, message: message, outcome: outcome) }.value
    }

    // MARK: Status changes

    /// Moves a task to `status` in the store and tells its session (`notifications/tasks/status`) when the status
    /// changed; a terminal task is left as it is.
    func setTaskStatus(
        _ id: String, _ status: TaskStatus, message: String?, outcome: Result<Value, MCPError>? = nil
    ) async {
        let store = configuration.tasks.store
        do {
            let before = try await store.task(id: id, now: configuration.wallClock())
            guard let before, !before.status.isTerminal else { return }
            guard let after = try await store.update(
                id: id, status: status, message: message, outcome: outcome, now: configuration.wallClock())
            else { return }
            if after.status != before.status, let sessionID = after.sessionID {
                emit(JSONRPCNotification(method: "notifications/tasks/status", params: after.value), to: sessionID)
            }
        } catch {
            configuration.logger.error(
                "the task store cannot be reached; the task's status is not recorded",
                metadata: ["mcp.task.id": "\(id)", "task.status": "\(status.rawValue)", "error": "\(error)"])
        }
    }

    /// Sets a running task's `statusMessage` (a progress message), its status unchanged.
    func setTaskMessage(_ id: String, _ message: String) async {
        _ = try? await configuration.tasks.store.update(
            id: id, status: nil, message: message, outcome: nil, now: configuration.wallClock())
    }

    /// Sends a running task's request to the client on the session's `GET` stream; nil when the session has none
    /// (nothing was sent).
    func requestOnStandaloneStream(_ method: String, params: Value, sessionID: String) async throws(MCPError)
        -> Value?
    {
        guard let sink = clientMessageSink.withLock({ $0 }) else { return nil }
        let request = JSONRPCRequest(id: pendingRequests.makeID(), method: method, params: params)
        do {
            return try await pendingRequests.request(
                id: request.id, timeout: configuration.clientRequestTimeout, sessionID: sessionID
            ) {
                guard sink(sessionID, request.value) else { throw Self.noStandaloneStream }
            }
        } catch let error where error.data == Self.noStandaloneStream.data {
            return nil
        }
    }

    /// Thrown by the sink's delivery when the session has no `GET` stream; never sent.
    private static let noStandaloneStream = MCPError(
        code: MCPError.Code.connectionClosed, message: "The session has no GET stream",
        data: ["mcpfcgi.noStandaloneStream": true])

    // MARK: Ending

    /// Cancels the running tasks of a session that ended and forgets its tasks (nobody can read them any more).
    func endTasks(ofSession sessionID: String) {
        let ids = runningTasks.ids { $0.sessionID == sessionID }
        Task { [self] in
            for id in ids {
                await setTaskStatus(
                    id, .cancelled, message: "The session ended", outcome: .failure(Self.taskCancelled("its session ended")))
                runningTasks.cancel(id)
            }
            do { try await configuration.tasks.store.removeTasks(ofSession: sessionID) } catch {
                configuration.logger.warning(
                    "cannot forget the tasks of an ended session; they expire with their ttl",
                    metadata: ["mcp.session.id": "\(sessionID)", "error": "\(error)"])
            }
        }
    }

    /// Ends every task this process runs, as failed (the worker is draining or stopping): their clients learn it
    /// from `tasks/get` and `tasks/result` at once, and can call the tool again.
    public func stopTasks() async {
        for id in runningTasks.ids(where: { _ in true }) {
            await setTaskStatus(
                id, .failed, message: "The worker running this task stopped before it finished; call the tool again",
                outcome: .failure(
                    MCPError(
                        code: MCPError.Code.internalError,
                        message: "The worker running this task stopped before it finished; call the tool again")))
            runningTasks.cancel(id)
        }
    }

    static func taskCancelled(_ why: String) -> MCPError {
        MCPError(code: MCPError.Code.requestCancelled, message: "The task was cancelled: \(why)")
    }

    // MARK: tasks/get, tasks/result, tasks/list, tasks/cancel

    /// Answers the `tasks/*` methods for the requestor's own tasks (a task of another session or user is unknown).
    func answerTaskRequest(_ method: String, params: Value?, context: RequestContext) async throws(MCPError) -> Value {
        let owner = TaskRecord.owner(user: context.user, sessionID: context.session?.id)
        let store = configuration.tasks.store
        if method == "tasks/list" {
            let all: [TaskRecord]
            do { all = try await store.tasks(owner: owner, now: configuration.wallClock()) } catch {
                throw Self.storeUnreachable(error, context: context)
            }
            // A keyset cursor (`<createdAt>|<id>` of the page's last task): tasks that expire meanwhile shift nothing.
            var remaining = all[...]
            if let cursor = params?["cursor"], !cursor.isNull {
                guard let text = cursor.stringValue, let bar = text.firstIndex(of: "|"),
                    let created = Double(text[..<bar])
                else { throw .invalidParams("Invalid cursor") }
                let id = String(text[text.index(after: bar)...])
                remaining = all.drop { ($0.createdAt, $0.id) <= (created, id) }
            }
            let page = remaining.prefix(max(1, configuration.pageSize))
            var result: [String: Value] = ["tasks": .array(page.map(\.value))]
            if page.count < remaining.count, let last = page.last {
                result["nextCursor"] = .string("\(last.createdAt)|\(last.id)")
            }
            return .object(result)
        }
        guard let id = params?["taskId"]?.stringValue else { throw .invalidParams("\(method) needs a string \"taskId\"") }
        let task = try await ownTask(id, owner: owner, context: context)
        switch method {
        case "tasks/get":
            return task.value
        case "tasks/cancel":
            guard !task.status.isTerminal else {
                throw .invalidParams("Task \(id) is \(task.status.rawValue) already; only a running task can be cancelled")
            }
            await setTaskStatus(
                id, .cancelled, message: "Cancelled by the client", outcome: .failure(Self.taskCancelled("tasks/cancel")))
            runningTasks.cancel(id)
            let after = try await ownTask(id, owner: owner, context: context)
            guard after.status == .cancelled else {
                throw .invalidParams("Task \(id) is \(after.status.rawValue) already; only a running task can be cancelled")
            }
            return after.value
        default:
            return try await taskResult(task, owner: owner, context: context)
        }
    }

    /// `tasks/result`: the outcome of a terminal task at once; for a running one, waits until it ends (its
    /// requests to the client travel on this request's stream meanwhile).
    private func taskResult(_ task: TaskRecord, owner: String, context: RequestContext) async throws(MCPError) -> Value {
        var task = task
        if !task.status.isTerminal {
            let streams = context.outbound.reachesClient
            let listener = streams ? runningTasks.addListener(task.id, context.outbound) : nil
            defer { if let listener { runningTasks.removeListener(task.id, listener) } }
            let store = configuration.tasks.store
            // Without a stream the wait holds the FastCGI accept thread: bounded, then the client polls.
            let limit = streams ? nil : ContinuousClock.now + configuration.tasks.resultWaitWithoutStream
            while !task.status.isTerminal {
                if Task.isCancelled { throw .requestCancelled() }
                if let limit, ContinuousClock.now >= limit {
                    throw MCPError(
                        code: MCPError.Code.requestTimeout,
                        message: "Task \(task.id) is still \(task.status.rawValue); poll tasks/get and call tasks/result once it is done (or accept text/event-stream to wait)")
                }
                var left = max(0.001, task.expiresAt - configuration.wallClock())
                if let limit { left = min(left, max(0.001, (limit - ContinuousClock.now).secondsValue)) }
                let waited: TaskRecord?
                do {
                    waited = try await store.waitUntilTerminal(id: task.id, timeout: .milliseconds(Int64(min(left, 30) * 1000)))
                } catch {
                    throw Self.storeUnreachable(error, context: context)
                }
                guard let waited else { throw Self.unknownTask(task.id) }
                task = waited
            }
        }
        switch task.outcome {
        case .success(let result)?:
            guard case .object(var object) = result else { return result }
            var meta = object["_meta"]?.objectValue ?? [:]
            meta[TaskOutbound.relatedTaskKey] = ["taskId": .string(task.id)]
            object["_meta"] = .object(meta)
            return .object(object)
        case .failure(let error)?:
            throw error
        case nil:
            throw .internalError("Task \(task.id) ended without a result")
        }
    }

    /// The requestor's task with that id; -32602 when unknown, expired or another's.
    private func ownTask(_ id: String, owner: String, context: RequestContext) async throws(MCPError) -> TaskRecord {
        let task: TaskRecord?
        do { task = try await configuration.tasks.store.task(id: id, now: configuration.wallClock()) } catch {
            throw Self.storeUnreachable(error, context: context)
        }
        guard let task, task.owner == owner else { throw Self.unknownTask(id) }
        return task
    }

    private static func unknownTask(_ id: String) -> MCPError {
        .invalidParams("Unknown task \(id): it never existed, expired (its ttl passed), or belongs to someone else")
    }

    private static func storeUnreachable(_ error: any Error, context: RequestContext) -> MCPError {
        context.logger.error("the task store cannot be reached", metadata: ["error": "\(error)"])
        return .internalError("The task store cannot be reached; try again later")
    }
}
