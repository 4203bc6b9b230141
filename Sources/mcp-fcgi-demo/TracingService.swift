import Foundation
import Logging
import ServiceLifecycle

/// swift-otel's background work (batching and exporting spans) running in a task of its own, and shut down
/// gracefully — the spans still buffered are exported — when the worker has drained.
final class TracingService: Sendable {
    private let group: ServiceGroup
    private let task: Task<Void, Never>

    /// Starts `service` (what `OTel.bootstrap` returned) in the background.
    init(_ service: any Service, logger: Logger) {
        let group = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: logger))
        self.group = group
        self.task = Task {
            do { try await group.run() } catch { logger.error("OpenTelemetry service failed", metadata: ["error": "\(error)"]) }
        }
    }

    /// Shuts the service down gracefully (exporting the buffered spans) and waits at most `timeout` for it.
    func shutDown(timeout: Duration, logger: Logger) {
        let done = DispatchSemaphore(value: 0)
        let group = self.group
        let task = self.task
        Task {
            await group.triggerGracefulShutdown()
            await task.value
            done.signal()
        }
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        if done.wait(timeout: .now() + seconds) == .timedOut {
            logger.warning("OpenTelemetry did not shut down in time; spans may be lost", metadata: ["timeout": "\(timeout)"])
            task.cancel()
        }
    }
}
