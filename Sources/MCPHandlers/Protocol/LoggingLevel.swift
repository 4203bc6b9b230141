/// The syslog severities of `logging/setLevel` and `notifications/message`, least severe first.
public enum LoggingLevel: String, Sendable, CaseIterable, Comparable {
    /// Debug-level messages.
    case debug
    /// Informational messages.
    case info
    /// Normal but significant conditions.
    case notice
    /// Warning conditions.
    case warning
    /// Error conditions.
    case error
    /// Critical conditions.
    case critical
    /// Action must be taken immediately.
    case alert
    /// System is unusable.
    case emergency

    private var rank: Int { Self.allCases.firstIndex(of: self)! }

    /// Orders by severity.
    public static func < (lhs: LoggingLevel, rhs: LoggingLevel) -> Bool { lhs.rank < rhs.rank }
}
