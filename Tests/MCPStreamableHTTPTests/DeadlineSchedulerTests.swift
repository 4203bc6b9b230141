import Synchronization
import Testing

@testable import MCPStreamableHTTP

/// Records the order in which entries ran.
private final class Log: Sendable {
    private let entries = Mutex<[Int]>([])
    func append(_ n: Int) { entries.withLock { $0.append(n) } }
    var all: [Int] { entries.withLock { $0 } }

    /// Waits (briefly polling) until `count` entries ran, at most `timeout`.
    func wait(for count: Int, timeout: Duration = .seconds(10)) async {
        let end = ContinuousClock.now + timeout
        while all.count < count, .now < end { try? await Task.sleep(for: .milliseconds(2)) }
    }
}

@Suite struct DeadlineSchedulerTests {
    let t0 = ContinuousClock.now

    @Test func firesInDeadlineOrderTiesInSchedulingOrder() {
        let scheduler = DeadlineScheduler(drivesItself: false)
        let log = Log()
        scheduler.schedule(at: t0 + .seconds(3)) { log.append(3) }
        scheduler.schedule(at: t0 + .seconds(1)) { log.append(1) }
        scheduler.schedule(at: t0 + .seconds(2)) { log.append(2) }
        scheduler.schedule(at: t0 + .seconds(1)) { log.append(11) }
        #expect(scheduler.fireDue(now: t0) == 0)
        #expect(scheduler.fireDue(now: t0 + .milliseconds(1500)) == 2)
        #expect(log.all == [1, 11])
        #expect(scheduler.pendingCount == 2)
        #expect(scheduler.fireDue(now: t0 + .seconds(5)) == 2)
        #expect(log.all == [1, 11, 2, 3])
        #expect(scheduler.pendingCount == 0)
        #expect(scheduler.fireDue(now: t0 + .seconds(9)) == 0)
    }

    @Test func cancelledEntriesNeverRun() {
        let scheduler = DeadlineScheduler(drivesItself: false)
        let log = Log()
        let first = scheduler.schedule(at: t0 + .seconds(1)) { log.append(1) }
        scheduler.schedule(at: t0 + .seconds(2)) { log.append(2) }
        let third = scheduler.schedule(at: t0 + .seconds(3)) { log.append(3) }
        #expect(scheduler.cancel(first))
        #expect(!scheduler.cancel(first))
        #expect(scheduler.cancel(third))
        #expect(scheduler.pendingCount == 1)
        #expect(scheduler.fireDue(now: t0 + .seconds(10)) == 1)
        #expect(log.all == [2])
        // An entry that ran cannot be cancelled any more.
        let ran = scheduler.schedule(at: t0) { log.append(4) }
        scheduler.fireDue(now: t0)
        #expect(!scheduler.cancel(ran))
    }

    @Test func manyEntriesComeOutSorted() {
        let scheduler = DeadlineScheduler(drivesItself: false)
        let log = Log()
        var generator = SystemRandomNumberGenerator()
        var timers: [(ms: Int, timer: DeadlineScheduler.Timer)] = []
        for _ in 0..<20_000 {
            let ms = Int.random(in: 0..<100_000, using: &generator)
            timers.append((ms, scheduler.schedule(at: t0 + .milliseconds(ms)) { log.append(ms) }))
        }
        // Every other entry cancelled.
        var kept: [Int] = []
        for (index, entry) in timers.enumerated() {
            if index % 2 == 0 { #expect(scheduler.cancel(entry.timer)) } else { kept.append(entry.ms) }
        }
        #expect(scheduler.pendingCount == kept.count)
        // Fired in ten steps: each step runs exactly the entries due by then.
        for step in 1...10 {
            let limit = step * 10_000
            scheduler.fireDue(now: t0 + .milliseconds(limit))
            #expect(log.all.count == kept.filter { $0 <= limit }.count)
        }
        #expect(log.all == kept.sorted())
        #expect(scheduler.pendingCount == 0)
    }

    @Test func theDriverRunsEntriesInOrderWithoutPolling() async {
        let scheduler = DeadlineScheduler()
        let log = Log()
        let start = ContinuousClock.now
        scheduler.schedule(at: start + .milliseconds(60)) { log.append(3) }
        scheduler.schedule(at: start + .milliseconds(20)) { log.append(1) }
        scheduler.schedule(at: start + .milliseconds(40)) { log.append(2) }
        await log.wait(for: 3)
        #expect(log.all == [1, 2, 3])
        #expect(ContinuousClock.now - start >= .milliseconds(60))
    }

    @Test func anEarlierEntryWakesTheDriverSleepingForALaterOne() async {
        let scheduler = DeadlineScheduler()
        let log = Log()
        let late = scheduler.schedule(after: .seconds(3600)) { log.append(0) }
        try? await Task.sleep(for: .milliseconds(10))  // the driver sleeps for the hour now
        let start = ContinuousClock.now
        scheduler.schedule(after: .milliseconds(10)) { log.append(1) }
        await log.wait(for: 1)
        #expect(log.all == [1])
        #expect(ContinuousClock.now - start < .seconds(5))
        #expect(scheduler.cancel(late))
    }

    @Test func anActionCanScheduleTheNextEntry() async {
        let scheduler = DeadlineScheduler()
        let log = Log()
        scheduler.schedule(after: .milliseconds(5)) {
            log.append(1)
            scheduler.schedule(after: .milliseconds(5)) { log.append(2) }
        }
        await log.wait(for: 2)
        #expect(log.all == [1, 2])
    }

    @Test func aCancelledEntryDoesNotRunUnderTheDriver() async {
        let scheduler = DeadlineScheduler()
        let log = Log()
        let cancelled = scheduler.schedule(after: .milliseconds(10)) { log.append(1) }
        scheduler.schedule(after: .milliseconds(30)) { log.append(2) }
        #expect(scheduler.cancel(cancelled))
        await log.wait(for: 1)
        try? await Task.sleep(for: .milliseconds(20))
        #expect(log.all == [2])
    }
}
