/**
 * Coordination of stack operations in PostgreSQL, for several replicas of the service (the
 * StackCoordinator of automation/coordination.ts; automation/journal.ts is the one-machine one):
 * - the lock of a stack is a session-level advisory lock held on a dedicated connection of the
 *   replica running the operation. The server releases it when that connection dies, so a replica
 *   that crashes, is killed or loses the network cannot keep it (no stale time to wait out, no
 *   clock to trust). TCP keepalives on both ends and a heartbeat bound how long a silent
 *   partition takes to notice: the replica (onLost) within ~15 s, the server (unlock) after ~25 s.
 *   This lock only orders our own operations: Pulumi's own state lock still applies on top;
 * - the journal of the running operation is a row per stack (model_release_journal): one left
 *   behind while nobody holds the lock means its replica died mid-way, and the next operation
 *   recovers first;
 * - the operations log (model_release_events) and one record per operation, with who, what,
 *   plan, result and timing (model_release_operations), committed before going on.
 *
 * The password comes from PGPASSWORD (in the env given, else the process's) and never from the
 * URL: it is never logged and never part of a message.
 */
import * as os from "node:os";

import { Client, ClientConfig, Pool, PoolClient } from "pg";

import { OperationOutcome, StackCoordinator } from "./coordination";
import { JournalEntry, LockBusyError, OperationRecord, Phase, newJournalEntry } from "./journal";

/** Every how often the lock connection is checked (ms), and how long an answer may take. */
const HEARTBEAT_MS = 5_000;
const HEARTBEAT_TIMEOUT_MS = 10_000;

/** One operation, as recorded (newest first from `operations()`). */
export interface StoredOperation {
    id: string;
    stack: string;
    release: string;
    operation: string;
    principal: string;
    /** `hostname:pid` of the replica that ran it. */
    replica: string;
    startedAt: string;
    /** When it ended (or was found interrupted). */
    finishedAt?: string;
    /** The last phase it reached. */
    phase: Phase;
    /** `applied`, `not-applied`, `refused`, `busy`, `failed`, `interrupted`; absent while running. */
    result?: string;
    detail?: string;
    plan?: unknown;
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
    try {
        const parsed = new URL(url);
        if (parsed.password !== "") parsed.password = "***";
        return parsed.toString();
    } catch {
        return "(unparsable PostgreSQL URL)";
    }
}

/** The client settings of a `postgres://user@host:port/database?sslmode=...` URL. */
function parseUrl(url: string): { config: ClientConfig; where: string } {
    let parsed: URL;
    try {
        parsed = new URL(url);
    } catch {
        throw new Error("the PostgreSQL URL is not a URL (expected postgres://user@host:port/database)");
    }
    const shown = redactUrl(url);
    if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
        throw new Error(`the PostgreSQL URL ${shown} must start with postgres://`);
    }
    if (parsed.password !== "") {
        throw new Error(`the PostgreSQL URL ${shown} contains a password: pass it in PGPASSWORD instead`);
    }
    const host = parsed.hostname.replace(/^\[(.*)\]$/, "$1");
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, ""));
    if (host === "" || database === "") {
        throw new Error(`the PostgreSQL URL ${shown} needs a host and a database (postgres://user@host:port/database)`);
    }
    const port = parsed.port === "" ? 5432 : Number(parsed.port);
    const config: ClientConfig = {
        host,
        port,
        database,
        user: parsed.username === "" ? undefined : decodeURIComponent(parsed.username),
    };
    for (const [key, value] of parsed.searchParams) {
        if (key === "sslmode") {
            // As node-postgres reads it: certificates are verified unless told otherwise.
            if (value === "disable") config.ssl = false;
            else if (value === "no-verify") config.ssl = { rejectUnauthorized: false };
            else if (["prefer", "require", "verify-ca", "verify-full"].includes(value)) config.ssl = true;
            else throw new Error(`the PostgreSQL URL ${shown} has an unknown sslmode ${JSON.stringify(value)}`);
        } else if (key === "application_name") {
            config.application_name = value;
        } else {
            throw new Error(
                `the PostgreSQL URL ${shown} has an unsupported parameter ${JSON.stringify(key)} (supported: sslmode, application_name)`,
            );
        }
    }
    return { config, where: `postgres ${host.includes(":") ? `[${host}]` : host}:${port}/${database}` };
}

const MIGRATION = `
CREATE TABLE IF NOT EXISTS model_release_journal (
    stack text PRIMARY KEY,
    id text NOT NULL,
    operation text NOT NULL,
    release text NOT NULL,
    principal text NOT NULL,
    pid integer NOT NULL,
    hostname text NOT NULL,
    started_at timestamptz NOT NULL,
    phase text NOT NULL
);
CREATE TABLE IF NOT EXISTS model_release_events (
    seq bigserial PRIMARY KEY,
    time timestamptz NOT NULL DEFAULT now(),
    stack text NOT NULL,
    event text NOT NULL,
    id text NOT NULL,
    operation text NOT NULL,
    release text NOT NULL,
    principal text NOT NULL,
    detail text
);
CREATE INDEX IF NOT EXISTS model_release_events_stack ON model_release_events (stack, seq);
CREATE TABLE IF NOT EXISTS model_release_operations (
    id text PRIMARY KEY,
    stack text NOT NULL,
    release text NOT NULL,
    operation text NOT NULL,
    principal text NOT NULL,
    replica text NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    phase text NOT NULL,
    result text,
    detail text,
    plan jsonb
);
CREATE INDEX IF NOT EXISTS model_release_operations_stack ON model_release_operations (stack, started_at DESC);
CREATE TABLE IF NOT EXISTS model_release_rollouts (
    id text PRIMARY KEY,
    stack text NOT NULL,
    release text NOT NULL,
    status text NOT NULL,
    owner text,
    heartbeat_at timestamptz,
    created_at timestamptz NOT NULL,
    doc jsonb NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS model_release_rollouts_active ON model_release_rollouts (stack, release)
    WHERE status IN ('running', 'paused', 'holding');
`;

/** The advisory lock key of a stack, computed by the server: `hashtextextended(<this>, 0)`. */
function lockName(stack: string): string {
    return `model-release:${stack}`;
}

/** The backends holding a stack's advisory lock (bigint key: classid high, objid low 32 bits, objsubid 1). */
const HOLDERS = `
WITH k AS (SELECT hashtextextended($1, 0) AS key)
SELECT l.pid FROM pg_locks l, k
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = ((k.key >> 32) & 4294967295)::oid
  AND l.objid = (k.key & 4294967295)::oid`;

interface JournalRow {
    id: string;
    operation: string;
    release: string;
    principal: string;
    pid: number;
    hostname: string;
    started_at: Date;
    phase: Phase;
}

interface EventRow {
    time: Date;
    stack: string;
    event: OperationRecord["event"];
    id: string;
    operation: string;
    release: string;
    principal: string;
    detail: string | null;
}

interface OperationRow {
    id: string;
    stack: string;
    release: string;
    operation: string;
    principal: string;
    replica: string;
    started_at: Date;
    finished_at: Date | null;
    phase: Phase;
    result: string | null;
    detail: string | null;
    plan: unknown;
}

function toRecord(row: EventRow): OperationRecord {
    return {
        time: row.time.toISOString(),
        event: row.event,
        id: row.id,
        operation: row.operation,
        release: row.release,
        principal: row.principal,
        stack: row.stack,
        ...(row.detail === null ? {} : { detail: row.detail }),
    };
}

function toOperation(row: OperationRow): StoredOperation {
    return {
        id: row.id,
        stack: row.stack,
        release: row.release,
        operation: row.operation,
        principal: row.principal,
        replica: row.replica,
        startedAt: row.started_at.toISOString(),
        ...(row.finished_at === null ? {} : { finishedAt: row.finished_at.toISOString() }),
        phase: row.phase,
        ...(row.result === null ? {} : { result: row.result }),
        ...(row.detail === null ? {} : { detail: row.detail }),
        ...(row.plan === null ? {} : { plan: row.plan }),
    };
}

/** The tables of every stack's coordination in one PostgreSQL database. */
export class PostgresStore {
    readonly #pool: Pool;
    readonly #config: ClientConfig;
    readonly #password: string | undefined;

    private constructor(
        config: ClientConfig,
        password: string | undefined,
        /** The database, for messages (no password): `postgres host:port/database`. */
        readonly where: string,
    ) {
        this.#config = config;
        this.#password = password;
        this.#pool = new Pool({ ...config, password, max: 5, keepAlive: true, connectionTimeoutMillis: 15_000 });
        // An idle pooled connection that dies is dropped by the pool; the next query opens another.
        this.#pool.on("error", () => undefined);
    }

    /**
     * Connects to the database of `url` (no password in it: it comes from `env.PGPASSWORD`, else
     * the process's PGPASSWORD) and creates the tables if needed.
     */
    static async connect(url: string, env?: Record<string, string | undefined>): Promise<PostgresStore> {
        const { config, where } = parseUrl(url);
        const password = (env ?? process.env).PGPASSWORD;
        const store = new PostgresStore(config, password === "" ? undefined : password, where);
        try {
            await store.migrate();
        } catch (error) {
            await store.close();
            throw new Error(`cannot use PostgreSQL at ${redactUrl(url)}: ${store.scrub(error)}`);
        }
        return store;
    }

    /** An error's message, with the password (should a message ever carry it) masked. */
    scrub(error: unknown): string {
        const message = error instanceof Error ? error.message : String(error);
        return this.#password ? message.split(this.#password).join("***") : message;
    }

    /**
     * Creates the tables if missing, in one transaction under an advisory transaction lock:
     * concurrent CREATE TABLE IF NOT EXISTS can still fail (two replicas starting at once).
     */
    async migrate(): Promise<void> {
        await this.transaction(async (client) => {
            await client.query("SELECT pg_advisory_xact_lock(hashtextextended('model-release:migrate', 0))");
            await client.query(MIGRATION);
        });
    }

    /** Runs `work` in a transaction on a pooled connection. */
    async transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
        const client = await this.#pool.connect();
        let broken = false;
        try {
            await client.query("BEGIN");
            const result = await work(client);
            await client.query("COMMIT");
            return result;
        } catch (error) {
            await client.query("ROLLBACK").catch(() => {
                broken = true;
            });
            throw error;
        } finally {
            client.release(broken);
        }
    }

    /** A query on a pooled connection. */
    async query<R extends object>(sql: string, params: unknown[] = []): Promise<R[]> {
        return (await this.#pool.query<R>(sql, params)).rows;
    }

    /** A new connection outside the pool (the lock's), with TCP keepalive. */
    dedicatedClient(): Client {
        return new Client({
            ...this.#config,
            password: this.#password,
            keepAlive: true,
            keepAliveInitialDelayMillis: 10_000,
        });
    }

    /** The coordinator of one stack. */
    coordinator(stack: string): StackCoordinator {
        return new PostgresCoordinator(this, stack);
    }

    /** Operation records, newest first. */
    async operations(filter: { stack?: string; limit?: number } = {}): Promise<StoredOperation[]> {
        const limit = Math.min(Math.max(Math.trunc(filter.limit ?? 100), 1), 10_000);
        const rows = await this.query<OperationRow>(
            `SELECT * FROM model_release_operations WHERE ($1::text IS NULL OR stack = $1)
             ORDER BY started_at DESC, id LIMIT $2`,
            [filter.stack ?? null, limit],
        );
        return rows.map(toOperation);
    }

    async close(): Promise<void> {
        await this.#pool.end().catch(() => undefined);
    }
}

/** Lock, journal and operations log of one stack in PostgreSQL. */
class PostgresCoordinator implements StackCoordinator {
    /** Backend pid of our lock connection while we hold the lock. */
    private lockBackend: number | undefined;

    constructor(
        private readonly store: PostgresStore,
        private readonly stack: string,
    ) {}

    get where(): string {
        return this.store.where;
    }

    async lock(onLost: (error: Error) => void): Promise<() => Promise<void>> {
        // Not from the pool: the session-level lock lives exactly as long as this connection.
        const client = this.store.dedicatedClient();
        let held = false;
        const timers: { heartbeat?: NodeJS.Timeout } = {};
        const lost = (why: string) => {
            if (!held) return;
            held = false;
            clearInterval(timers.heartbeat);
            this.lockBackend = undefined;
            // Make sure the server lets go too (a heartbeat timeout leaves the connection open).
            void client.end().catch(() => undefined);
            onLost(new Error(`lost the lock of stack ${this.stack} (${this.where}): ${why}`));
        };
        client.on("error", (error) => lost(`its connection failed: ${this.store.scrub(error)}`));
        client.on("end", () => lost("its connection ended"));
        try {
            await client.connect();
            // The server's keepalives: a silent replica's connection (and lock) is dropped in ~25 s.
            await client.query(
                "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3",
            );
            const { rows } = await client.query<{ locked: boolean; backend: number }>(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked, pg_backend_pid() AS backend",
                [lockName(this.stack)],
            );
            if (!rows[0].locked) {
                await client.end().catch(() => undefined);
                const holder = await this.readJournal();
                const what = holder
                    ? `${holder.operation} of ${holder.release} by ${holder.principal} (pid ${holder.pid} on ${holder.hostname}, since ${holder.startedAt}, ${holder.phase})`
                    : "another operation";
                throw new LockBusyError(`${what} is running`, holder);
            }
            held = true;
            this.lockBackend = rows[0].backend;
        } catch (error) {
            await client.end().catch(() => undefined);
            if (error instanceof LockBusyError) throw error;
            throw new Error(`cannot take the lock of stack ${this.stack} (${this.where}): ${this.store.scrub(error)}`);
        }

        // The replica's side: a connection that stops answering is a lost lock.
        let pending = false;
        timers.heartbeat = setInterval(() => {
            if (pending || !held) return;
            pending = true;
            const timer = setTimeout(() => lost(`no answer in ${HEARTBEAT_TIMEOUT_MS / 1000} s`), HEARTBEAT_TIMEOUT_MS);
            client.query("SELECT 1").then(
                () => {
                    pending = false;
                    clearTimeout(timer);
                },
                (error: unknown) => {
                    clearTimeout(timer);
                    lost(`its connection failed: ${this.store.scrub(error)}`);
                },
            );
        }, HEARTBEAT_MS);
        timers.heartbeat.unref();

        return async () => {
            const wasHeld = held;
            held = false;
            clearInterval(timers.heartbeat);
            this.lockBackend = undefined;
            if (wasHeld) {
                // Closing the connection releases it anyway; unlocking first says so explicitly.
                await client
                    .query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", [lockName(this.stack)])
                    .catch(() => undefined);
            }
            await client.end().catch(() => undefined);
        };
    }

    async readJournal(): Promise<JournalEntry | undefined> {
        const rows = await this.store.query<JournalRow>(
            "SELECT id, operation, release, principal, pid, hostname, started_at, phase FROM model_release_journal WHERE stack = $1",
            [this.stack],
        );
        if (rows.length === 0) return undefined;
        const row = rows[0];
        return {
            id: row.id,
            operation: row.operation,
            release: row.release,
            principal: row.principal,
            pid: row.pid,
            hostname: row.hostname,
            startedAt: row.started_at.toISOString(),
            phase: row.phase,
        };
    }

    async running(entry: JournalEntry): Promise<boolean> {
        const holders = await this.store.query<{ pid: number }>(HOLDERS, [lockName(this.stack)]);
        if (holders.length === 0) return false;
        // We hold the lock ourselves: the entry's operation runs only if it is ours.
        if (this.lockBackend !== undefined && holders.some((h) => h.pid === this.lockBackend)) {
            return entry.pid === process.pid && entry.hostname === os.hostname();
        }
        return true;
    }

    async begin(operation: string, release: string, principal: string): Promise<JournalEntry> {
        const entry = newJournalEntry(operation, release, principal);
        await this.store.transaction(async (client) => {
            const inserted = await client.query(
                `INSERT INTO model_release_journal (stack, id, operation, release, principal, pid, hostname, started_at, phase)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (stack) DO NOTHING`,
                [
                    this.stack,
                    entry.id,
                    operation,
                    release,
                    principal,
                    entry.pid,
                    entry.hostname,
                    entry.startedAt,
                    entry.phase,
                ],
            );
            if (inserted.rowCount === 0) {
                const left = await this.readJournal();
                throw new Error(
                    `stack ${this.stack} already has the journal of ${left ? `${left.operation} of ${left.release} by ${left.principal} (${left.id})` : "another operation"}: recover it first`,
                );
            }
            await client.query(
                `INSERT INTO model_release_operations (id, stack, release, operation, principal, replica, started_at, phase)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
                [
                    entry.id,
                    this.stack,
                    release,
                    operation,
                    principal,
                    `${entry.hostname}:${entry.pid}`,
                    entry.startedAt,
                    entry.phase,
                ],
            );
        });
        return entry;
    }

    async advance(entry: JournalEntry, phase: Phase): Promise<void> {
        await this.store.transaction(async (client) => {
            const updated = await client.query(
                "UPDATE model_release_journal SET phase = $3 WHERE stack = $1 AND id = $2",
                [this.stack, entry.id, phase],
            );
            if (updated.rowCount === 0) {
                throw new Error(`the journal of ${entry.operation} ${entry.id} on stack ${this.stack} is gone`);
            }
            await client.query("UPDATE model_release_operations SET phase = $2 WHERE id = $1", [entry.id, phase]);
        });
        entry.phase = phase;
    }

    async end(entry: JournalEntry, outcome?: OperationOutcome): Promise<void> {
        await this.store.transaction(async (client) => {
            await client.query("DELETE FROM model_release_journal WHERE stack = $1 AND id = $2", [
                this.stack,
                entry.id,
            ]);
            if (outcome) {
                await client.query(
                    `UPDATE model_release_operations SET finished_at = now(), result = $2, detail = $3, plan = $4::jsonb
                     WHERE id = $1`,
                    [
                        entry.id,
                        outcome.result,
                        outcome.detail ?? null,
                        outcome.plan === undefined ? null : JSON.stringify(outcome.plan),
                    ],
                );
            } else {
                // A recovery: the operation's replica died before recording an outcome.
                await client.query(
                    `UPDATE model_release_operations SET finished_at = now(), result = 'interrupted'
                     WHERE id = $1 AND result IS NULL`,
                    [entry.id],
                );
            }
        });
    }

    async log(record: Omit<OperationRecord, "time" | "stack">): Promise<OperationRecord> {
        // Autocommit: committed when the query returns.
        const rows = await this.store.query<EventRow>(
            `INSERT INTO model_release_events (stack, event, id, operation, release, principal, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             RETURNING time, stack, event, id, operation, release, principal, detail`,
            [
                this.stack,
                record.event,
                record.id,
                record.operation,
                record.release,
                record.principal,
                record.detail ?? null,
            ],
        );
        return toRecord(rows[0]);
    }

    async records(): Promise<OperationRecord[]> {
        const rows = await this.store.query<EventRow>(
            `SELECT time, stack, event, id, operation, release, principal, detail FROM model_release_events
             WHERE stack = $1 ORDER BY seq`,
            [this.stack],
        );
        return rows.map(toRecord);
    }
}
