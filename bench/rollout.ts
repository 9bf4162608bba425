/**
 * Benchmark 7, automated rollout, on the real engine, the local control plane and a real
 * Prometheus scraping a steered exporter (e2e/prometheus.ts, e2e/metricsExporter.ts):
 * - overhead per step: a healthy rollout of 3 steps; its time beyond the configured intervals,
 *   per step, split into the step's release operation (preview with the pack, up, readiness and
 *   live check) and the judgement (Prometheus queries, persistence);
 * - rollback: a candidate whose error rate fails the check; the time from the failed judgement
 *   to the live VirtualService sending 100% to the primary, against one step's plain `up`.
 */
import { ReleaseManager } from "../automation/releases";
import { RolloutRunner, targetOf } from "../automation/rollout";
import { FileRolloutStore, RolloutEvent } from "../automation/rolloutJobs";
import { POLICY_PACK } from "../e2e/engine";
import { startExporter } from "../e2e/metricsExporter";
import { startPrometheus } from "../e2e/prometheus";
import { appVersion, httpbin } from "../tests/components/fixtures";
import { EngineContext, componentStack, timed } from "./engine";
import { Summary, summarize } from "./stats";

export interface RolloutBenchResult {
    steps: number[];
    intervalSeconds: number;
    /** Seconds per step beyond its interval (operation + judgement + bookkeeping). */
    perStep: Summary;
    /** Seconds of each step's release operation (preview with the pack, up, checks). */
    operation: Summary;
    /** Seconds of each judgement (Prometheus queries, readiness and live routing). */
    judgement: Summary;
    /** Seconds from the failed judgement to the live routing at 100% primary. */
    rollback: Summary;
    /** Seconds of one step's `up` with the policy pack (a weights edit), the rollback target's base. */
    stepUp: Summary;
    /** Seconds per step beyond the interval and the release operation: the runner's own cost. */
    runnerOwn: Summary;
}

const QUERY =
    'sum(rate(model_request_errors_total{namespace="{{namespace}}",version="{{version}}"}[5s])) / sum(rate(model_requests_total{namespace="{{namespace}}",version="{{version}}"}[5s]))';

export async function rolloutBench(
    ctx: EngineContext,
    runs: number,
    log: (line: string) => void,
): Promise<RolloutBenchResult> {
    const namespace = "bench-rollout";
    await ctx.cluster.createNamespace(namespace);
    const stack = await componentStack(ctx, "rollout");
    const exporter = await startExporter();
    const prometheus = await startPrometheus({ targets: [exporter.target], scrapeInterval: "1s" });
    const manager = new ReleaseManager(stack, { policyPacks: [POLICY_PACK] });
    const store = new FileRolloutStore(stack.stack.workspace.workDir);
    const steps = [10, 20, 30];
    const intervalSeconds = 2;
    const release = (weights: [number, number], onSuccess: "promote" | "hold" = "promote") => ({
        bench: httpbin(
            [
                appVersion({ name: "bench-blue", weight: weights[0] }),
                appVersion({ name: "bench-green", weight: weights[1] }),
            ],
            {
                namespace,
                readiness: { deployment: "available", timeoutSeconds: 60 },
                rollout: {
                    steps,
                    interval: `${intervalSeconds}s`,
                    onSuccess,
                    analysis: [{ name: "error-rate", prometheus: { query: QUERY, max: 0.01 } }],
                },
            },
        ),
    });
    const liveCandidate = async () => {
        const vs = await ctx.cluster.get<{ spec: { http: { route: { weight?: number }[] }[] } }>(
            `/apis/networking.istio.io/v1/namespaces/${namespace}/virtualservices/bench`,
        );
        const routes = vs?.spec.http[vs.spec.http.length - 1].route ?? [];
        // A 0% version has no route.
        return routes.length < 2 ? 0 : (routes[1].weight ?? 0);
    };
    const perStep: number[] = [];
    const operation: number[] = [];
    const judgement: number[] = [];
    const rollback: number[] = [];
    const stepUp: number[] = [];
    const runnerOwn: number[] = [];
    try {
        for (let i = -1; i < runs; i++) {
            // Healthy rollout (run -1 warms the engine, provider and control plane).
            exporter.set(namespace, "bench-green", { rps: 50, errorRate: 0, latencySeconds: 0.02 });
            await stack.setReleases(release([100, 0], "hold"));
            await stack.up();
            const times: RolloutEvent[] = [];
            const runner = new RolloutRunner({
                store,
                prometheusUrl: prometheus.url,
                onEvent: (_job, event) => times.push(event),
            });
            // Held at the last step (the promotion is not part of a step), then cancelled.
            const target = targetOf(manager, "bench", "bench", 25);
            const job = await runner.create(target, "bench");
            const startedAt = Date.now();
            const holding = new Promise<void>((resolve) => {
                const poll = setInterval(() => {
                    if (times.some((e) => e.event === "holding")) {
                        clearInterval(poll);
                        resolve();
                    }
                }, 20);
            });
            const driving = runner.drive(job, target);
            await holding;
            const total = (Date.parse(times.find((e) => e.event === "holding")?.time ?? "") - startedAt) / 1000;
            await runner.request(job.id, "cancel", "bench");
            await driving;
            await runner.close();
            const at = (e: RolloutEvent) => Date.parse(e.time);
            const stepEvents = times.filter((e) => e.event === "step");
            const judged = times.filter((e) => e.event === "judged");
            if (i >= 0) {
                perStep.push((total - steps.length * intervalSeconds) / steps.length);
                const operations = stepEvents.reduce(
                    (sum, s, k) => sum + (Date.parse(s.time) - (k === 0 ? startedAt : Date.parse(judged[k - 1].time))),
                    0,
                );
                runnerOwn.push((total - steps.length * intervalSeconds - operations / 1000) / steps.length);
                stepEvents.forEach((s, k) => {
                    const from = k === 0 ? startedAt : at(judged[k - 1]);
                    operation.push((at(s) - from) / 1000);
                    judgement.push((at(judged[k]) - at(s)) / 1000 - intervalSeconds);
                });
            }

            // Failing candidate: the first judgement fails; traffic back on the primary.
            await stack.setReleases(release([100, 0]));
            await stack.up();
            exporter.set(namespace, "bench-green", { rps: 50, errorRate: 0.5, latencySeconds: 0.02 });
            let failedAt = 0;
            const failing = new RolloutRunner({
                store,
                prometheusUrl: prometheus.url,
                onEvent: (_job, event) => {
                    if (event.event === "judged") failedAt = Date.now();
                },
            });
            const failTarget = targetOf(manager, "bench", "bench", 25);
            const failJob = await failing.create(failTarget, "bench");
            const failDriving = failing.drive(failJob, failTarget);
            while (failedAt === 0) await new Promise((resolve) => setTimeout(resolve, 10));
            let live = 10;
            while (live !== 0) {
                live = await liveCandidate();
                if (live !== 0) await new Promise((resolve) => setTimeout(resolve, 20));
            }
            const back = (Date.now() - failedAt) / 1000;
            const failed = await failDriving;
            await failing.close();
            if (failed.status !== "rolled-back") throw new Error(`the failing rollout ended ${failed.status}`);

            // One step's up as a rollout step runs it (with the policy pack), for the target.
            await stack.setReleases(release([90, 10]));
            const up = await timed(() => stack.up({ policyPacks: [POLICY_PACK] }));
            if (i < 0) continue;
            rollback.push(back);
            stepUp.push(up.ms / 1000);
            log(
                `rollout run ${i + 1}: ${perStep[perStep.length - 1].toFixed(2)} s per step beyond the interval, rollback ${back.toFixed(2)} s, step up ${(up.ms / 1000).toFixed(2)} s`,
            );
        }
    } finally {
        await stack.destroy().catch(() => undefined);
        await prometheus.stop();
        await exporter.stop();
    }
    return {
        steps,
        intervalSeconds,
        perStep: summarize(perStep),
        operation: summarize(operation),
        judgement: summarize(judgement),
        rollback: summarize(rollback),
        stepUp: summarize(stepUp),
        runnerOwn: summarize(runnerOwn),
    };
}
