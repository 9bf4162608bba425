/**
 * Benchmark 5: what each config edit of the seed tutorials changes, counted on the real engine
 * from the preview (with the policy pack) of the edit, then applied. Counts are of Kubernetes
 * objects; the stack and the ModelRelease components are left out.
 */
import { EngineContext, ObjectOps, componentStack, timed } from "./engine";
import { POLICY_PACK } from "../e2e/engine";
import { seedFlows } from "./seedFlows";

export interface FootprintRow {
    seed: string;
    step: string;
    create: number;
    update: number;
    delete: number;
    replace: number;
    /** The changed objects, `<op> <Kind>/<name>` (each flow has its own namespace). */
    changed: string[];
    /** Milliseconds of the preview and of the update. */
    previewMs: number;
    upMs: number;
}

export async function footprintBench(ctx: EngineContext, log: (line: string) => void): Promise<FootprintRow[]> {
    const rows: FootprintRow[] = [];
    for (const flow of seedFlows("bench-seed")) {
        await ctx.cluster.createNamespace(flow.namespace);
        const stack = await componentStack(ctx, `seed-${flow.seed.replace("/", "-")}`);
        try {
            for (const step of flow.steps) {
                await stack.setReleases(step.releases);
                const ops = new ObjectOps();
                const preview = await timed(() => stack.preview({ policyPacks: [POLICY_PACK], onEvent: ops.onEvent }));
                const up = await timed(() => stack.up({ policyPacks: [POLICY_PACK] }));
                if (up.result.summary.result !== "succeeded") {
                    throw new Error(`seed ${flow.seed} "${step.title}": update ${up.result.summary.result}`);
                }
                const row: FootprintRow = {
                    seed: flow.seed,
                    step: step.title,
                    create: ops.count("create"),
                    update: ops.count("update"),
                    delete: ops.count("delete"),
                    replace: ops.count("replace"),
                    changed: Object.entries(ops.byOp).flatMap(([op, names]) => names.map((n) => `${op} ${n}`)),
                    previewMs: preview.ms,
                    upMs: up.ms,
                };
                log(`seed ${flow.seed} ${step.title}: ${row.changed.join(", ")}`);
                rows.push(row);
            }
        } finally {
            await stack.destroy().catch(() => undefined);
        }
    }
    return rows;
}
