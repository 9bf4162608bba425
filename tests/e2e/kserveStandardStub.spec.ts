// The controller stub's KServe v0.20 Standard mode against the real API server and the real
// InferenceService CRD, without the engine: InferenceServices written directly, as a user would
// with kubectl, and what the stub makes of them (see e2e/controllerStub.ts), with the real
// controllers rolling out its Deployments on kwok's node.
import * as assert from "node:assert/strict";

import { LocalCluster, NEVER_READY_IMAGE } from "../../e2e/cluster";
import { ControllerStub } from "../../e2e/controllerStub";
import { environment } from "../../e2e/environment";

const NS = "kserve-stub";
const ISVCS = `/apis/serving.kserve.io/v1beta1/namespaces/${NS}/inferenceservices`;
const DEPLOYMENTS = `/apis/apps/v1/namespaces/${NS}/deployments`;
const SERVICES = `/api/v1/namespaces/${NS}/services`;
const ENDPOINTS = `/api/v1/namespaces/${NS}/endpoints`;
const V1 = "gs://seldon-models/sklearn/mms/lr_model";
const V2 = "gs://seldon-models/sklearn/iris";

interface Meta {
    name: string;
    uid: string;
    generation: number;
    resourceVersion: string;
    labels?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
}
interface Condition {
    type: string;
    status: string;
    reason?: string;
}
interface LiveIsvc {
    metadata: Meta;
    spec?: {
        predictor?: { name?: string };
        canary?: { predictor: { name: string }; trafficPercent: number }[];
    };
    status?: {
        deploymentMode?: string;
        address?: { url?: string };
        observedGeneration?: number;
        conditions?: Condition[];
        canaryStatuses?: { name: string; ready: boolean; trafficPercent: number }[];
    };
}
interface LiveDeployment {
    metadata: Meta;
    spec: { replicas: number; selector: { matchLabels: Record<string, string> } };
    status?: { availableReplicas?: number };
}
interface LiveService {
    metadata: Meta;
    spec: { type: string; selector: Record<string, string>; ports: { port: number; targetPort: number }[] };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const model = (storageUri: string) => ({ modelFormat: { name: "sklearn" }, storageUri });
/**
 * The v0.20.0 CRD requires `name` on a canary's model (a container: KServe merges it into the
 * runtime's `kserve-container`); the Makefile strips that rule for spec.predictor only.
 */
const canaryModel = (storageUri: string) => ({ name: "kserve-container", ...model(storageUri) });

describe("e2e: the controller stub's KServe v0.20 Standard mode (real API server, no engine)", function () {
    this.timeout(5 * 60 * 1000);
    let cluster: LocalCluster;
    let stub: ControllerStub;

    const isvc = (name: string) => cluster.get<LiveIsvc>(`${ISVCS}/${name}`);
    const deployment = (name: string) => cluster.get<LiveDeployment>(`${DEPLOYMENTS}/${name}`);
    const service = (name: string) => cluster.get<LiveService>(`${SERVICES}/${name}`);
    const condition = (o: LiveIsvc | undefined, type: string) => o?.status?.conditions?.find((c) => c.type === type);
    /**
     * Whether the status describes the current spec. In Standard mode KServe's observedGeneration
     * is the stable Deployment's (kserve#6081), so the status is matched to the spec instead: its
     * canaries and their percents, and the stable predictor it addresses.
     */
    const describesSpec = (o: LiveIsvc): boolean => {
        if (o.status?.deploymentMode !== "Standard") return o.status?.observedGeneration === o.metadata.generation;
        const canaries = o.spec?.canary ?? [];
        const statuses = o.status.canaryStatuses ?? [];
        const stable = o.spec?.predictor?.name
            ? `${o.metadata.name}-${o.spec.predictor.name}-predictor`
            : `${o.metadata.name}-predictor`;
        const address = o.status.address?.url;
        return (
            canaries.length === statuses.length &&
            canaries.every(
                (c, i) => c.predictor.name === statuses[i].name && c.trafficPercent === statuses[i].trafficPercent,
            ) &&
            (address === undefined || address.includes(`//${stable}.`))
        );
    };
    /** The InferenceService once its status describes its current spec and `done` holds. */
    const settled = async (name: string, done: (o: LiveIsvc) => boolean): Promise<LiveIsvc> => {
        const deadline = Date.now() + 30_000;
        for (;;) {
            const o = await isvc(name);
            if (o && describesSpec(o) && done(o)) return o;
            assert.ok(Date.now() < deadline, `${name} did not settle: ${JSON.stringify(o?.status)}`);
            await sleep(100);
        }
    };
    const present = async (path: string): Promise<void> => {
        const deadline = Date.now() + 30_000;
        while (!(await cluster.get(path))) {
            assert.ok(Date.now() < deadline, `${path} did not appear`);
            await sleep(100);
        }
    };
    const gone = async (path: string): Promise<void> => {
        const deadline = Date.now() + 30_000;
        while (await cluster.get(path)) {
            assert.ok(Date.now() < deadline, `${path} is still there`);
            await sleep(100);
        }
    };
    const create = async (
        name: string,
        spec: Record<string, unknown>,
        annotations: Record<string, string> = {},
    ): Promise<void> => {
        const res = await cluster.request("POST", ISVCS, {
            apiVersion: "serving.kserve.io/v1beta1",
            kind: "InferenceService",
            metadata: { name, annotations: { "serving.kserve.io/deploymentMode": "Standard", ...annotations } },
            spec,
        });
        assert.equal(res.status, 201, JSON.stringify(res.body));
    };
    const patch = async (name: string, spec: Record<string, unknown>): Promise<void> => {
        const res = await cluster.request("PATCH", `${ISVCS}/${name}`, { spec }, "application/merge-patch+json");
        assert.equal(res.status, 200, JSON.stringify(res.body));
    };
    const isReady = (o: LiveIsvc) => condition(o, "Ready")?.status === "True";

    before(async function () {
        ({ cluster, stub } = await environment());
        await cluster.createNamespace(NS);
    });
    after(async function () {
        stub?.neverReady.clear();
        for (const name of ["wisdom", "zero", "hpa", "gate", "stuck", "knative"]) {
            await cluster?.request("DELETE", `${ISVCS}/${name}`).catch(() => undefined);
        }
    });

    it("creates the stable and canary predictors and reports the canary ready", async () => {
        await create("wisdom", {
            predictor: { name: "v1", model: model(V1) },
            canary: [{ predictor: { name: "v2", model: canaryModel(V2) }, trafficPercent: 10 }],
        });
        const live = await settled("wisdom", (o) => isReady(o) && o.status?.canaryStatuses?.[0]?.ready === true);
        assert.deepEqual(live.status?.canaryStatuses, [{ name: "v2", ready: true, trafficPercent: 10 }]);
        assert.equal(condition(live, "CanaryPredictorReady")?.status, "True");
        assert.equal(condition(live, "CanaryPredictorReady")?.reason, "AllCanariesReady");
        for (const name of ["wisdom-v1-predictor", "wisdom-v2-predictor"]) {
            const d = await deployment(name);
            const s = await service(name);
            assert.ok(d && s, `${name}: Deployment and Service`);
            for (const o of [d, s]) {
                assert.equal(o.metadata.labels?.["serving.kserve.io/inferenceservice"], "wisdom");
                assert.equal(o.metadata.labels?.component, "predictor");
                assert.equal(o.metadata.labels?.app, `isvc.${name}`);
                assert.deepEqual(
                    o.metadata.ownerReferences?.map((r) => [r.kind, r.name, r.uid, r.controller]),
                    [["InferenceService", "wisdom", live.metadata.uid, true]],
                );
            }
            assert.deepEqual(d.spec.selector.matchLabels, { app: `isvc.${name}` });
            assert.equal(d.spec.replicas, 1);
            assert.equal(d.status?.availableReplicas, 1);
            assert.equal(s.spec.type, "ClusterIP");
            assert.deepEqual(s.spec.selector, { app: `isvc.${name}` });
            assert.deepEqual(
                s.spec.ports.map((p) => [p.port, p.targetPort]),
                [[80, 8080]],
            );
            await present(`${ENDPOINTS}/${name}`); // from the real endpoints controller
        }
    });

    it("writes nothing while nothing changes", async () => {
        const versions = async () => [
            (await isvc("wisdom"))?.metadata.resourceVersion,
            ...(await Promise.all(
                ["wisdom-v1-predictor", "wisdom-v2-predictor"].flatMap((n) => [deployment(n), service(n)]),
            ).then((os) => os.map((o) => o?.metadata.resourceVersion))),
        ];
        const before = await versions();
        await sleep(1500);
        assert.deepEqual(await versions(), before);
    });

    it("promotion by renaming the stable predictor: the old one is deleted, the canary kept as is", async () => {
        const canary = await deployment("wisdom-v2-predictor");
        assert.ok(canary);
        await patch("wisdom", { predictor: { name: "v2", model: model(V2) }, canary: null });
        const live = await settled("wisdom", (o) => isReady(o) && condition(o, "CanaryPredictorReady") === undefined);
        assert.equal(live.status?.canaryStatuses, undefined);
        await gone(`${DEPLOYMENTS}/wisdom-v1-predictor`);
        await gone(`${SERVICES}/wisdom-v1-predictor`);
        await gone(`${ENDPOINTS}/wisdom-v1-predictor`);
        const stable = await deployment("wisdom-v2-predictor");
        assert.equal(stable?.metadata.uid, canary.metadata.uid, "the same Deployment");
        assert.equal(stable?.metadata.generation, canary.metadata.generation, "not rolled: no restart");
    });

    it("a canary at 0% with autoscaler class none has no replica and is not ready; Ready leaves it out", async () => {
        await create(
            "zero",
            {
                predictor: { name: "v1", model: model(V1) },
                canary: [{ predictor: { name: "v2", model: canaryModel(V2) }, trafficPercent: 0 }],
            },
            { "serving.kserve.io/autoscalerClass": "none" },
        );
        const live = await settled("zero", (o) => isReady(o) && o.status?.canaryStatuses !== undefined);
        assert.deepEqual(live.status?.canaryStatuses, [{ name: "v2", ready: false, trafficPercent: 0 }]);
        assert.equal(condition(live, "CanaryPredictorReady")?.status, "False");
        assert.equal(condition(live, "CanaryPredictorReady")?.reason, "CanariesNotReady");
        const d = await deployment("zero-v2-predictor");
        assert.equal(d?.spec.replicas, 0);
        assert.equal(d?.status?.availableReplicas ?? 0, 0, "Available, no replica (0 is omitted)");
        // Traffic to it: a replica, then ready.
        await patch("zero", {
            canary: [{ predictor: { name: "v2", model: canaryModel(V2) }, trafficPercent: 10 }],
        });
        // The real controllers scale it up and kwok starts the pod: ready shortly after.
        const moved = await settled(
            "zero",
            (o) => o.status?.canaryStatuses?.[0]?.trafficPercent === 10 && o.status.canaryStatuses[0].ready,
        );
        assert.deepEqual(moved.status?.canaryStatuses, [{ name: "v2", ready: true, trafficPercent: 10 }]);
        assert.equal((await deployment("zero-v2-predictor"))?.spec.replicas, 1);
    });

    it("under the default autoscaler (HPA, minReplicas at least 1), a canary at 0% keeps one ready replica", async () => {
        await create("hpa", {
            predictor: { name: "v1", model: model(V1) },
            canary: [{ predictor: { name: "v2", model: canaryModel(V2) }, trafficPercent: 0 }],
        });
        // The stable and the canary start apart: wait for the canary's own readiness, which a
        // stub that scaled a 0% canary to no replica would never reach.
        const live = await settled("hpa", (o) => isReady(o) && o.status?.canaryStatuses?.[0]?.ready === true);
        assert.deepEqual(live.status?.canaryStatuses, [{ name: "v2", ready: true, trafficPercent: 0 }]);
        assert.equal((await deployment("hpa-v2-predictor"))?.spec.replicas, 1);
    });

    it("canary statuses follow the canary Deployment's availability, without a new generation", async () => {
        // The canary's pods run an image kwok never starts: Pending, so the canary is not ready.
        await create("gate", {
            predictor: { name: "v1", model: model(V1) },
            canary: [
                {
                    predictor: { name: "v2", model: { ...canaryModel(V2), image: NEVER_READY_IMAGE } },
                    trafficPercent: 50,
                },
            ],
        });
        const held = await settled("gate", (o) => isReady(o) && o.status?.canaryStatuses !== undefined);
        assert.deepEqual(held.status?.canaryStatuses, [{ name: "v2", ready: false, trafficPercent: 50 }]);
        assert.equal(condition(held, "CanaryPredictorReady")?.status, "False");
        // Its pod starts (its image swapped in place, as a pod allows): the Deployment becomes
        // Available and the status follows, with the InferenceService unchanged.
        const pods = await cluster.get<{ items: { metadata: { name: string } }[] }>(
            `/api/v1/namespaces/${NS}/pods?labelSelector=app%3Disvc.gate-v2-predictor`,
        );
        assert.equal(pods?.items.length, 1);
        const swapped = await cluster.request(
            "PATCH",
            `/api/v1/namespaces/${NS}/pods/${pods?.items[0].metadata.name}`,
            {
                spec: {
                    containers: [{ name: "kserve-container", image: "registry.invalid/kserve-stub/predictor:v2" }],
                },
            },
            "application/strategic-merge-patch+json",
        );
        assert.equal(swapped.status, 200, JSON.stringify(swapped.body));
        const freed = await settled("gate", (o) => o.status?.canaryStatuses?.[0]?.ready === true);
        assert.equal(freed.metadata.generation, held.metadata.generation);
        assert.equal(condition(freed, "CanaryPredictorReady")?.status, "True");
    });

    it("a Standard-mode InferenceService in neverReady gets its predictor but is never Ready", async () => {
        stub.neverReady.add(`${NS}/stuck`);
        await create("stuck", { predictor: { model: model(V1) } });
        const live = await settled("stuck", (o) => condition(o, "Ready") !== undefined);
        assert.equal(condition(live, "Ready")?.status, "False");
        assert.ok(await deployment("stuck-predictor"), "{isvc}-predictor without a predictor name");
        await sleep(1000);
        assert.equal(condition(await isvc("stuck"), "Ready")?.status, "False");
        stub.neverReady.delete(`${NS}/stuck`);
        await settled("stuck", isReady);
    });

    it("Knative mode is marked Ready as before, with no predictor objects", async () => {
        await create("knative", { predictor: { model: model(V1) } }, { "serving.kserve.io/deploymentMode": "Knative" });
        await settled("knative", isReady);
        assert.equal(await deployment("knative-predictor"), undefined);
        assert.equal(await service("knative-predictor"), undefined);
    });

    it("deleting an InferenceService deletes its predictor objects (the real garbage collector)", async () => {
        for (const name of ["wisdom", "zero"]) {
            const res = await cluster.request("DELETE", `${ISVCS}/${name}`);
            assert.equal(res.status, 200, JSON.stringify(res.body));
        }
        for (const name of ["wisdom-v2-predictor", "zero-v1-predictor", "zero-v2-predictor"]) {
            await gone(`${DEPLOYMENTS}/${name}`);
            await gone(`${SERVICES}/${name}`);
            await gone(`${ENDPOINTS}/${name}`);
        }
        assert.ok(await deployment("hpa-v1-predictor"), "another InferenceService's objects stay");
    });
});
