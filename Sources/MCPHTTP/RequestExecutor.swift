/// The executor of the thread answering the current request, set by a front end that runs responders on threads
/// of its own (the FastCGI front's accept threads); nil elsewhere (tests that call a responder directly, other
/// transports).
///
/// `Task {}` does not inherit a task executor preference (SE-0417), so an unstructured task a responder creates
/// runs on the global concurrent executor, and the answering thread waits for it with a thread hop each way.
/// Create such tasks with `Task(executorPreference: RequestExecutor.current) { … }` instead: they run on the
/// answering thread while the response is being decided and on the global concurrent executor after it (a
/// streamed answer's handler), and exactly like `Task {}` when nil.
public enum RequestExecutor {
    /// The current request's executor, or nil.
    @TaskLocal public static var current: (any TaskExecutor)?

    /// ``current`` when the current task runs on it (the request's own task and its structured children), else
    /// nil. Task-locals are copied into unstructured tasks, so a background task started while a request was
    /// answered still sees ``current``; this tells it apart, so that its work does not land on an accept thread
    /// that is busy with another request.
    public static var currentWhenPreferred: (any TaskExecutor)? {
        guard let executor = current else { return nil }
        let preferred = withUnsafeCurrentTask { $0?.unownedTaskExecutor }
        return preferred == executor.asUnownedTaskExecutor() ? executor : nil
    }
}
