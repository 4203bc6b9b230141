/// The one place a `Duration` becomes a number: seconds for clocks kept in `Double`, whole milli-, micro- and
/// nanoseconds for metrics and socket timeouts.
extension Duration {
    /// The duration in seconds, with its fraction.
    package var secondsValue: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// The duration in whole nanoseconds (truncated; saturating at `Int64.max` / `Int64.min`).
    package var wholeNanoseconds: Int64 { whole(unitsPerSecond: 1_000_000_000) }

    /// The duration in whole microseconds (truncated; saturating at `Int64.max` / `Int64.min`).
    package var wholeMicroseconds: Int64 { whole(unitsPerSecond: 1_000_000) }

    /// The duration in whole milliseconds (truncated; saturating at `Int64.max` / `Int64.min`).
    package var wholeMilliseconds: Int64 { whole(unitsPerSecond: 1_000) }

    private func whole(unitsPerSecond: Int64) -> Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: unitsPerSecond)
        let fraction = attoseconds / (1_000_000_000_000_000_000 / unitsPerSecond)
        let (sum, sumOverflow) = product.addingReportingOverflow(fraction)
        if overflow || sumOverflow { return seconds < 0 ? .min : .max }
        return sum
    }
}
