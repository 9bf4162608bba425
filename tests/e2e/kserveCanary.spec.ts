// KServe v0.20's Standard-mode canary (strategy kserve-canary, environment kserve-raw: one
// InferenceService with spec.canary) on the real engine against the real KServe v0.20 CRD. The
// controller stub plays KServe's predictor reconciler: it creates <app>-<name>-predictor
// Deployments and Services, reports canaryStatuses and CanaryPredictorReady, and deletes the
// predictors a promotion orphans (e2e/controllerStub.ts).
import * as assert from "node:assert/strict";

import { LocalCluster } from "../../e2e/cluster";
import { ReleaseManager } from "../../automation/releases";
import { ReleaseStack } from "../../automation/stack";
import { POLICY_PACK, applyStep, assertConverged, defaultRouteWeights, eventually, fixture, names } from "./helpers";

const NS = "kservecanary";
const MODEL = "gs://seldon-models/sklearn/mms/lr_model";

interface LiveInferenceService {
    metadata: { generation: number };
    spec: { predictor: { name: string }; canary?: { predictor: { name: string }; trafficPercent: number }[] };
    status?: {
        observedGeneration?: number;
        canaryStatuses?: { name: string; ready: boolean; trafficPercent: number }[];
        conditions?: { type: string; status: string }[];
    };
}

describe("e2e: KServe v0.20 Standard-mode canary, canary 10 -> promote -> pin 0 -> remove (real engine)", function () {
    this.timeout(40 * 60 * 1000);
    let cluster: LocalCluster;
    let stack: ReleaseStack;
    const isvc = () =>
        cluster.get<LiveInferenceService>(`/apis/serving.kserve.io/v1beta1/namespaces/${NS}/inferenceservices/wisdom`);
    const predictors = () => names(cluster, `/apis/apps/v1/namespaces/${NS}/deployments`);
    const weights = () => defaultRouteWeights(cluster, NS, "wisdom");
    const gates = () => names(cluster, `/apis/policy/v1/namespaces/${NS}/poddisruptionbudgets`);
    const wisdom = (versions: Record<string, unknown>[], backend = "istio") => ({
        wisdom: {
            environment: "kserve-raw",
            strategy: "kserve-canary",
            namespace: NS,
            modelFormat: "sklearn",
            // KServe then writes each canary's computed replicas: a pinned canary gets none.
            annotations: { "serving.kserve.io/autoscalerClass": "none" },
            routing: { backend },
            readiness: { timeoutSeconds: 60 },
            versions,
        },
    });
    const v = (name: string, trafficPercent?: number) => ({
        name,
        storageUri: `${MODEL}-${name}`,
        ...(trafficPercent === undefined ? {} : { trafficPercent }),
    });

    before(async function () {
        ({ cluster, stack } = await fixture(NS));
    });
    after(async function () {
        await stack?.cleanup().catch(() => undefined);
    });

    it("runs the flow as config edits and release operations: previews exact, no replace, nothing left", async () => {
        // The InferenceService is not awaited (kserve#6081); each predictor that gets traffic has a
        // PodDisruptionBudget the update waits for until one of its pods is Ready.
        await applyStep(stack, wisdom([v("v1")]), { create: 7 });
        assert.equal((await isvc())?.spec.predictor.name, "v1");
        assert.deepEqual(await gates(), ["wisdom-v1-predictor-ready"]);
        assert.deepEqual(await predictors(), ["wisdom-v1-predictor"]);
        assert.deepEqual(await weights(), [["v1", 100]]);

        // Canary 10: KServe's spec.canary entry, split by the release's VirtualService.
        await applyStep(stack, wisdom([v("v1"), v("v2", 10)]), { create: 2, update: 3 });
        const canary = await isvc();
        // KServe reports the stable Deployment's observedGeneration, which the canary did not move.
        assert.ok((canary?.status?.observedGeneration ?? 0) < (canary?.metadata.generation ?? 0));
        assert.deepEqual(await gates(), ["wisdom-v1-predictor-ready", "wisdom-v2-predictor-ready"]);
        assert.deepEqual(
            canary?.spec.canary?.map((c) => [c.predictor.name, c.trafficPercent]),
            [["v2", 10]],
        );
        // The update waited for v2's gate (a Ready pod); the stub reports the canary from the
        // Deployment's availability, a step behind.
        await eventually(
            async () => (await isvc())?.status?.canaryStatuses,
            [{ name: "v2", ready: true, trafficPercent: 10 }],
            "canaryStatuses",
        );
        assert.deepEqual(await predictors(), ["wisdom-v1-predictor", "wisdom-v2-predictor"]);
        assert.deepEqual(await weights(), [
            ["v1", 90],
            ["v2", 10],
        ]);

        // Promote through the operations library: the stable predictor is drained first (one
        // update), then renamed to the canary (a second), so KServe deletes a predictor that
        // serves nothing.
        const manager = new ReleaseManager(stack, { policyPacks: [POLICY_PACK] });
        const status = await manager.status("wisdom");
        assert.deepEqual(
            status.traffic.map((r) => [r.version, r.percent, r.livePercent, r.ready]),
            [
                ["v1", 90, 90, true],
                ["v2", 10, 10, true],
            ],
        );
        const promoted = await manager.promote("wisdom", true);
        assert.equal(promoted.applied, true);
        await assertConverged(stack);
        assert.deepEqual(((await stack.releases()).wisdom as { versions: unknown[] }).versions, [v("v2")]);
        const renamed = await isvc();
        assert.equal(renamed?.spec.predictor.name, "v2");
        assert.equal(renamed?.spec.canary, undefined);
        await eventually(
            async () => (await isvc())?.status?.conditions?.find((c) => c.type === "CanaryPredictorReady"),
            undefined,
            "no canary, no CanaryPredictorReady",
        );
        await eventually(predictors, ["wisdom-v2-predictor"], "KServe deleted the old stable predictor");
        assert.deepEqual(await weights(), [["v2", 100]]);
        assert.deepEqual(await gates(), ["wisdom-v2-predictor-ready"]);

        // Pin a new canary at 0%: deployed, scaled to zero by KServe (autoscalerClass none), no
        // traffic; the update does not wait for a canary that cannot become ready.
        await applyStep(stack, wisdom([v("v2"), v("v3", 0)]), { create: 1, update: 1 });
        await eventually(
            async () => (await isvc())?.status?.canaryStatuses,
            [{ name: "v3", ready: false, trafficPercent: 0 }],
            "canaryStatuses",
        );
        const pinned = () =>
            cluster.get<{ spec: { replicas: number } }>(
                `/apis/apps/v1/namespaces/${NS}/deployments/wisdom-v3-predictor`,
            );
        await eventually(async () => (await pinned())?.spec.replicas, 0, "the pinned canary's replicas");
        assert.deepEqual(await weights(), [["v2", 100]]);
        assert.deepEqual(await gates(), ["wisdom-v2-predictor-ready"], "no gate for a canary without traffic");

        // Remove it, then the release.
        await applyStep(stack, wisdom([v("v2")]), { update: 1, delete: 1 });
        await eventually(predictors, ["wisdom-v2-predictor"], "KServe deleted the canary's predictor");
        await applyStep(stack, {}, { delete: 6 });
        assert.deepEqual(
            await names(cluster, `/apis/serving.kserve.io/v1beta1/namespaces/${NS}/inferenceservices`),
            [],
        );
        assert.deepEqual(await gates(), []);
    });

    it("runs seed 000's flow on the Gateway API back-end: v0, 50/50, 30/70, promotion as one weighted HTTPRoute rule", async () => {
        const route = async () =>
            (
                await cluster.get<{ spec: { rules: { backendRefs: { name: string; weight: number }[] }[] } }>(
                    `/apis/gateway.networking.k8s.io/v1/namespaces/${NS}/httproutes/wisdom`,
                )
            )?.spec.rules.map((r) => r.backendRefs.map((b) => `${b.name} ${b.weight}`));
        const gw = (versions: Record<string, unknown>[]) => wisdom(versions, "gateway-api");
        await applyStep(stack, gw([v("v0")]), { create: 6 });
        assert.deepEqual(await route(), [["wisdom-v0-predictor 100"]]);
        await applyStep(stack, gw([v("v0"), v("v1", 50)]), { create: 2, update: 3 });
        assert.deepEqual(await route(), [["wisdom-v0-predictor 50", "wisdom-v1-predictor 50"]]);
        await applyStep(stack, gw([v("v0"), v("v1", 70)]), { update: 4 });
        assert.deepEqual(await route(), [["wisdom-v0-predictor 30", "wisdom-v1-predictor 70"]]);
        // Promotion as config edits: drain, then rename.
        // The drained stable predictor's gate goes (after the route no longer sends it traffic).
        await applyStep(stack, gw([v("v0"), v("v1", 100)]), { update: 4, delete: 1 });
        assert.deepEqual(await route(), [["wisdom-v0-predictor 0", "wisdom-v1-predictor 100"]]);
        // v1's weight ConfigMap already records it as the primary (the drain): no change there.
        await applyStep(stack, gw([v("v1")]), { update: 2, delete: 1 });
        assert.deepEqual(await route(), [["wisdom-v1-predictor 100"]]);
        await eventually(predictors, ["wisdom-v1-predictor"], "KServe deleted the old stable predictor");
        await applyStep(stack, {}, { delete: 6 });
    });
});
