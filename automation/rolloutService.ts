/**
 * Rollouts as background jobs of the HTTP service: started by a request (202 and a job id), driven
 * by the replica that started them, and taken over by any replica when their driver is gone
 * (at start, then every `scanMs`): a restarted service resumes its rollouts from their planned
 * step, or aborts them without touching traffic when the config was changed meanwhile.
 */
import { DEFAULT_MAX_STEP } from "./operations";
import type { ReleaseManager } from "./releases";
import { RolloutRunner, RolloutStateError, targetOf } from "./rollout";
import { RolloutEvent, RolloutJob, RolloutStore } from "./rolloutJobs";

export interface RolloutServiceOptions {
    store: RolloutStore;
    /** The manager of a stack (the service's, shared with the operation routes). */
    managerFor: (stack: string) => Promise<ReleaseManager>;
    /** Stacks this service may resume jobs of (all when omitted). */
    serves?: (stack: string) => boolean;
    maxStep?: number;
    /** Prometheus for rollouts that set no `prometheusUrl`. */
    prometheusUrl?: string;
    /** How often to look for rollouts nobody drives (ms); default 15000, 0: only at start. */
    scanMs?: number;
    /** A job whose driver was silent this long is taken over (ms); default 30000. */
    staleMs?: number;
    heartbeatMs?: number;
    onEvent?: (job: RolloutJob, event: RolloutEvent) => void;
    /** Unexpected errors of background work (the service logs them). */
    onError?: (error: unknown, job?: RolloutJob) => void;
}

export class RolloutService {
    readonly runner: RolloutRunner;
    private scanner?: NodeJS.Timeout;
    private scanning?: Promise<void>;

    constructor(private readonly options: RolloutServiceOptions) {
        this.runner = new RolloutRunner({
            store: options.store,
            prometheusUrl: options.prometheusUrl,
            onEvent: options.onEvent,
            staleMs: options.staleMs,
            heartbeatMs: options.heartbeatMs,
        });
    }

    private async target(stack: string, release: string, principal: string) {
        const manager = await this.options.managerFor(stack);
        return targetOf(manager, release, principal, this.options.maxStep ?? DEFAULT_MAX_STEP);
    }

    /** Drives a job in the background; errors are reported, the job stays for a later claim. */
    private background(job: RolloutJob): void {
        void this.target(job.stack, job.release, job.principal)
            .then((target) => this.runner.drive(job, target))
            .catch((error: unknown) => {
                this.options.onError?.(error, job);
                return this.options.store.release(job.id, this.runner.owner).catch(() => undefined);
            });
    }

    /** Creates the release's rollout (refused if it cannot run or one is active) and starts it. */
    async start(stack: string, release: string, principal: string): Promise<RolloutJob> {
        const job = await this.runner.create(await this.target(stack, release, principal), principal);
        this.background(structuredClone(job));
        return job;
    }

    /** The job, if it belongs to that release of that stack. */
    async get(stack: string, release: string, id: string): Promise<RolloutJob | undefined> {
        const job = await this.options.store.get(id).catch(() => undefined);
        return job && job.stack === stack && job.release === release ? job : undefined;
    }

    list(stack: string, release: string): Promise<RolloutJob[]> {
        return this.options.store.list({ stack, release });
    }

    /**
     * Cancel (roll back) or promote (a holding rollout). The job's driver acts on it; if nobody
     * drives it, this replica takes it over and does.
     */
    async request(
        stack: string,
        release: string,
        id: string,
        action: "cancel" | "promote",
        principal: string,
    ): Promise<RolloutJob> {
        if (!(await this.get(stack, release, id))) {
            throw new RolloutStateError(`no rollout ${id} of release ${release} in stack ${stack}`);
        }
        const job = await this.runner.request(id, action, principal);
        if (!this.runner.driving.includes(id)) {
            const claimed = await this.runner.claim(id);
            if (claimed) this.background(claimed);
        }
        return job;
    }

    /** Takes over every active rollout nobody drives (a dead or silent replica's). */
    resumeOrphans(): Promise<void> {
        this.scanning ??= (async () => {
            try {
                const active = await this.options.store.list({ active: true });
                for (const job of active) {
                    if (this.runner.driving.includes(job.id)) continue;
                    if (this.options.serves && !this.options.serves(job.stack)) continue;
                    const claimed = await this.runner.claim(job.id);
                    if (claimed) this.background(claimed);
                }
            } catch (error) {
                this.options.onError?.(error);
            } finally {
                this.scanning = undefined;
            }
        })();
        return this.scanning;
    }

    /** Resumes orphans now and every `scanMs`. */
    async startScanning(): Promise<void> {
        await this.resumeOrphans();
        const every = this.options.scanMs ?? 15_000;
        if (every > 0) {
            this.scanner = setInterval(() => void this.resumeOrphans(), every);
            this.scanner.unref();
        }
    }

    /** Stops driving: jobs stay active at their planned step, for this or another replica to resume. */
    async close(): Promise<void> {
        if (this.scanner) clearInterval(this.scanner);
        await this.scanning;
        await this.runner.close();
    }
}
