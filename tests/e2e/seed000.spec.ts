// Seed 000 (KServe blue-green) on the real engine against a real kube-apiserver carrying the real
// KServe and Istio CRDs: every step is previewed, applied, checked live and previewed again.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { LocalCluster } from "../../e2e/cluster";
import { ReleaseStack } from "../../automation/stack";
import { POLICY_PACK, applyStep, assertEmpty, fixture } from "./helpers";

const NS = "seed000";
const MODEL = "gs://seldon-models/sklearn/mms/lr_model";

function wisdom(versions: Record<string, unknown>[]): Record<string, unknown> {
    return {
        wisdom: {
            environment: "kserve",
            strategy: "blue-green",
            namespace: NS,
            labels: { "app.kubernetes.io/name": "wisdom" },
            modelFormat: "sklearn",
            runtime: "kserve-mlserver",
            readiness: { timeoutSeconds: 60 },
            versions,
        },
    };
}

function version(label: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { labels: { "app.kubernetes.io/version": label }, storageUri: MODEL, ...extra };
}

interface Isvc {
    metadata: { labels: Record<string, string>; annotations: Record<string, string> };
    spec: { predictor: { model: { storageUri: string } } };
}
interface VirtualService {
    spec: {
        hosts: string[];
        gateways: string[];
        http: { name: string; route: { weight: number; headers?: { request?: { set?: Record<string, string> } } }[] }[];
    };
}

describe("e2e: seed 000 blue-green on KServe (real engine)", function () {
    // The first run builds the engine from Go modules (minutes); later runs reuse the cache.
    this.timeout(40 * 60 * 1000);
    let cluster: LocalCluster;
    let stack: ReleaseStack;

    const isvc = (name: string) =>
        cluster.get<Isvc>(`/apis/serving.kserve.io/v1beta1/namespaces/${NS}/inferenceservices/${name}`);
    const vs = () =>
        cluster.get<VirtualService>(`/apis/networking.istio.io/v1/namespaces/${NS}/virtualservices/wisdom`);
    const weightConfig = (version: string) =>
        cluster.get<{ metadata: { annotations: Record<string, string> } }>(
            `/api/v1/namespaces/${NS}/configmaps/${version}-weight-config`,
        );
    const percentOf = async (version: string) =>
        (await weightConfig(version))?.metadata.annotations["model-release.dev/percent"];
    const splitWeights = async () => {
        const spec = (await vs())?.spec;
        assert.ok(spec, "VirtualService wisdom exists");
        const split = spec.http.find((r) => r.name === "split");
        return split
            ? split.route.map((d) => [d.headers?.request?.set?.["x-model-release-version"], d.weight])
            : undefined;
    };

    before(async function () {
        ({ cluster, stack } = await fixture(NS));
    });

    after(async function () {
        await stack?.cleanup().catch(() => undefined);
    });

    it("deploys v0: InferenceService Ready, 100% to wisdom-0", async () => {
        await applyStep(stack, wisdom([version("v0")]), { create: 6 });
        const v0 = await isvc("wisdom-0");
        assert.ok(v0);
        assert.equal(v0.metadata.labels["app.kubernetes.io/version"], "v0");
        assert.equal(v0.metadata.annotations["serving.kserve.io/deploymentMode"], "Knative");
        assert.equal(v0.metadata.annotations["pulumi.com/waitFor"], "condition=Ready");
        const spec = (await vs())?.spec;
        assert.deepEqual(spec?.hosts, [`wisdom.${NS}`, `wisdom.${NS}.svc`, `wisdom.${NS}.svc.cluster.local`]);
        assert.deepEqual(
            spec?.http.map((r) => r.name),
            ["wisdom-0-model", "wisdom-0"],
        );
        assert.equal(await percentOf("wisdom-0"), "100");
        const entry = await cluster.get<{ spec: { type: string; externalName: string } }>(
            `/api/v1/namespaces/${NS}/services/wisdom`,
        );
        assert.deepEqual(
            [entry?.spec.type, entry?.spec.externalName],
            ["ExternalName", "knative-local-gateway.istio-system.svc.cluster.local"],
        );
    });

    it("adds a candidate: 50/50 once wisdom-1 is Ready", async () => {
        await applyStep(stack, wisdom([version("v0"), version("v1")]), { create: 2, update: 2 });
        assert.ok(await isvc("wisdom-1"));
        assert.deepEqual(await splitWeights(), [
            ["wisdom-0", 50],
            ["wisdom-1", 50],
        ]);
        assert.equal(await percentOf("wisdom-1"), "50");
    });

    it("the policy pack refuses 70% for the candidate under a 50% guard rail; routing and weights are unchanged", async () => {
        const configFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "policy-config-")), "config.json");
        fs.writeFileSync(configFile, JSON.stringify({ "max-candidate-percent": { maxPercent: 50 } }));
        await stack.setReleases(wisdom([version("v0", { weight: 30 }), version("v1", { weight: 70 })]));
        const refused = (error: Error) =>
            /max-candidate-percent/.test(error.message) && /above the maximum of 50%/.test(error.message);
        await assert.rejects(stack.preview({ policyPacks: [POLICY_PACK], policyPackConfigs: [configFile] }), refused);
        // Also without a preview: resource rules run before each resource is sent to the cluster.
        await assert.rejects(stack.up({ policyPacks: [POLICY_PACK], policyPackConfigs: [configFile] }), refused);
        assert.deepEqual(await splitWeights(), [
            ["wisdom-0", 50],
            ["wisdom-1", 50],
        ]);
        assert.deepEqual([await percentOf("wisdom-0"), await percentOf("wisdom-1")], ["50", "50"]);
    });

    it("the engine rejects a bad policy config value, naming it", async () => {
        const configFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "policy-config-")), "config.json");
        fs.writeFileSync(configFile, JSON.stringify({ "max-candidate-percent": { maxPercent: 150 } }));
        await assert.rejects(
            stack.preview({ policyPacks: [POLICY_PACK], policyPackConfigs: [configFile] }),
            (error: Error) => {
                assert.match(error.message, /max-candidate-percent/);
                assert.match(error.message, /maxPercent/);
                return true;
            },
        );
    });

    it("modifies weights to 30/70", async () => {
        await applyStep(stack, wisdom([version("v0", { weight: 30 }), version("v1", { weight: 70 })]), { update: 3 });
        assert.deepEqual(await splitWeights(), [
            ["wisdom-0", 30],
            ["wisdom-1", 70],
        ]);
        assert.deepEqual([await percentOf("wisdom-0"), await percentOf("wisdom-1")], ["30", "70"]);
    });

    it("promotes: wisdom-0 updated in place to v1, wisdom-1 deleted, 100% to wisdom-0", async () => {
        await applyStep(stack, wisdom([version("v1")]), { update: 3, delete: 2 });
        assert.equal((await isvc("wisdom-0"))?.metadata.labels["app.kubernetes.io/version"], "v1");
        assert.equal(await isvc("wisdom-1"), undefined);
        assert.equal(await weightConfig("wisdom-1"), undefined);
        const spec = (await vs())?.spec;
        assert.deepEqual(
            spec?.http.map((r) => r.name),
            ["wisdom-0-model", "wisdom-0"],
        );
    });

    it("destroys: nothing is left in the namespace", async () => {
        await stack.destroy();
        await assertEmpty(cluster, NS);
    });
});
