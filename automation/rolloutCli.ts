/**
 * `model-release rollout`: runs a release's configured rollout in the foreground with a live
 * progress display (or `--json` events, one object per line), resumes one that nobody drives,
 * and cancels or promotes one (`--cancel`, `--promote`). Jobs are kept in the project
 * (`.model-release/rollouts/`), so a rollout whose process died is resumed by running the command
 * again. Ctrl-C stops driving and leaves the job at its planned step, to be resumed.
 */
import type { CheckResult } from "./analysis";
import type { ParsedArgs } from "./cli";
import { BusyError, ReleaseManager } from "./releases";
import { RolloutRunner, targetOf } from "./rollout";
import { DEFAULT_MAX_STEP } from "./operations";
import { FileRolloutStore, RolloutEvent, RolloutJob, isActive } from "./rolloutJobs";

/** Exit code of an ended (or left) job. */
export function exitCodeOf(job: RolloutJob): number {
    if (job.status === "promoted" || job.status === "holding") return 0;
    if (job.status === "rolled-back" || job.status === "cancelled") return 3;
    if (isActive(job.status)) return 4;
    return 1;
}

function check(c: CheckResult): string {
    const threshold = [c.min !== undefined ? `min ${c.min}` : "", c.max !== undefined ? `max ${c.max}` : ""]
        .filter(Boolean)
        .join(", ");
    const value = c.value !== undefined ? ` ${c.value}${threshold ? ` (${threshold})` : ""}` : "";
    return `    ${c.outcome.padEnd(12)} ${c.name}:${value} ${c.reason}`;
}

/** One event as a person reads it. */
export function describeEvent(event: RolloutEvent): string {
    const time = event.time.slice(11, 19);
    const where = event.percent !== undefined ? ` [${event.percent}%]` : "";
    const lines = [`${time} ${event.event}${where}${event.detail ? `: ${event.detail.split("\n")[0]}` : ""}`];
    for (const c of event.checks ?? []) lines.push(check(c));
    return lines.join("\n");
}

function seconds(ms: number): string {
    const s = Math.max(0, Math.round(ms / 1000));
    return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

export async function rolloutCommand(
    args: ParsedArgs,
    manager: ReleaseManager,
    out: (s: string) => void,
    err: (s: string) => void,
): Promise<number> {
    const store = new FileRolloutStore(manager.stack.stack.workspace.workDir);
    const principal = manager.principal;
    const runner = new RolloutRunner({
        store,
        prometheusUrl: args.prometheusUrl ?? process.env.MODEL_RELEASE_PROMETHEUS_URL,
        onEvent: (job, event) => {
            if (args.json) out(JSON.stringify({ type: "event", job: job.id, release: job.release, ...event }));
            else {
                clearTicker();
                out(describeEvent(event));
            }
        },
    });
    const target = targetOf(manager, args.release, principal, args.maxStep ?? DEFAULT_MAX_STEP);
    const stackName = manager.stack.stack.name;

    // A live line while waiting (terminals only): step, percent, time to the judgement.
    let ticker: NodeJS.Timeout | undefined;
    let tickerShown = false;
    const clearTicker = () => {
        if (tickerShown) process.stderr.write("\r\x1b[2K");
        tickerShown = false;
    };
    const startTicker = (jobId: string) => {
        if (args.json || !process.stderr.isTTY) return;
        ticker = setInterval(() => {
            void store.get(jobId).then((job) => {
                if (!job || job.phase !== "wait" || !job.waitUntil) return;
                const step = `${job.step + 1}/${job.steps.length || job.iterations}`;
                process.stderr.write(
                    `\r\x1b[2K  ${job.status} step ${step} at ${job.percent}%, judging in ${seconds(Date.parse(job.waitUntil) - Date.now())}`,
                );
                tickerShown = true;
            });
        }, 1000);
        ticker.unref();
    };

    const [active] = await store.list({ stack: stackName, release: args.release, active: true });
    let job: RolloutJob | undefined;
    if (args.rolloutAction) {
        if (!active) {
            err(`model-release: release ${args.release} has no active rollout`);
            return 2;
        }
        try {
            await runner.request(active.id, args.rolloutAction, principal);
        } catch (error) {
            err(`model-release: ${(error as Error).message}`);
            return 2;
        }
        // The owner (another process) acts on it; if nobody drives the job, this process does.
        job = await runner.claim(active.id);
        if (!job) {
            out(
                args.json
                    ? JSON.stringify({ type: "requested", job: active.id, action: args.rolloutAction })
                    : `${args.rolloutAction} requested; ${active.owner} drives rollout ${active.id} and acts on it`,
            );
            return 0;
        }
    } else if (active) {
        job = await runner.claim(active.id);
        if (!job) {
            throw new BusyError(stackName, `rollout ${active.id} of ${args.release} is driven by ${active.owner}`);
        }
    } else {
        job = await runner.create(target, principal);
    }

    const stop = () => {
        clearTicker();
        err(
            `stopping: rollout ${job?.id} stays at its planned step; run 'model-release rollout --stack ${stackName} --release ${args.release}' to resume it, or add --cancel to roll back`,
        );
        void runner.close();
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    startTicker(job.id);
    try {
        const last = await runner.drive(job, target);
        clearTicker();
        if (args.json) out(JSON.stringify({ type: "result", job: last }));
        else out(`rollout ${last.id}: ${last.status}${last.reason ? ` (${last.reason})` : ""}`);
        return exitCodeOf(last);
    } finally {
        if (ticker) clearInterval(ticker);
        process.removeListener("SIGINT", stop);
        process.removeListener("SIGTERM", stop);
    }
}
