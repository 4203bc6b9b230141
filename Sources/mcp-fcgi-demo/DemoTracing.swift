import ArgumentParser
import Foundation
import Logging
import MCPHandlers

#if OTLPTracing
    import OTel
    // swift-otel's background work is a ServiceLifecycle service: the demo runs it and stops it gracefully
    // (flushing the spans of the drained requests) when the worker drains.
    import ServiceLifecycle
    import Synchronization
#endif

/// The demo's trace export: swift-otel, traces only, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
///
/// It is compiled in with the package trait `OTLPTracing` (on by default; `swift build --disable-default-traits`
/// leaves swift-otel and its HTTP client out, as the in-process test run does to build faster).
enum DemoTracing {
    #if OTLPTracing
        /// swift-otel's logging metadata provider: `trace_id` and `span_id` of the current span on every log line.
        static func loggingMetadataProvider() -> Logger.MetadataProvider? { OTel.makeLoggingMetadataProvider() }

        /// Bootstraps swift-otel for traces only (OTLP to `OTEL_EXPORTER_OTLP_ENDPOINT`, protocol from
        /// `OTEL_EXPORTER_OTLP_PROTOCOL`, default http/protobuf; the other `OTEL_*` variables apply) and starts its
        /// background service.
        /// - Returns: what stops it when the worker has drained (exporting the spans still buffered, 5 s at most).
        /// - Throws: `ValidationError` when swift-otel refuses its configuration.
        static func start(node: String?, logger: Logger) throws -> (() -> Void)? {
            // Logging and metrics are bootstrapped by the demo itself: swift-otel must not do it again (a second
            // bootstrap stops the process), and OTEL_SDK_DISABLED=false would turn its logs and metrics back on.
            var environment = ProcessInfo.processInfo.environment
            environment["OTEL_SDK_DISABLED"] = nil
            var configuration = OTel.Configuration.default
            configuration.serviceName = "mcp-fcgi-demo"
            if let node { configuration.resourceAttributes["service.instance.id"] = node }
            configuration.logs.enabled = false
            configuration.metrics.enabled = false
            configuration.diagnosticLogger = .custom(logger)
            let service: any Service
            do {
                service = try OTel.bootstrap(configuration: configuration, environment: environment)
            } catch {
                throw ValidationError("cannot configure OpenTelemetry tracing: \(error)")
            }
            logger.info(
                "tracing on: spans exported over OTLP",
                metadata: ["endpoint": "\(environment["OTEL_EXPORTER_OTLP_ENDPOINT"] ?? "")"])
            let running = TracingService(service, logger: logger)
            running.start()
            return { running.shutDown(timeout: .seconds(5), logger: logger) }
        }
    #else
        /// No provider: this build has no trace export.
        static func loggingMetadataProvider() -> Logger.MetadataProvider? { nil }

        /// Says that this build cannot export traces (built without the `OTLPTracing` trait).
        static func start(node: String?, logger: Logger) throws -> (() -> Void)? {
            logger.warning(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set, but this build has no trace export (built without the OTLPTracing trait)")
            return nil
        }
    #endif
}

#if OTLPTracing
    /// swift-otel's background work (batching and exporting spans) running in a task of its own, and shut down
    /// gracefully — the spans still buffered are exported — when the worker has drained.
    final class TracingService: Sendable {
        private let group: ServiceGroup
        private let logger: Logger
        private let task = Mutex<Task<Void, Never>?>(nil)

        /// Wraps `service` (what `OTel.bootstrap` returned); nothing runs until ``start()``.
        init(_ service: any Service, logger: Logger) {
            self.group = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: logger))
            self.logger = logger
        }

        /// Runs the service in a task of its own.
        func start() {
            let group = self.group
            let logger = self.logger
            task.withLock { task in
                guard task == nil else { return }
                task = Task {
                    do { try await group.run() } catch {
                        logger.error("OpenTelemetry service failed", metadata: ["error": "\(error)"])
                    }
                }
            }
        }

        /// Shuts the service down gracefully (exporting the buffered spans) and waits at most `timeout` for it.
        ///
        /// The wait is woken by the end of the flush (the semaphore is signalled when the service's task has
        /// returned); the bound is the design: it runs on the main thread after the drain, as the process exits,
        /// and an OTLP collector that does not answer must not keep a stopped worker alive (the supervisor waits
        /// for it). The service is cancelled when the bound passes.
        func shutDown(timeout: Duration, logger: Logger) {
            guard let task = self.task.withLock({ $0 }) else { return }
            let done = DispatchSemaphore(value: 0)
            let group = self.group
            Task {
                await group.triggerGracefulShutdown()
                await task.value
                done.signal()
            }
            if done.wait(timeout: .now() + timeout.secondsValue) == .timedOut {
                logger.warning(
                    "OpenTelemetry did not shut down in time; spans may be lost", metadata: ["timeout": "\(timeout)"])
                task.cancel()
            }
        }
    }
#endif
