import Logging
import PostgresNIO

/// The database schema, as numbered migrations that every worker applies on start.
///
/// Each migration runs once, in order, with its row in `mcpfcgi_schema_migrations`; the pending migrations run in
/// one transaction, which first takes a transaction-scoped advisory lock, so workers that start at the same moment (or
/// two deployments sharing the database) apply each migration exactly once and wait for each other. A
/// database whose schema is newer than this build knows is refused.
public enum SchemaMigrations {
    /// One step of the schema.
    public struct Migration: Sendable {
        /// Its number (1, 2, …).
        public var version: Int
        /// What it does.
        public var description: String
        /// Its statements, run in order.
        public var statements: [String]
    }

    /// Why the schema could not be brought up to date.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// What went wrong, and what to do.
        public var message: String
        /// Whether the database could not be reached (a passing condition: try again later), rather than refused
        /// or failed the migration (a condition to fix).
        public var isUnreachable: Bool

        /// Creates a failure.
        public init(message: String, isUnreachable: Bool = false) {
            self.message = message
            self.isUnreachable = isUnreachable
        }

        /// The message.
        public var description: String { message }
    }

    /// The advisory lock key of migrations (any constant shared by every worker).
    static let lockKey: Int64 = 0x4D43_5046_4347_4931  // "MCPFCGI1"

    /// Every migration, oldest first.
    public static let all: [Migration] = [
        Migration(
            version: 1, description: "OAuth clients, codes, refresh tokens, access tokens and revocations",
            statements: [
                """
                CREATE TABLE mcpfcgi_oauth_clients (
                    client_id text PRIMARY KEY,
                    secret_digest text,
                    redirect_uris text[] NOT NULL,
                    grant_types text[] NOT NULL,
                    response_types text[] NOT NULL,
                    token_endpoint_auth_method text NOT NULL,
                    client_name text,
                    scopes text[],
                    resources text[],
                    may_introspect_any_token boolean NOT NULL,
                    issued_at bigint NOT NULL,
                    first_used_at bigint,
                    last_used_at bigint,
                    extra_metadata text NOT NULL,
                    registered boolean NOT NULL
                )
                """,
                "CREATE INDEX mcpfcgi_oauth_clients_unused ON mcpfcgi_oauth_clients (issued_at, client_id) WHERE registered AND first_used_at IS NULL",
                "CREATE INDEX mcpfcgi_oauth_clients_used ON mcpfcgi_oauth_clients (last_used_at) WHERE registered",
                """
                CREATE TABLE mcpfcgi_oauth_codes (
                    digest text PRIMARY KEY,
                    client_id text NOT NULL,
                    redirect_uri text NOT NULL,
                    code_challenge text NOT NULL,
                    scopes text[] NOT NULL,
                    subject text NOT NULL,
                    resource text,
                    expires_at timestamptz NOT NULL,
                    family_id text NOT NULL,
                    used boolean NOT NULL DEFAULT false
                )
                """,
                """
                CREATE TABLE mcpfcgi_oauth_refresh_tokens (
                    digest text PRIMARY KEY,
                    client_id text NOT NULL,
                    subject text NOT NULL,
                    scopes text[] NOT NULL,
                    expires_at timestamptz NOT NULL,
                    family_id text NOT NULL,
                    resource text,
                    used boolean NOT NULL DEFAULT false
                )
                """,
                "CREATE INDEX mcpfcgi_oauth_refresh_tokens_family ON mcpfcgi_oauth_refresh_tokens (family_id)",
                """
                CREATE TABLE mcpfcgi_oauth_access_tokens (
                    jti text PRIMARY KEY,
                    family_id text,
                    expires_at timestamptz NOT NULL
                )
                """,
                "CREATE INDEX mcpfcgi_oauth_access_tokens_family ON mcpfcgi_oauth_access_tokens (family_id)",
                """
                CREATE TABLE mcpfcgi_oauth_revoked_access_tokens (
                    jti text PRIMARY KEY,
                    expires_at timestamptz NOT NULL
                )
                """,
                "CREATE TABLE mcpfcgi_oauth_revoked_families (family_id text PRIMARY KEY)",
            ]),
        Migration(
            version: 2, description: "Sessions, their live count and the admission function",
            statements: [
                // Times are seconds since 1970 (the workers' wall clocks); JSON columns hold the client's own values.
                """
                CREATE TABLE mcpfcgi_sessions (
                    scope text NOT NULL,
                    id text NOT NULL,
                    protocol_version text NOT NULL,
                    client_info text,
                    client_capabilities text NOT NULL,
                    owner text,
                    client_address text,
                    created_at double precision NOT NULL,
                    last_activity double precision NOT NULL,
                    busy_until double precision NOT NULL DEFAULT 0,
                    initialized boolean NOT NULL DEFAULT false,
                    log_level text,
                    subscriptions text[] NOT NULL DEFAULT '{}',
                    state_version bigint NOT NULL DEFAULT 0,
                    PRIMARY KEY (scope, id)
                )
                """,
                "CREATE INDEX mcpfcgi_sessions_activity ON mcpfcgi_sessions (scope, last_activity)",
                "CREATE INDEX mcpfcgi_sessions_owner ON mcpfcgi_sessions (scope, owner) WHERE owner IS NOT NULL",
                "CREATE INDEX mcpfcgi_sessions_address ON mcpfcgi_sessions (scope, client_address) WHERE client_address IS NOT NULL",
                // Live sessions per scope (kind 't', key ''), per client address ('a') and per owner ('u'), kept by
                // row triggers: admission reads three rows instead of counting sessions. Every change locks the
                // scope's total row first, so concurrent admissions and removals queue on it (from the trigger to
                // the commit) and never deadlock on the others. Rows of addresses and owners left at 0 are removed by
                // the idle sweep.
                """
                CREATE TABLE mcpfcgi_session_counts (
                    scope text NOT NULL,
                    kind "char" NOT NULL,
                    key text NOT NULL,
                    live bigint NOT NULL,
                    PRIMARY KEY (scope, kind, key)
                )
                """,
                """
                CREATE FUNCTION mcpfcgi_session_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    INSERT INTO mcpfcgi_session_counts AS c VALUES (NEW.scope, 't', '', 1)
                    ON CONFLICT (scope, kind, key) DO UPDATE SET live = c.live + 1;
                    IF NEW.client_address IS NOT NULL THEN
                        INSERT INTO mcpfcgi_session_counts AS c VALUES (NEW.scope, 'a', NEW.client_address, 1)
                        ON CONFLICT (scope, kind, key) DO UPDATE SET live = c.live + 1;
                    END IF;
                    IF NEW.owner IS NOT NULL THEN
                        INSERT INTO mcpfcgi_session_counts AS c VALUES (NEW.scope, 'u', NEW.owner, 1)
                        ON CONFLICT (scope, kind, key) DO UPDATE SET live = c.live + 1;
                    END IF;
                    RETURN NULL;
                END $$
                """,
                """
                CREATE FUNCTION mcpfcgi_session_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    -- Sessions are ephemeral: a removal commits without waiting for the WAL flush, as admissions do.
                    PERFORM set_config('synchronous_commit', 'off', true);
                    UPDATE mcpfcgi_session_counts SET live = live - 1 WHERE scope = OLD.scope AND kind = 't' AND key = '';
                    IF OLD.client_address IS NOT NULL THEN
                        UPDATE mcpfcgi_session_counts SET live = live - 1
                        WHERE scope = OLD.scope AND kind = 'a' AND key = OLD.client_address;
                    END IF;
                    IF OLD.owner IS NOT NULL THEN
                        UPDATE mcpfcgi_session_counts SET live = live - 1
                        WHERE scope = OLD.scope AND kind = 'u' AND key = OLD.owner;
                    END IF;
                    RETURN NULL;
                END $$
                """,
                """
                CREATE TRIGGER mcpfcgi_sessions_counted_in AFTER INSERT ON mcpfcgi_sessions
                FOR EACH ROW EXECUTE FUNCTION mcpfcgi_session_inserted()
                """,
                """
                CREATE TRIGGER mcpfcgi_sessions_counted_out AFTER DELETE ON mcpfcgi_sessions
                FOR EACH ROW EXECUTE FUNCTION mcpfcgi_session_deleted()
                """,
                // A session's state (phase, log level, subscriptions), written when it changes; the newest version
                // wins. Committed without waiting for the disk, as admissions and removals are.
                """
                CREATE FUNCTION mcpfcgi_write_session_state(
                    p_scope text, p_id text, p_initialized boolean, p_log_level text, p_subscriptions text[],
                    p_version bigint)
                RETURNS void LANGUAGE plpgsql AS $$
                BEGIN
                    PERFORM set_config('synchronous_commit', 'off', true);
                    UPDATE mcpfcgi_sessions SET initialized = p_initialized, log_level = p_log_level,
                        subscriptions = p_subscriptions, state_version = p_version
                    WHERE scope = p_scope AND id = p_id AND state_version < p_version;
                END $$
                """,
                // Admission in one round trip. The session is inserted first: the insert trigger adds it to the
                // counts of its scope, address and owner, locking those rows until the commit, so concurrent
                // admissions on every worker of every deployment queue only for that moment and each sees the
                // others' counts; over a quota or the capacity the insert is undone (the block's
                // subtransaction) or the least recently used idle session is evicted. Outcome: inserted,
                // duplicate, address, user or full; the evicted session (id, version, owner, address) when one was
                // evicted (announced on 'mcpfcgi').
                """
                CREATE FUNCTION mcpfcgi_insert_session(
                    p_scope text, p_id text, p_version text, p_client_info text, p_capabilities text, p_owner text,
                    p_address text, p_now double precision, p_capacity bigint, p_per_address integer,
                    p_per_user integer, p_min_idle double precision)
                RETURNS TABLE (outcome text, evicted_id text, evicted_version text, evicted_owner text, evicted_address text)
                LANGUAGE plpgsql AS $$
                DECLARE
                    victim mcpfcgi_sessions%ROWTYPE;
                BEGIN
                    -- Sessions are ephemeral: the admission commits without waiting for the WAL flush, so the count
                    -- rows are not locked through a disk write (a database crash may forget the last moments'
                    -- sessions; their clients get 404 and initialize again).
                    PERFORM set_config('synchronous_commit', 'off', true);
                    IF EXISTS (SELECT 1 FROM mcpfcgi_sessions s WHERE s.scope = p_scope AND s.id = p_id) THEN
                        RETURN QUERY SELECT 'duplicate'::text, NULL::text, NULL::text, NULL::text, NULL::text; RETURN;
                    END IF;
                    BEGIN
                        INSERT INTO mcpfcgi_sessions (scope, id, protocol_version, client_info, client_capabilities,
                            owner, client_address, created_at, last_activity)
                        VALUES (p_scope, p_id, p_version, p_client_info, p_capabilities, p_owner, p_address, p_now, p_now);
                        IF p_per_address IS NOT NULL AND p_address IS NOT NULL AND (SELECT c.live
                            FROM mcpfcgi_session_counts c WHERE c.scope = p_scope AND c.kind = 'a' AND c.key = p_address)
                            > p_per_address THEN
                            RAISE EXCEPTION USING ERRCODE = 'MCPF1', MESSAGE = 'address';
                        END IF;
                        IF p_per_user IS NOT NULL AND p_owner IS NOT NULL AND (SELECT c.live
                            FROM mcpfcgi_session_counts c WHERE c.scope = p_scope AND c.kind = 'u' AND c.key = p_owner)
                            > p_per_user THEN
                            RAISE EXCEPTION USING ERRCODE = 'MCPF1', MESSAGE = 'user';
                        END IF;
                        IF (SELECT c.live FROM mcpfcgi_session_counts c
                            WHERE c.scope = p_scope AND c.kind = 't' AND c.key = '') > p_capacity THEN
                            IF p_min_idle IS NULL THEN
                                RAISE EXCEPTION USING ERRCODE = 'MCPF1', MESSAGE = 'full';
                            END IF;
                            DELETE FROM mcpfcgi_sessions s WHERE s.scope = p_scope AND s.id = (
                                SELECT v.id FROM mcpfcgi_sessions v
                                WHERE v.scope = p_scope AND v.id <> p_id AND v.last_activity <= p_now - p_min_idle
                                    AND v.busy_until < p_now
                                ORDER BY v.last_activity LIMIT 1 FOR UPDATE SKIP LOCKED)
                            RETURNING s.* INTO victim;
                            IF NOT FOUND THEN
                                RAISE EXCEPTION USING ERRCODE = 'MCPF1', MESSAGE = 'full';
                            END IF;
                            PERFORM pg_notify('mcpfcgi', 's|evicted|' || p_scope || '|' || victim.id);
                        END IF;
                    EXCEPTION
                        WHEN SQLSTATE 'MCPF1' THEN
                            RETURN QUERY SELECT SQLERRM::text, NULL::text, NULL::text, NULL::text, NULL::text; RETURN;
                        WHEN unique_violation THEN
                            RETURN QUERY SELECT 'duplicate'::text, NULL::text, NULL::text, NULL::text, NULL::text; RETURN;
                    END;
                    RETURN QUERY SELECT 'inserted'::text, victim.id, victim.protocol_version, victim.owner, victim.client_address;
                END $$
                """,
            ]),
        Migration(
            version: 3, description: "Recorded SSE events (the optional event store)",
            statements: [
                """
                CREATE TABLE mcpfcgi_stream_events (
                    scope text NOT NULL,
                    session_id text NOT NULL,
                    stream bigint NOT NULL,
                    sequence integer NOT NULL,
                    standalone boolean NOT NULL,
                    frame text NOT NULL,
                    created_at double precision NOT NULL,
                    PRIMARY KEY (scope, session_id, stream, sequence)
                )
                """,
                "CREATE INDEX mcpfcgi_stream_events_age ON mcpfcgi_stream_events (scope, created_at)",
                // A session's events go with its record.
                """
                CREATE OR REPLACE FUNCTION mcpfcgi_session_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    -- Sessions are ephemeral: a removal commits without waiting for the WAL flush, as admissions do.
                    PERFORM set_config('synchronous_commit', 'off', true);
                    UPDATE mcpfcgi_session_counts SET live = live - 1 WHERE scope = OLD.scope AND kind = 't' AND key = '';
                    IF OLD.client_address IS NOT NULL THEN
                        UPDATE mcpfcgi_session_counts SET live = live - 1
                        WHERE scope = OLD.scope AND kind = 'a' AND key = OLD.client_address;
                    END IF;
                    IF OLD.owner IS NOT NULL THEN
                        UPDATE mcpfcgi_session_counts SET live = live - 1
                        WHERE scope = OLD.scope AND kind = 'u' AND key = OLD.owner;
                    END IF;
                    DELETE FROM mcpfcgi_stream_events WHERE scope = OLD.scope AND session_id = OLD.id;
                    RETURN NULL;
                END $$
                """,
            ]),
        Migration(
            version: 4, description: "Plans that stay right on a young table: partial time indexes, admission without a lookup",
            statements: [
                // On a table that is empty or nearly so, a generic plan (plpgsql caches them per connection, for the
                // connection's life) costs an index on (scope, time) the same as the primary key for a lookup by
                // (scope, id), and could pick it: every admission then scanned all the scope's sessions. A time
                // index that only a time comparison can use (its predicate is implied by `time <= x`, never by an
                // id) leaves the primary key as the only choice for lookups by id.
                "CREATE INDEX mcpfcgi_sessions_idle ON mcpfcgi_sessions (scope, last_activity) WHERE last_activity IS NOT NULL",
                "DROP INDEX mcpfcgi_sessions_activity",
                "CREATE INDEX mcpfcgi_stream_events_aged ON mcpfcgi_stream_events (scope, created_at) WHERE created_at IS NOT NULL",
                "DROP INDEX mcpfcgi_stream_events_age",
                // The admission without its duplicate check: the insert's unique violation answers `duplicate`.
                """
                CREATE OR REPLACE FUNCTION mcpfcgi_insert_session(
                    p_scope text, p_id text, p_version text, p_client_info text, p_capabilities text, p_owner text,
                    p_address text, p_now double precision, p_capacity bigint, p_per_address integer,
                    p_per_user integer, p_min_idle double precision)
                RETURNS TABLE (outcome text, evicted_id text, evicted_version text, evicted_owner text, evicted_address text)
                LANGUAGE plpgsql AS $$
                DECLARE
                    victim mcpfcgi_sessions%ROWTYPE;
                BEGIN
                    -- Sessions are ephemeral: the admission commits without waiting for the WAL flush, so the count
                    -- rows are not locked through a disk write (a database crash may forget the last moments'
                    -- sessions; their clients get 404 and initialize again).
                    PERFORM set_config('synchronous_commit', 'off', true);
                    BEGIN
                        INSERT INTO mcpfcgi_sessions (scope, id, protocol_version, client_info, client_capabilities,
                            owner, client_address, created_at, last_activity)
                        VALUES (p_scope, p_id, p_version, p_client_info, p_capabilities, p_owner, p_address, p_now, p_now);
                        IF p_per_address IS NOT NULL AND p_address IS NOT NULL AND (SELECT c.live
                            FROM mcpfcgi_session_counts c WHERE c.scope = p_scope AND c.kind = 'a' AND c.key = p_address)
                            > p_per_address THEN
                            RAISE EXCEPTION USING ERRCODE = 'MCPF1', MESSAGE = 'address';
                        END IF;
                        IF p_per_user IS NOT NULL AND p_owner IS NOT NULL AND (SELECT c.live
                            FROM mcpfcgi_session_counts c WHERE c.scope = p_scope AND c.kind = 'u' AND c.key = p_owner)
                            > p_per_user THEN
                            RAISE EXCEPTION USING ERRCODE = 'MCPF1', MESSAGE = 'user';
                        END IF;
                        IF (SELECT c.live FROM mcpfcgi_session_counts c
                            WHERE c.scope = p_scope AND c.kind = 't' AND c.key = '') > p_capacity THEN
                            IF p_min_idle IS NULL THEN
                                RAISE EXCEPTION USING ERRCODE = 'MCPF1', MESSAGE = 'full';
                            END IF;
                            DELETE FROM mcpfcgi_sessions s WHERE s.scope = p_scope AND s.id = (
                                SELECT v.id FROM mcpfcgi_sessions v
                                WHERE v.scope = p_scope AND v.id <> p_id AND v.last_activity <= p_now - p_min_idle
                                    AND v.busy_until < p_now
                                ORDER BY v.last_activity LIMIT 1 FOR UPDATE SKIP LOCKED)
                            RETURNING s.* INTO victim;
                            IF NOT FOUND THEN
                                RAISE EXCEPTION USING ERRCODE = 'MCPF1', MESSAGE = 'full';
                            END IF;
                            PERFORM pg_notify('mcpfcgi', 's|evicted|' || p_scope || '|' || victim.id);
                        END IF;
                    EXCEPTION
                        WHEN SQLSTATE 'MCPF1' THEN
                            RETURN QUERY SELECT SQLERRM::text, NULL::text, NULL::text, NULL::text, NULL::text; RETURN;
                        WHEN unique_violation THEN
                            RETURN QUERY SELECT 'duplicate'::text, NULL::text, NULL::text, NULL::text, NULL::text; RETURN;
                    END;
                    RETURN QUERY SELECT 'inserted'::text, victim.id, victim.protocol_version, victim.owner, victim.client_address;
                END $$
                """,
            ]),
        Migration(
            version: 5, description: "Tasks (2025-11-25 task-augmented tools/call)",
            statements: [
                // Times are the workers' wall clocks, but `heartbeat` is the database's: a worker's clock that is off
                // cannot make its running tasks look dead to another.
                """
                CREATE TABLE mcpfcgi_tasks (
                    id text PRIMARY KEY,
                    scope text NOT NULL,
                    owner text NOT NULL,
                    session_id text,
                    user_id text,
                    client_address text,
                    status text NOT NULL,
                    status_message text,
                    created_at double precision NOT NULL,
                    updated_at double precision NOT NULL,
                    expires_at double precision NOT NULL,
                    ttl_ms integer NOT NULL,
                    poll_ms integer NOT NULL,
                    outcome text,
                    heartbeat double precision NOT NULL DEFAULT extract(epoch FROM clock_timestamp())
                )
                """,
                "CREATE INDEX mcpfcgi_tasks_owner ON mcpfcgi_tasks (scope, owner, created_at)",
                "CREATE INDEX mcpfcgi_tasks_session ON mcpfcgi_tasks (scope, session_id) WHERE session_id IS NOT NULL",
                "CREATE INDEX mcpfcgi_tasks_user ON mcpfcgi_tasks (scope, user_id) WHERE user_id IS NOT NULL",
                "CREATE INDEX mcpfcgi_tasks_address ON mcpfcgi_tasks (scope, client_address) WHERE client_address IS NOT NULL",
                "CREATE INDEX mcpfcgi_tasks_expiry ON mcpfcgi_tasks (scope, expires_at) WHERE expires_at IS NOT NULL",
                // A creation under the quotas: one at a time per session, user and address (advisory locks held to
                // the commit, always taken in that order), so two workers creating at once cannot both take the last
                // place. The capacity is checked without a lock (it may be passed by the creations of one moment).
                """
                CREATE FUNCTION mcpfcgi_create_task(
                    p_id text, p_scope text, p_owner text, p_session text, p_user text, p_address text,
                    p_now double precision, p_ttl_ms integer, p_poll_ms integer, p_per_session integer,
                    p_per_user integer, p_per_address integer, p_capacity integer)
                RETURNS text LANGUAGE plpgsql AS $$
                BEGIN
                    IF p_session IS NOT NULL THEN
                        PERFORM pg_advisory_xact_lock(hashtext('mcpfcgi-task-session|' || p_scope || '|' || p_session));
                        IF (SELECT count(*) FROM mcpfcgi_tasks t
                            WHERE t.scope = p_scope AND t.session_id = p_session AND t.expires_at > p_now) >= p_per_session THEN
                            RETURN 'session';
                        END IF;
                    END IF;
                    IF p_user IS NOT NULL THEN
                        PERFORM pg_advisory_xact_lock(hashtext('mcpfcgi-task-user|' || p_scope || '|' || p_user));
                        IF (SELECT count(*) FROM mcpfcgi_tasks t
                            WHERE t.scope = p_scope AND t.user_id = p_user AND t.expires_at > p_now) >= p_per_user THEN
                            RETURN 'user';
                        END IF;
                    END IF;
                    IF p_address IS NOT NULL THEN
                        PERFORM pg_advisory_xact_lock(hashtext('mcpfcgi-task-address|' || p_scope || '|' || p_address));
                        IF (SELECT count(*) FROM mcpfcgi_tasks t
                            WHERE t.scope = p_scope AND t.client_address = p_address AND t.expires_at > p_now) >= p_per_address THEN
                            RETURN 'address';
                        END IF;
                    END IF;
                    IF (SELECT count(*) FROM mcpfcgi_tasks t WHERE t.scope = p_scope AND t.expires_at > p_now) >= p_capacity THEN
                        RETURN 'full';
                    END IF;
                    INSERT INTO mcpfcgi_tasks (id, scope, owner, session_id, user_id, client_address, status, created_at,
                        updated_at, expires_at, ttl_ms, poll_ms)
                    VALUES (p_id, p_scope, p_owner, p_session, p_user, p_address, 'working', p_now, p_now,
                        p_now + p_ttl_ms / 1000.0, p_ttl_ms, p_poll_ms);
                    RETURN 'created';
                END $$
                """,
            ]),
        Migration(
            version: 6, description: "Admission without a trigger or a subtransaction; a session's tasks go with it",
            statements: [
                // Admission keeps the counts itself: the insert trigger goes (every insert is an admission), and a
                // refusal is decided before the session is inserted (only the scope's count is taken back), so no
                // subtransaction is needed to undo it.
                "DROP TRIGGER mcpfcgi_sessions_counted_in ON mcpfcgi_sessions",
                "DROP FUNCTION mcpfcgi_session_inserted()",
                // The scope's total is counted first, as removals do in their trigger: its row lock queues
                // admissions and removals of the scope to the commit, so the counts of addresses and owners read
                // next cannot change before it. A refusal takes its count back and returns; an admission over the
                // capacity evicts the least recently used idle session (its removal trigger takes its counts), and
                // when there is none takes its own session out again. Quotas and the capacity are checked before a
                // duplicate id (answered `full` rather than `duplicate` at capacity), and an admission of an id
                // being removed at that moment waits for the removal while holding the scope's count, which the
                // removal's trigger wants: PostgreSQL ends that deadlock after a second by failing one of them.
                // Both need an id that is reused, which the workers' random ids never are.
                """
                CREATE OR REPLACE FUNCTION mcpfcgi_insert_session(
                    p_scope text, p_id text, p_version text, p_client_info text, p_capabilities text, p_owner text,
                    p_address text, p_now double precision, p_capacity bigint, p_per_address integer,
                    p_per_user integer, p_min_idle double precision)
                RETURNS TABLE (outcome text, evicted_id text, evicted_version text, evicted_owner text, evicted_address text)
                LANGUAGE plpgsql AS $$
                DECLARE
                    victim mcpfcgi_sessions%ROWTYPE;
                    total bigint;
                    refusal text;
                BEGIN
                    -- Sessions are ephemeral: the admission commits without waiting for the WAL flush, so the count
                    -- rows are not locked through a disk write (a database crash may forget the last moments'
                    -- sessions; their clients get 404 and initialize again).
                    PERFORM set_config('synchronous_commit', 'off', true);
                    UPDATE mcpfcgi_session_counts c SET live = c.live + 1
                    WHERE c.scope = p_scope AND c.kind = 't' AND c.key = '' RETURNING c.live INTO total;
                    IF NOT FOUND THEN
                        INSERT INTO mcpfcgi_session_counts AS c VALUES (p_scope, 't', '', 1)
                        ON CONFLICT (scope, kind, key) DO UPDATE SET live = c.live + 1 RETURNING c.live INTO total;
                    END IF;
                    IF p_per_address IS NOT NULL AND p_address IS NOT NULL AND coalesce((SELECT c.live
                        FROM mcpfcgi_session_counts c WHERE c.scope = p_scope AND c.kind = 'a' AND c.key = p_address), 0)
                        >= p_per_address THEN
                        refusal := 'address';
                    ELSIF p_per_user IS NOT NULL AND p_owner IS NOT NULL AND coalesce((SELECT c.live
                        FROM mcpfcgi_session_counts c WHERE c.scope = p_scope AND c.kind = 'u' AND c.key = p_owner), 0)
                        >= p_per_user THEN
                        refusal := 'user';
                    ELSIF total > p_capacity AND p_min_idle IS NULL THEN
                        refusal := 'full';
                    ELSE
                        INSERT INTO mcpfcgi_sessions (scope, id, protocol_version, client_info, client_capabilities,
                            owner, client_address, created_at, last_activity)
                        VALUES (p_scope, p_id, p_version, p_client_info, p_capabilities, p_owner, p_address, p_now, p_now)
                        ON CONFLICT (scope, id) DO NOTHING;
                        IF NOT FOUND THEN
                            refusal := 'duplicate';
                        END IF;
                    END IF;
                    IF refusal IS NOT NULL THEN
                        UPDATE mcpfcgi_session_counts c SET live = c.live - 1
                        WHERE c.scope = p_scope AND c.kind = 't' AND c.key = '';
                        RETURN QUERY SELECT refusal, NULL::text, NULL::text, NULL::text, NULL::text; RETURN;
                    END IF;
                    IF p_address IS NOT NULL THEN
                        INSERT INTO mcpfcgi_session_counts AS c VALUES (p_scope, 'a', p_address, 1)
                        ON CONFLICT (scope, kind, key) DO UPDATE SET live = c.live + 1;
                    END IF;
                    IF p_owner IS NOT NULL THEN
                        INSERT INTO mcpfcgi_session_counts AS c VALUES (p_scope, 'u', p_owner, 1)
                        ON CONFLICT (scope, kind, key) DO UPDATE SET live = c.live + 1;
                    END IF;
                    IF total > p_capacity THEN
                        DELETE FROM mcpfcgi_sessions s WHERE s.scope = p_scope AND s.id = (
                            SELECT v.id FROM mcpfcgi_sessions v
                            WHERE v.scope = p_scope AND v.id <> p_id AND v.last_activity <= p_now - p_min_idle
                                AND v.busy_until < p_now
                            ORDER BY v.last_activity LIMIT 1 FOR UPDATE SKIP LOCKED)
                        RETURNING s.* INTO victim;
                        IF NOT FOUND THEN
                            DELETE FROM mcpfcgi_sessions s WHERE s.scope = p_scope AND s.id = p_id;
                            RETURN QUERY SELECT 'full'::text, NULL::text, NULL::text, NULL::text, NULL::text; RETURN;
                        END IF;
                        PERFORM pg_notify('mcpfcgi', 's|evicted|' || p_scope || '|' || victim.id);
                    END IF;
                    RETURN QUERY SELECT 'inserted'::text, victim.id, victim.protocol_version, victim.owner, victim.client_address;
                END $$
                """,
                // A session's tasks go with its record too (nobody can read them any more), in the removal's
                // statement: no second round trip per ended session (PostgresTaskStore.Configuration
                // .sessionsInThisDatabase).
                """
                CREATE OR REPLACE FUNCTION mcpfcgi_session_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    -- Sessions are ephemeral: a removal commits without waiting for the WAL flush, as admissions do.
                    PERFORM set_config('synchronous_commit', 'off', true);
                    UPDATE mcpfcgi_session_counts SET live = live - 1 WHERE scope = OLD.scope AND kind = 't' AND key = '';
                    IF OLD.client_address IS NOT NULL THEN
                        UPDATE mcpfcgi_session_counts SET live = live - 1
                        WHERE scope = OLD.scope AND kind = 'a' AND key = OLD.client_address;
                    END IF;
                    IF OLD.owner IS NOT NULL THEN
                        UPDATE mcpfcgi_session_counts SET live = live - 1
                        WHERE scope = OLD.scope AND kind = 'u' AND key = OLD.owner;
                    END IF;
                    DELETE FROM mcpfcgi_stream_events WHERE scope = OLD.scope AND session_id = OLD.id;
                    -- In id order, as the heartbeat of running tasks locks them (no deadlock between the two).
                    DELETE FROM mcpfcgi_tasks WHERE id IN (SELECT t.id FROM mcpfcgi_tasks t
                        WHERE t.scope = OLD.scope AND t.session_id = OLD.id ORDER BY t.id FOR UPDATE);
                    RETURN NULL;
                END $$
                """,
            ]),
    ]

    /// The newest version this build knows.
    public static var latestVersion: Int { all.last?.version ?? 0 }

    /// Applies every migration the database has not seen yet.
    /// - Parameters:
    ///   - client: a running pool.
    ///   - timeout: how long its statements may take (the pool's `statement_timeout` is lifted in the migration's
    ///     transaction). Default 60 s.
    ///   - logger: where applied migrations are logged.
    /// - Returns: the versions applied now (empty when the schema was up to date).
    /// - Throws: ``Failure`` when the database cannot be reached, a migration fails (it is rolled back), or the
    ///   schema is newer than this build.
    @discardableResult
    public static func apply(
        on client: PostgresClient, within timeout: Duration = .seconds(60), logger: Logger
    ) async throws(Failure) -> [Int] {
        let milliseconds = max(1000, Int(timeout.wholeMilliseconds))
        do {
            return try await client.withTransaction(logger: logger) { connection in
                // The pool's connections end statements after the operation timeout: a migration may take longer.
                try await connection.query(
                    PostgresQuery(unsafeSQL: "SET LOCAL statement_timeout = \(milliseconds)"), logger: logger)
                try await connection.query(
                    PostgresQuery(unsafeSQL: "SET LOCAL lock_timeout = \(milliseconds)"), logger: logger)
                try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger)
                try await connection.query(
                    """
                    CREATE TABLE IF NOT EXISTS mcpfcgi_schema_migrations (
                        version integer PRIMARY KEY,
                        description text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    )
                    """, logger: logger)
                var current = 0
                for try await version in try await connection.query(
                    "SELECT COALESCE(max(version), 0) FROM mcpfcgi_schema_migrations", logger: logger
                ).decode(Int.self) {
                    current = version
                }
                guard current <= latestVersion else {
                    throw Failure(
                        message: "the database schema is at version \(current), newer than this build knows "
                            + "(\(latestVersion)): run the newer build, or point DATABASE_URL at another database")
                }
                var applied: [Int] = []
                for migration in all where migration.version > current {
                    for statement in migration.statements {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query(
                        "INSERT INTO mcpfcgi_schema_migrations (version, description) VALUES (\(migration.version), \(migration.description))",
                        logger: logger)
                    applied.append(migration.version)
                }
                return applied
            }
        } catch let error as PostgresTransactionError {
            if let failure = error.closureError as? Failure { throw failure }
            let cause = error.closureError ?? error.beginError ?? error.commitError ?? error
            throw Failure(message: "cannot migrate the database schema: \(PostgresErrors.describe(cause))")
        } catch {
            throw Failure(message: "cannot migrate the database schema: \(PostgresErrors.describe(error))")
        }
    }
}
