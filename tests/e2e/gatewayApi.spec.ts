// The Gateway API routing back-end (routing.backend: gateway-api) on the real engine, against the
// real HTTPRoute CRD (v1.6.1 standard channel: its schema and CEL rules check every object).
import * as assert from "node:assert/strict";

import { LocalCluster } from "../../e2e/cluster";
import { ReleaseStack } from "../../automation/stack";
import { applyStep, fixture, names } from "./helpers";

const NS = "gatewayapi";
const MODEL = "gs://seldon-models/sklearn/mms/lr_model";

interface LiveRoute {
    spec: {
        parentRefs: { kind: string; name: string }[];
        rules: {
            matches: { path?: { type: string; value: string }; headers?: { name: string; value: string }[] }[];
            filters?: { type: string; urlRewrite?: unknown }[];
            backendRefs: { name: string; weight: number }[];
        }[];
    };
}

describe("e2e: Gateway API back-end, seed 001 and a Standard-mode canary (real engine)", function () {
    this.timeout(40 * 60 * 1000);
    let cluster: LocalCluster;
    let stack: ReleaseStack;
    const route = (name: string) =>
        cluster.get<LiveRoute>(`/apis/gateway.networking.k8s.io/v1/namespaces/${NS}/httproutes/${name}`);
    /** [backend, weight] of the rule that matches every request. */
    const defaultRule = async (name: string) => {
        const live = await route(name);
        const rule = live?.spec.rules.find((r) =>
            r.matches.every((m) => m.headers === undefined && m.path?.type === "PathPrefix" && m.path.value === "/"),
        );
        return rule?.backendRefs.map((b) => [b.name, b.weight]);
    };

    before(async function () {
        ({ cluster, stack } = await fixture(NS));
    });
    after(async function () {
        await stack?.cleanup().catch(() => undefined);
    });

    it("seed 001 as config edits: primary, candidate 50/50, 20/80, promotion; no VirtualService, no replace", async () => {
        const httpbin = (versions: Record<string, unknown>[]) => ({
            httpbin: {
                environment: "deployment",
                strategy: "blue-green",
                namespace: NS,
                routing: { backend: "gateway-api" },
                readiness: { deployment: "available", timeoutSeconds: 60 },
                versions,
            },
        });
        const v = (label: string, extra: Record<string, unknown> = {}) => ({
            image: "kennethreitz/httpbin",
            labels: { "app.kubernetes.io/version": label },
            ...extra,
        });
        await applyStep(stack, httpbin([v("v0")]), { create: 7 });
        assert.deepEqual(await defaultRule("httpbin"), [["httpbin-0", 100]]);
        assert.deepEqual(
            (await route("httpbin"))?.spec.parentRefs.map((p) => [p.kind, p.name]),
            [["Service", "httpbin"]],
        );
        const entry = await cluster.get<{ spec: { type: string; selector?: unknown } }>(
            `/api/v1/namespaces/${NS}/services/httpbin`,
        );
        assert.equal(entry?.spec.type, "ClusterIP");
        assert.equal(entry?.spec.selector, undefined);
        assert.deepEqual(await names(cluster, `/apis/networking.istio.io/v1/namespaces/${NS}/virtualservices`), []);

        await applyStep(stack, httpbin([v("v0"), v("v1")]), { create: 3, update: 2 });
        assert.deepEqual(await defaultRule("httpbin"), [
            ["httpbin-0", 50],
            ["httpbin-1", 50],
        ]);
        await applyStep(stack, httpbin([v("v0", { weight: 20 }), v("v1", { weight: 80 })]), { update: 3 });
        assert.deepEqual(await defaultRule("httpbin"), [
            ["httpbin-0", 20],
            ["httpbin-1", 80],
        ]);
        await applyStep(stack, httpbin([v("v1")]), { update: 4, delete: 3 });
        assert.deepEqual(await defaultRule("httpbin"), [["httpbin-0", 100]]);
        assert.deepEqual(await names(cluster, `/apis/apps/v1/namespaces/${NS}/deployments`), ["httpbin-0"]);
        await applyStep(stack, {}, { delete: 6 });
    });

    it("migrates a live release from istio to gateway-api and back: previewed, entry updated, no replace", async () => {
        const web = (backend: string) => ({
            web: {
                environment: "deployment",
                strategy: "blue-green",
                namespace: NS,
                routing: { backend },
                readiness: { deployment: "available", timeoutSeconds: 60 },
                versions: [
                    { image: "kennethreitz/httpbin", weight: 80 },
                    { image: "kennethreitz/httpbin", weight: 20 },
                ],
            },
        });
        const vsList = `/apis/networking.istio.io/v1/namespaces/${NS}/virtualservices`;
        const routeList = `/apis/gateway.networking.k8s.io/v1/namespaces/${NS}/httproutes`;
        const entry = () =>
            cluster.get<{ spec: { type: string; externalName?: string } }>(`/api/v1/namespaces/${NS}/services/web`);
        await applyStep(stack, web("istio"), { create: 9 });
        assert.equal((await entry())?.spec.type, "ExternalName");
        // The entry Service changes type in place and the HTTPRoute is created before the
        // VirtualService is deleted (Pulumi deletes last): one of them routes the host throughout.
        const preview = await applyStep(stack, web("gateway-api"), { create: 1, update: 1, delete: 1 });
        assert.match(preview.stdout, /\+ +kubernetes:gateway\.networking\.k8s\.io\/v1:HTTPRoute/);
        assert.match(preview.stdout, /- +kubernetes:networking\.istio\.io\/v1:VirtualService/);
        assert.equal((await entry())?.spec.type, "ClusterIP");
        assert.equal((await entry())?.spec.externalName, undefined);
        assert.deepEqual(await names(cluster, vsList), []);
        assert.deepEqual(await defaultRule("web"), [
            ["web-0", 80],
            ["web-1", 20],
        ]);
        await applyStep(stack, web("istio"), { create: 1, update: 1, delete: 1 });
        assert.equal((await entry())?.spec.type, "ExternalName");
        assert.deepEqual(await names(cluster, routeList), []);
        await applyStep(stack, {}, { delete: 9 });
    });

    it("KServe Standard mode: a header canary with per-rule model path rewrites, then promotion in place", async () => {
        const scorer = (versions: Record<string, unknown>[], strategy = "canary") => ({
            scorer: {
                environment: "kserve-raw",
                strategy,
                namespace: NS,
                modelFormat: "sklearn",
                routing: { backend: "gateway-api" },
                readiness: { timeoutSeconds: 60 },
                versions,
            },
        });
        const v = (label: string, extra: Record<string, unknown> = {}) => ({
            storageUri: MODEL,
            labels: { "app.kubernetes.io/version": label },
            ...extra,
        });
        await applyStep(stack, scorer([v("v0")], "none"), { create: 4 });
        await applyStep(stack, scorer([v("v0"), v("v1", { match: [{ headers: { traffic: { exact: "test" } } }] })]), {
            create: 1,
            update: 1,
        });
        const live = await route("scorer");
        assert.equal(live?.spec.rules.length, 10);
        const canaryRules = live?.spec.rules.filter((r) => r.matches.some((m) => m.headers !== undefined)) ?? [];
        assert.equal(canaryRules.length, 5);
        assert.ok(canaryRules.every((r) => r.backendRefs[0].name === "scorer-1-predictor"));
        assert.deepEqual(await defaultRule("scorer"), [["scorer-0-predictor", 100]]);
        // Promotion: scorer-0 takes v1's model in place, scorer-1 goes.
        await applyStep(stack, scorer([v("v1")], "none"), { update: 2, delete: 1 });
        assert.equal((await route("scorer"))?.spec.rules.length, 5);
        assert.deepEqual(await names(cluster, `/apis/serving.kserve.io/v1beta1/namespaces/${NS}/inferenceservices`), [
            "scorer-0",
        ]);
    });
});
