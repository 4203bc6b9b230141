import Testing

@testable import mcp_fcgi_demo

/// The demo's observability switches: when tracing is on, and which metrics tokens stop the worker at start.
@Suite struct ObservabilitySettingsTests {
    @Test func tracingNeedsAnEndpointAndIsNotDisabled() {
        #expect(!DemoCommand.tracingEnabled([:]))
        #expect(!DemoCommand.tracingEnabled(["OTEL_EXPORTER_OTLP_ENDPOINT": ""]))
        #expect(DemoCommand.tracingEnabled(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"]))
        // OTEL_SDK_DISABLED=false is a valid setting (it must not switch swift-otel's logs and metrics back on:
        // bootstrapTracing drops it); =true turns tracing off.
        #expect(
            DemoCommand.tracingEnabled(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "false"]))
        #expect(
            !DemoCommand.tracingEnabled(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "TRUE"]))
    }

    @Test func metricsTokensThatCannotWorkAreRefused() {
        #expect(DemoCommand.metricsTokenProblem("0123456789abcdef") == nil)
        #expect(DemoCommand.metricsTokenProblem("short")?.contains("at least 16") == true)
        #expect(DemoCommand.metricsTokenProblem(" padded-token-0123456789 ")?.contains("whitespace") == true)
        #expect(DemoCommand.metricsTokenProblem("two words token 0123")?.contains("whitespace") == true)
    }
}
