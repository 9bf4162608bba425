/**
 * Benchmark 4: latency of `pulumi up` promoting the seed 000 candidate (the primary InferenceService
 * takes v1's spec, the candidate is deleted, routing goes 100% to the primary) vs. a no-op `up` of
 * the same stack, the engine's floor. Each run first puts the candidate back (not measured).
 */
import { Summary, summarize } from "./stats";
import { EngineContext, changeCounts, componentStack, timed } from "./engine";
import { modelVersion, wisdom } from "../tests/components/fixtures";

export interface PromotionResult {
    promotion: Summary;
    noop: Summary;
    ratio: number;
    /** Changes of the first promotion and of every no-op up (which must be empty). */
    promotionChanges: Record<string, number>;
    noopChanges: Record<string, number>[];
}

export async function promotionBench(
    ctx: EngineContext,
    runs: number,
    log: (line: string) => void,
): Promise<PromotionResult> {
    const namespace = "bench-promotion";
    await ctx.cluster.createNamespace(namespace);
    const stack = await componentStack(ctx, "promotion");
    const candidate = {
        wisdom: wisdom([modelVersion("v0", { weight: 30 }), modelVersion("v1", { weight: 70 })], { namespace }),
    };
    const promoted = { wisdom: wisdom([modelVersion("v1")], { namespace }) };
    const promotionMs: number[] = [];
    const noopMs: number[] = [];
    const noopChanges: Record<string, number>[] = [];
    let promotionChanges: Record<string, number> = {};
    try {
        // One unmeasured cycle warms the engine, provider and control plane.
        for (let i = -1; i < runs; i++) {
            await stack.setReleases(candidate);
            await stack.up();
            await stack.setReleases(promoted);
            const promotion = await timed(() => stack.up());
            const noop = await timed(() => stack.up());
            if (i < 0) continue;
            promotionChanges = changeCounts(promotion.result);
            noopChanges.push(changeCounts(noop.result));
            promotionMs.push(promotion.ms);
            noopMs.push(noop.ms);
            log(`promotion run ${i + 1}: ${promotion.ms.toFixed(0)} ms, no-op ${noop.ms.toFixed(0)} ms`);
        }
    } finally {
        await stack.destroy().catch(() => undefined);
    }
    const promotion = summarize(promotionMs);
    const noop = summarize(noopMs);
    return { promotion, noop, ratio: promotion.median / noop.median, promotionChanges, noopChanges };
}
