// The seed tutorials as sequences of configs: each step is a config edit, and the objects of
// every step are asserted. Object ids double as Pulumi resource names, so an id that survives a
// step is updated in place, never replaced.
import * as assert from "node:assert/strict";

import { ReleasePlan } from "../../components/plan";
import {
    GS_MODEL,
    RAW_SPLIT_GATEWAY,
    S3_MODEL,
    appVersion,
    httpbin,
    manifestOf,
    modelVersion,
    plan,
    sklearnIris,
    trafficOf,
    vsSpec,
    wisdom,
    wisdomModelMesh,
} from "./fixtures";

function ids(p: ReleasePlan): string[] {
    return p.objects.map((o) => o.id);
}

/** What a step does to the objects of the previous step. */
function change(before: ReleasePlan, after: ReleasePlan): { created: string[]; deleted: string[]; kept: string[] } {
    const a = new Set(ids(before));
    const b = new Set(ids(after));
    return {
        created: [...b].filter((id) => !a.has(id)),
        deleted: [...a].filter((id) => !b.has(id)),
        kept: [...b].filter((id) => a.has(id)),
    };
}

describe("seed 000: KServe blue-green (wisdom)", () => {
    const v0 = plan(wisdom([modelVersion("v0")]));
    const candidate = plan(wisdom([modelVersion("v0"), modelVersion("v1")]));
    const weighted = plan(wisdom([modelVersion("v0", { weight: 30 }), modelVersion("v1", { weight: 70 })]));
    const promoted = plan(wisdom([modelVersion("v1")]));

    it("deploys v0: one InferenceService, the ExternalName entry, a weight ConfigMap, 100% routing", () => {
        assert.deepEqual(ids(v0), [
            "InferenceService/wisdom-0",
            "Service/wisdom",
            "VirtualService/wisdom",
            "ConfigMap/wisdom-0-weight-config",
        ]);
        assert.deepEqual(trafficOf(v0), { "wisdom-0": 100 });
        assert.equal(manifestOf(v0, "InferenceService/wisdom-0").metadata.labels["app.kubernetes.io/version"], "v0");
        assert.deepEqual(
            vsSpec(v0).http.map((r) => r.route.map((d) => d.headers?.response?.set?.["app-version"])),
            [["wisdom-0"], ["wisdom-0"]],
        );
    });

    it("adds a candidate: creates wisdom-1 and its ConfigMap, splits 50/50", () => {
        assert.deepEqual(change(v0, candidate).created, [
            "InferenceService/wisdom-1",
            "ConfigMap/wisdom-1-weight-config",
        ]);
        assert.deepEqual(change(v0, candidate).deleted, []);
        assert.deepEqual(trafficOf(candidate), { "wisdom-0": 50, "wisdom-1": 50 });
        assert.deepEqual(
            manifestOf(v0, "InferenceService/wisdom-0"),
            manifestOf(candidate, "InferenceService/wisdom-0"),
            "the primary is untouched",
        );
    });

    it("sets weights 30/70: only routing and ConfigMaps change", () => {
        const c = change(candidate, weighted);
        assert.deepEqual([c.created, c.deleted], [[], []]);
        const changed = c.kept.filter(
            (id) => JSON.stringify(manifestOf(candidate, id)) !== JSON.stringify(manifestOf(weighted, id)),
        );
        assert.deepEqual(changed, [
            "VirtualService/wisdom",
            "ConfigMap/wisdom-0-weight-config",
            "ConfigMap/wisdom-1-weight-config",
        ]);
        const split = vsSpec(weighted).http.find((r) => r.name === "split");
        assert.deepEqual(
            split?.route.map((d) => d.weight),
            [30, 70],
        );
    });

    it("promotes: wisdom-0 takes v1's spec in place, wisdom-1 is deleted, routing goes 100% to wisdom-0", () => {
        const c = change(weighted, promoted);
        assert.deepEqual(c.created, []);
        assert.deepEqual(c.deleted, ["InferenceService/wisdom-1", "ConfigMap/wisdom-1-weight-config"]);
        assert.equal(
            manifestOf(promoted, "InferenceService/wisdom-0").metadata.labels["app.kubernetes.io/version"],
            "v1",
        );
        assert.deepEqual(trafficOf(promoted), { "wisdom-0": 100 });
        const hosts = vsSpec(promoted).http.flatMap((r) => r.route.map((d) => d.headers?.request?.set?.Host));
        assert.ok(
            hosts.every((h) => h === "wisdom-0-predictor.default.svc.cluster.local"),
            "no route to the deleted version",
        );
        // The routing waits for wisdom-0 (Ready) and no longer depends on wisdom-1, so Pulumi
        // updates it before deleting wisdom-1.
        assert.deepEqual(promoted.objects.find((o) => o.id === "VirtualService/wisdom")?.dependsOn, [
            "InferenceService/wisdom-0",
            "Service/wisdom",
        ]);
    });

    it("rolls back by removing the candidate: the primary keeps its spec", () => {
        const rolledBack = plan(wisdom([modelVersion("v0")]));
        assert.deepEqual(change(weighted, rolledBack).deleted, [
            "InferenceService/wisdom-1",
            "ConfigMap/wisdom-1-weight-config",
        ]);
        assert.deepEqual(
            manifestOf(rolledBack, "InferenceService/wisdom-0"),
            manifestOf(weighted, "InferenceService/wisdom-0"),
        );
    });
});

describe("seed 001: Deployment blue-green (httpbin)", () => {
    const primary = plan(httpbin([appVersion()]), "httpbin");
    const candidate = plan(
        httpbin([appVersion(), appVersion({ labels: { "app.kubernetes.io/version": "v1" } })]),
        "httpbin",
    );
    const weighted = plan(
        httpbin([
            appVersion({ weight: 20 }),
            appVersion({ weight: 80, labels: { "app.kubernetes.io/version": "v1" } }),
        ]),
        "httpbin",
    );
    const promoted = plan(httpbin([appVersion({ labels: { "app.kubernetes.io/version": "v1" } })]), "httpbin");

    it("initializes the primary: Deployment + Service httpbin-0 behind the httpbin VirtualService", () => {
        assert.deepEqual(ids(primary), [
            "Deployment/httpbin-0",
            "Service/httpbin-0",
            "Service/httpbin",
            "VirtualService/httpbin",
            "ConfigMap/httpbin-0-weight-config",
        ]);
        assert.deepEqual(vsSpec(primary).hosts, [
            "httpbin.default",
            "httpbin.default.svc",
            "httpbin.default.svc.cluster.local",
        ]);
    });

    it("deploys the candidate with a 50/50 split", () => {
        assert.deepEqual(change(primary, candidate).created, [
            "Deployment/httpbin-1",
            "Service/httpbin-1",
            "ConfigMap/httpbin-1-weight-config",
        ]);
        assert.deepEqual(
            vsSpec(candidate).http[0].route.map((d) => [d.destination.host, d.weight]),
            [
                ["httpbin-0.default.svc.cluster.local", 50],
                ["httpbin-1.default.svc.cluster.local", 50],
            ],
        );
    });

    it("modifies weights to 20/80", () => {
        assert.deepEqual(
            vsSpec(weighted).http[0].route.map((d) => d.weight),
            [20, 80],
        );
        assert.equal(
            manifestOf(weighted, "ConfigMap/httpbin-1-weight-config").metadata.annotations?.[
                "model-release.dev/percent"
            ],
            "80",
        );
    });

    it("promotes: redefines httpbin-0 and deletes httpbin-1 (Deployment and Service)", () => {
        const c = change(weighted, promoted);
        assert.deepEqual(c.deleted, ["Deployment/httpbin-1", "Service/httpbin-1", "ConfigMap/httpbin-1-weight-config"]);
        assert.equal(manifestOf(promoted, "Deployment/httpbin-0").metadata.labels["app.kubernetes.io/version"], "v1");
        assert.deepEqual(
            manifestOf(promoted, "Service/httpbin-0").spec,
            manifestOf(weighted, "Service/httpbin-0").spec,
            "selector unchanged: no replace",
        );
    });
});

describe("seed 002: ModelMesh canary by header (wisdom)", () => {
    const primary = plan(
        wisdomModelMesh([{ storageUri: S3_MODEL, labels: { "app.kubernetes.io/version": "v1" } }], {
            strategy: "none",
        }),
    );
    const candidate = plan(
        wisdomModelMesh([
            { storageUri: S3_MODEL, labels: { "app.kubernetes.io/version": "v1" } },
            { storageUri: S3_MODEL, labels: { "app.kubernetes.io/version": "v2" } },
        ]),
    );
    const promoted = plan(
        wisdomModelMesh([{ storageUri: S3_MODEL, labels: { "app.kubernetes.io/version": "v2" } }], {
            strategy: "none",
        }),
    );

    it("deploys the primary with all requests routed to it", () => {
        assert.deepEqual(ids(primary), ["InferenceService/wisdom-0", "ServiceEntry/wisdom", "VirtualService/wisdom"]);
        assert.deepEqual(
            vsSpec(primary).http.map((r) => r.route[0].headers?.request?.set?.["mm-vmodel-id"]),
            ["wisdom-0"],
        );
    });

    it("adds the candidate: requests with traffic: test go to wisdom-1", () => {
        assert.deepEqual(change(primary, candidate).created, ["InferenceService/wisdom-1"]);
        const [canary, rest] = vsSpec(candidate).http;
        assert.deepEqual(canary.match, [{ headers: { traffic: { exact: "test" } } }]);
        assert.equal(canary.route[0].headers?.request?.set?.["mm-vmodel-id"], "wisdom-1");
        assert.equal(rest.match, undefined);
        assert.equal(rest.route[0].headers?.request?.set?.["mm-vmodel-id"], "wisdom-0");
    });

    it("promotes: wisdom-0 gets version v2 in place, wisdom-1 is deleted", () => {
        const c = change(candidate, promoted);
        assert.deepEqual([c.created, c.deleted], [[], ["InferenceService/wisdom-1"]]);
        assert.equal(
            manifestOf(promoted, "InferenceService/wisdom-0").metadata.labels["app.kubernetes.io/version"],
            "v2",
        );
    });
});

describe("seeds 003/004: KServe canaryTrafficPercent (sklearn-iris)", () => {
    const MODEL_1 = "gs://kfserving-examples/models/sklearn/1.0/model";
    const MODEL_2 = "gs://kfserving-examples/models/sklearn/1.0/model-2";
    const steps = {
        first: plan(sklearnIris(MODEL_1), "sklearn-iris"),
        canary: plan(sklearnIris(MODEL_2, { canaryTrafficPercent: 10 }), "sklearn-iris"),
        promoted: plan(sklearnIris(MODEL_2), "sklearn-iris"),
        pinned: plan(sklearnIris(MODEL_2, { canaryTrafficPercent: 0 }), "sklearn-iris"),
        tagged: plan(sklearnIris(MODEL_2, { canaryTrafficPercent: 10, tagRouting: true }), "sklearn-iris"),
    };
    const predictor = (p: ReleasePlan) =>
        (manifestOf(p, "InferenceService/sklearn-iris").spec as { predictor: Record<string, unknown> }).predictor;

    it("every step is the same InferenceService, updated in place", () => {
        for (const p of Object.values(steps)) {
            assert.deepEqual(ids(p), ["InferenceService/sklearn-iris"]);
            assert.equal(p.namespace, "kserve-test");
        }
    });

    it("first model: all traffic to the latest revision", () => {
        assert.equal(predictor(steps.first).canaryTrafficPercent, undefined);
        assert.deepEqual(steps.first.traffic, [
            { version: "sklearn-iris", role: "candidate", percent: 100, revision: "latest" },
        ]);
    });

    it("canary: new storageUri with 10% to the latest revision, 90% to the previous", () => {
        assert.equal(predictor(steps.canary).canaryTrafficPercent, 10);
        assert.equal((predictor(steps.canary).model as { storageUri: string }).storageUri, MODEL_2);
        assert.deepEqual(
            steps.canary.traffic.map((r) => [r.revision, r.percent]),
            [
                ["latest", 10],
                ["previous", 90],
            ],
        );
    });

    it("promote: canaryTrafficPercent removed", () => {
        assert.equal("canaryTrafficPercent" in predictor(steps.promoted), false);
    });

    it("pin the previous model: canaryTrafficPercent 0", () => {
        assert.equal(predictor(steps.pinned).canaryTrafficPercent, 0);
        assert.deepEqual(
            steps.pinned.traffic.map((r) => [r.revision, r.percent]),
            [
                ["latest", 0],
                ["previous", 100],
            ],
        );
    });

    it("tag routing: annotation enables latest/prev tags", () => {
        assert.equal(
            manifestOf(steps.tagged, "InferenceService/sklearn-iris").metadata.annotations?.[
                "serving.kserve.io/enable-tag-routing"
            ],
            "true",
        );
        assert.equal(
            manifestOf(steps.canary, "InferenceService/sklearn-iris").metadata.annotations?.[
                "serving.kserve.io/enable-tag-routing"
            ],
            undefined,
        );
    });
});

describe("mirror: percentage change (deployment)", () => {
    it("changes only the mirror percentage and the candidate's ConfigMap", () => {
        const at100 = plan(httpbin([appVersion(), appVersion()], { strategy: "mirror" }), "httpbin");
        const at20 = plan(
            httpbin([appVersion(), appVersion({ mirrorPercent: 20 })], { strategy: "mirror" }),
            "httpbin",
        );
        assert.equal(vsSpec(at100).http[0].mirrorPercentage?.value, 100);
        assert.equal(vsSpec(at20).http[0].mirrorPercentage?.value, 20);
        const changed = ids(at20).filter(
            (id) => JSON.stringify(manifestOf(at100, id)) !== JSON.stringify(manifestOf(at20, id)),
        );
        assert.deepEqual(changed, ["VirtualService/httpbin", "ConfigMap/httpbin-1-weight-config"]);
    });
});

describe("kserve-raw blue-green with promotion", () => {
    it("keeps object ids across candidate, split and promotion", () => {
        const raw = { environment: "kserve-raw" as const, routing: { splitGateway: RAW_SPLIT_GATEWAY } };
        const split = plan(wisdom([modelVersion("v0", { weight: 90 }), modelVersion("v1", { weight: 10 })], raw));
        const promoted = plan(wisdom([modelVersion("v1", { storageUri: GS_MODEL })], raw));
        assert.deepEqual(change(split, promoted).deleted, [
            "InferenceService/wisdom-1",
            "ConfigMap/wisdom-1-weight-config",
        ]);
        assert.deepEqual(trafficOf(split), { "wisdom-0": 90, "wisdom-1": 10 });
        assert.deepEqual(
            vsSpec(promoted).gateways,
            ["mesh", "istio-system/model-split"],
            "the entry still points at the split gateway, so the VirtualService stays bound to it",
        );
        const noGateway = plan(wisdom([modelVersion("v1", { storageUri: GS_MODEL })], { environment: "kserve-raw" }));
        assert.deepEqual(vsSpec(noGateway).gateways, ["mesh"], "no split gateway: one hop to the predictor");
    });
});
