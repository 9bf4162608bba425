/**
 * Benchmark 6, scale-out: what one service carrying many stacks pays, on the real engine.
 * - isolation: a weights operation on stack B alone vs. while stack A's update waits for a
 *   candidate that never becomes Ready (both stacks' runs in worker processes of one EnginePool);
 * - throughput: N promotions on N stacks at once through one EnginePool vs. one after another;
 * - backend: preview and up of a seed 000 weights edit on a PostgreSQL backend vs. file://;
 * - pack: preview with this project's policy pack vs. a pack of one no-op rule vs. no pack.
 */
import * as os from "node:os";
import * as path from "node:path";

import { EnginePool } from "../automation/engineWorkers";
import { ReleaseManager } from "../automation/releases";
import { ReleaseStack } from "../automation/stack";
import { POLICY_PACK } from "../e2e/engine";
import { postgresBin, startPostgres } from "../e2e/postgres";
import { appVersion, httpbin, modelVersion, wisdom } from "../tests/components/fixtures";
import { EngineContext, changeCounts, componentStack, timed } from "./engine";
import { alternate, expectCreates } from "./preview";
import { Summary, summarize } from "./stats";
import { benchReleases, objectCount, plansOf } from "./workloads";

/** A policy pack with one resource rule that does nothing: the cost of running any pack. */
export const NOOP_PACK = path.join(__dirname, "noopPack");

export interface IsolationResult {
    /** What runs on B. */
    operation: string;
    poolSize: number;
    /** Readiness timeout of A's candidate: how long A's update blocks. */
    waitSeconds: number;
    alone: Summary;
    duringA: Summary;
    /** duringA.median - alone.median, ms. */
    extraMs: number;
    /** A's operations, from start to their readiness failure (ms). */
    blocked: Summary;
}

export interface ThroughputResult {
    stacks: number;
    cpus: number;
    poolSize: number;
    serial: Summary;
    concurrent: Summary;
    /** serial median / concurrent median. */
    ratio: number;
}

export interface BackendPair {
    postgres: Summary;
    file: Summary;
    /** postgres median / file median. */
    ratio: number;
}

export interface BackendResult {
    preview: BackendPair;
    up: BackendPair;
}

export interface PackRow {
    releases: number;
    resources: number;
    withPack: Summary;
    noopPack: Summary;
    withoutPack: Summary;
    /** withPack / noopPack medians: what this pack's rules cost over any pack. */
    ratio: number;
    /** withPack / withoutPack medians (as in benchmark 3). */
    noPackRatio: number;
}

export interface ScaleOutResult {
    isolation: IsolationResult;
    throughput: ThroughputResult;
    backend: BackendResult;
    pack: PackRow[];
}

function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

async function upOrThrow(stack: ReleaseStack, what: string): Promise<void> {
    const up = await stack.run("up");
    if (up.result !== "succeeded") throw new Error(`${what}: update ${up.result}`);
}

export async function scaleOutBench(
    ctx: EngineContext,
    options: { runs: number; quick: boolean },
    log: (line: string) => void,
): Promise<ScaleOutResult> {
    // Fail before the long parts when PostgreSQL is missing.
    postgresBin();
    const { runs, quick } = options;
    const isolation = await isolationBench(ctx, runs, quick ? 20 : 60, log);
    // Each round is two measured batches plus two re-arms, minutes at 8 stacks: at most 3.
    const throughput = await throughputBench(ctx, quick ? 2 : 8, Math.min(runs, 3), log);
    const backend = await backendBench(ctx, runs, log);
    const pack: PackRow[] = [];
    for (const n of quick ? [10] : [10, 50]) pack.push(await packRow(ctx, n, runs, log));
    return { isolation, throughput, backend, pack };
}

async function isolationBench(
    ctx: EngineContext,
    runs: number,
    minWaitSeconds: number,
    log: (line: string) => void,
): Promise<IsolationResult> {
    // Two slots at least, so A's blocked update and B's runs are in separate workers.
    const pool = new EnginePool({ size: Math.max(2, os.cpus().length) }).warm();
    const [nsA, nsB] = ["bench-scaleout-a", "bench-scaleout-b"];
    const candidateA = `${nsA}/wisdom-1`;
    try {
        await ctx.cluster.createNamespace(nsA);
        await ctx.cluster.createNamespace(nsB);
        const stackA = await componentStack(ctx, "scaleout-a", { engine: pool });
        const stackB = await componentStack(ctx, "scaleout-b", { engine: pool });
        const v = (label: string, weight: number) =>
            appVersion({ weight, labels: { "app.kubernetes.io/version": label } });
        // No kubelet on the local control plane: Deployments are gated on Available (the stub's).
        await stackB.setReleases({
            httpbin: httpbin([v("v1", 100), v("v2", 0)], { namespace: nsB, readiness: { deployment: "available" } }),
        });
        await upOrThrow(stackB, "stack B");
        const b = new ReleaseManager(stackB);
        let moved = false;
        const opB = async () => {
            moved = !moved;
            const { ms, result } = await timed(() => b.setWeights("httpbin", moved ? [90, 10] : [100, 0], true));
            if (!result.applied) throw new Error("stack B's weights were not applied");
            return ms;
        };
        await opB(); // warm-up
        const alone: number[] = [];
        for (let i = 0; i < runs; i++) alone.push(await opB());
        log(`isolation: B alone ${summarize(alone).median.toFixed(0)} ms`);

        // A's wait must hold at least one operation of B (a loaded machine: longer than asked).
        const waitSeconds = Math.max(minWaitSeconds, Math.ceil((1.5 * Math.max(...alone)) / 1000) + 5);
        await stackA.setReleases({
            wisdom: wisdom([modelVersion("v0")], { namespace: nsA, readiness: { timeoutSeconds: waitSeconds } }),
        });
        await upOrThrow(stackA, "stack A");
        const a = new ReleaseManager(stackA);

        ctx.stub.neverReady.add(candidateA);
        const during: number[] = [];
        const blocked: number[] = [];
        // A window of `waitSeconds` may hold fewer than `runs` operations of B: then more cycles.
        for (let cycle = 0; during.length < runs && cycle < 3; cycle++) {
            const started = performance.now();
            let settled = false;
            const opA = a.addCandidate("wisdom", modelVersion("v1"), true).then(
                () => new Error("stack A's update succeeded, but its candidate is never Ready"),
                (error: unknown) => error,
            );
            void opA.then(() => (settled = true));
            // A blocks once its update has created the candidate and waits for it to be Ready.
            const isvc = `/apis/serving.kserve.io/v1beta1/namespaces/${nsA}/inferenceservices/wisdom-1`;
            while (!settled && (await ctx.cluster.get(isvc)) === undefined) await sleep(100);
            const deadline = performance.now() + waitSeconds * 1000 - 1000;
            while (during.length < runs && !settled && performance.now() + 1.5 * Math.max(...alone) < deadline) {
                const ms = await opB();
                // Only what ran entirely while A waited counts.
                if (!settled) during.push(ms);
            }
            const outcome = await opA;
            blocked.push(performance.now() - started);
            if (!(outcome instanceof Error) || !/wisdom-1/.test(outcome.message)) throw outcome;
            log(`isolation cycle ${cycle + 1}: A failed after ${(blocked[cycle] / 1000).toFixed(1)} s as meant`);
            // A's config was restored; its update leaves the failed candidate, removed here.
            await upOrThrow(stackA, "stack A (removing the candidate)");
        }
        if (during.length === 0) throw new Error(`no operation of B fit in A's ${waitSeconds} s wait`);
        const result = {
            operation: "weights on a blue-green Deployment release (preview + up)",
            poolSize: pool.size,
            waitSeconds,
            alone: summarize(alone),
            duringA: summarize(during),
            extraMs: 0,
            blocked: summarize(blocked),
        };
        result.extraMs = result.duringA.median - result.alone.median;
        log(`isolation: B during A ${result.duringA.median.toFixed(0)} ms (${during.length} runs)`);
        return result;
    } finally {
        ctx.stub.neverReady.delete(candidateA);
        pool.close();
    }
}

async function throughputBench(
    ctx: EngineContext,
    count: number,
    rounds: number,
    log: (line: string) => void,
): Promise<ThroughputResult> {
    // The service's default pool (one worker per CPU); every promotion may wait its turn.
    const pool = new EnginePool({ queueLimit: 2 * count });
    try {
        const entries: { namespace: string; stack: ReleaseStack; manager: ReleaseManager }[] = [];
        for (let i = 0; i < count; i++) {
            const namespace = `bench-scaleout-t${i}`;
            await ctx.cluster.createNamespace(namespace);
            const stack = await componentStack(ctx, `scaleout-t${i}`, { engine: pool });
            entries.push({ namespace, stack, manager: new ReleaseManager(stack) });
        }
        // The seed 000 candidate at 70%, Ready (the stub); not measured.
        const rearm = () =>
            Promise.all(
                entries.map(async ({ namespace, stack }) => {
                    const versions = [modelVersion("v0", { weight: 30 }), modelVersion("v1", { weight: 70 })];
                    await stack.setReleases({ wisdom: wisdom(versions, { namespace }) });
                    await upOrThrow(stack, `re-arming ${stack.stack.name}`);
                }),
            );
        const promote = async (e: (typeof entries)[number]) => {
            const plan = await e.manager.promote("wisdom", true);
            if (!plan.applied) throw new Error(`promotion on ${e.stack.stack.name} was not applied`);
        };
        const serial = async () => {
            await rearm();
            return (
                await timed(async () => {
                    for (const e of entries) await promote(e);
                })
            ).ms;
        };
        const concurrent = async () => {
            await rearm();
            return (await timed(() => Promise.all(entries.map(promote)))).ms;
        };
        const serialMs: number[] = [];
        const concurrentMs: number[] = [];
        // The order alternates between rounds, so drift of the machine does not favour one.
        for (let i = 0; i < rounds; i++) {
            if (i % 2 === 0) {
                serialMs.push(await serial());
                concurrentMs.push(await concurrent());
            } else {
                concurrentMs.push(await concurrent());
                serialMs.push(await serial());
            }
            log(
                `throughput round ${i + 1}: serial ${serialMs[i].toFixed(0)} ms, concurrent ${concurrentMs[i].toFixed(0)} ms`,
            );
        }
        const result = {
            stacks: count,
            cpus: os.cpus().length,
            poolSize: pool.size,
            serial: summarize(serialMs),
            concurrent: summarize(concurrentMs),
            ratio: 0,
        };
        result.ratio = result.serial.median / result.concurrent.median;
        return result;
    } finally {
        pool.close();
    }
}

async function backendBench(ctx: EngineContext, runs: number, log: (line: string) => void): Promise<BackendResult> {
    const pg = await startPostgres();
    try {
        const backends = [
            { name: "postgres", envVars: { PULUMI_BACKEND_URL: pg.url, ...pg.env } },
            { name: "file", envVars: {} },
        ];
        const stacks: { namespace: string; stack: ReleaseStack; weight: number }[] = [];
        // Seed 000 with its candidate at 70% (not measured); each measured run moves 10 points.
        const releases = (namespace: string, weight: number) => ({
            wisdom: wisdom([modelVersion("v0", { weight: 100 - weight }), modelVersion("v1", { weight })], {
                namespace,
            }),
        });
        for (const { name, envVars } of backends) {
            const namespace = `bench-scaleout-${name}`;
            await ctx.cluster.createNamespace(namespace);
            const stack = await componentStack(ctx, `scaleout-${name}`, { envVars });
            await stack.setReleases(releases(namespace, 70));
            await upOrThrow(stack, `seed 000 on ${name}`);
            stacks.push({ namespace, stack, weight: 70 });
        }
        const measure = async (s: (typeof stacks)[number]): Promise<[number, number]> => {
            s.weight = s.weight === 70 ? 60 : 70;
            await s.stack.setReleases(releases(s.namespace, s.weight));
            const preview = await timed(() => s.stack.preview());
            const up = await timed(() => s.stack.up());
            const counts = changeCounts(up.result);
            if (up.result.summary.result !== "succeeded" || !counts.update) {
                throw new Error(`${s.stack.stack.name}: expected updates, got ${JSON.stringify(counts)}`);
            }
            return [preview.ms, up.ms];
        };
        for (const s of stacks) await measure(s); // warm-up
        const samples = stacks.map(() => ({ preview: [] as number[], up: [] as number[] }));
        for (let i = 0; i < runs; i++) {
            for (const [j, s] of stacks.entries()) {
                const [previewMs, upMs] = await measure(s);
                samples[j].preview.push(previewMs);
                samples[j].up.push(upMs);
            }
        }
        const pair = (kind: "preview" | "up"): BackendPair => {
            const [postgres, file] = samples.map((s) => summarize(s[kind]));
            return { postgres, file, ratio: postgres.median / file.median };
        };
        const result = { preview: pair("preview"), up: pair("up") };
        log(`backend: preview ratio ${result.preview.ratio.toFixed(2)}, up ratio ${result.up.ratio.toFixed(2)}`);
        return result;
    } finally {
        await pg.stop();
    }
}

async function packRow(ctx: EngineContext, n: number, runs: number, log: (line: string) => void): Promise<PackRow> {
    const namespace = `bench-scaleout-pack-${n}`;
    await ctx.cluster.createNamespace(namespace);
    const releases = benchReleases(n, namespace);
    const creates = objectCount(plansOf(releases)) + n + 1;
    const stack = await componentStack(ctx, `scaleout-pack-${n}`);
    await stack.setReleases(releases);
    const preview = (packs: string[], what: string) => async () => {
        const { ms, result } = await timed(() => stack.preview({ policyPacks: packs }));
        expectCreates(result, creates, `preview with ${what}`);
        if (packs.length > 0 && !/Policy Packs run:/.test(result.stdout)) {
            throw new Error(`${what} did not run:\n${result.stdout}`);
        }
        return ms;
    };
    const [withMs, noopMs, withoutMs] = await alternate(
        runs,
        preview([POLICY_PACK], "the policy pack"),
        preview([NOOP_PACK], "the no-op pack"),
        preview([], "no pack"),
    );
    const row = {
        releases: n,
        resources: creates,
        withPack: summarize(withMs),
        noopPack: summarize(noopMs),
        withoutPack: summarize(withoutMs),
        ratio: 0,
        noPackRatio: 0,
    };
    row.ratio = row.withPack.median / row.noopPack.median;
    row.noPackRatio = row.withPack.median / row.withoutPack.median;
    const ms = (samples: number[]) => samples.map((x) => x.toFixed(0)).join("/");
    log(`pack ${n}: pack ${ms(withMs)} ms, no-op ${ms(noopMs)} ms, none ${ms(withoutMs)} ms`);
    return row;
}
