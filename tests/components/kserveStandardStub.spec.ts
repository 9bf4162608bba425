// The KServe v0.20 Standard-mode rules the e2e controller stub plays (e2e/kserveStandard.ts), as
// pure functions: names, labels, replicas, canary statuses, orphans, and no write when nothing
// changed. Here because `npm run test:unit` runs tests/components (the e2e suite needs a cluster).
import * as assert from "node:assert/strict";

import {
    APP_LABEL,
    AUTOSCALER_CLASS_ANNOTATION,
    CanarySpec,
    COMPONENT_LABEL,
    Deployment,
    ISVC_LABEL,
    InferenceService,
    Manifest,
    PREDICTOR_SPEC_ANNOTATION,
    STORAGE_URI_ANNOTATION,
    canaryPredictor,
    canaryReplicaCount,
    canaryStatuses,
    covers,
    deploymentAvailable,
    deploymentDiffers,
    deploymentReplicas,
    desiredPredictors,
    isStandardMode,
    mergeOverride,
    orphans,
    predictorServiceName,
    serviceDiffers,
    standardStatus,
    statusPatch,
} from "../../e2e/kserveStandard";

const V1 = "gs://models/wisdom/v1";
const V2 = "gs://models/wisdom/v2";
const model = (storageUri: string) => ({ modelFormat: { name: "sklearn" }, storageUri });

function isvc(
    spec: InferenceService["spec"],
    annotations: Record<string, string> = {},
    status?: InferenceService["status"],
): InferenceService {
    return {
        metadata: {
            name: "wisdom",
            namespace: "ns",
            uid: "uid-wisdom",
            generation: 3,
            labels: { "app.kubernetes.io/managed-by": "model-release" },
            annotations: { "serving.kserve.io/deploymentMode": "Standard", ...annotations },
        },
        spec,
        status,
    };
}

const withCanary = (percent = 10, extra: Partial<CanarySpec["predictor"]> = {}, stable: Record<string, unknown> = {}) =>
    isvc({
        predictor: { name: "v1", model: model(V1), ...stable },
        canary: [{ predictor: { name: "v2", model: model(V2), ...extra }, trafficPercent: percent }],
    });

/** A Deployment as the stub's status pass leaves it. */
function available(name: string, replicas: number, generation = 1): Deployment {
    return {
        metadata: { name, namespace: "ns", generation },
        spec: { replicas },
        status: {
            observedGeneration: generation,
            availableReplicas: replicas,
            conditions: [{ type: "Available", status: "True", reason: "MinimumReplicasAvailable" }],
        },
    };
}

const byName = (...ds: Deployment[]) => new Map(ds.map((d) => [d.metadata.name, d]));
const conditionOf = (status: { conditions?: { type: string; status: string; reason?: string }[] }, type: string) =>
    status.conditions?.find((c) => c.type === type);

/** What the API server returns for a manifest the stub created: its fields plus defaults. */
function asLive(m: Manifest): Deployment & { spec: Record<string, unknown> } {
    const live = structuredClone(m) as Manifest & { spec: Record<string, unknown> };
    live.metadata.resourceVersion = "42";
    live.metadata.generation = 1;
    const spec = live.spec as {
        template?: { spec: { containers: Record<string, unknown>[]; restartPolicy?: string } };
        strategy?: unknown;
        ports?: Record<string, unknown>[];
        clusterIP?: string;
    };
    if (spec.template) {
        spec.strategy = { type: "RollingUpdate", rollingUpdate: { maxSurge: "25%", maxUnavailable: "25%" } };
        spec.template.spec.restartPolicy = "Always";
        for (const c of spec.template.spec.containers) {
            c.imagePullPolicy = "IfNotPresent";
            c.terminationMessagePath = "/dev/termination-log";
            c.resources = {};
        }
    }
    if (spec.ports) {
        spec.clusterIP = "10.0.0.17";
    }
    return live;
}

describe("e2e stub: KServe v0.20 Standard mode (pure rules)", () => {
    it("knows Standard mode by its current and legacy names only", () => {
        assert.equal(isStandardMode(isvc({})), true);
        assert.equal(isStandardMode(isvc({}, { "serving.kserve.io/deploymentMode": "RawDeployment" })), true);
        for (const mode of ["Knative", "Serverless", "ModelMesh"]) {
            assert.equal(isStandardMode(isvc({}, { "serving.kserve.io/deploymentMode": mode })), false, mode);
        }
        const bare = isvc({});
        bare.metadata.annotations = {};
        assert.equal(isStandardMode(bare), false);
    });

    it("names predictors as constants.PredictorServiceName", () => {
        assert.equal(predictorServiceName("wisdom"), "wisdom-predictor");
        assert.equal(predictorServiceName("wisdom", ""), "wisdom-predictor");
        assert.equal(predictorServiceName("wisdom", "v1"), "wisdom-v1-predictor");
    });

    it("counts canary replicas as canaryReplicaCount: own minReplicas, else ceil(stable x percent)", () => {
        const canary = (trafficPercent: number, minReplicas?: number): CanarySpec => ({
            predictor: { name: "v2", ...(minReplicas === undefined ? {} : { minReplicas }) },
            trafficPercent,
        });
        assert.equal(canaryReplicaCount(undefined, canary(10)), 1);
        assert.equal(canaryReplicaCount(undefined, canary(0)), 0);
        assert.equal(canaryReplicaCount(4, canary(30)), 2);
        assert.equal(canaryReplicaCount(4, canary(25)), 1);
        assert.equal(canaryReplicaCount(4, canary(100)), 4);
        assert.equal(canaryReplicaCount(4, canary(30, 3)), 3);
        assert.equal(canaryReplicaCount(4, canary(30, 0)), 0);
    });

    it("leaves 0 replicas only where KServe's autoscaler does: class none (or keda), not the default HPA", () => {
        assert.equal(deploymentReplicas(0, "none"), 0);
        assert.equal(deploymentReplicas(0, "keda"), 0);
        assert.equal(deploymentReplicas(0, undefined), 1);
        assert.equal(deploymentReplicas(0, "hpa"), 1);
        assert.equal(deploymentReplicas(0, "external"), 1);
        assert.equal(deploymentReplicas(undefined, "none"), 1);
        assert.equal(deploymentReplicas(3, undefined), 3);
        assert.equal(deploymentReplicas(3, "none"), 3);
    });

    it("builds the stable and canary Deployments and Services with KServe's names, labels, ports and owner", () => {
        const objects = desiredPredictors(withCanary());
        assert.deepEqual(
            objects.map((o) => [o.name, o.canary]),
            [
                ["wisdom-v1-predictor", undefined],
                ["wisdom-v2-predictor", { name: "v2", trafficPercent: 10 }],
            ],
        );
        for (const o of objects) {
            const app = `isvc.${o.name}`;
            for (const m of [o.deployment, o.service]) {
                assert.equal(m.metadata.name, o.name);
                assert.equal(m.metadata.namespace, "ns");
                assert.deepEqual(m.metadata.labels, {
                    "app.kubernetes.io/managed-by": "model-release",
                    [ISVC_LABEL]: "wisdom",
                    [COMPONENT_LABEL]: "predictor",
                    [APP_LABEL]: app,
                });
                assert.deepEqual(m.metadata.ownerReferences, [
                    {
                        apiVersion: "serving.kserve.io/v1beta1",
                        kind: "InferenceService",
                        name: "wisdom",
                        uid: "uid-wisdom",
                        controller: true,
                        blockOwnerDeletion: true,
                    },
                ]);
            }
            const spec = o.deployment.spec as {
                replicas: number;
                selector: unknown;
                template: { metadata: { labels: Record<string, string>; annotations: Record<string, string> } };
            };
            assert.deepEqual(spec.selector, { matchLabels: { app } });
            assert.equal(spec.template.metadata.labels.app, app);
            assert.equal(spec.replicas, 1);
            assert.deepEqual(o.service.spec, {
                type: "ClusterIP",
                selector: { app },
                ports: [{ name: o.name, port: 80, targetPort: 8080, protocol: "TCP" }],
            });
        }
        const annotations = (i: number) => objects[i].deployment.metadata.annotations ?? {};
        assert.equal(annotations(0)[STORAGE_URI_ANNOTATION], V1);
        assert.equal(annotations(1)[STORAGE_URI_ANNOTATION], V2);
        assert.equal(annotations(0)["serving.kserve.io/deploymentMode"], "Standard");
    });

    it("names the stable predictor {isvc}-predictor when spec.predictor.name is unset", () => {
        const objects = desiredPredictors(isvc({ predictor: { model: model(V1) } }));
        assert.deepEqual(
            objects.map((o) => o.name),
            ["wisdom-predictor"],
        );
    });

    it("gives a 0% canary 0 replicas with autoscaler class none, 1 under the default HPA", () => {
        const replicas = (i: InferenceService) =>
            desiredPredictors(i).map((o) => (o.deployment.spec as { replicas: number }).replicas);
        assert.deepEqual(replicas(withCanary(0)), [1, 1]);
        const none = withCanary(0);
        none.metadata.annotations = { ...none.metadata.annotations, [AUTOSCALER_CLASS_ANNOTATION]: "none" };
        assert.deepEqual(replicas(none), [1, 0]);
    });

    it("lowers a set stable minReplicas by the canaries' replicas, to at least 1", () => {
        const replicas = (i: InferenceService) =>
            desiredPredictors(i).map((o) => (o.deployment.spec as { replicas: number }).replicas);
        assert.deepEqual(replicas(withCanary(25, {}, { minReplicas: 4 })), [3, 1]);
        assert.deepEqual(replicas(withCanary(100, {}, { minReplicas: 4 })), [1, 4]);
        assert.deepEqual(replicas(withCanary(50, { minReplicas: 1 }, { minReplicas: 4 })), [3, 1]);
    });

    it("merges a canary predictor over the stable one as mergo WithOverride, autoscaling cleared", () => {
        const stable = {
            name: "v1",
            minReplicas: 2,
            maxReplicas: 5,
            scaleMetric: "cpu",
            serviceAccountName: "sa",
            labels: { team: "a", tier: "x" },
            model: { modelFormat: { name: "sklearn", version: "1" }, storageUri: V1, args: ["--a"] },
        };
        const merged = canaryPredictor(
            stable,
            {
                predictor: { name: "v2", labels: { tier: "y" }, model: { storageUri: V2, args: [] } },
                trafficPercent: 5,
            },
            1,
        );
        assert.deepEqual(merged, {
            name: "v2",
            minReplicas: 1,
            serviceAccountName: "sa",
            labels: { team: "a", tier: "y" },
            model: { modelFormat: { name: "sklearn", version: "1" }, storageUri: V2, args: ["--a"] },
        });
        assert.deepEqual(stable.model.args, ["--a"], "the stable spec is not changed");
        assert.deepEqual(mergeOverride({ a: 1, b: "x", c: [1] }, { a: 0, b: "", c: [2, 3] }), {
            a: 1,
            b: "x",
            c: [2, 3],
        });
    });

    it("promotion by renaming: the new stable predictor's Deployment is the canary's, unchanged", () => {
        // The CRD requires a canary model's (container) name; KServe merges it into `kserve-container`.
        const [, canary] = desiredPredictors(withCanary(10, { model: { name: "kserve-container", ...model(V2) } }));
        const promoted = isvc({ predictor: { name: "v2", model: model(V2) } });
        const [stable] = desiredPredictors(promoted);
        assert.equal(stable.name, canary.name);
        const live = asLive(canary.deployment);
        assert.equal(deploymentDiffers(live, stable.deployment), false, "no restart");
        assert.equal(serviceDiffers(asLive(canary.service), stable.service), false);
        // A different model rolls the pods.
        const [changed] = desiredPredictors(isvc({ predictor: { name: "v2", model: model(V1) } }));
        assert.equal(deploymentDiffers(live, changed.deployment), true);
        const [renamed] = desiredPredictors(
            isvc({ predictor: { name: "v2", model: { name: "other", ...model(V2) } } }),
        );
        assert.equal(deploymentDiffers(live, renamed.deployment), true, "another container name is another pod");
        const tpl = (m: Manifest) =>
            (m.spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata
                .annotations[PREDICTOR_SPEC_ANNOTATION];
        assert.notEqual(tpl(changed.deployment), tpl(stable.deployment));
    });

    it("finds orphans: labeled for this InferenceService and the predictor component, name not expected", () => {
        const object = (name: string, labels: Record<string, string>, namespace = "ns") => ({
            metadata: { name, namespace, labels },
        });
        const mine = { [ISVC_LABEL]: "wisdom", [COMPONENT_LABEL]: "predictor" };
        const objects = [
            object("wisdom-v1-predictor", mine),
            object("wisdom-v2-predictor", mine),
            object("wisdom-predictor", mine),
            object("wisdom-v1-predictor", mine, "other"),
            object("iris-predictor", { [ISVC_LABEL]: "iris", [COMPONENT_LABEL]: "predictor" }),
            object("wisdom-transformer", { [ISVC_LABEL]: "wisdom", [COMPONENT_LABEL]: "transformer" }),
            object("wisdom", {}),
        ];
        const promoted = isvc({ predictor: { name: "v2", model: model(V2) } });
        const expected = new Set(desiredPredictors(promoted).map((o) => o.name));
        assert.deepEqual(
            orphans(promoted, objects, expected).map((o) => `${o.metadata.namespace}/${o.metadata.name}`),
            ["ns/wisdom-v1-predictor", "ns/wisdom-predictor"],
        );
    });

    it("reports canary statuses from availableReplicas, and CanaryPredictorReady", () => {
        const i = withCanary();
        const ready = byName(available("wisdom-v1-predictor", 1), available("wisdom-v2-predictor", 1));
        assert.deepEqual(canaryStatuses(i, ready), [{ name: "v2", ready: true, trafficPercent: 10 }]);
        const status = standardStatus(i, ready);
        assert.deepEqual(
            status.conditions?.map((c) => [c.type, c.status, c.reason]),
            [
                ["CanaryPredictorReady", "True", "AllCanariesReady"],
                ["IngressReady", "True", undefined],
                ["PredictorReady", "True", "MinimumReplicasAvailable"],
                ["Ready", "True", undefined],
            ],
        );
        // KServe copies the stable Deployment's observedGeneration (kserve#6081), not the
        // InferenceService's generation (3 here).
        assert.equal(status.observedGeneration, 1);
        assert.equal(standardStatus(i, byName(available("wisdom-v1-predictor", 1, 2))).observedGeneration, 2);
        assert.equal(status.address?.url, "http://wisdom-v1-predictor.ns.svc.cluster.local");

        // A 0-replica canary (autoscaler class none, 0%): Available but no available replica.
        const zero = byName(available("wisdom-v1-predictor", 1), available("wisdom-v2-predictor", 0));
        const notReady = standardStatus(withCanary(0), zero);
        assert.deepEqual(notReady.canaryStatuses, [{ name: "v2", ready: false, trafficPercent: 0 }]);
        assert.deepEqual(conditionOf(notReady, "CanaryPredictorReady"), {
            type: "CanaryPredictorReady",
            status: "False",
            reason: "CanariesNotReady",
        });
        assert.equal(conditionOf(notReady, "Ready")?.status, "True", "Ready leaves canaries out");
        // A canary Deployment that does not exist (yet) is not ready.
        assert.equal(standardStatus(i, byName(available("wisdom-v1-predictor", 1))).canaryStatuses?.[0].ready, false);
    });

    it("has neither canaryStatuses nor CanaryPredictorReady without canaries", () => {
        const status = standardStatus(
            isvc({ predictor: { name: "v2", model: model(V2) } }),
            byName(available("wisdom-v2-predictor", 1)),
        );
        assert.equal(status.canaryStatuses, undefined);
        assert.equal(conditionOf(status, "CanaryPredictorReady"), undefined);
        assert.equal(conditionOf(status, "Ready")?.status, "True");
    });

    it("is Ready only once the stable Deployment is Available for its generation with a replica", () => {
        const i = withCanary();
        const canary = available("wisdom-v2-predictor", 1);
        const stale = available("wisdom-v1-predictor", 1);
        stale.metadata.generation = 2;
        const none = available("wisdom-v1-predictor", 0);
        for (const [why, deployments] of [
            ["no stable Deployment", byName(canary)],
            ["status of an older generation", byName(stale, canary)],
            ["no available replica", byName(none, canary)],
        ] as const) {
            const status = standardStatus(i, deployments);
            assert.deepEqual(
                status.conditions?.filter((c) => c.type !== "CanaryPredictorReady").map((c) => [c.type, c.status]),
                [
                    ["IngressReady", "False"],
                    ["PredictorReady", "False"],
                    ["Ready", "False"],
                ],
                why,
            );
            assert.equal(status.url, undefined, why);
        }
        assert.equal(deploymentAvailable(stale), false);
        const neverReady = standardStatus(i, byName(available("wisdom-v1-predictor", 1), canary), { neverReady: true });
        assert.equal(conditionOf(neverReady, "Ready")?.status, "False");
        assert.equal(conditionOf(neverReady, "CanaryPredictorReady")?.status, "True");
    });

    it("writes no status when nothing changed, keeps transition times, and clears canaryStatuses", () => {
        const deployments = byName(available("wisdom-v1-predictor", 1), available("wisdom-v2-predictor", 1));
        const first = statusPatch(undefined, standardStatus(withCanary(), deployments), "t1");
        assert.ok(first);
        const written = first as InferenceService["status"];
        assert.equal(statusPatch(written, standardStatus(withCanary(), deployments), "t2"), undefined);

        // The canary loses its replica: only its condition's time moves.
        const zero = byName(available("wisdom-v1-predictor", 1), available("wisdom-v2-predictor", 0));
        const second = statusPatch(written, standardStatus(withCanary(), zero), "t3") as InferenceService["status"];
        assert.ok(second);
        assert.deepEqual(
            second.conditions?.map((c) => [c.type, c.status, c.lastTransitionTime]),
            [
                ["CanaryPredictorReady", "False", "t3"],
                ["IngressReady", "True", "t1"],
                ["PredictorReady", "True", "t1"],
                ["Ready", "True", "t1"],
            ],
        );

        // Promotion: no canary left.
        const promoted = isvc({ predictor: { name: "v2", model: model(V2) } });
        const third = statusPatch(second, standardStatus(promoted, deployments), "t4");
        assert.ok(third);
        assert.equal(third.canaryStatuses, null, "removed by the merge patch");
        assert.equal(
            (third.conditions as { type: string }[]).some((c) => c.type === "CanaryPredictorReady"),
            false,
        );
        // A new InferenceService generation alone is not (KServe reports the Deployment's); the
        // stable Deployment's new observed generation is.
        const next = withCanary();
        next.metadata.generation = 4;
        assert.equal(statusPatch(written, standardStatus(next, deployments), "t5"), undefined);
        const rolled = byName(available("wisdom-v1-predictor", 1, 2), available("wisdom-v2-predictor", 1));
        assert.ok(statusPatch(written, standardStatus(withCanary(), rolled), "t5"));
    });

    it("compares live objects by the fields the stub sets: defaults ignored, a stray label is a change", () => {
        const [stable] = desiredPredictors(withCanary());
        const live = asLive(stable.deployment);
        assert.equal(deploymentDiffers(live, stable.deployment), false);
        const stray = structuredClone(live) as unknown as {
            spec: { template: { metadata: { labels: Record<string, string> } } };
        };
        stray.spec.template.metadata.labels.extra = "1";
        assert.equal(deploymentDiffers(stray, stable.deployment), true);
        const scaled = structuredClone(live) as { spec: { replicas: number } };
        scaled.spec.replicas = 2;
        assert.equal(deploymentDiffers(scaled, stable.deployment), true);
        // A Service is updated for its ports or selector only (semanticServiceEquals).
        const svc = asLive(stable.service);
        assert.equal(serviceDiffers(svc, stable.service), false);
        const relabeled = structuredClone(svc);
        relabeled.metadata.labels = { other: "x" };
        assert.equal(serviceDiffers(relabeled, stable.service), false);
        const moved = structuredClone(svc) as unknown as { spec: { ports: { targetPort: number }[] } };
        moved.spec.ports[0].targetPort = 9000;
        assert.equal(serviceDiffers(moved, stable.service), true);
        assert.equal(covers({ a: 1, b: { c: 2, d: 3 } }, { b: { c: 2 } }), true);
        assert.equal(covers({ labels: { a: "1", b: "2" } }, { labels: { a: "1" } }), false);
        assert.equal(covers([1, 2], [1]), false);
    });
});
