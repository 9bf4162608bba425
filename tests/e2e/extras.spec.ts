// Run once each on the real engine: KServe Standard (raw) blue-green with promotion, a mirror
// percentage change, and two releases side by side in one stack and namespace.
import * as assert from "node:assert/strict";

import { POLICY_PACK } from "../../e2e/engine";
import { LocalCluster, ingressGateway } from "../../e2e/cluster";
import { ReleaseStack } from "../../automation/stack";
import { applyStep, assertEmpty, defaultRouteWeights, fixture, names } from "./helpers";

const NS = "extras";
const MODEL = "gs://seldon-models/sklearn/mms/lr_model";

const v = (label: string, extra: Record<string, unknown> = {}) => ({
    storageUri: MODEL,
    labels: { "app.kubernetes.io/version": label },
    ...extra,
});
const kserve = (name: string, environment: string, versions: Record<string, unknown>[]) => ({
    environment,
    strategy: "blue-green",
    namespace: NS,
    modelFormat: "sklearn",
    readiness: { timeoutSeconds: 60 },
    name,
    versions,
});

describe("e2e: raw mode, mirror, two releases (real engine)", function () {
    this.timeout(40 * 60 * 1000);
    let cluster: LocalCluster;
    let stack: ReleaseStack;
    const isvcs = () => names(cluster, `/apis/serving.kserve.io/v1beta1/namespaces/${NS}/inferenceservices`);

    before(async function () {
        ({ cluster, stack } = await fixture(NS));
    });
    after(async function () {
        await stack?.cleanup().catch(() => undefined);
    });

    it("kserve-raw blue-green without Knative: one hop to the predictor; a split refused until routing.splitGateway is set; then promotion in place", async () => {
        const entry = async () =>
            (await cluster.get<{ spec: { externalName: string } }>(`/api/v1/namespaces/${NS}/services/raw`))?.spec
                .externalName;
        const gatewaysOfVs = async () =>
            (
                await cluster.get<{ spec: { gateways: string[] } }>(
                    `/apis/networking.istio.io/v1/namespaces/${NS}/virtualservices/raw`,
                )
            )?.spec.gateways;
        await applyStep(stack, { raw: kserve("raw", "kserve-raw", [v("v0")]) }, { create: 6 });
        // Standard mode has no knative-local-gateway: the app host resolves to the primary's predictor.
        assert.equal(await entry(), `raw-0-predictor.${NS}.svc.cluster.local`);
        assert.deepEqual(await gatewaysOfVs(), ["mesh"]);
        const split = [v("v0", { weight: 90 }), v("v1", { weight: 10 })];
        await stack.setReleases({ raw: kserve("raw", "kserve-raw", split) });
        await assert.rejects(
            () => stack.preview({ policyPacks: [POLICY_PACK] }),
            /releases\.raw\.routing\.splitGateway[\s\S]*knative-local-gateway/,
        );
        assert.deepEqual(await defaultRouteWeights(cluster, NS, "raw"), [["raw-0", 100]], "nothing applied");
        const routing = {
            splitGateway: {
                gateway: "istio-system/model-split",
                service: "model-split.istio-system.svc.cluster.local",
            },
        };
        // The platform team's split gateway: the release refers to it, it does not create it.
        for (const object of ingressGateway("istio-system", "model-split")) await cluster.apply(object);
        const withGateway = (versions: Record<string, unknown>[]) => ({
            ...kserve("raw", "kserve-raw", versions),
            routing,
        });
        // Created: raw-1 and its ConfigMap; updated: the VirtualService, raw-0's ConfigMap and the
        // entry, which now points at the split gateway.
        await applyStep(stack, { raw: withGateway(split) }, { create: 2, update: 3 });
        assert.equal(await entry(), routing.splitGateway.service);
        assert.deepEqual(await gatewaysOfVs(), ["mesh", "istio-system/model-split"]);
        assert.deepEqual(await defaultRouteWeights(cluster, NS, "raw"), [
            ["raw-0", 90],
            ["raw-1", 10],
        ]);
        const mode = (
            await cluster.get<{ metadata: { annotations: Record<string, string> } }>(
                `/apis/serving.kserve.io/v1beta1/namespaces/${NS}/inferenceservices/raw-1`,
            )
        )?.metadata.annotations["serving.kserve.io/deploymentMode"];
        assert.equal(mode, "Standard");
        await applyStep(stack, { raw: withGateway([v("v1")]) }, { update: 3, delete: 2 });
        assert.deepEqual(await isvcs(), ["raw-0"]);
        assert.deepEqual(await defaultRouteWeights(cluster, NS, "raw"), [["raw-0", 100]]);
        // One version, but the entry still points at the split gateway: the route stays bound there.
        assert.equal(await entry(), routing.splitGateway.service);
        assert.deepEqual(await gatewaysOfVs(), ["mesh", "istio-system/model-split"]);
        await applyStep(stack, {}, { delete: 5 });
    });

    it("mirror: the mirrored percentage changes from 100 to 20", async () => {
        const mirror = (percent?: number) => ({
            environment: "deployment",
            strategy: "mirror",
            namespace: NS,
            readiness: { deployment: "available", timeoutSeconds: 60 },
            versions: [
                { image: "kennethreitz/httpbin" },
                { image: "kennethreitz/httpbin", ...(percent === undefined ? {} : { mirrorPercent: percent }) },
            ],
        });
        await applyStep(stack, { httpbin: mirror() }, { create: 9 });
        const mirrored = async () =>
            (
                await cluster.get<{
                    spec: { http: { mirror: { host: string }; mirrorPercentage: { value: number } }[] };
                }>(`/apis/networking.istio.io/v1/namespaces/${NS}/virtualservices/httpbin`)
            )?.spec.http[0];
        assert.deepEqual((await mirrored())?.mirror.host, `httpbin-1.${NS}.svc.cluster.local`);
        assert.equal((await mirrored())?.mirrorPercentage.value, 100);
        await applyStep(stack, { httpbin: mirror(20) }, { update: 2 });
        assert.equal((await mirrored())?.mirrorPercentage.value, 20);
        await applyStep(stack, {}, { delete: 9 });
    });

    it("two releases in one stack and namespace: no conflicts, each promoted independently", async () => {
        const both = (wisdom: Record<string, unknown>[], iris: Record<string, unknown>[]) => ({
            wisdom: kserve("wisdom", "kserve", wisdom),
            iris: kserve("iris", "kserve", iris),
        });
        await applyStep(stack, both([v("v0"), v("v1")], [v("v0"), v("v1")]), { create: 14 });
        assert.deepEqual(await names(cluster, `/apis/networking.istio.io/v1/namespaces/${NS}/virtualservices`), [
            "iris",
            "wisdom",
        ]);
        await applyStep(stack, both([v("v1")], [v("v0"), v("v1")]), { update: 3, delete: 2 });
        assert.deepEqual(await isvcs(), ["iris-0", "iris-1", "wisdom-0"]);
        assert.deepEqual(await defaultRouteWeights(cluster, NS, "iris"), [
            ["iris-0", 50],
            ["iris-1", 50],
        ]);
        await applyStep(stack, both([v("v1")], [v("v1")]), { update: 3, delete: 2 });
        assert.deepEqual(await isvcs(), ["iris-0", "wisdom-0"]);
    });

    it("destroys: nothing is left", async () => {
        await stack.destroy();
        await assertEmpty(cluster, NS);
    });
});
