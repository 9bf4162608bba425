// Seed 001 (Deployment blue-green, httpbin) on the real engine.
import * as assert from "node:assert/strict";

import { LocalCluster } from "../../e2e/cluster";
import { ReleaseStack } from "../../automation/stack";
import { applyStep, assertEmpty, defaultRouteWeights, fixture, names } from "./helpers";

const NS = "seed001";

function httpbin(versions: Record<string, unknown>[]): Record<string, unknown> {
    return {
        httpbin: {
            environment: "deployment",
            strategy: "blue-green",
            namespace: NS,
            // No kubelet here: Deployments are gated on their Available condition (set by the stub).
            readiness: { deployment: "available", timeoutSeconds: 60 },
            versions,
        },
    };
}
const v = (label: string, extra: Record<string, unknown> = {}) => ({
    image: "kennethreitz/httpbin",
    labels: { "app.kubernetes.io/version": label },
    ...extra,
});

describe("e2e: seed 001 blue-green with Deployments (real engine)", function () {
    this.timeout(40 * 60 * 1000);
    let cluster: LocalCluster;
    let stack: ReleaseStack;
    const deployment = (name: string) =>
        cluster.get<{
            metadata: { labels: Record<string, string> };
            spec: { selector: { matchLabels: Record<string, string> } };
        }>(`/apis/apps/v1/namespaces/${NS}/deployments/${name}`);

    before(async function () {
        ({ cluster, stack } = await fixture(NS));
    });
    after(async function () {
        await stack?.cleanup().catch(() => undefined);
    });

    it("initializes the primary httpbin-0 (Deployment + Service) behind the app VirtualService", async () => {
        await applyStep(stack, httpbin([v("v0")]), { create: 7 });
        assert.deepEqual((await deployment("httpbin-0"))?.spec.selector.matchLabels, { app: "httpbin-0" });
        assert.deepEqual(await names(cluster, `/api/v1/namespaces/${NS}/services`), ["httpbin", "httpbin-0"]);
        assert.deepEqual(await defaultRouteWeights(cluster, NS, "httpbin"), [["httpbin-0", 100]]);
    });

    it("deploys the candidate httpbin-1: 50/50", async () => {
        await applyStep(stack, httpbin([v("v0"), v("v1")]), { create: 3, update: 2 });
        assert.deepEqual(await defaultRouteWeights(cluster, NS, "httpbin"), [
            ["httpbin-0", 50],
            ["httpbin-1", 50],
        ]);
    });

    it("modifies weights to 20/80", async () => {
        await applyStep(stack, httpbin([v("v0", { weight: 20 }), v("v1", { weight: 80 })]), { update: 3 });
        assert.deepEqual(await defaultRouteWeights(cluster, NS, "httpbin"), [
            ["httpbin-0", 20],
            ["httpbin-1", 80],
        ]);
    });

    it("promotes: redefines httpbin-0 in place, deletes httpbin-1", async () => {
        await applyStep(stack, httpbin([v("v1")]), { update: 4, delete: 3 });
        assert.equal((await deployment("httpbin-0"))?.metadata.labels["app.kubernetes.io/version"], "v1");
        assert.deepEqual(await names(cluster, `/apis/apps/v1/namespaces/${NS}/deployments`), ["httpbin-0"]);
        assert.deepEqual(await defaultRouteWeights(cluster, NS, "httpbin"), [["httpbin-0", 100]]);
    });

    it("destroys: nothing is left", async () => {
        await stack.destroy();
        // Endpoints written by the stub are not the release's; remove them before checking.
        for (const name of await names(cluster, `/api/v1/namespaces/${NS}/endpoints`)) {
            await cluster.request("DELETE", `/api/v1/namespaces/${NS}/endpoints/${name}`);
        }
        await assertEmpty(cluster, NS);
    });
});
