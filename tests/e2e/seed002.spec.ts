// Seed 002 (ModelMesh canary by header) on the real engine.
import * as assert from "node:assert/strict";

import { LocalCluster, modelMeshService } from "../../e2e/cluster";
import { ReleaseStack } from "../../automation/stack";
import { applyStep, assertEmpty, fixture, names } from "./helpers";

const NS = "modelmesh-serving";
const MODEL = "s3://modelmesh-example-models/sklearn/mnist-svm.joblib";

function wisdom(strategy: string, versions: Record<string, unknown>[]): Record<string, unknown> {
    return {
        wisdom: {
            environment: "kserve-modelmesh",
            strategy,
            namespace: NS,
            labels: { "app.kubernetes.io/name": "wisdom" },
            annotations: { "serving.kserve.io/secretKey": "localMinIO" },
            modelFormat: "sklearn",
            readiness: { timeoutSeconds: 60 },
            versions,
        },
    };
}
const v = (label: string) => ({ storageUri: MODEL, labels: { "app.kubernetes.io/version": label } });

interface Route {
    name: string;
    match?: { headers?: Record<string, { exact: string }> }[];
    route: {
        destination: { host: string; port: { number: number } };
        headers: { request: { set: Record<string, string> } };
    }[];
}

describe("e2e: seed 002 ModelMesh canary by header (real engine)", function () {
    this.timeout(40 * 60 * 1000);
    let cluster: LocalCluster;
    let stack: ReleaseStack;
    const routes = async () =>
        (
            await cluster.get<{ spec: { http: Route[] } }>(
                `/apis/networking.istio.io/v1/namespaces/${NS}/virtualservices/wisdom`,
            )
        )?.spec.http ?? [];

    before(async function () {
        ({ cluster, stack } = await fixture(NS));
        // What ModelMesh's install provides in its namespace, and the routing targets.
        await cluster.apply(modelMeshService(NS));
    });
    after(async function () {
        await stack?.cleanup().catch(() => undefined);
    });

    it("deploys the primary: ModelMesh InferenceService, ServiceEntry, all traffic by mm-vmodel-id", async () => {
        await applyStep(stack, wisdom("none", [v("v1")]), { create: 5 });
        const isvc = await cluster.get<{ metadata: { annotations: Record<string, string> } }>(
            `/apis/serving.kserve.io/v1beta1/namespaces/${NS}/inferenceservices/wisdom-0`,
        );
        assert.equal(isvc?.metadata.annotations["serving.kserve.io/deploymentMode"], "ModelMesh");
        assert.equal(isvc?.metadata.annotations["serving.kserve.io/secretKey"], "localMinIO");
        assert.deepEqual(await names(cluster, `/apis/networking.istio.io/v1/namespaces/${NS}/serviceentries`), [
            "wisdom",
        ]);
        const [route] = await routes();
        assert.deepEqual(route.route[0].destination, {
            host: `modelmesh-serving.${NS}.svc.cluster.local`,
            port: { number: 8033 },
        });
        assert.equal(route.route[0].headers.request.set["mm-vmodel-id"], "wisdom-0");
    });

    it("adds the candidate: requests with traffic: test go to wisdom-1", async () => {
        await applyStep(stack, wisdom("canary", [v("v1"), v("v2")]), { create: 1, update: 1 });
        const [canary, primary] = await routes();
        assert.deepEqual(canary.match, [{ headers: { traffic: { exact: "test" } } }]);
        assert.equal(canary.route[0].headers.request.set["mm-vmodel-id"], "wisdom-1");
        assert.equal(primary.match, undefined);
        assert.equal(primary.route[0].headers.request.set["mm-vmodel-id"], "wisdom-0");
    });

    it("promotes: wisdom-0 becomes v2 in place, wisdom-1 is deleted", async () => {
        await applyStep(stack, wisdom("none", [v("v2")]), { update: 2, delete: 1 });
        assert.deepEqual(await names(cluster, `/apis/serving.kserve.io/v1beta1/namespaces/${NS}/inferenceservices`), [
            "wisdom-0",
        ]);
        assert.deepEqual(
            (await routes()).map((r) => r.name),
            ["wisdom-0"],
        );
    });

    it("destroys: nothing is left", async () => {
        await stack.destroy();
        await cluster.remove(modelMeshService(NS));
        await assertEmpty(cluster, NS);
    });
});
