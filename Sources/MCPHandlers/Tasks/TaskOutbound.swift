/// Where a running task's notifications and requests to the client go: on the stream of a `tasks/result` request
/// waiting on the task when there is one, else on the session's `GET` stream. Every message carries the
/// `io.modelcontextprotocol/related-task` metadata; a request to the client moves the task to `input_required`
/// until the client answers.
struct TaskOutbound: ServerOutbound {
    let server: MCPServer
    let taskID: String
    let sessionID: String?

    /// The `_meta` key that ties a message to its task.
    static let relatedTaskKey = "io.modelcontextprotocol/related-task"

    func send(_ notification: JSONRPCNotification) async {
        var notification = notification
        notification.params = Self.tagged(notification.params, taskID: taskID)
        if let listener = server.runningTasks.listener(taskID) {
            await listener.send(notification)
        } else if let sessionID {
            server.emit(notification, to: sessionID)
        }
    }

    func request(_ method: String, params: Value?) async throws(MCPError) -> Value {
        let params = Self.tagged(params, taskID: taskID)
        await server.setTaskStatus(taskID, .inputRequired, message: "Waiting for the client to answer \(method)")
        let answer: Result<Value, MCPError>
        do {
            answer = .success(try await deliver(method, params: params))
        } catch {
            answer = .failure(error)
        }
        await server.setTaskStatus(taskID, .working, message: nil)
        return try answer.get()
    }

    /// Sends the request on the stream of a `tasks/result` request waiting on the task, else on the session's
    /// `GET` stream, else waits for the client to call `tasks/result` (the spec's `input_required` rule) — never
    /// longer than a request to the client waits for its answer.
    private func deliver(_ method: String, params: Value) async throws(MCPError) -> Value {
        if let listener = server.runningTasks.listener(taskID) {
            return try await listener.request(method, params: params)
        }
        if let sessionID, let answer = try await server.requestOnStandaloneStream(method, params: params, sessionID: sessionID) {
            return answer
        }
        guard let listener = await server.runningTasks.waitForListener(taskID, timeout: server.configuration.clientRequestTimeout)
        else {
            throw MCPError(
                code: MCPError.Code.requestTimeout,
                message: "The task needs the client to answer \(method), but neither a tasks/result request nor a GET stream reached the client in time")
        }
        return try await listener.request(method, params: params)
    }

    /// `params` with `_meta["io.modelcontextprotocol/related-task"] = {taskId}`.
    static func tagged(_ params: Value?, taskID: String) -> Value {
        var object = params?.objectValue ?? [:]
        var meta = object["_meta"]?.objectValue ?? [:]
        meta[relatedTaskKey] = ["taskId": .string(taskID)]
        object["_meta"] = .object(meta)
        return .object(object)
    }
}
