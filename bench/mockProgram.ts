/**
 * One measurement of benchmark 1, in a fresh process so that memory is its own:
 *   node --expose-gc -r ts-node/register/transpile-only bench/mockProgram.ts <component|raw> <releases>
 * Runs the program once with one release to warm up (module loading, JIT), then measures one run
 * of the program under fresh Pulumi mocks, and prints one JSON line (MockSample). The process
 * runs TypeScript through ts-node, as the Pulumi Node.js language host runs a TypeScript program.
 */

import { ReleasePlan } from "../components/plan";
import { releaseProgram } from "../components/program";
import { installMocks, valueOf } from "../tests/components/mocks";
import { benchReleases, declareRaw, objectCount, plansOf } from "./workloads";

export type MockVariant = "component" | "raw";

/** What one process measured. */
export interface MockSample {
    variant: MockVariant;
    releases: number;
    /** Resources registered (the components count for the component variant). */
    resources: number;
    /** Kubernetes objects among them (the same for both variants). */
    objects: number;
    /** Milliseconds from the first resource constructor to the last registration. */
    ms: number;
    /** Peak resident memory of the process, and its growth during the measured run. */
    peakRssMb: number;
    rssGrowthMb: number;
    /** Heap still in use after the run and a full GC, over the heap before it. */
    retainedHeapMb: number;
}

const MB = 1024 * 1024;

function gc(): void {
    (globalThis as { gc?: () => void }).gc?.();
}

/**
 * Runs the program once under fresh mocks; returns the milliseconds until every resource
 * registered. The component variant plans from config itself; the raw baseline gets the plans
 * for free, as a hand-written program has its manifests in its code.
 */
async function runOnce(variant: MockVariant, releases: Record<string, unknown>, plans: ReleasePlan[]): Promise<number> {
    const expected = resourcesOf(variant, plans);
    let registered = 0;
    await installMocks({ "model-release:releases": JSON.stringify(releases) }, [], {
        stack: "bench",
        preview: true,
        onRegister: () => registered++,
    });
    gc();
    const start = performance.now();
    if (variant === "component") {
        const outputs = releaseProgram().releases;
        await Promise.all(Object.values(outputs).map((o) => valueOf(o.traffic)));
    } else {
        await Promise.all(declareRaw(plans).map((r) => valueOf(r.urn)));
    }
    const deadline = Date.now() + 10 * 60 * 1000;
    while (registered < expected) {
        if (Date.now() > deadline) {
            throw new Error(`only ${registered} of ${expected} resources registered`);
        }
        await new Promise((resolve) => setImmediate(resolve));
    }
    return performance.now() - start;
}

/** Resources the variant registers: the Kubernetes objects, plus one component per release. */
function resourcesOf(variant: MockVariant, plans: ReleasePlan[]): number {
    const objects = objectCount(plans);
    return variant === "component" ? objects + plans.length : objects;
}

async function main(): Promise<void> {
    const variant = process.argv[2] as MockVariant;
    const count = Number(process.argv[3]);
    if ((variant !== "component" && variant !== "raw") || !Number.isInteger(count) || count < 1) {
        throw new Error("usage: mockProgram.ts <component|raw> <releases>");
    }
    const warmUp = benchReleases(1, "warm-up");
    await runOnce(variant, warmUp, plansOf(warmUp));
    const releases = benchReleases(count, "bench");
    const plans = plansOf(releases);
    gc();
    const rssBefore = process.memoryUsage().rss;
    const heapBefore = process.memoryUsage().heapUsed;
    const ms = await runOnce(variant, releases, plans);
    const peakRss = process.resourceUsage().maxRSS * 1024;
    gc();
    const retainedHeap = process.memoryUsage().heapUsed - heapBefore;
    const sample: MockSample = {
        variant,
        releases: count,
        resources: resourcesOf(variant, plans),
        objects: objectCount(plans),
        ms,
        peakRssMb: peakRss / MB,
        rssGrowthMb: Math.max(0, peakRss - rssBefore) / MB,
        retainedHeapMb: retainedHeap / MB,
    };
    process.stdout.write(`${JSON.stringify(sample)}\n`);
}

if (require.main === module) {
    main().then(
        () => process.exit(0),
        (error: unknown) => {
            console.error(error instanceof Error ? error.stack : error);
            process.exit(1);
        },
    );
}
