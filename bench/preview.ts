/**
 * Benchmarks 2 and 3 on the real engine: `pulumi preview` of N releases through ModelRelease vs.
 * the same objects as raw resources, and the same preview with and without the policy pack.
 * Previews are of new stacks (every object a create), runs alternate between the two programs
 * after one unmeasured warm-up each.
 */
import { PreviewResult } from "@pulumi/pulumi/automation";

import { Summary, summarize } from "./stats";
import { EngineContext, changeCounts, componentStack, rawStack, timed } from "./engine";
import { benchReleases, objectCount, plansOf } from "./workloads";
import { POLICY_PACK } from "../e2e/engine";

export interface PreviewRow {
    releases: number;
    objects: number;
    component: Summary;
    raw: Summary;
    /** Raw resources under one empty component per release: the cost of the grouping alone. */
    grouped?: Summary;
    /** component median / raw median. */
    ratio: number;
}

export interface PolicyRow {
    releases: number;
    /** Resources the pack analyzes: objects, components and the stack. */
    resources: number;
    withPack: Summary;
    withoutPack: Summary;
    ratio: number;
}

export function expectCreates(result: PreviewResult, creates: number, what: string): void {
    const counts = changeCounts(result);
    if (counts.create !== creates || Object.keys(counts).length !== 1) {
        throw new Error(`${what}: expected ${creates} creates, got ${JSON.stringify(counts)}\n${result.stdout}`);
    }
}

/** Runs each measurement `runs` times, in turn, after a warm-up of each; samples per measurement. */
export async function alternate(runs: number, ...measurements: (() => Promise<number>)[]): Promise<number[][]> {
    for (const measure of measurements) await measure();
    const samples = measurements.map((): number[] => []);
    for (let i = 0; i < runs; i++) {
        for (const [j, measure] of measurements.entries()) samples[j].push(await measure());
    }
    return samples;
}

export async function previewBench(
    ctx: EngineContext,
    sizes: number[],
    runs: number,
    log: (line: string) => void,
): Promise<PreviewRow[]> {
    const rows: PreviewRow[] = [];
    for (const n of sizes) {
        const namespace = `bench-preview-${n}`;
        await ctx.cluster.createNamespace(namespace);
        const releases = benchReleases(n, namespace);
        const plans = plansOf(releases);
        const objects = objectCount(plans);
        const component = await componentStack(ctx, `component-${n}`);
        await component.setReleases(releases);
        const raw = await rawStack(ctx, `raw-${n}`, plans);
        const grouped = await rawStack(ctx, `grouped-${n}`, plans, true);
        const [componentMs, rawMs, groupedMs] = await alternate(
            runs,
            async () => {
                const { ms, result } = await timed(() => component.preview());
                // Objects, one component per release, and the stack.
                expectCreates(result, objects + n + 1, `component preview of ${n}`);
                return ms;
            },
            async () => {
                const { ms, result } = await timed(() => raw.preview({ diff: true }));
                expectCreates(result, objects + 1, `raw preview of ${n}`);
                return ms;
            },
            async () => {
                const { ms, result } = await timed(() => grouped.preview({ diff: true }));
                expectCreates(result, objects + n + 1, `grouped raw preview of ${n}`);
                return ms;
            },
        );
        const row = {
            releases: n,
            objects,
            component: summarize(componentMs),
            raw: summarize(rawMs),
            grouped: summarize(groupedMs),
            ratio: 0,
        };
        row.ratio = row.component.median / row.raw.median;
        log(`preview ${n}: component ${row.component.median.toFixed(0)} ms, raw ${row.raw.median.toFixed(0)} ms`);
        rows.push(row);
    }
    return rows;
}

/** Preview with and without the policy pack, for each size. */
export async function policyBench(
    ctx: EngineContext,
    sizes: number[],
    runs: number,
    log: (line: string) => void,
): Promise<PolicyRow[]> {
    const rows: PolicyRow[] = [];
    for (const n of sizes) {
        rows.push(await policyRow(ctx, n, runs, log));
    }
    return rows;
}

async function policyRow(ctx: EngineContext, n: number, runs: number, log: (line: string) => void): Promise<PolicyRow> {
    const namespace = `bench-policy-${n}`;
    await ctx.cluster.createNamespace(namespace);
    const releases = benchReleases(n, namespace);
    const creates = objectCount(plansOf(releases)) + n + 1;
    const stack = await componentStack(ctx, `policy-${n}`);
    await stack.setReleases(releases);
    const [withMs, withoutMs] = await alternate(
        runs,
        async () => {
            const { ms, result } = await timed(() => stack.preview({ policyPacks: [POLICY_PACK] }));
            expectCreates(result, creates, "preview with the policy pack");
            if (!/Policy Packs run:/.test(result.stdout)) {
                throw new Error(`the policy pack did not run:\n${result.stdout}`);
            }
            return ms;
        },
        async () => {
            const { ms, result } = await timed(() => stack.preview());
            expectCreates(result, creates, "preview without the policy pack");
            return ms;
        },
    );
    const row = {
        releases: n,
        resources: creates,
        withPack: summarize(withMs),
        withoutPack: summarize(withoutMs),
        ratio: 0,
    };
    row.ratio = row.withPack.median / row.withoutPack.median;
    log(`policy ${n}: with ${row.withPack.median.toFixed(0)} ms, without ${row.withoutPack.median.toFixed(0)} ms`);
    return row;
}
