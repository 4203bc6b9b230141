import Logging
import MCPHandlers
import Synchronization
import MCPHTTP
import MCPOAuth

/// Removes idle sessions: in the background every ``Configuration/interval``, and on demand
/// (`POST /management/cleanup`).
///
/// A session is idle when nothing is in flight on it (no request being answered, no open GET stream) and
/// its last activity ended long enough ago, on the clock of ``MCPHandlers/MCPServer/Configuration/now``.
/// For each removed session the sweeper ends what it held: its requests are cancelled, its subscriptions
/// forgotten and its SSE streams closed (``MCPEndpoint/sessionEnded(_:reason:)``). The id then gets 404.
///
/// ``MCPApplication`` makes one and starts it when ``Configuration/idleTimeout`` is set.
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
    ///     ``MCPHandlers/SessionEndReason/expired``; the management API's cleanup passes
    ///     ``MCPHandlers/SessionEndReason/cleanedUp``.
    /// - Returns: the ids of the removed sessions.
    /// - Throws: what the session store throws when it cannot be reached.
    @discardableResult public func sweep(idleFor timeout: Duration, reason: SessionEndReason = .expired)
        async throws -> [String]
    {
        let server = endpoint.server
        let removed = try await server.sessions.removeIdle(
            olderThan: Self.seconds(timeout), now: server.configuration.now())
        for session in removed {
            endpoint.sessionEnded(session, reason: reason)
            logger.debug("session expired", metadata: ["mcp.session.id": "\(session.id)"])
        }
        if !removed.isEmpty {
            logger.info(
                "idle sessions removed",
                metadata: ["count": "\(removed.count)", "idleSeconds": "\(Self.seconds(timeout))"])
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

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
