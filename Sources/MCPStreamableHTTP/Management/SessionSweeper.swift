import Logging
import MCPHandlers
import Synchronization
import MCPHTTP
import MCPOAuth

/// Removes idle sessions: in the background every ``Configuration/interval``, and on demand
/// (`POST /management/cleanup`).
///
/// A session is idle when nothing is in flight on it (no request being answered, no open GET stream) and
/// its last activity ended long enough ago, on the clock of `MCPServer/Configuration/now`.
/// Each removed session ends through the one end step that `DELETE` takes too
/// (`MCPServer/endIdleSessions(olderThan:reason:)`, then its SSE streams are closed): its requests
/// are cancelled, its subscriptions forgotten, its streams closed and its end counted once, even when a `DELETE`
/// races with the sweep. The id then gets 404.
///
/// ``MCPApplication`` makes one per endpoint and starts it in ``MCPApplication/willStart()`` (when the server
/// starts; nothing starts in an initializer) when ``Configuration/idleTimeout`` is set.
public final class SessionSweeper: Sendable {
    /// When sessions expire.
    public struct Configuration: Sendable {
        /// Sessions idle at least this long are removed by the background sweep; nil turns the background
        /// sweep off (sessions then end by `DELETE` or the management API only). Default 30 minutes.
        public var idleTimeout: Duration?
        /// How often the background sweep runs. Default 60 seconds.
        public var interval: Duration

        /// Creates a configuration; every parameter has the default documented on its property.
        public init(idleTimeout: Duration? = .seconds(30 * 60), interval: Duration = .seconds(60)) {
            self.idleTimeout = idleTimeout
            self.interval = interval
        }
    }

    /// The settings.
    public let configuration: Configuration
    /// The endpoint whose sessions are swept.
    public let endpoint: MCPEndpoint
    private let logger: Logger
    private let timer = Mutex<Task<Void, Never>?>(nil)

    /// Creates a sweeper; call ``start()`` for the background sweep.
    /// - Parameters:
    ///   - endpoint: the endpoint whose sessions are swept.
    ///   - configuration: the idle timeout and the interval.
    ///   - logger: where expiries are logged.
    public init(endpoint: MCPEndpoint, configuration: Configuration = Configuration(), logger: Logger) {
        self.endpoint = endpoint
        self.configuration = configuration
        self.logger = logger
    }

    deinit {
        timer.withLock { $0?.cancel() }
    }

    /// Removes the sessions idle for at least ``Configuration/idleTimeout`` (none when it is nil).
    /// - Returns: the ids of the removed sessions.
    /// - Throws: what the session store throws when it cannot be reached.
    @discardableResult public func sweep() async throws -> [String] {
        guard let timeout = configuration.idleTimeout else { return [] }
        return try await sweep(idleFor: timeout, reason: .expired)
    }

    /// Removes the sessions idle for at least `timeout` (`.zero`: every session with nothing in flight).
    /// - Parameters:
    ///   - timeout: the inactivity threshold.
    ///   - reason: why they end (the `reason` of `mcpfcgi_sessions_ended_total`): default
    ///     `SessionEndReason/expired`; the management API's cleanup passes
    ///     `SessionEndReason/cleanedUp`.
    /// - Returns: the ids of the sessions this sweep ended.
    /// - Throws: what the session store throws when it cannot be reached.
    @discardableResult public func sweep(idleFor timeout: Duration, reason: SessionEndReason = .expired)
        async throws -> [String]
    {
        let removed = try await endpoint.endIdleSessions(olderThan: timeout.secondsValue, reason: reason)
        for session in removed {
            logger.debug("session expired", metadata: ["mcp.session.id": "\(session.id)", "reason": "\(reason.rawValue)"])
        }
        if !removed.isEmpty {
            logger.info(
                "idle sessions removed",
                metadata: ["count": "\(removed.count)", "idleSeconds": "\(timeout.secondsValue)"])
        }
        return removed.map(\.id)
    }

    /// Starts the background sweep (every ``Configuration/interval``) unless it runs already or
    /// ``Configuration/idleTimeout`` is nil. It stops with ``stop()`` or when the sweeper is released.
    public func start() {
        guard configuration.idleTimeout != nil else { return }
        let interval = configuration.interval
        timer.withLock { timer in
            guard timer == nil else { return }
            timer = Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    guard !Task.isCancelled, let self else { return }
                    do { try await self.sweep() } catch {
                        self.logger.error("session sweep failed; retried next interval", metadata: ["error": "\(error)"])
                    }
                }
            }
        }
    }

    /// Stops the background sweep.
    public func stop() {
        timer.withLock { timer in
            timer?.cancel()
            timer = nil
        }
    }

    /// Whether the background sweep runs.
    public var isRunning: Bool { timer.withLock { $0 != nil } }
}
