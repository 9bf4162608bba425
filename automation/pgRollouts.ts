/**
 * Rollout jobs in PostgreSQL (the RolloutStore of automation/rolloutJobs.ts for several service
 * replicas): one row per job with its document, owner and heartbeat. A partial unique index
 * keeps one active rollout per release; ownership moves only by a conditional UPDATE, so two
 * replicas never drive one job. Heartbeats use the server's clock (`now()`), not the replicas'.
 */
import { PoolClient } from "pg";

import type { PostgresStore } from "./pgStore";
import {
    ACTIVE_STATUSES,
    RolloutExistsError,
    RolloutJob,
    RolloutListFilter,
    RolloutOwnershipError,
    RolloutRequest,
    RolloutStore,
    newerRequest,
    ownerIsDead,
    pendingRequest,
} from "./rolloutJobs";

interface Row {
    doc: RolloutJob;
    owner: string | null;
    heartbeat_at: Date | null;
    stale: boolean;
}

function jobOf(row: Row): RolloutJob {
    const job = { ...row.doc };
    if (row.owner === null) delete job.owner;
    else job.owner = row.owner;
    if (row.heartbeat_at !== null) job.heartbeatAt = row.heartbeat_at.toISOString();
    return job;
}

const SELECT = `SELECT doc, owner, heartbeat_at, (heartbeat_at IS NULL OR heartbeat_at < now() - make_interval(secs => $2::double precision / 1000)) AS stale
    FROM model_release_rollouts`;

export class PostgresRolloutStore implements RolloutStore {
    constructor(private readonly store: PostgresStore) {}

    private async row(client: PoolClient, id: string, staleMs = 0): Promise<Row | undefined> {
        const rows = await client.query<Row>(`${SELECT} WHERE id = $1 FOR UPDATE`, [id, staleMs]);
        return rows.rows[0];
    }

    private async write(client: PoolClient, job: RolloutJob, owner: string | null): Promise<RolloutJob> {
        const doc = { ...job, updatedAt: new Date().toISOString() };
        delete doc.owner;
        delete doc.heartbeatAt;
        const rows = await client.query<Row>(
            `UPDATE model_release_rollouts SET status = $2, owner = $3, heartbeat_at = CASE WHEN $3::text IS NULL THEN heartbeat_at ELSE now() END, doc = $4
             WHERE id = $1 RETURNING doc, owner, heartbeat_at, false AS stale`,
            [job.id, job.status, owner, JSON.stringify(doc)],
        );
        return jobOf(rows.rows[0]);
    }

    async create(job: RolloutJob, owner: string): Promise<RolloutJob> {
        try {
            const doc = { ...job };
            delete doc.owner;
            delete doc.heartbeatAt;
            const rows = await this.store.query<Row>(
                `INSERT INTO model_release_rollouts (id, stack, release, status, owner, heartbeat_at, created_at, doc)
                 VALUES ($1, $2, $3, $4, $5, now(), $6, $7) RETURNING doc, owner, heartbeat_at, false AS stale`,
                [job.id, job.stack, job.release, job.status, owner, job.createdAt, JSON.stringify(doc)],
            );
            return jobOf(rows[0]);
        } catch (error) {
            if ((error as { code?: string }).code === "23505") {
                const [existing] = await this.list({ stack: job.stack, release: job.release, active: true });
                if (existing) throw new RolloutExistsError(existing);
            }
            throw error;
        }
    }

    async get(id: string): Promise<RolloutJob | undefined> {
        const rows = await this.store.query<Row>(`${SELECT} WHERE id = $1`, [id, 0]);
        return rows[0] ? jobOf(rows[0]) : undefined;
    }

    async list(filter: RolloutListFilter = {}): Promise<RolloutJob[]> {
        const rows = await this.store.query<Row>(
            `${SELECT} WHERE ($1::text IS NULL OR stack = $1) AND ($3::text IS NULL OR release = $3)
               AND (NOT $4 OR status = ANY($5)) ORDER BY created_at DESC LIMIT 500`,
            [filter.stack ?? null, 0, filter.release ?? null, filter.active === true, ACTIVE_STATUSES],
        );
        return rows.map(jobOf);
    }

    save(job: RolloutJob, owner: string): Promise<RolloutJob> {
        return this.store.transaction(async (client) => {
            const row = await this.row(client, job.id);
            if (!row || row.owner !== owner) throw new RolloutOwnershipError(job.id, row?.owner ?? undefined);
            const requested = newerRequest(job.requested, row.doc.requested);
            return this.write(client, { ...job, ...(requested ? { requested } : {}) }, owner);
        });
    }

    claim(id: string, owner: string, staleMs: number): Promise<RolloutJob | undefined> {
        return this.store.transaction(async (client) => {
            const row = await this.row(client, id, staleMs);
            if (!row || !ACTIVE_STATUSES.includes(row.doc.status)) return undefined;
            const free = row.owner === null || row.owner === owner || row.stale || ownerIsDead(row.owner);
            if (!free) return undefined;
            return this.write(client, jobOf(row), owner);
        });
    }

    request(id: string, action: "cancel" | "promote", by: string): Promise<RolloutJob | undefined> {
        return this.store.transaction(async (client) => {
            const row = await this.row(client, id);
            if (!row || !ACTIVE_STATUSES.includes(row.doc.status)) return undefined;
            const doc = { ...row.doc, requested: { action, by, at: new Date().toISOString() } };
            const rows = await client.query<Row>(
                `UPDATE model_release_rollouts SET doc = $2 WHERE id = $1 RETURNING doc, owner, heartbeat_at, false AS stale`,
                [id, JSON.stringify(doc)],
            );
            return jobOf(rows.rows[0]);
        });
    }

    touch(id: string, owner: string): Promise<RolloutRequest | undefined> {
        return this.store.transaction(async (client) => {
            const rows = await client.query<Row>(
                `UPDATE model_release_rollouts SET heartbeat_at = now() WHERE id = $1 AND owner = $2
                 RETURNING doc, owner, heartbeat_at, false AS stale`,
                [id, owner],
            );
            if (rows.rows.length === 0) {
                const current = await this.get(id);
                throw new RolloutOwnershipError(id, current?.owner);
            }
            return pendingRequest(jobOf(rows.rows[0]));
        });
    }

    async release(id: string, owner: string): Promise<void> {
        await this.store.query(`UPDATE model_release_rollouts SET owner = NULL WHERE id = $1 AND owner = $2`, [
            id,
            owner,
        ]);
    }
}
