/**
 * Engine runs (preview, up, refresh, destroy) in worker processes, so that operations on
 * different stacks proceed at the same time: an inline Pulumi program shares its process's
 * runtime, so one process can run only one at a time. Each run gets a fresh worker (a crash or
 * leak dies with it); at most `size` run at once and up to `queueLimit` more wait their turn in
 * order, with a visible position; beyond that a run is refused with EngineQueueFullError (the
 * service answers 503 with Retry-After).
 *
 * A worker that dies is detected (its exit without a result) and every process it started
 * (the pulumi CLI, plugins) is killed too: they carry the worker's id in their environment, so
 * an orphaned `pulumi up` cannot go on changing the cluster while the stack is recovered.
 */
import { ChildProcess, fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import type { EngineEvent } from "@pulumi/pulumi/automation";

/** What a worker needs to open the stack: the serializable part of ReleaseStackOptions. */
export interface WorkerStackOptions {
    stackName: string;
    workDir?: string;
    backendDir?: string;
    envVars?: Record<string, string>;
    pulumiRoot?: string;
}

export type EngineRunKind = "preview" | "up" | "refresh" | "destroy";

/** One engine run for a worker. */
export interface EngineRequest {
    kind: EngineRunKind;
    stack: WorkerStackOptions;
    configFile?: string;
    policyPacks?: string[];
    policyPackConfigs?: string[];
    clearPendingCreates?: boolean;
    /** Stream engine events back (preview and up). */
    events?: boolean;
}

/** The parts of a preview/update result the callers use. */
export interface EngineResult {
    changeSummary: Record<string, number | undefined>;
    result?: string;
}

/** Messages of the worker protocol (over the IPC channel). */
export type WorkerMessage =
    | { type: "event"; event: EngineEvent }
    | { type: "result"; result: EngineResult }
    | { type: "error"; name: string; message: string };

/** A run refused because every worker is busy and the queue is full (503). */
export class EngineQueueFullError extends Error {
    constructor(
        readonly running: number,
        readonly queued: number,
    ) {
        super(
            `all ${running} engine workers are busy and ${queued} runs are queued; retry later (or raise MODEL_RELEASE_WORKERS / MODEL_RELEASE_QUEUE)`,
        );
        this.name = "EngineQueueFullError";
    }
}

/** A worker ended without a result (killed, out of memory, crashed). */
export class WorkerDiedError extends Error {
    constructor(
        readonly label: string,
        readonly pid: number | undefined,
        readonly how: string,
    ) {
        super(`the engine worker (pid ${pid ?? "?"}) running ${label} died (${how}); the run did not finish`);
        this.name = "WorkerDiedError";
    }
}

/** An error raised in a worker, with its name kept (the callers match lock errors by message). */
export class WorkerRunError extends Error {
    constructor(name: string, message: string) {
        super(message);
        this.name = name;
    }
}

/** A run in the pool, as listed by `snapshot()`. */
export interface EngineJob {
    id: string;
    /** What runs, e.g. `up of stack dev (promote wisdom)`. */
    label: string;
    state: "running" | "queued";
    /** 1-based place in the queue (queued runs). */
    position?: number;
    pid?: number;
    since: string;
}

export interface EnginePoolOptions {
    /** Workers running at once; default the CPU count. */
    size?: number;
    /** Runs waiting beyond those; default 4 x size. */
    queueLimit?: number;
    /** The worker's entry module; default engineWorkerMain next to this file. */
    entry?: string;
    /** Workers started ahead of need, modules loaded (default 1; 0: start each on demand). */
    spares?: number;
    /** Called when a run starts waiting or moves up the queue (position 1 = next). */
    onQueued?: (job: EngineJob) => void;
}

interface Pending {
    job: EngineJob;
    start: () => void;
}

/** The environment variable that marks every process of one worker. */
export const WORKER_MARK = "MODEL_RELEASE_ENGINE_WORKER";

export class EnginePool {
    readonly size: number;
    readonly queueLimit: number;
    private readonly entry: string;
    private readonly running = new Map<string, EngineJob>();
    private readonly queue: Pending[] = [];
    private readonly children = new Set<ChildProcess>();
    private readonly spares: { child: ChildProcess; mark: string }[] = [];
    private readonly spareCount: number;
    /** The environment mark of each running job's worker. */
    private readonly marks = new Map<string, string>();
    private closed = false;

    constructor(private readonly options: EnginePoolOptions = {}) {
        this.size = Math.max(1, options.size ?? os.cpus().length);
        this.queueLimit = Math.max(0, options.queueLimit ?? 4 * this.size);
        this.spareCount = Math.max(0, options.spares ?? 1);
        const ts = path.join(__dirname, "engineWorkerMain.ts");
        this.entry = options.entry ?? (fs.existsSync(ts) ? ts : path.join(__dirname, "engineWorkerMain.js"));
    }

    /** Process ids of the spare workers (started, modules loaded, waiting for a run). */
    idle(): number[] {
        return this.spares.map((w) => w.child.pid ?? 0);
    }

    /** Starts the spare workers now (otherwise with the first run). */
    warm(): this {
        this.replenish();
        return this;
    }

    /** Runs and queued runs, oldest first. */
    snapshot(): EngineJob[] {
        return [...this.running.values(), ...this.queue.map((p) => p.job)];
    }

    /**
     * Runs `request` in a fresh worker once one of the `size` slots is free. Rejects with
     * EngineQueueFullError at once if the queue is full, WorkerDiedError if the worker dies,
     * WorkerRunError with the worker's error otherwise.
     */
    run(request: EngineRequest, label: string, onEvent?: (event: EngineEvent) => void): Promise<EngineResult> {
        if (this.closed) return Promise.reject(new Error("the engine pool is closed"));
        const job: EngineJob = { id: randomUUID(), label, state: "queued", since: new Date().toISOString() };
        return new Promise<EngineResult>((resolve, reject) => {
            const start = () => {
                job.state = "running";
                delete job.position;
                this.running.set(job.id, job);
                this.spawn(job, request, onEvent)
                    .then(resolve, reject)
                    .finally(() => this.finish(job));
            };
            if (this.running.size < this.size) {
                start();
                return;
            }
            if (this.queue.length >= this.queueLimit) {
                reject(new EngineQueueFullError(this.running.size, this.queue.length));
                return;
            }
            this.queue.push({ job, start });
            job.position = this.queue.length;
            this.options.onQueued?.(job);
        });
    }

    private finish(job: EngineJob): void {
        this.running.delete(job.id);
        this.marks.delete(job.id);
        const next = this.queue.shift();
        this.queue.forEach((p, i) => {
            p.job.position = i + 1;
            this.options.onQueued?.(p.job);
        });
        next?.start();
    }

    private spawn(
        job: EngineJob,
        request: EngineRequest,
        onEvent?: (event: EngineEvent) => void,
    ): Promise<EngineResult> {
        const { child, mark } = this.takeWorker();
        job.pid = child.pid;
        this.marks.set(job.id, mark);
        return new Promise<EngineResult>((resolve, reject) => {
            let settled = false;
            child.on("message", (message: WorkerMessage) => {
                if (message.type === "event") {
                    onEvent?.(message.event);
                } else if (message.type === "result") {
                    settled = true;
                    resolve(message.result);
                } else if (message.type === "error") {
                    settled = true;
                    reject(new WorkerRunError(message.name, message.message));
                }
            });
            child.on("error", (error) => {
                if (settled) return;
                settled = true;
                reject(error);
            });
            child.on("exit", (code, signal) => {
                this.children.delete(child);
                const died = () => {
                    if (settled) return;
                    settled = true;
                    // Whatever the worker started must not outlive it.
                    killMarked(mark);
                    reject(
                        new WorkerDiedError(job.label, child.pid, signal ? `signal ${signal}` : `exit code ${code}`),
                    );
                };
                // A worker sends its result, then exits: the exit can be seen before the message
                // is read from the channel. The channel closes after its last message is emitted,
                // so the worker died without a result only if none came by then.
                if (child.connected) child.once("disconnect", died);
                else died();
            });
            child.send(request);
        });
    }

    /**
     * A started worker for a run: a spare (modules already loaded: a worker takes about 2 s to
     * start) or a new one; then a new spare is started for the next run. Each worker runs once.
     */
    private takeWorker(): { child: ChildProcess; mark: string } {
        let worker = this.spares.shift();
        while (worker && (worker.child.exitCode !== null || worker.child.signalCode !== null)) {
            worker = this.spares.shift();
        }
        worker ??= this.fork();
        // A running worker keeps this process alive until it answers.
        worker.child.ref();
        (worker.child as unknown as { channel?: { ref(): void } }).channel?.ref();
        this.replenish();
        return worker;
    }

    private replenish(): void {
        while (!this.closed && this.spares.length < this.spareCount) this.spares.push(this.fork());
    }

    private fork(): { child: ChildProcess; mark: string } {
        const mark = randomUUID();
        const execArgv = this.entry.endsWith(".ts") ? ["-r", "ts-node/register/transpile-only"] : [];
        const child = fork(this.entry, [], {
            execArgv,
            env: { ...process.env, [WORKER_MARK]: mark },
            stdio: ["ignore", "inherit", "inherit", "ipc"],
            serialization: "advanced",
        });
        this.children.add(child);
        child.once("exit", () => {
            this.children.delete(child);
            const spare = this.spares.findIndex((w) => w.child === child);
            if (spare >= 0) this.spares.splice(spare, 1);
        });
        // An idle spare must not keep the service's process alive.
        child.unref();
        (child as unknown as { channel?: { unref(): void } }).channel?.unref();
        return { child, mark };
    }

    /** Refuses new runs and kills the spares, the running workers and their processes. */
    close(): void {
        this.closed = true;
        this.queue.splice(0);
        for (const child of this.children) child.kill("SIGKILL");
        for (const { mark } of this.spares.splice(0)) killMarked(mark);
        for (const mark of this.marks.values()) killMarked(mark);
    }
}

/**
 * Kills every process whose environment carries WORKER_MARK=<id> (Linux /proc). Processes of
 * other users cannot be read and are skipped; elsewhere this is a no-op.
 */
export function killMarked(id: string): number[] {
    const mark = `${WORKER_MARK}=${id}\0`;
    const killed: number[] = [];
    let entries: string[];
    try {
        entries = fs.readdirSync("/proc");
    } catch {
        return killed;
    }
    for (const entry of entries) {
        if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
        let environ: string;
        try {
            environ = `${fs.readFileSync(`/proc/${entry}/environ`, "latin1")}\0`;
        } catch {
            continue;
        }
        if (!environ.includes(mark)) continue;
        try {
            process.kill(Number(entry), "SIGKILL");
            killed.push(Number(entry));
        } catch {
            // Already gone.
        }
    }
    return killed;
}
