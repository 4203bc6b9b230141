import Logging
import PostgresNIO
import Synchronization

/// One worker's subscription to what the other workers (of every deployment on the database) announce: a
/// `LISTEN` on the channel `mcpfcgi`, held on one connection of the pool and opened again when it is lost.
///
/// Writers announce in the transaction of their change (`pg_notify('mcpfcgi', payload)`), so a notification
/// arrives only for a committed change. Payloads are `<kind>|<rest>`: `r|` a revocation (``PostgresOAuthStorage``
/// drops its cache of tokens found not revoked), `s|<reason>|<scope>|<id>` a session removed (``PostgresSessionStore`` ends
/// its copy). Handlers are registered per kind.
///
/// While the `LISTEN` is not in place (before the first connection, after a lost one) ``isListening`` is false and
/// users must not trust their caches: notifications sent meanwhile are lost. Each time it is in place again, the
/// reconnection handlers run (caches are dropped or checked against the database).
public final class DatabaseNotifications: Sendable {
    /// The channel every worker listens on and writers notify.
    public static let channel = "mcpfcgi"

    private struct State {
        var task: Task<Void, Never>?
        var listening = false
        var stopped = false
        var handlers: [String: [@Sendable (String) -> Void]] = [:]
        var reconnected: [@Sendable () -> Void] = []
    }
    private let state = Mutex(State())
    private let database: PostgresPool
    private let logger: Logger

    /// Creates the subscription; nothing listens before ``start()``.
    /// - Parameters:
    ///   - database: the pool (started, or starting: the listener retries until it answers).
    ///   - logger: where lost and restored subscriptions are logged.
    public init(database: PostgresPool, logger: Logger = Logger(label: "mcpfcgi.postgres.notifications")) {
        self.database = database
        self.logger = logger
    }

    /// Whether the `LISTEN` is in place: every notification committed from now on reaches the handlers.
    public var isListening: Bool { state.withLock { $0.listening } }

    /// Calls `handler` with the rest of each payload of `kind` (`"r"`, `"s"`), on the listener's task: it must be
    /// quick (hand longer work to a task).
    /// - Parameters:
    ///   - kind: the payload's first field.
    ///   - handler: what to do with the rest of the payload.
    public func onNotification(kind: String, _ handler: @escaping @Sendable (String) -> Void) {
        state.withLock { $0.handlers[kind, default: []].append(handler) }
    }

    /// Calls `handler` each time the `LISTEN` is in place again after it was not (also the first time): what was
    /// announced meanwhile is lost, so caches must be dropped or checked.
    /// - Parameter handler: what to do.
    public func onListening(_ handler: @escaping @Sendable () -> Void) {
        state.withLock { $0.reconnected.append(handler) }
    }

    /// Starts listening in the background (again every ``PostgresPool/Configuration/retryInterval`` while the
    /// database does not answer). A second call does nothing.
    public func start() {
        state.withLock { s in
            guard s.task == nil, !s.stopped else { return }
            s.task = Task { [weak self] in await self?.listenUntilStopped() }
        }
    }

    /// Stops listening; the handlers are not called any more.
    public func stop() async {
        let task = state.withLock { s -> Task<Void, Never>? in
            s.stopped = true
            s.listening = false
            defer { s.task = nil }
            return s.task
        }
        task?.cancel()
        await task?.value
    }

    private func listenUntilStopped() async {
        var failures = 0
        while !Task.isCancelled {
            do {
                try await database.client.withConnection { connection in
                    try await connection.listen(on: Self.channel) { notifications in
                        failures = 0
                        self.listening(true)
                        for try await notification in notifications { self.dispatch(notification.payload) }
                    }
                }
            } catch {
                if !Task.isCancelled {
                    // Say it once per outage, not every second.
                    if failures == 0 {
                        logger.warning(
                            "not listening for revocations and session removals: caches are bypassed until it listens again",
                            metadata: ["error": "\(String(reflecting: error))"])
                    }
                    failures += 1
                }
            }
            listening(false)
            try? await Task.sleep(for: database.configuration.retryInterval)
        }
    }

    private func listening(_ now: Bool) {
        if now {
            // The handlers drop or age the caches BEFORE the flag says they may be trusted again.
            let handlers = state.withLock { s in s.listening || s.stopped ? [] : s.reconnected }
            for handler in handlers { handler() }
            logger.debug("listening on the database channel \(Self.channel)")
        }
        state.withLock { s in if !s.stopped { s.listening = now } }
    }

    private func dispatch(_ payload: String) {
        guard let bar = payload.firstIndex(of: "|") else { return }
        let kind = String(payload[..<bar])
        let rest = String(payload[payload.index(after: bar)...])
        let handlers = state.withLock { $0.handlers[kind] ?? [] }
        for handler in handlers { handler(rest) }
    }
}
