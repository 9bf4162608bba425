// Seed 001 (Deployment blue-green, httpbin) on the real engine.
import * as assert from "node:assert/strict";

import { LocalCluster, NEVER_READY_IMAGE } from "../../e2e/cluster";
import { ReleaseStack } from "../../automation/stack";
import {
    POLICY_PACK,
    applyStep,
    assertConverged,
    assertEmpty,
    defaultRouteWeights,
    eventually,
    fixture,
    names,
} from "./helpers";

const NS = "seed001";

function httpbin(versions: Record<string, unknown>[], timeoutSeconds = 60): Record<string, unknown> {
    return {
        httpbin: {
            environment: "deployment",
            strategy: "blue-green",
            namespace: NS,
            // The provider's full rollout await: the real deployment controller's ReplicaSets, and
            // pods that kwok runs on its node.
            readiness: { timeoutSeconds },
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
        // Rolled out for real: the deployment controller's ReplicaSet, a pod kwok runs on its node
        // (an address from its CIDR), and the EndpointSlice controller's slice for the Service.
        const pods = await cluster.get<{ items: { status: { phase: string; podIP?: string } }[] }>(
            `/api/v1/namespaces/${NS}/pods?labelSelector=app%3Dhttpbin-0`,
        );
        assert.equal(pods?.items.length, 1);
        assert.equal(pods?.items[0].status.phase, "Running");
        assert.match(pods?.items[0].status.podIP ?? "", /^10\.0\.1\.\d+$/);
        // The provider waits for the Deployment and the Service's Endpoints; the slice is written
        // by another controller, on its own time.
        const slices = async () =>
            (
                await cluster.get<{
                    items: { endpoints?: { addresses: string[]; conditions: { ready: boolean } }[] }[];
                }>(
                    `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dhttpbin-0`,
                )
            )?.items.flatMap((s) => (s.endpoints ?? []).map((e) => [e.addresses[0], e.conditions.ready]));
        await eventually(slices, [[pods?.items[0].status.podIP, true]], "the EndpointSlice controller's slice");
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

    it("a candidate whose pods never start fails the update after its timeout; routing stays on the primary", async () => {
        // kwok leaves pods of NEVER_READY_IMAGE Pending, as a kubelet would an image it cannot pull.
        await stack.setReleases(
            httpbin([v("v1", { weight: 100 }), v("v2", { image: NEVER_READY_IMAGE, weight: 0 })], 10),
        );
        await assert.rejects(stack.up({ policyPacks: [POLICY_PACK] }), /httpbin-1/);
        const pods = await cluster.get<{
            items: { spec: { containers: { image: string }[] }; status: { phase: string } }[];
        }>(`/api/v1/namespaces/${NS}/pods`);
        const stuck = pods?.items.filter((p) => p.spec.containers[0].image === NEVER_READY_IMAGE) ?? [];
        assert.ok(stuck.length > 0 && stuck.every((p) => p.status.phase === "Pending"), "its pods stay Pending");
        assert.deepEqual(await defaultRouteWeights(cluster, NS, "httpbin"), [["httpbin-0", 100]]);
        // Dropping the candidate converges: its Deployment goes, and with it its ReplicaSet and pods.
        await stack.setReleases(httpbin([v("v1")]));
        assert.equal((await stack.up({ policyPacks: [POLICY_PACK] })).summary.result, "succeeded");
        await assertConverged(stack);
        assert.deepEqual(await names(cluster, `/apis/apps/v1/namespaces/${NS}/deployments`), ["httpbin-0"]);
    });

    it("destroys: nothing is left, ReplicaSets and pods collected by the real garbage collector", async () => {
        await stack.destroy();
        await assertEmpty(cluster, NS);
    });
});
