import Foundation
import Logging
import MCPFCGI
import MCPHandlers

#if canImport(Glibc)
    import Glibc
#endif

/// One JSON object per line on standard error: `{"ts":…,"level":…,"label":…,"message":…, metadata…}`.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var object: [String: Value] = [
            "ts": .string(ISO8601.now()), "level": .string(event.level.rawValue), "label": .string(label),
            "message": .string(event.message.description),
        ]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            object[key] = .string(value.description)
        }
        var line = JSONWriter.encode(.object(object))
        line.append(UInt8(ascii: "\n"))
        line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    }
}
