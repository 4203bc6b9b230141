import Foundation
import Logging
import MCPHandlers
import PostgresNIO
import Synchronization

/// Sessions in PostgreSQL, shared by every worker of every deployment on the database: a request whose session
/// was created by a worker that is gone (stopped, crashed, on another machine) is served by any other, which loads
/// the session from the database — the client sees no 404.
///
/// The database holds each session's record (id, owner, client address, negotiated version, client info and
/// capabilities, phase, log level, subscriptions, last activity); each worker keeps the ``/MCPHandlers/Session`` objects it
/// serves in memory, so a request on a session this worker served recently costs no query:
///
/// - **Admission** is one call of the database function `mcpfcgi_insert_session` (one round trip): the scope's
///   count is taken first (its row stays locked until the commit, which does not wait for the disk, so concurrent
///   admissions and removals of the scope queue there), the address and owner quotas and the
///   ``Configuration/capacity`` are checked on the counts, and the session is inserted and counted — or the count
///   is given back with the refusal, or the least recently used idle session is evicted; the limits hold across
///   workers and machines.
/// - **Removal by id** (`DELETE`) is one prepared statement; a trigger takes the session's counts, its recorded
///   events and its tasks with it.
/// - **Activity** is written in batches every ``Configuration/activityFlushInterval``: the sessions that turned idle
///   since the last batch, and a heartbeat for those with a request or stream in flight (`busy_until`), which idle
///   expiry, cleanup and eviction on any worker respect.
/// - **State changes** (initialized, log level, subscriptions) are written at once, in the background; a failed
///   write is retried with the next batch.
/// - **Removals** (DELETE, expiry, cleanup, eviction) delete the record and announce it on the database channel
///   (``DatabaseNotifications``, `LISTEN`/`NOTIFY`) in the same statement; a worker holding the session ends its
///   requests and streams (`SharedSessionEvents`). While the listener is down, and for a session
///   not used here for ``Configuration/revalidateAfter``, the record is read again before it is served.
/// - **When the database is down**, a session this worker holds is served from its copy (its activity and state
///   are written once the database answers); loading another session, admission and removal fail with
///   ``PostgresUnavailable`` (the transport answers 503 with `Retry-After`).
///
/// Times in the database are seconds since 1970 on the workers' clocks (keep them synchronised, as NTP does);
/// the `now` arguments of ``/MCPHandlers/SessionStore`` (the server's monotonic clock) are not used.
public final class PostgresSessionStore: SessionStore, SessionActivityObserver {
    /// The store's settings.
    public struct Configuration: Sendable {
        /// The sessions' namespace: each MCP server (a tenant's, the main one) has its own, so a session id of one
        /// is unknown to the others, and the capacity and quotas count per scope. Not empty, no `|` (a
        /// programming error). Default `"mcp"`.
        public var scope: String
        /// The most live sessions of this scope in the database (every worker of every deployment). Default 100,000.
        public var capacity: Int
        /// How often a worker writes the activity of its sessions (one statement for all of them). Default 1 s.
        /// Idle expiry and eviction see activity this late at most; a session with a request or stream in flight
        /// is marked busy for three intervals at each write.
        public var activityFlushInterval: Duration
        /// A session this worker holds is read again from the database before its next request once its copy is
        /// this old (it may have changed or ended elsewhere while an announcement was lost): the bound on
        /// staleness should the listener miss something without noticing. Default 30 s.
        public var revalidateAfter: Duration

        /// Creates a configuration; every parameter has the default documented on its property.
        public init(
            scope: String = "mcp", capacity: Int = 100_000, activityFlushInterval: Duration = .seconds(1),
            revalidateAfter: Duration = .seconds(30)
        ) {
            precondition(!scope.contains("|") && !scope.isEmpty, "a session scope is not empty and has no '|'")
            self.scope = scope
            self.capacity = capacity
            self.activityFlushInterval = activityFlushInterval
            self.revalidateAfter = revalidateAfter
        }
    }

    /// The database.
    public let database: PostgresPool
    /// The announcements of removals made elsewhere.
    public let notifications: DatabaseNotifications
    /// The settings.
    public let configuration: Configuration
    private let logger: Logger
    private let wallClock: @Sendable () -> Double

    /// A session held in this worker's memory.
    private struct Entry {
        let session: Session
        /// A request or stream is in flight.
        var busy = false
        /// Its activity changed since the last batch.
        var dirty = false
        /// When its last request ended (wall clock).
        var lastActivity: Double
        /// When this worker last read its record (or created it), wall clock.
        var checkedAt: Double
        /// The log level and subscriptions the record holds (as far as this worker knows): a change of the phase
        /// alone is written with the next batch, a change of these at once.
        var recordedLevel: LoggingLevel? = nil
        var recordedSubscriptions: Set<String> = []
        /// `notifications/initialized` arrived and goes out with the next batch.
        var initializedPending = false
    }
    private final class Shard: Sendable {
        let entries = Mutex<[String: Entry]>([:])
    }
    private static let shardCount = 16
    private let shards: [Shard]
    private let events = Mutex<SharedSessionEvents?>(nil)
    /// Sessions whose state write failed: written again with the next batch.
    private let unwrittenState = Mutex<Set<String>>([])
    /// Sessions whose state is being written: true when it changed again meanwhile (one writer per session).
    private let stateWriters = Mutex<[String: Bool]>([:])
    /// The removals this worker heard of or made, numbered, so that a load that raced one does not keep a copy
    /// of a session that is gone (the most recent ``removalMemory``).
    private struct Removals {
        var epoch: UInt64 = 0
        var recent: [String: UInt64] = [:]
        var order: [String] = []
    }
    private let removals = Mutex(Removals())
    /// How many recent removals are remembered for racing loads.
    static let removalMemory = 10_000
    /// The version of the last state written (microseconds of the wall clock, strictly increasing).
    private let lastStateVersion = Mutex<Int64>(0)
    private let flusher = Mutex<Task<Void, Never>?>(nil)
    /// Whether the last write failed: a failing write is logged once, not every interval of an outage.
    private let writesFailing = Atomic<Bool>(false)

    /// Creates the store on a started database (``PostgresPool/start(waitingForTheDatabase:)`` migrated the schema) and starts its
    /// background work: listening for removals made elsewhere (``DatabaseNotifications``, started here when it was
    /// not) and the activity batches.
    /// - Parameters:
    ///   - database: the database.
    ///   - notifications: the worker's listener (shared with ``PostgresOAuthStorage``).
    ///   - configuration: the settings. Default ``Configuration/init(scope:capacity:activityFlushInterval:revalidateAfter:)``.
    ///   - logger: where failures log. Default `mcpfcgi.sessions.postgres`.
    ///   - wallClock: seconds since 1970 (tests move it). Default the system clock.
    public init(
        database: PostgresPool, notifications: DatabaseNotifications, configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "mcpfcgi.sessions.postgres"),
        wallClock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
    ) {
        self.database = database
        self.notifications = notifications
        self.configuration = configuration
        self.logger = logger
        self.wallClock = wallClock
        self.shards = (0..<Self.shardCount).map { _ in Shard() }
        notifications.onNotification(kind: "s") { [weak self] rest in self?.removedElsewhere(rest) }
        notifications.onListening { [weak self] in
            guard let self else { return }
            // Announcements made while not listening are lost: every copy is read again before its next use, and
            // the copies whose records are gone are ended now.
            self.markEveryCopyStale()
            Task { await self.checkHeldSessions() }
        }
        notifications.start()
        flusher.withLock { task in
            task = Task { [weak self, interval = configuration.activityFlushInterval] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    guard let self, !Task.isCancelled else { return }
                    await self.flush()
                }
            }
        }
    }

    /// Writes what is pending and stops the background work (the listener is stopped by its owner).
    public func shutdown() async {
        let task = flusher.withLock { task in
            defer { task = nil }
            return task
        }
        task?.cancel()
        await task?.value
        // The state writes in flight land first (bounded: each is one operation), then what failed is retried.
        for _ in 0..<500 where stateWriters.withLock({ !$0.isEmpty }) { try? await Task.sleep(for: .milliseconds(10)) }
        await flush()
    }

    // MARK: SessionStore

    /// True: every worker of every deployment on the database sees the same sessions.
    public var isShared: Bool { true }

    /// Keeps the handlers of loads and removals made elsewhere (see `SharedSessionEvents`).
    /// - Parameter events: the handlers.
    public func setSharedSessionEvents(_ events: SharedSessionEvents) { self.events.withLock { $0 = events } }

    /// Adds a session with no quota and no eviction.
    public func insert(_ session: Session) async throws -> Bool {
        if case .inserted = try await insert(session, limits: .noQuotas, now: 0) { return true }
        return false
    }

    /// Adds a session under `limits`, in one call of `mcpfcgi_insert_session` (see the type's documentation).
    /// - Parameters:
    ///   - session: the new session.
    ///   - limits: the quotas and the eviction threshold.
    ///   - now: not used (the database's times are wall-clock times).
    /// - Returns: what happened, with the evicted session when one was.
    public func insert(_ session: Session, limits: SessionLimits, now: Double) async throws -> SessionInsertion {
        session.setActivityObserver(self)
        let time = wallClock()
        let clientInfo = session.clientInfo.map { String(decoding: JSONWriter.encode($0.value), as: UTF8.self) }
        let capabilities = String(decoding: JSONWriter.encode(session.clientCapabilities), as: UTF8.self)
        let capacity = Int64(configuration.capacity)
        let perAddress = limits.maxSessionsPerAddress.map(Int32.init(clamping:))
        let perUser = limits.maxSessionsPerUser.map(Int32.init(clamping:))
        let minimumIdle = limits.minimumIdleSecondsBeforeEviction
        let admission = SessionAdmission(
            scope: configuration.scope, id: session.id, version: session.protocolVersion.rawValue,
            clientInfo: clientInfo, capabilities: capabilities, owner: session.owner, address: session.clientAddress,
            now: time, capacity: capacity, perAddress: perAddress, perUser: perUser, minimumIdle: minimumIdle)
        let (outcome, evicted) = try await database.run { [database, logger] in
            for try await (outcome, id, version, owner, address) in try await database.client.execute(admission, logger: logger) {
                return (outcome, id.map { ($0, version ?? "", owner, address) })
            }
            return ("full", nil)
        }
        switch outcome {
        case "inserted":
            hold(session, at: time)
            guard let evicted else { return .inserted(evicted: []) }
            let (id, version, owner, address) = evicted
            let victim =
                take(id)
                ?? Session(
                    id: id, protocolVersion: ProtocolVersion(rawValue: version), clientInfo: nil,
                    clientCapabilities: [:], owner: owner, clientAddress: address, now: time)
            return .inserted(evicted: [victim])
        case "duplicate": return .duplicateID
        case "address": return .addressQuotaReached(limit: limits.maxSessionsPerAddress ?? 0)
        case "user": return .userQuotaReached(limit: limits.maxSessionsPerUser ?? 0)
        default: return .full
        }
    }

    /// The session with that id: this worker's copy when it has served it recently and hears the announcements of
    /// removals, else read from the database (a session created elsewhere is loaded and kept here).
    public func session(id: String) async throws -> Session? {
        let time = wallClock()
        let held = shard(id).entries.withLock { $0[id] }
        if let held, notifications.isListening, time - held.checkedAt < configuration.revalidateAfter.secondsValue {
            return held.session
        }
        let epoch = removals.withLock { $0.epoch }
        let found: Record?
        do {
            found = try await record(id: id)
        } catch {
            // The database is down: a session served here goes on from this worker's copy (what changed elsewhere
            // meanwhile is seen once the database answers); one never served here cannot be loaded (503).
            guard let held else { throw error }
            return held.session
        }
        guard let record = found, !removed(id, since: epoch) else {
            if let held, let gone = take(id, ifSame: held.session) { announceRemoval(gone, reason: .deleted) }
            return nil
        }
        if let held {
            // A state change of this worker not written yet is newer than the record.
            let pending = unwrittenState.withLock { $0.contains(id) } || stateWriters.withLock { $0[id] != nil }
            if !pending {
                held.session.restore(
                    initialized: record.initialized, logLevel: record.logLevel, subscriptions: record.subscriptions)
            }
            shard(id).entries.withLock { entries in
                guard entries[id]?.session === held.session else { return }
                entries[id]!.checkedAt = time
                if !pending {
                    entries[id]!.recordedLevel = record.logLevel
                    entries[id]!.recordedSubscriptions = record.subscriptions
                }
            }
            if !pending { events.withLock { $0 }?.loaded(held.session) }
            return held.session
        }
        let loaded = record.session(now: time)
        loaded.setActivityObserver(self)
        let kept = shard(id).entries.withLock { entries -> (session: Session, isNew: Bool)? in
            if let existing = entries[id] { return (existing.session, false) }
            // Under the shard lock, which the removal announcement also takes: either it saw this copy and ends
            // it, or this sees the removal and keeps nothing.
            if removed(id, since: epoch) { return nil }
            entries[id] = Entry(
                session: loaded, lastActivity: time, checkedAt: time, recordedLevel: record.logLevel,
                recordedSubscriptions: record.subscriptions)
            return (loaded, true)
        }
        guard let kept else { return nil }
        if kept.isNew {
            events.withLock { $0 }?.loaded(kept.session)
            logger.debug("session loaded from the database", metadata: ["mcp.session.id": "\(id)"])
        }
        return kept.session
    }

    /// Whether a session with that id is live (this worker's copy, else the database).
    public func contains(id: String) async throws -> Bool {
        if shard(id).entries.withLock({ $0[id] != nil }) { return true }
        return try await database.run { [self] in
            let rows = try await database.client.query(
                "SELECT EXISTS (SELECT 1 FROM mcpfcgi_sessions WHERE scope = \(configuration.scope) AND id = \(id))",
                logger: logger)
            for try await exists in rows.decode(Bool.self) { return exists }
            return false
        }
    }

    /// Removes a session: deletes its record and announces the removal. Of several racing removers (on any
    /// worker) exactly one gets the session.
    @discardableResult public func remove(id: String) async throws -> Session? {
        let removal = SessionRemoval(scope: configuration.scope, id: id)
        let found = try await database.run { [database, logger] () -> Record? in
            for try await record in try await database.client.execute(removal, logger: logger) { return record }
            return nil
        }
        guard let record = found else {
            // Removed elsewhere; this worker may have missed the announcement.
            if let gone = take(id) { announceRemoval(gone, reason: .deleted) }
            return nil
        }
        return take(id) ?? record.session(now: wallClock())
    }

    /// The number of live sessions in the database (every worker of every deployment).
    public var count: Int {
        get async throws {
            try await database.run { [self] in
                let rows = try await database.client.query(
                    "SELECT live FROM mcpfcgi_session_counts WHERE scope = \(configuration.scope) AND kind = 't' AND key = ''",
                    logger: logger)
                for try await live in rows.decode(Int64.self) { return Int(live) }
                return 0
            }
        }
    }

    /// Removes every session (of the whole database) idle for at least `seconds`: no request for that long on
    /// any worker, and nothing in flight anywhere (this worker's busy sessions, the heartbeats of the others).
    /// - Parameters:
    ///   - seconds: the inactivity threshold.
    ///   - now: not used (wall-clock times).
    /// - Returns: the removed sessions (this worker's copies where it holds them).
    @discardableResult public func removeIdle(olderThan seconds: Double, now: Double) async throws -> [Session] {
        // This worker's latest activity first, so that a session it just served is not taken for idle.
        await flush()
        var removed: [Session] = []
        while true {
            let time = wallClock()
            let busy = shards.flatMap { shard in shard.entries.withLock { $0.filter(\.value.busy).map(\.key) } }
            let cutoff = time - seconds
            let batch = try await deleteRecords(
                where: """
                    id IN (SELECT id FROM mcpfcgi_sessions WHERE scope = \(configuration.scope) AND last_activity <= \(cutoff)
                        AND busy_until < \(time) AND NOT (id = ANY(\(busy)::text[]))
                        ORDER BY last_activity LIMIT \(unescaped: String(Self.removalBatch)) FOR UPDATE SKIP LOCKED)
                    """, reason: .expired)
            removed += batch.map { take($0.id) ?? $0.session(now: time) }
            if batch.count < Self.removalBatch { break }
        }
        // The counts of addresses and owners with no session left.
        try await database.run { [self] in
            try await database.client.query(
                "DELETE FROM mcpfcgi_session_counts WHERE scope = \(configuration.scope) AND kind <> 't' AND live <= 0",
                logger: logger)
        }
        return removed
    }

    /// The most sessions one statement of ``removeIdle(olderThan:now:)`` deletes.
    static let removalBatch = 1000

    // MARK: SessionActivityObserver

    /// Marks the session busy (its heartbeat keeps other workers from expiring or evicting it).
    public func sessionBecameBusy(_ session: Session) {
        shard(session.id).entries.withLock { entries in
            guard entries[session.id]?.session === session else { return }
            entries[session.id]!.busy = true
        }
    }

    /// Marks the session idle from now; its activity goes out with the next batch.
    public func sessionBecameIdle(_ session: Session, at time: Double) {
        let wall = wallClock()
        shard(session.id).entries.withLock { entries in
            guard entries[session.id]?.session === session else { return }
            entries[session.id]!.busy = false
            entries[session.id]!.dirty = true
            entries[session.id]!.lastActivity = wall
        }
    }

    /// Writes the session's phase, log level and subscriptions, in the background: one writer per session, which
    /// writes again when the state changed during its write (changes coalesce, and land in order). The phase
    /// alone (`notifications/initialized`, once per session) goes out with the next batch instead: a session is
    /// served in both phases, and admission stays one round trip per session.
    public func sessionStateChanged(_ session: Session) {
        let level = session.logLevel
        let subscriptions = session.subscriptions
        let phaseOnly = shard(session.id).entries.withLock { entries -> Bool in
            guard var entry = entries[session.id], entry.session === session else { return false }
            defer { entries[session.id] = entry }
            if entry.recordedLevel == level, entry.recordedSubscriptions == subscriptions {
                entry.initializedPending = true
                return true
            }
            entry.recordedLevel = level
            entry.recordedSubscriptions = subscriptions
            return false
        }
        if phaseOnly { return }
        let start = stateWriters.withLock { writers -> Bool in
            if writers[session.id] != nil {
                writers[session.id] = true
                return false
            }
            writers[session.id] = false
            return true
        }
        guard start else { return }
        Task {
            while true {
                await self.writeState(of: session)
                let again = self.stateWriters.withLock { writers -> Bool in
                    if writers[session.id] == true {
                        writers[session.id] = false
                        return true
                    }
                    writers[session.id] = nil
                    return false
                }
                if !again { return }
            }
        }
    }

    // MARK: Records

    /// A session's row.
    fileprivate struct Record {
        var id: String
        var protocolVersion: String
        var clientInfo: String?
        var capabilities: String
        var owner: String?
        var clientAddress: String?
        var initialized: Bool
        var logLevel: LoggingLevel?
        var subscriptions: Set<String>

        static let columns =
            "id, protocol_version, client_info, client_capabilities, owner, client_address, initialized, log_level, subscriptions"

        init(_ row: PostgresRow) throws {
            let (id, version, info, capabilities, owner, address, initialized, level, subscriptions) = try row.decode(
                (String, String, String?, String, String?, String?, Bool, String?, [String]).self)
            self.id = id
            self.protocolVersion = version
            self.clientInfo = info
            self.capabilities = capabilities
            self.owner = owner
            self.clientAddress = address
            self.initialized = initialized
            self.logLevel = level.flatMap(LoggingLevel.init(rawValue:))
            self.subscriptions = Set(subscriptions)
        }

        /// A ``Session`` with this record's facts and state.
        func session(now: Double) -> Session {
            let parser = JSONParser()
            let info = clientInfo.flatMap { try? parser.parse(Array($0.utf8)) }
            let capabilities = (try? parser.parse(Array(capabilities.utf8))) ?? [:]
            let session = Session(
                id: id, protocolVersion: ProtocolVersion(rawValue: protocolVersion), clientInfo: Implementation(info),
                clientCapabilities: capabilities, owner: owner, clientAddress: clientAddress, now: now)
            session.restore(initialized: initialized, logLevel: logLevel, subscriptions: subscriptions)
            return session
        }
    }

    private func record(id: String) async throws -> Record? {
        try await database.run { [self] in
            let rows = try await database.client.query(
                "SELECT \(unescaped: Record.columns) FROM mcpfcgi_sessions WHERE scope = \(configuration.scope) AND id = \(id)",
                logger: logger)
            for try await row in rows { return try Record(row) }
            return nil
        }
    }

    /// Deletes the records matching `condition` and announces each removal, in one statement; returns them.
    /// The condition's binds come first; the scope is bound after them.
    private func deleteRecords(where condition: PostgresQuery, reason: SessionEndReason) async throws -> [Record] {
        try await database.run { [self] in
            var binds = condition.binds
            binds.append(configuration.scope)
            let scope = "$\(binds.count)"
            let query = PostgresQuery(
                unsafeSQL: """
                    WITH gone AS (DELETE FROM mcpfcgi_sessions WHERE scope = \(scope) AND (\(condition.sql))
                        RETURNING \(Record.columns)),
                    announced AS (
                        SELECT pg_notify('\(DatabaseNotifications.channel)', 's|\(reason.rawValue)|' || \(scope) || '|' || id)
                        FROM gone)
                    SELECT \(Record.columns) FROM gone WHERE (SELECT count(*) FROM announced) >= 0
                    """, binds: binds)
            var records: [Record] = []
            for try await row in try await database.client.query(query, logger: logger) { records.append(try Record(row)) }
            return records
        }
    }

    // MARK: This worker's copies

    private func shard(_ id: String) -> Shard {
        var hash: UInt32 = 2_166_136_261
        for byte in id.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return shards[Int(hash % UInt32(Self.shardCount))]
    }

    private func hold(_ session: Session, at time: Double) {
        shard(session.id).entries.withLock { $0[session.id] = Entry(session: session, lastActivity: time, checkedAt: time) }
    }

    /// Takes this worker's copy out (when it is `session`, if given) because the session was removed, and
    /// remembers the removal for loads racing it.
    private func take(_ id: String, ifSame session: Session? = nil) -> Session? {
        shard(id).entries.withLock { entries in
            guard let entry = entries[id], session == nil || entry.session === session else { return nil }
            noteRemoval(id)
            entries[id] = nil
            return entry.session
        }
    }

    private func announceRemoval(_ session: Session, reason: SessionEndReason) {
        events.withLock { $0 }?.removedElsewhere(session, reason)
    }

    /// `s|<reason>|<scope>|<id>` from the channel: ends this worker's copy when the scope is this store's.
    private func removedElsewhere(_ payload: String) {
        let fields = payload.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
        guard fields.count == 3, fields[1] == configuration.scope else { return }
        let reason = SessionEndReason(rawValue: String(fields[0])) ?? .deleted
        let id = String(fields[2])
        let gone = shard(id).entries.withLock { entries -> Session? in
            noteRemoval(id)
            return entries.removeValue(forKey: id)?.session
        }
        if let gone { announceRemoval(gone, reason: reason) }
    }

    /// Remembers a removal (called under the session's shard lock, see ``session(id:)``).
    private func noteRemoval(_ id: String) {
        removals.withLock { r in
            r.epoch &+= 1
            if r.recent.updateValue(r.epoch, forKey: id) == nil { r.order.append(id) }
            if r.order.count > Self.removalMemory {
                let dropped = r.order.count - Self.removalMemory / 2
                for old in r.order.prefix(dropped) { r.recent[old] = nil }
                r.order.removeFirst(dropped)
            }
        }
    }

    /// Whether `id` was removed after `epoch` was read.
    private func removed(_ id: String, since epoch: UInt64) -> Bool {
        removals.withLock { ($0.recent[id] ?? 0) > epoch }
    }

    /// Every copy is read again before its next use.
    private func markEveryCopyStale() {
        for shard in shards {
            shard.entries.withLock { entries in for id in entries.keys { entries[id]!.checkedAt = -.infinity } }
        }
    }

    /// After the listener was down: ends the copies whose records are gone.
    private func checkHeldSessions() async {
        let held = shards.flatMap { shard in shard.entries.withLock { Array($0.keys) } }
        guard !held.isEmpty else { return }
        do {
            let live = try await database.run { [self] in
                var live = Set<String>()
                let rows = try await database.client.query(
                    "SELECT id FROM mcpfcgi_sessions WHERE scope = \(configuration.scope) AND id = ANY(\(held))",
                    logger: logger)
                for try await id in rows.decode(String.self) { live.insert(id) }
                return live
            }
            for id in held where !live.contains(id) {
                if let gone = take(id) { announceRemoval(gone, reason: .deleted) }
            }
        } catch {
            logger.warning(
                "could not check the sessions held here; each is read again before its next use",
                metadata: ["error": "\(error)"])
        }
    }

    // MARK: Writing

    /// Writes the activity of the sessions that turned idle since the last batch and the heartbeat of the busy
    /// ones, in one statement, and the state writes that failed; what fails is tried again next time. The store
    /// calls it every ``Configuration/activityFlushInterval``, before ``removeIdle(olderThan:now:)`` and on
    /// ``shutdown()``.
    public func flush() async {
        let time = wallClock()
        let busyUntil = time + 3 * configuration.activityFlushInterval.secondsValue
        var ids: [String] = []
        var activity: [Double] = []
        var busy: [Double] = []
        var initialized: [Bool] = []
        for shard in shards {
            shard.entries.withLock { entries in
                for (id, entry) in entries where entry.dirty || entry.busy || entry.initializedPending {
                    ids.append(id)
                    activity.append(entry.busy ? time : entry.lastActivity)
                    busy.append(entry.busy ? busyUntil : 0)
                    initialized.append(entry.initializedPending)
                    entries[id]!.dirty = false
                    entries[id]!.initializedPending = false
                }
            }
        }
        if !ids.isEmpty {
            // One row version per session and batch: its activity, heartbeat and phase together.
            do {
                try await database.run { [self, ids, activity, busy, initialized] in
                    try await database.client.query(
                        """
                        WITH v AS (
                            SELECT * FROM unnest(\(ids)::text[], \(activity)::float8[], \(busy)::float8[],
                                \(initialized)::bool[]) AS v(id, activity, busy_until, initialized)),
                        locked AS (
                            SELECT s.id FROM mcpfcgi_sessions s JOIN v ON s.id = v.id
                            WHERE s.scope = \(configuration.scope) ORDER BY s.id FOR UPDATE OF s)
                        UPDATE mcpfcgi_sessions s SET last_activity = GREATEST(s.last_activity, v.activity),
                            busy_until = GREATEST(s.busy_until, v.busy_until), initialized = s.initialized OR v.initialized
                        FROM v WHERE s.scope = \(configuration.scope) AND s.id = v.id AND s.id IN (SELECT id FROM locked)
                        """, logger: logger)
                }
            } catch {
                for (id, phase) in zip(ids, initialized) {
                    shard(id).entries.withLock { entries in
                        guard entries[id] != nil else { return }
                        entries[id]!.dirty = true
                        if phase { entries[id]!.initializedPending = true }
                    }
                }
                writeFailed("session activity not written; tried again with every batch", error)
                return
            }
            writeSucceeded()
        }
        let unwritten = unwrittenState.withLock { pending in
            defer { pending.removeAll() }
            return pending
        }
        for id in unwritten {
            if let session = shard(id).entries.withLock({ $0[id]?.session }) { await writeState(of: session) }
        }
    }

    private func writeState(of session: Session) async {
        let version = lastStateVersion.withLock { last -> Int64 in
            last = max(last + 1, Int64(wallClock() * 1_000_000))
            return last
        }
        let initialized = session.phase != .created
        let level = session.logLevel?.rawValue
        let subscriptions = Array(session.subscriptions).sorted()
        do {
            try await database.run { [self] in
                try await database.client.query(
                    """
                    SELECT mcpfcgi_write_session_state(\(configuration.scope), \(session.id), \(initialized), \(level),
                        \(subscriptions), \(version))
                    """, logger: logger)
            }
        } catch {
            unwrittenState.withLock { _ = $0.insert(session.id) }
            writeFailed("session state not written; tried again with every batch", error)
            return
        }
        writeSucceeded()
    }

    private func writeFailed(_ message: Logger.Message, _ error: any Error) {
        guard !writesFailing.exchange(true, ordering: .relaxed) else { return }
        logger.warning(message, metadata: ["error": "\(error)"])
    }

    private func writeSucceeded() {
        if writesFailing.exchange(false, ordering: .relaxed) { logger.notice("session writes succeed again") }
    }
}

/// One call of `mcpfcgi_insert_session`, prepared once per connection: the server parses and plans it once, and
/// the worker decodes its row description once.
struct SessionAdmission: PostgresPreparedStatement {
    static let name = "mcpfcgi_admission"
    static let sql = """
        SELECT outcome, evicted_id, evicted_version, evicted_owner, evicted_address
        FROM mcpfcgi_insert_session($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        """
    static let bindingDataTypes: [PostgresDataType] = [
        .text, .text, .text, .text, .text, .text, .text, .float8, .int8, .int4, .int4, .float8,
    ]
    typealias Row = (String, String?, String?, String?, String?)

    var scope: String
    var id: String
    var version: String
    var clientInfo: String?
    var capabilities: String
    var owner: String?
    var address: String?
    var now: Double
    var capacity: Int64
    var perAddress: Int32?
    var perUser: Int32?
    var minimumIdle: Double?

    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 12)
        bindings.append(scope)
        bindings.append(id)
        bindings.append(version)
        bindings.append(clientInfo)
        bindings.append(capabilities)
        bindings.append(owner)
        bindings.append(address)
        bindings.append(now)
        bindings.append(capacity)
        bindings.append(perAddress)
        bindings.append(perUser)
        bindings.append(minimumIdle)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }
}

/// The removal of one session by id, announced in the same statement (what ``PostgresSessionStore/remove(id:)``
/// runs on every `DELETE`), prepared once per connection.
private struct SessionRemoval: PostgresPreparedStatement {
    static let name = "mcpfcgi_removal"
    static let sql = """
        WITH gone AS (DELETE FROM mcpfcgi_sessions WHERE scope = $1 AND id = $2 RETURNING \(PostgresSessionStore.Record.columns)),
        announced AS (
            SELECT pg_notify('\(DatabaseNotifications.channel)', 's|\(SessionEndReason.deleted.rawValue)|' || $1 || '|' || id)
            FROM gone)
        SELECT \(PostgresSessionStore.Record.columns) FROM gone WHERE (SELECT count(*) FROM announced) >= 0
        """
    static let bindingDataTypes: [PostgresDataType] = [.text, .text]
    typealias Row = PostgresSessionStore.Record

    var scope: String
    var id: String

    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(scope)
        bindings.append(id)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try PostgresSessionStore.Record(row)
    }
}
