/**
 * The automated progressive rollout: the step schedule of `releases.<r>.rollout` driven as
 * ordinary release operations. Every step is a config edit that goes through the same path as a
 * manual one (lock and journal, preview with the policy pack, step limit and readiness guard, up,
 * commit or push), so the rollout's history is a list of reviewed edits; between steps the checks
 * are judged. Failures roll traffic back to the primary in one step; missing data pauses (never
 * promotes). The job is persisted at every transition, so a restarted process resumes it from a
 * planned step, or aborts it without touching traffic when the config was changed meanwhile.
 */
import { ReleasesConfig, candidatePercent, releaseOf } from "./operations";
import type { OperationPlan, ReleaseManager, ReleaseStatus } from "./releases";
import { BusyError, RefusedError } from "./releases";
import {
    CheckResult,
    Judgement,
    NotifyEvent,
    NotifyMessage,
    RolloutContext,
    describeJudgement,
    judge,
    notify,
    overallOutcome,
} from "./analysis";
import { ReleaseConfigError, SECRET_PLACEHOLDER } from "../components/validate";
import type { ResolvedRelease } from "../components/validate";
import type { ResolvedRollout } from "../components/rollout";
import {
    MAX_EVENTS,
    RolloutEvent,
    RolloutJob,
    RolloutOwnershipError,
    RolloutStore,
    isActive,
    newRolloutJob,
    newerRequest,
    pendingRequest,
    processOwner,
} from "./rolloutJobs";

/** What a rollout drives: one release of one stack (ReleaseManager, adapted by `targetOf`). */
export interface RolloutTarget {
    stack: string;
    release: string;
    /** The config of record and the release in it, validated. */
    recorded(): Promise<{ config: ReleasesConfig; resolved: ResolvedRelease }>;
    step(percent: number): Promise<OperationPlan>;
    abort(): Promise<OperationPlan>;
    promote(): Promise<OperationPlan>;
    status(): Promise<ReleaseStatus>;
    /** A secure value of the release's config (path relative to the release), decrypted. */
    secret?(path: string): Promise<string>;
    /** Largest move of one step (points). */
    maxStep: number;
    /** Options for reading percentages (default namespace). */
    defaultNamespace?: string;
}

/** A ReleaseManager acting for `principal` on `release`, as a rollout target. */
export function targetOf(manager: ReleaseManager, release: string, principal: string, maxStep: number): RolloutTarget {
    const m = manager.as(principal);
    return {
        stack: manager.stack.stack.name,
        release,
        recorded: () => m.recorded(release),
        step: (percent) => m.rolloutStep(release, percent, true),
        abort: () => m.rolloutAbort(release, true),
        promote: () => m.promote(release, true),
        status: () => m.status(release),
        secret: (p) => m.secretOf(release, p),
        maxStep,
        defaultNamespace: m.operationOptions.defaultNamespace,
    };
}

export interface RolloutRunnerOptions {
    store: RolloutStore;
    /** `hostname:pid` by default. */
    owner?: string;
    /** Prometheus base URL for rollouts that set no `prometheusUrl`. */
    prometheusUrl?: string;
    /** Each event of each job, as it happens (the CLI prints them; the service logs them). */
    onEvent?: (job: RolloutJob, event: RolloutEvent) => void;
    /** How often the owner says it is alive and looks for requests (ms); default 2000. */
    heartbeatMs?: number;
    /** A job whose owner was silent this long may be taken over (ms); default 30000. */
    staleMs?: number;
    /** Wait before retrying a step whose stack is busy with another operation (ms); default 5000. */
    busyRetryMs?: number;
    /** The checks (tests replace it); default automation/analysis.ts `judge`. */
    judge?: typeof judge;
    /** The notifications (tests replace it); default automation/analysis.ts `notify`. */
    notify?: typeof notify;
}

/** The rollout cannot start (no candidate, no spec, a step beyond the step limit). */
export class RolloutRefusedError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "RolloutRefusedError";
    }
}

/** The job cannot take that request now (e.g. promote while not holding). */
export class RolloutStateError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "RolloutStateError";
    }
}

interface Context {
    rollout: ResolvedRollout;
    resolved: ResolvedRelease;
    candidate: string;
    primary: string;
    gated: boolean;
}

/** The rollout of a release as configured, or why it cannot run. */
function contextOf(resolved: ResolvedRelease, release: string): Context {
    const rollout = resolved.rollout;
    const at = `releases.${release}`;
    if (!rollout) {
        throw new RolloutRefusedError(`${at}.rollout is not set: describe the steps and checks there first`);
    }
    const strategy = resolved.strategy;
    const versions = resolved.versions;
    if (strategy === "kserve-canary" && resolved.environment === "kserve") {
        return { rollout, resolved, candidate: versions[0].name, primary: versions[0].name, gated: false };
    }
    if (!["blue-green", "canary", "mirror", "kserve-canary"].includes(strategy) || versions.length !== 2) {
        throw new RolloutRefusedError(
            `${at} is ${strategy} with ${versions.length} version(s): a rollout needs a primary and one candidate (blue-green, canary or mirror) or a kserve-canary release; add the candidate first`,
        );
    }
    // kserve-canary in Standard mode: the stable predictor and one spec.canary entry, stepped.
    const gated = strategy !== "blue-green" && strategy !== "kserve-canary";
    if (!gated && rollout.steps.length === 0) {
        throw new RolloutRefusedError(`${at}.rollout.steps is not set: a ${strategy} rollout needs steps`);
    }
    return { rollout, resolved, candidate: versions[1].name, primary: versions[0].name, gated };
}

/** The schedule from `from` percent, refused if a move exceeds the step limit. */
function checkSchedule(steps: number[], from: number, maxStep: number, release: string): void {
    let before = from;
    steps.forEach((p, i) => {
        if (p > before && p - before > maxStep) {
            throw new RolloutRefusedError(
                `releases.${release}.rollout.steps[${i}] moves the candidate from ${before}% to ${p}%, more than the ${maxStep}-point limit of one operation; add intermediate steps`,
            );
        }
        before = Math.max(before, p);
    });
}

const sleep = (ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
        if (signal.aborted) return resolve();
        const timer = setTimeout(done, ms);
        function done() {
            clearTimeout(timer);
            signal.removeEventListener("abort", done);
            resolve();
        }
        signal.addEventListener("abort", done);
    });

function errorLine(error: unknown): string {
    return error instanceof Error ? error.message.split("\n")[0] : String(error);
}

/**
 * Drives rollout jobs: starts them, resumes the ones nobody drives, and carries requests
 * (cancel, promote) to them. One runner per process.
 */
export class RolloutRunner {
    readonly owner: string;
    private readonly wakers = new Map<string, AbortController>();
    private readonly running = new Map<string, Promise<RolloutJob>>();
    /** Jobs created here and not driven yet (driving any other job is a resumption). */
    private readonly created = new Set<string>();
    private closed = false;

    constructor(private readonly options: RolloutRunnerOptions) {
        this.owner = options.owner ?? processOwner();
    }

    get store(): RolloutStore {
        return this.options.store;
    }

    /**
     * Creates the job of a release's configured rollout (refused when it cannot run), owned by this
     * runner. `drive` then runs it.
     */
    async create(target: RolloutTarget, principal: string): Promise<RolloutJob> {
        const { config, resolved } = await target.recorded();
        const context = contextOf(resolved, target.release);
        const percent = candidatePercent(config, target.release, { defaultNamespace: target.defaultNamespace });
        if (!context.gated) checkSchedule(context.rollout.steps, percent, target.maxStep, target.release);
        if (!context.gated && percent > context.rollout.steps[context.rollout.steps.length - 1]) {
            throw new RolloutRefusedError(
                `the candidate of ${target.release} has ${percent}% already, beyond the rollout's last step; promote or roll back instead`,
            );
        }
        const job = newRolloutJob({
            stack: target.stack,
            release: target.release,
            principal,
            steps: context.gated ? [] : context.rollout.steps,
            iterations: context.gated ? context.rollout.iterations : context.rollout.steps.length,
            percent,
        });
        if (!context.gated) {
            // Start at the first step at or above the current percent (a candidate at 10% with
            // steps 10, 25, 50 is judged at 10% first).
            job.step = Math.max(
                0,
                context.rollout.steps.findIndex((p) => p >= percent),
            );
            job.startPercent = job.step === 0 ? percent : context.rollout.steps[job.step - 1];
        }
        job.phase = context.gated ? "wait" : "apply";
        this.event(job, {
            event: "started",
            step: job.step + 1,
            percent,
            detail: context.gated
                ? `${context.rollout.iterations} judgement(s) of ${context.candidate} every ${context.rollout.interval}, then ${context.rollout.onSuccess}`
                : `steps ${context.rollout.steps.join(", ")}% every ${context.rollout.interval}, then ${context.rollout.onSuccess}`,
        });
        if (context.gated) job.waitUntil = new Date(Date.now() + context.rollout.intervalSeconds * 1000).toISOString();
        const saved = await this.store.create(job, this.owner);
        this.created.add(saved.id);
        return saved;
    }

    /** Takes over a job nobody drives; undefined if a live process drives it. */
    claim(id: string): Promise<RolloutJob | undefined> {
        return this.store.claim(id, this.owner, this.options.staleMs ?? 30_000);
    }

    /**
     * Runs a job this runner owns until it ends (promoted, rolled back, cancelled, failed,
     * aborted) or the runner closes. Returns the last state.
     */
    drive(job: RolloutJob, target: RolloutTarget): Promise<RolloutJob> {
        const existing = this.running.get(job.id);
        if (existing) return existing;
        const run = this.loop(job, target).finally(() => {
            this.running.delete(job.id);
            this.wakers.delete(job.id);
        });
        this.running.set(job.id, run);
        return run;
    }

    /** Jobs this runner drives now. */
    get driving(): string[] {
        return [...this.running.keys()];
    }

    /**
     * Asks the job's owner (this runner or another process) to cancel (roll back) or promote (a
     * holding job). Refused when the job is not active, or promote when it is not holding.
     */
    async request(id: string, action: "cancel" | "promote", by: string): Promise<RolloutJob> {
        const job = await this.store.get(id);
        if (!job) throw new RolloutStateError(`no rollout ${id}`);
        if (!isActive(job.status)) throw new RolloutStateError(`rollout ${id} has ended (${job.status})`);
        if (action === "promote" && job.status !== "holding") {
            throw new RolloutStateError(
                `rollout ${id} is ${job.status}, not holding: only a rollout holding at its last step is promoted`,
            );
        }
        const updated = await this.store.request(id, action, by);
        if (!updated) throw new RolloutStateError(`rollout ${id} has ended`);
        this.wakers.get(id)?.abort();
        return updated;
    }

    /** Stops driving (jobs stay active for a later claim); waits for steps in flight. */
    async close(): Promise<void> {
        this.closed = true;
        for (const waker of this.wakers.values()) waker.abort();
        await Promise.allSettled([...this.running.values()]);
    }

    private event(job: RolloutJob, event: Omit<RolloutEvent, "time">): void {
        const full: RolloutEvent = { time: new Date().toISOString(), ...event };
        job.events = [...job.events, full].slice(-MAX_EVENTS);
        this.options.onEvent?.(job, full);
    }

    private async save(job: RolloutJob): Promise<RolloutJob> {
        const saved = await this.store.save(job, this.owner);
        Object.assign(job, saved);
        return job;
    }

    private async notifyAll(job: RolloutJob, context: Context, event: RolloutEvent): Promise<void> {
        const urls = context.rollout.notify;
        if (urls.length === 0) return;
        const kind = event.event === "aborted" ? "failed" : event.event;
        if (!NOTIFIED.includes(kind as NotifyEvent)) return;
        const checks = event.checks;
        const message: NotifyMessage = {
            event: kind as NotifyEvent,
            context: rolloutContext(job, context),
            ...(checks ? { judgement: { outcome: overallOutcome(checks), checks } } : {}),
            ...(event.detail ? { detail: event.detail } : {}),
        };
        const results = await (this.options.notify ?? notify)(urls, message);
        const failed = results.filter((r) => !r.ok);
        if (failed.length > 0) {
            this.event(job, {
                event: "notified",
                detail: `notification failed for ${failed.length} of ${urls.length} receiver(s): ${failed.map((f) => f.error ?? `HTTP ${f.status}`).join("; ")}`,
            });
        }
    }

    /** Records an event, saves, and notifies (notifications never stop the rollout). */
    private async report(job: RolloutJob, context: Context, event: Omit<RolloutEvent, "time">): Promise<void> {
        this.event(job, event);
        await this.save(job);
        if (event.event !== "judged" && event.event !== "notified") {
            await this.notifyAll(job, context, job.events[job.events.length - 1]);
            await this.save(job);
        }
    }

    private async loop(job: RolloutJob, target: RolloutTarget): Promise<RolloutJob> {
        this.wakers.set(job.id, new AbortController());
        const heartbeatMs = this.options.heartbeatMs ?? 2_000;
        let lost: Error | undefined;
        // The beat in flight, awaited before the job is released: a late beat must not write the
        // job again after its release (nor into a store being removed). A tick while a beat is
        // still in flight (a slow store) is skipped, so at most one beat is ever outstanding and
        // awaiting `beating` awaits them all.
        let beating: Promise<void> | undefined;
        const beat = setInterval(() => {
            if (beating) return;
            beating = this.store
                .touch(job.id, this.owner)
                .then((requested) => {
                    if (requested && requested.at !== job.handledRequestAt) this.wakers.get(job.id)?.abort();
                })
                .catch((error: unknown) => {
                    if (error instanceof RolloutOwnershipError) {
                        lost = error;
                        this.wakers.get(job.id)?.abort();
                    }
                })
                .finally(() => (beating = undefined));
        }, heartbeatMs);
        beat.unref();
        try {
            let context: Context;
            try {
                context = contextOf((await target.recorded()).resolved, job.release);
                context = await withSecrets(context, target);
            } catch (error) {
                await this.end(job, undefined, "aborted", `the rollout can no longer run: ${errorLine(error)}`);
                return job;
            }
            if (!this.created.delete(job.id)) {
                this.event(job, {
                    event: "resumed",
                    step: job.step + 1,
                    percent: job.percent,
                    detail: `by ${this.owner}`,
                });
            } else {
                await this.notifyAll(job, context, job.events[0]);
            }
            await this.reconcile(job, target, context);
            while (isActive(job.status) && !this.closed && !lost) {
                const current = await this.store.get(job.id);
                job.requested = newerRequest(job.requested, current?.requested);
                const requested = pendingRequest(job);
                if (requested) {
                    job.handledRequestAt = requested.at;
                    if (requested.action === "cancel") {
                        job.phase = "rollback";
                        job.reason = `cancelled by ${requested.by}`;
                        await this.save(job);
                    } else if (job.status === "holding") {
                        job.phase = "finish";
                        job.status = "running";
                        await this.promote(job, target, context, `promoted by ${requested.by}`);
                        continue;
                    } else {
                        await this.save(job);
                    }
                }
                await this.advance(job, target, context);
            }
            return job;
        } finally {
            clearInterval(beat);
            await beating;
            if (isActive(job.status)) await this.store.release(job.id, this.owner).catch(() => undefined);
        }
    }

    /**
     * After a restart (or at the start), the config of record must hold a planned percent: the
     * step's own (applied: wait and judge it) or the one before (not applied yet: apply it). Any
     * other percent was set outside the rollout: the job aborts and leaves traffic as it is.
     */
    private async reconcile(job: RolloutJob, target: RolloutTarget, context: Context): Promise<void> {
        if (!isActive(job.status) || job.phase === "rollback" || context.gated) return;
        const { config } = await target.recorded();
        const percent = candidatePercent(config, job.release, { defaultNamespace: target.defaultNamespace });
        const here = job.steps[job.step];
        const before = job.step === 0 ? job.startPercent : job.steps[job.step - 1];
        if (job.phase === "finish" && job.status === "holding") {
            if (percent === job.steps[job.steps.length - 1]) return;
        } else if (percent === here) {
            if (job.phase === "apply") {
                job.phase = "wait";
                job.waitUntil = new Date(Date.now() + context.rollout.intervalSeconds * 1000).toISOString();
            }
            job.percent = percent;
            await this.save(job);
            return;
        } else if (percent === before && (job.phase === "apply" || job.phase === "wait" || job.phase === "judge")) {
            job.phase = "apply";
            job.percent = percent;
            await this.save(job);
            return;
        }
        await this.end(
            job,
            context,
            "aborted",
            `the config of record has the candidate at ${percent}%, which this rollout did not plan (expected ${before}% or ${here}%): it was changed outside the rollout; traffic was left as it is`,
        );
    }

    /** Sleeps up to `ms`, woken early by a request, a lost job or close(). */
    private async pause(job: RolloutJob, ms: number): Promise<void> {
        let waker = this.wakers.get(job.id);
        if (!waker || waker.signal.aborted) {
            waker = new AbortController();
            this.wakers.set(job.id, waker);
            if (this.closed) waker.abort();
        }
        await sleep(ms, waker.signal);
    }

    private async advance(job: RolloutJob, target: RolloutTarget, context: Context) {
        switch (job.phase) {
            case "apply":
                return this.applyStep(job, target, context);
            case "wait": {
                const until = Date.parse(job.waitUntil ?? "") || Date.now();
                const left = until - Date.now();
                if (left > 0) {
                    await this.pause(job, left);
                    if (Date.now() < until) return; // woken early: look at requests first
                }
                job.phase = "judge";
                return;
            }
            case "judge":
                return this.judgeStep(job, target, context);
            case "finish":
                if (job.status === "holding") {
                    await this.pause(job, 3_600_000);
                    return;
                }
                if (context.rollout.onSuccess === "hold") {
                    job.status = "holding";
                    return this.report(job, context, {
                        event: "holding",
                        step: job.step + 1,
                        percent: job.percent,
                        detail: `every check passed; holding at ${job.percent}% until promoted (POST .../promote or model-release rollout --promote)`,
                    });
                }
                return this.promote(job, target, context, "every check passed");
            case "rollback":
                return this.rollback(job, target, context);
            default:
                job.status = job.status === "running" ? "failed" : job.status;
        }
    }

    /** Runs one release operation, retrying while another holds the stack. */
    private async operation(job: RolloutJob, what: () => Promise<OperationPlan>): Promise<OperationPlan> {
        for (;;) {
            try {
                return await what();
            } catch (error) {
                if (!(error instanceof BusyError) || this.closed) throw error;
                await this.pause(job, this.options.busyRetryMs ?? 5_000);
            }
        }
    }

    private async applyStep(job: RolloutJob, target: RolloutTarget, context: Context): Promise<void> {
        const percent = job.steps[job.step];
        let plan: OperationPlan;
        try {
            plan = await this.operation(job, () => target.step(percent));
        } catch (error) {
            if (error instanceof RefusedError && /not Ready|Ready/.test(error.message)) {
                job.phase = "rollback";
                job.reason = `step ${job.step + 1} (${percent}%) was refused: ${errorLine(error)}`;
                await this.save(job);
                return;
            }
            const why =
                error instanceof ReleaseConfigError || error instanceof RefusedError
                    ? errorLine(error)
                    : `the update failed: ${errorLine(error)}`;
            return this.end(
                job,
                context,
                "failed",
                `step ${job.step + 1} (${percent}%) did not apply: ${why}; traffic stays at ${job.percent}% (the last applied step)`,
            );
        }
        job.percent = percent;
        job.phase = "wait";
        job.waitUntil = new Date(Date.now() + context.rollout.intervalSeconds * 1000).toISOString();
        await this.report(job, context, {
            event: "step",
            step: job.step + 1,
            percent,
            operationId: plan.operationId,
            detail: `step ${job.step + 1}/${job.steps.length}: ${context.candidate} at ${percent}%; judged at ${job.waitUntil}`,
        });
    }

    private async judgeStep(job: RolloutJob, target: RolloutTarget, context: Context): Promise<void> {
        const { rollout, resolved } = context;
        let judgement: Judgement;
        const readiness = await this.liveCheck(target, context, job);
        if (readiness.outcome === "fail") {
            job.phase = "rollback";
            job.reason = readiness.reason;
            job.checks = [];
            await this.save(job);
            return;
        }
        if (readiness.outcome === "inconclusive") {
            judgement = {
                outcome: "inconclusive",
                checks: [{ name: "live", kind: "webhook", outcome: "inconclusive", reason: readiness.reason }],
            };
        } else {
            judgement = await (this.options.judge ?? judge)(
                rollout,
                rolloutContext(job, context),
                {
                    version: context.candidate,
                    primary: context.primary,
                    namespace: resolved.namespace,
                    app: resolved.name,
                    interval: rollout.interval,
                },
                { prometheusUrl: this.options.prometheusUrl },
            );
        }
        job.checks = judgement.checks;
        const step = job.step + 1;
        const report = describeJudgement(judgement);
        if (judgement.outcome === "pass") {
            const wasPaused = job.status === "paused";
            job.status = "running";
            delete job.reason;
            this.event(job, { event: "judged", step, percent: job.percent, checks: judgement.checks, detail: report });
            if (wasPaused) {
                this.event(job, { event: "resumed", step, percent: job.percent, detail: "checks conclusive again" });
            }
            const last = context.gated ? job.step + 1 >= job.iterations : job.step + 1 >= job.steps.length;
            if (last) {
                job.phase = "finish";
            } else {
                job.step += 1;
                job.phase = context.gated ? "wait" : "apply";
                if (context.gated) job.waitUntil = new Date(Date.now() + rollout.intervalSeconds * 1000).toISOString();
            }
            await this.save(job);
            return;
        }
        if (judgement.outcome === "fail") {
            job.failures += 1;
            this.event(job, { event: "judged", step, percent: job.percent, checks: judgement.checks, detail: report });
            if (job.failures >= rollout.failureLimit) {
                job.phase = "rollback";
                job.reason = `${job.failures} failed judgement(s) (limit ${rollout.failureLimit}) at step ${step} (${job.percent}%): ${failedChecks(judgement.checks)}`;
                await this.save(job);
                return;
            }
            job.phase = "wait";
            job.waitUntil = new Date(Date.now() + rollout.intervalSeconds * 1000).toISOString();
            await this.save(job);
            return;
        }
        // Missing data never promotes and never rolls back: the rollout pauses at this step and
        // judges again after the interval.
        job.status = "paused";
        job.reason = `checks inconclusive at step ${step} (${job.percent}%): ${failedChecks(judgement.checks, "inconclusive")}; judging again in ${rollout.interval}`;
        job.phase = "wait";
        job.waitUntil = new Date(Date.now() + rollout.intervalSeconds * 1000).toISOString();
        await this.report(job, context, {
            event: "paused",
            step,
            percent: job.percent,
            checks: judgement.checks,
            detail: job.reason,
        });
    }

    /** The candidate must still be Ready and the live routing must match the config of record. */
    private async liveCheck(
        target: RolloutTarget,
        context: Context,
        job: RolloutJob,
    ): Promise<{ outcome: "pass" | "fail" | "inconclusive"; reason: string }> {
        let status: ReleaseStatus;
        try {
            status = await target.status();
        } catch (error) {
            return { outcome: "inconclusive", reason: `status unreadable: ${errorLine(error)}` };
        }
        const row = status.traffic.find((r) => r.version === context.candidate);
        if (row?.ready === false) {
            return {
                outcome: "fail",
                reason: `candidate ${context.resolved.namespace}/${context.candidate} stopped being Ready at step ${job.step + 1} (${job.percent}%)`,
            };
        }
        if (row?.ready === "unknown") {
            return { outcome: "inconclusive", reason: `readiness unknown: ${row.readinessError ?? "no answer"}` };
        }
        if (status.drift) {
            return {
                outcome: "inconclusive",
                reason: "the live routing differs from the config of record (an out-of-band edit or an interrupted update)",
            };
        }
        return { outcome: "pass", reason: "ready" };
    }

    private async promote(job: RolloutJob, target: RolloutTarget, context: Context, why: string): Promise<void> {
        try {
            const plan = await this.operation(job, () => target.promote());
            job.percent = 100;
            return this.end(job, context, "promoted", `${why}; ${context.candidate} promoted`, plan.operationId);
        } catch (error) {
            return this.end(
                job,
                context,
                "failed",
                `the promotion failed: ${errorLine(error)}; traffic stays at ${job.percent}%`,
            );
        }
    }

    private async rollback(job: RolloutJob, target: RolloutTarget, context: Context): Promise<void> {
        const cancelled = job.reason?.startsWith("cancelled by") === true;
        try {
            const plan = await this.operation(job, () => target.abort());
            job.percent = 0;
            return this.end(
                job,
                context,
                cancelled ? "cancelled" : "rolled-back",
                `${job.reason ?? "rolled back"}; all traffic back on ${context.primary}, ${context.candidate} kept for inspection`,
                plan.operationId,
            );
        } catch (error) {
            return this.end(
                job,
                context,
                "failed",
                `the rollback failed: ${errorLine(error)} (after: ${job.reason ?? "a rollback request"}); traffic stays at ${job.percent}%, roll back by hand (model-release rollback)`,
            );
        }
    }

    private async end(
        job: RolloutJob,
        context: Context | undefined,
        status: Exclude<RolloutJob["status"], "running" | "paused" | "holding">,
        reason: string,
        operationId?: string,
    ): Promise<void> {
        job.status = status;
        job.phase = "done";
        job.reason = reason;
        delete job.waitUntil;
        const event: Omit<RolloutEvent, "time"> = {
            event: status,
            step: job.step + 1,
            percent: job.percent,
            detail: reason,
            ...(job.checks && job.checks.length > 0 ? { checks: job.checks } : {}),
            ...(operationId ? { operationId } : {}),
        };
        if (context) await this.report(job, context, event);
        else {
            this.event(job, event);
            await this.save(job);
        }
    }
}

/**
 * The context with its secret webhook URLs (config placeholders of `secure:` values) decrypted,
 * in memory only: jobs, events and messages never carry them.
 */
async function withSecrets(context: Context, target: RolloutTarget): Promise<Context> {
    const reveal = async (value: string, path: string): Promise<string> => {
        if (!SECRET_PLACEHOLDER.test(value)) return value;
        if (!target.secret) {
            throw new Error(`releases.${target.release}.${path} is a secret this runner cannot decrypt`);
        }
        let revealed: string;
        try {
            revealed = await target.secret(path);
        } catch (error) {
            throw new Error(
                `the secret releases.${target.release}.${path} could not be decrypted (${errorLine(error)})`,
            );
        }
        // Checked here as validation checks plain URLs, and named without its value.
        let url: URL | undefined;
        try {
            url = new URL(revealed);
        } catch {
            url = undefined;
        }
        if (!url || !/^https?:$/.test(url.protocol) || url.username !== "" || url.password !== "") {
            throw new Error(`the secret releases.${target.release}.${path} is not an http(s) URL without credentials`);
        }
        return revealed;
    };
    const rollout = context.rollout;
    const notify = await Promise.all(rollout.notify.map((url, i) => reveal(url, `rollout.notify[${i}].webhook`)));
    const analysis = await Promise.all(
        rollout.analysis.map(async (check, i) =>
            check.webhook
                ? {
                      ...check,
                      webhook: {
                          ...check.webhook,
                          url: await reveal(check.webhook.url, `rollout.analysis[${i}].webhook.url`),
                      },
                  }
                : check,
        ),
    );
    return { ...context, rollout: { ...rollout, notify, analysis } };
}

/** Events receivers are told about. */
const NOTIFIED: NotifyEvent[] = [
    "started",
    "step",
    "paused",
    "rolled-back",
    "promoted",
    "holding",
    "cancelled",
    "failed",
];

/** What checks and receivers are told of the rollout now. */
function rolloutContext(job: RolloutJob, context: Context): RolloutContext {
    return {
        stack: job.stack,
        release: job.release,
        app: context.resolved.name,
        namespace: context.resolved.namespace,
        primary: context.primary,
        candidate: context.candidate,
        step: job.step + 1,
        steps: job.steps.length || job.iterations,
        percent: job.percent,
        jobId: job.id,
    };
}

/** The failing (or inconclusive) checks in one line: name, value against threshold, reason. */
function failedChecks(checks: CheckResult[], outcome: "fail" | "inconclusive" = "fail"): string {
    return checks
        .filter((c) => c.outcome === outcome)
        .map((c) => `${c.name}: ${c.reason}`)
        .join("; ");
}

/** Convenience for callers: the percent of the release's candidate in the config of record. */
export async function currentPercent(target: RolloutTarget): Promise<number> {
    const { config } = await target.recorded();
    releaseOf(config, target.release);
    return candidatePercent(config, target.release, { defaultNamespace: target.defaultNamespace });
}
