// Seeds 003/004 (KServe canaryTrafficPercent on one InferenceService) on the real engine.
import * as assert from "node:assert/strict";

import { LocalCluster } from "../../e2e/cluster";
import { ReleaseStack } from "../../automation/stack";
import { applyStep, assertEmpty, fixture } from "./helpers";

const NS = "kserve-test";
const MODEL_1 = "gs://kfserving-examples/models/sklearn/1.0/model";
const MODEL_2 = "gs://kfserving-examples/models/sklearn/1.0/model-2";

function iris(storageUri: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        "sklearn-iris": {
            environment: "kserve",
            strategy: "kserve-canary",
            namespace: NS,
            readiness: { timeoutSeconds: 60 },
            versions: [
                {
                    modelFormat: "sklearn",
                    runtime: "kserve-sklearnserver",
                    args: ["--enable_docs_url=True"],
                    storageUri,
                },
            ],
            ...extra,
        },
    };
}

interface Isvc {
    metadata: { annotations: Record<string, string>; generation: number };
    spec: { predictor: { canaryTrafficPercent?: number; model: { storageUri: string } } };
}

describe("e2e: seeds 003/004 KServe canaryTrafficPercent (real engine)", function () {
    this.timeout(40 * 60 * 1000);
    let cluster: LocalCluster;
    let stack: ReleaseStack;
    const isvc = async () => {
        const live = await cluster.get<Isvc>(
            `/apis/serving.kserve.io/v1beta1/namespaces/${NS}/inferenceservices/sklearn-iris`,
        );
        assert.ok(live, "InferenceService sklearn-iris exists");
        return live;
    };

    before(async function () {
        ({ cluster, stack } = await fixture(NS));
    });
    after(async function () {
        await stack?.cleanup().catch(() => undefined);
    });

    it("deploys the first model", async () => {
        await applyStep(stack, iris(MODEL_1), { create: 3 });
        assert.equal((await isvc()).spec.predictor.canaryTrafficPercent, undefined);
    });

    it("rolls out model-2 as a 10% canary: same object, updated in place", async () => {
        await applyStep(stack, iris(MODEL_2, { canaryTrafficPercent: 10 }), { update: 1 });
        const live = await isvc();
        assert.equal(live.spec.predictor.canaryTrafficPercent, 10);
        assert.equal(live.spec.predictor.model.storageUri, MODEL_2);
    });

    it("promotes by removing canaryTrafficPercent", async () => {
        await applyStep(stack, iris(MODEL_2), { update: 1 });
        assert.equal((await isvc()).spec.predictor.canaryTrafficPercent, undefined);
    });

    it("pins the previous model with canaryTrafficPercent 0", async () => {
        await applyStep(stack, iris(MODEL_2, { canaryTrafficPercent: 0 }), { update: 1 });
        assert.equal((await isvc()).spec.predictor.canaryTrafficPercent, 0);
    });

    it("enables tag routing with a 10% canary", async () => {
        await applyStep(stack, iris(MODEL_2, { canaryTrafficPercent: 10, tagRouting: true }), { update: 1 });
        const live = await isvc();
        assert.equal(live.metadata.annotations["serving.kserve.io/enable-tag-routing"], "true");
        assert.equal(live.spec.predictor.canaryTrafficPercent, 10);
    });

    it("destroys: nothing is left", async () => {
        await stack.destroy();
        await assertEmpty(cluster, NS);
    });
});
