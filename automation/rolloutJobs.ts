/**
 * Rollout jobs, persisted: what a rollout has done and where it stands, so that a restarted
 * process (the CLI run again, a service replica) resumes it from a planned step or aborts it.
 * One process owns a running job at a time; others ask it to cancel or promote through the store.
 * The file store serves one machine; automation/pgStore.ts has the PostgreSQL one for replicas.
 */
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import * as lockfile from "proper-lockfile";

import type { CheckResult } from "./analysis";
import { writeFileAtomic } from "./stackConfig";

/** Where a rollout stands. The first three are active: a process drives (or will resume) them. */
export type RolloutStatus =
    "running" | "paused" | "holding" | "promoted" | "rolled-back" | "cancelled" | "failed" | "aborted";

export const ACTIVE_STATUSES: readonly RolloutStatus[] = ["running", "paused", "holding"];

export function isActive(status: RolloutStatus): boolean {
    return ACTIVE_STATUSES.includes(status);
}

/** What the job does next: apply its step, wait out the interval, judge, or finish. */
export type RolloutPhase = "apply" | "wait" | "judge" | "finish" | "rollback" | "done";

/** One thing that happened, as shown to people and streamed by `--json`. */
export interface RolloutEvent {
    time: string;
    event:
        | "started"
        | "resumed"
        | "step"
        | "judged"
        | "paused"
        | "holding"
        | "promoted"
        | "rolled-back"
        | "cancelled"
        | "failed"
        | "aborted"
        | "notified";
    /** 1-based step (or iteration of a gated rollout). */
    step?: number;
    /** The candidate's percent after this event. */
    percent?: number;
    /** One line a person reads. */
    detail?: string;
    checks?: CheckResult[];
    /** The release operation this event applied (journal, operation record, git trailer). */
    operationId?: string;
}

/** A cancel or promote request, from any process. */
export interface RolloutRequest {
    action: "cancel" | "promote";
    by: string;
    at: string;
}

/** The later of two requests. */
export function newerRequest(a?: RolloutRequest, b?: RolloutRequest): RolloutRequest | undefined {
    if (!a) return b;
    if (!b) return a;
    return b.at > a.at ? b : a;
}

/** The job's request that its owner has not honoured yet. */
export function pendingRequest(job: RolloutJob): RolloutRequest | undefined {
    const r = job.requested;
    return r && r.at !== job.handledRequestAt ? r : undefined;
}

/** A rollout job, as stored. */
export interface RolloutJob {
    id: string;
    stack: string;
    release: string;
    /** Who started it; every step runs as this principal. */
    principal: string;
    createdAt: string;
    updatedAt: string;
    status: RolloutStatus;
    phase: RolloutPhase;
    /** Candidate percent of each step (empty: a gated canary or mirror rollout). */
    steps: number[];
    /** Judgements a gated rollout needs (1 per step for stepped ones). */
    iterations: number;
    /** 0-based index of the current step (or iteration). */
    step: number;
    /** The candidate's percent in the config of record, as this job last applied or found it. */
    percent: number;
    /** The percent before the rollout started (the plan's origin). */
    startPercent: number;
    /** Failed judgements so far. */
    failures: number;
    /** When the current wait ends. */
    waitUntil?: string;
    /** Why it is paused, failed, rolled back or aborted. */
    reason?: string;
    /** The last judgement's checks. */
    checks?: CheckResult[];
    /** `hostname:pid` of the process driving it, and when it last said so. */
    owner?: string;
    heartbeatAt?: string;
    /** The latest request (cancel, promote), honoured by the owner at its next look. */
    requested?: RolloutRequest;
    /** `at` of the last request the owner has honoured. */
    handledRequestAt?: string;
    /** The newest events (at most MAX_EVENTS). */
    events: RolloutEvent[];
}

export const MAX_EVENTS = 200;

/** An active rollout of that release exists already. */
export class RolloutExistsError extends Error {
    constructor(readonly existing: RolloutJob) {
        super(
            `release ${existing.release} of stack ${existing.stack} already has an active rollout ${existing.id} (${existing.status}, step ${existing.step + 1}); cancel it first or let it finish`,
        );
        this.name = "RolloutExistsError";
    }
}

/** This process does not (or no longer) own the job. */
export class RolloutOwnershipError extends Error {
    constructor(id: string, owner: string | undefined) {
        super(`rollout ${id} is driven by ${owner ?? "nobody"}, not by this process`);
        this.name = "RolloutOwnershipError";
    }
}

/** `hostname:pid` of this process. */
export function processOwner(): string {
    return `${os.hostname()}:${process.pid}`;
}

/** A job document before its first save. */
export function newRolloutJob(
    fields: Pick<RolloutJob, "stack" | "release" | "principal" | "steps" | "iterations" | "percent">,
): RolloutJob {
    const now = new Date().toISOString();
    return {
        id: randomUUID(),
        ...fields,
        startPercent: fields.percent,
        createdAt: now,
        updatedAt: now,
        status: "running",
        phase: "apply",
        step: 0,
        failures: 0,
        events: [],
    };
}

export interface RolloutListFilter {
    stack?: string;
    release?: string;
    /** Only running, paused and holding jobs. */
    active?: boolean;
}

/** Where rollout jobs are kept. */
export interface RolloutStore {
    /** Saves a new job owned by `owner`; refused (RolloutExistsError) if its release has an active one. */
    create(job: RolloutJob, owner: string): Promise<RolloutJob>;
    get(id: string): Promise<RolloutJob | undefined>;
    list(filter?: RolloutListFilter): Promise<RolloutJob[]>;
    /** Writes the owner's new state (and heartbeat); RolloutOwnershipError if it lost the job. */
    save(job: RolloutJob, owner: string): Promise<RolloutJob>;
    /**
     * Takes an active job over when nobody drives it (no owner, a dead local process, or a
     * heartbeat older than `staleMs`); undefined when another live process does.
     */
    claim(id: string, owner: string, staleMs: number): Promise<RolloutJob | undefined>;
    /** Records a cancel or promote request for the owner (undefined: no such active job). */
    request(id: string, action: "cancel" | "promote", by: string): Promise<RolloutJob | undefined>;
    /**
     * The owner's heartbeat: returns the job's pending request, if any; RolloutOwnershipError if
     * the owner lost the job.
     */
    touch(id: string, owner: string): Promise<RolloutRequest | undefined>;
    /** Lets go of a job (the process stops driving it; it stays active for a later claim). */
    release(id: string, owner: string): Promise<void>;
}

/** Whether a process named `hostname:pid` is gone: only decidable on this host. */
export function ownerIsDead(owner: string | undefined): boolean {
    if (owner === undefined) return true;
    const at = owner.lastIndexOf(":");
    const host = owner.slice(0, at);
    const pid = Number(owner.slice(at + 1));
    if (host !== os.hostname() || !Number.isInteger(pid)) return false;
    try {
        process.kill(pid, 0);
        return false;
    } catch (error) {
        return (error as NodeJS.ErrnoException).code === "ESRCH";
    }
}

/** Whether `claim` may take the job from its current owner. */
export function claimable(job: RolloutJob, owner: string, staleMs: number, now = Date.now()): boolean {
    if (!isActive(job.status)) return false;
    if (job.owner === undefined || job.owner === owner) return true;
    if (ownerIsDead(job.owner)) return true;
    const beat = job.heartbeatAt === undefined ? 0 : Date.parse(job.heartbeatAt);
    return now - beat > staleMs;
}

/**
 * Jobs as JSON files under `<project>/.model-release/rollouts/`, one per job; every
 * read-modify-write holds a lock on the directory (proper-lockfile), so processes on this machine
 * see one order.
 */
export class FileRolloutStore implements RolloutStore {
    readonly dir: string;

    constructor(projectDir: string) {
        this.dir = path.join(projectDir, ".model-release", "rollouts");
    }

    private file(id: string): string {
        if (!/^[0-9a-f-]{36}$/.test(id)) throw new Error(`not a rollout id: ${JSON.stringify(id)}`);
        return path.join(this.dir, `${id}.json`);
    }

    private read(id: string): RolloutJob | undefined {
        try {
            return JSON.parse(fs.readFileSync(this.file(id), "utf8")) as RolloutJob;
        } catch (error) {
            if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
            if (error instanceof Error && error.message.startsWith("not a rollout id")) return undefined;
            throw error;
        }
    }

    private write(job: RolloutJob): RolloutJob {
        writeFileAtomic(this.file(job.id), `${JSON.stringify(job, null, 2)}\n`);
        return job;
    }

    private async locked<T>(work: () => T): Promise<T> {
        fs.mkdirSync(this.dir, { recursive: true });
        const unlock = await lockfile.lock(this.dir, {
            lockfilePath: path.join(this.dir, ".lock"),
            retries: { retries: 50, minTimeout: 20, maxTimeout: 200 },
            stale: 10_000,
        });
        try {
            return work();
        } finally {
            await unlock();
        }
    }

    private all(): RolloutJob[] {
        if (!fs.existsSync(this.dir)) return [];
        return fs
            .readdirSync(this.dir)
            .filter((name) => name.endsWith(".json"))
            .map((name) => this.read(name.slice(0, -".json".length)))
            .filter((job): job is RolloutJob => job !== undefined);
    }

    create(job: RolloutJob, owner: string): Promise<RolloutJob> {
        return this.locked(() => {
            const existing = this.all().find(
                (j) => j.stack === job.stack && j.release === job.release && isActive(j.status),
            );
            if (existing) throw new RolloutExistsError(existing);
            return this.write({ ...job, owner, heartbeatAt: new Date().toISOString() });
        });
    }

    async get(id: string): Promise<RolloutJob | undefined> {
        return this.read(id);
    }

    async list(filter: RolloutListFilter = {}): Promise<RolloutJob[]> {
        return this.all()
            .filter(
                (j) =>
                    (filter.stack === undefined || j.stack === filter.stack) &&
                    (filter.release === undefined || j.release === filter.release) &&
                    (!filter.active || isActive(j.status)),
            )
            .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    }

    save(job: RolloutJob, owner: string): Promise<RolloutJob> {
        return this.locked(() => {
            const stored = this.read(job.id);
            if (stored && stored.owner !== owner) throw new RolloutOwnershipError(job.id, stored.owner);
            const now = new Date().toISOString();
            // A request recorded by another process meanwhile survives the owner's write.
            const requested = newerRequest(job.requested, stored?.requested);
            return this.write({ ...job, ...(requested ? { requested } : {}), owner, heartbeatAt: now, updatedAt: now });
        });
    }

    claim(id: string, owner: string, staleMs: number): Promise<RolloutJob | undefined> {
        return this.locked(() => {
            const job = this.read(id);
            if (!job || !claimable(job, owner, staleMs)) return undefined;
            return this.write({ ...job, owner, heartbeatAt: new Date().toISOString() });
        });
    }

    request(id: string, action: "cancel" | "promote", by: string): Promise<RolloutJob | undefined> {
        return this.locked(() => {
            const job = this.read(id);
            if (!job || !isActive(job.status)) return undefined;
            return this.write({ ...job, requested: { action, by, at: new Date().toISOString() } });
        });
    }

    touch(id: string, owner: string): Promise<RolloutRequest | undefined> {
        return this.locked(() => {
            const job = this.read(id);
            if (!job || job.owner !== owner) throw new RolloutOwnershipError(id, job?.owner);
            this.write({ ...job, heartbeatAt: new Date().toISOString() });
            return pendingRequest(job);
        });
    }

    release(id: string, owner: string): Promise<void> {
        return this.locked(() => {
            const job = this.read(id);
            if (job && job.owner === owner) {
                const { owner: _owner, ...rest } = job;
                void _owner;
                this.write(rest);
            }
        });
    }
}
