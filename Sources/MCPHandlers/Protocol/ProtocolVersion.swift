/// A revision of the MCP specification, named by its date (`"2025-11-25"`).
public struct ProtocolVersion: RawRepresentable, Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The date string, e.g. `"2025-11-25"`.
    public var rawValue: String

    /// Wraps a date string.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// 2024-11-05, the first revision (HTTP+SSE era; negotiated for compatibility).
    public static let v2024_11_05 = ProtocolVersion(rawValue: "2024-11-05")
    /// 2025-03-26: Streamable HTTP, JSON-RPC batches.
    public static let v2025_03_26 = ProtocolVersion(rawValue: "2025-03-26")
    /// 2025-06-18: no batches, structured tool output, elicitation.
    public static let v2025_06_18 = ProtocolVersion(rawValue: "2025-06-18")
    /// 2025-11-25: the newest session-era revision.
    public static let v2025_11_25 = ProtocolVersion(rawValue: "2025-11-25")

    /// 2026-07-28: the first stateless revision (no `initialize`, per-request `_meta`, multi round-trip
    /// requests, `subscriptions/listen`).
    public static let v2026_07_28 = ProtocolVersion(rawValue: "2026-07-28")

    /// The stateless revisions this library serves, newest first.
    public static let statelessEra: [ProtocolVersion] = [.v2026_07_28]

    /// The session-era revisions this library negotiates, newest first.
    public static let sessionEra: [ProtocolVersion] = [.v2025_11_25, .v2025_06_18, .v2025_03_26, .v2024_11_05]

    /// The revision assumed for a session-era HTTP request without `MCP-Protocol-Version`.
    public static let assumedWhenMissing = ProtocolVersion.v2025_03_26

    /// The era of this revision: ``ProtocolEra/stateless`` for 2026-07-28 and later, ``ProtocolEra/session``
    /// for the `initialize`-based revisions (and for unknown strings that sort before 2026-07-28).
    public var era: ProtocolEra { self >= .v2026_07_28 ? .stateless : .session }

    /// Whether JSON-RPC batches (arrays of messages) are allowed in this revision.
    public var allowsBatches: Bool { self == .v2025_03_26 }

    /// The version to answer an `initialize` with: the requested one when supported, else the newest supported.
    /// - Parameters:
    ///   - requested: what the client asked for.
    ///   - supported: the revisions the server speaks, newest first.
    public static func negotiate(requested: String?, supported: [ProtocolVersion] = sessionEra) -> ProtocolVersion {
        if let requested, let match = supported.first(where: { $0.rawValue == requested }) { return match }
        return supported[0]
    }

    /// Orders by date.
    public static func < (lhs: ProtocolVersion, rhs: ProtocolVersion) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The date string.
    public var description: String { rawValue }
}
