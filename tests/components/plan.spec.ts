import * as assert from "node:assert/strict";

import { planRelease } from "../../components/plan";
import { Environment, HttpMatch, Strategy } from "../../components/types";
import { ResolvedRelease, validateRelease } from "../../components/validate";
import {
    Destination,
    GS_MODEL,
    appVersion,
    canaryVersion,
    httpbin,
    issuesOf,
    manifestOf,
    modelVersion,
    plan,
    releaseFor,
    resolve,
    sklearnIris,
    standardCanary,
    trafficOf,
    vsSpec,
    wisdom,
    wisdomModelMesh,
} from "./fixtures";

const KNATIVE_GATEWAY = "knative-local-gateway.istio-system.svc.cluster.local";
const HOSTS = ["wisdom.default", "wisdom.default.svc", "wisdom.default.svc.cluster.local"];
const MODEL_PATH = "^/(v1|v2)/models/wisdom([:/].*)?$";

/** The destination of a KServe (Knative mode) version as the last hop sees it. */
function knativeDestination(version: string, weight: number): Destination {
    return {
        destination: { host: KNATIVE_GATEWAY, port: { number: 80 } },
        headers: {
            request: {
                set: { Host: `${version}-predictor.default.svc.cluster.local` },
                remove: ["x-model-release-version"],
            },
            response: { set: { "app-version": version } },
        },
        weight,
    };
}

describe("planRelease: environment x strategy", () => {
    const valid: [Environment, Strategy, string[]][] = [
        [
            "kserve",
            "none",
            ["InferenceService/wisdom-0", "InferenceService/wisdom-1", "Service/wisdom", "VirtualService/wisdom"],
        ],
        [
            "kserve",
            "blue-green",
            [
                "InferenceService/wisdom-0",
                "InferenceService/wisdom-1",
                "Service/wisdom",
                "VirtualService/wisdom",
                "ConfigMap/wisdom-0-weight-config",
                "ConfigMap/wisdom-1-weight-config",
            ],
        ],
        [
            "kserve",
            "canary",
            ["InferenceService/wisdom-0", "InferenceService/wisdom-1", "Service/wisdom", "VirtualService/wisdom"],
        ],
        ["kserve", "kserve-canary", ["InferenceService/wisdom"]],
        [
            "kserve-raw",
            "none",
            ["InferenceService/wisdom-0", "InferenceService/wisdom-1", "Service/wisdom", "VirtualService/wisdom"],
        ],
        [
            "kserve-raw",
            "blue-green",
            [
                "InferenceService/wisdom-0",
                "InferenceService/wisdom-1",
                "Service/wisdom",
                "VirtualService/wisdom",
                "ConfigMap/wisdom-0-weight-config",
                "ConfigMap/wisdom-1-weight-config",
            ],
        ],
        [
            "kserve-raw",
            "canary",
            ["InferenceService/wisdom-0", "InferenceService/wisdom-1", "Service/wisdom", "VirtualService/wisdom"],
        ],
        [
            "kserve-modelmesh",
            "none",
            ["InferenceService/wisdom-0", "InferenceService/wisdom-1", "ServiceEntry/wisdom", "VirtualService/wisdom"],
        ],
        [
            "kserve-modelmesh",
            "blue-green",
            [
                "InferenceService/wisdom-0",
                "InferenceService/wisdom-1",
                "ServiceEntry/wisdom",
                "VirtualService/wisdom",
                "ConfigMap/wisdom-0-weight-config",
                "ConfigMap/wisdom-1-weight-config",
            ],
        ],
        [
            "kserve-modelmesh",
            "canary",
            ["InferenceService/wisdom-0", "InferenceService/wisdom-1", "ServiceEntry/wisdom", "VirtualService/wisdom"],
        ],
        [
            "deployment",
            "none",
            [
                "Deployment/wisdom-0",
                "Service/wisdom-0",
                "Deployment/wisdom-1",
                "Service/wisdom-1",
                "Service/wisdom",
                "VirtualService/wisdom",
            ],
        ],
        [
            "deployment",
            "blue-green",
            [
                "Deployment/wisdom-0",
                "Service/wisdom-0",
                "Deployment/wisdom-1",
                "Service/wisdom-1",
                "Service/wisdom",
                "VirtualService/wisdom",
                "ConfigMap/wisdom-0-weight-config",
                "ConfigMap/wisdom-1-weight-config",
            ],
        ],
        [
            "deployment",
            "canary",
            [
                "Deployment/wisdom-0",
                "Service/wisdom-0",
                "Deployment/wisdom-1",
                "Service/wisdom-1",
                "Service/wisdom",
                "VirtualService/wisdom",
            ],
        ],
        [
            "deployment",
            "mirror",
            [
                "Deployment/wisdom-0",
                "Service/wisdom-0",
                "Deployment/wisdom-1",
                "Service/wisdom-1",
                "Service/wisdom",
                "VirtualService/wisdom",
                "ConfigMap/wisdom-0-weight-config",
                "ConfigMap/wisdom-1-weight-config",
            ],
        ],
        [
            "kserve-raw",
            "kserve-canary",
            [
                "InferenceService/wisdom",
                "PodDisruptionBudget/wisdom-v1-predictor-ready",
                "PodDisruptionBudget/wisdom-v2-predictor-ready",
                "Service/wisdom",
                "VirtualService/wisdom",
                "ConfigMap/wisdom-v1-weight-config",
                "ConfigMap/wisdom-v2-weight-config",
            ],
        ],
    ];
    for (const [environment, strategy, ids] of valid) {
        it(`${environment} / ${strategy}: creates exactly ${ids.length} objects`, () => {
            const p = plan(releaseFor(environment, strategy));
            assert.deepEqual(
                p.objects.map((o) => o.id),
                ids,
            );
            for (const o of p.objects) {
                assert.equal(
                    o.manifest.metadata.annotations?.["pulumi.com/patchForce"],
                    "true",
                    "config wins over drift",
                );
                assert.equal(o.manifest.metadata.namespace, p.namespace);
                assert.equal(o.manifest.metadata.labels["app.kubernetes.io/name"], "wisdom");
                assert.equal(o.manifest.metadata.labels["app.kubernetes.io/managed-by"], "model-release");
            }
        });
    }

    const invalid: [Environment, Strategy][] = [
        ["kserve", "mirror"],
        ["kserve-raw", "mirror"],
        ["kserve-modelmesh", "mirror"],
        ["kserve-modelmesh", "kserve-canary"],
        ["deployment", "kserve-canary"],
    ];
    for (const [environment, strategy] of invalid) {
        it(`${environment} / ${strategy}: refused with a reason`, () => {
            const { release, issues } = validateRelease("wisdom", releaseFor(environment, strategy), {
                path: "releases.wisdom",
                defaultNamespace: "default",
            });
            assert.equal(release, undefined);
            assert.ok(
                issues.some(
                    (i) =>
                        i.path === "releases.wisdom.strategy" &&
                        /not supported|needs environment kserve/.test(i.problem),
                ),
            );
        });
    }
});

describe("planRelease: KServe (Knative mode)", () => {
    it("writes the InferenceService like seed 000, with the mode annotation and readiness gate", () => {
        const p = plan(wisdom([modelVersion("v0")]));
        assert.deepEqual(manifestOf(p, "InferenceService/wisdom-0"), {
            apiVersion: "serving.kserve.io/v1beta1",
            kind: "InferenceService",
            metadata: {
                name: "wisdom-0",
                namespace: "default",
                labels: {
                    "app.kubernetes.io/name": "wisdom",
                    "app.kubernetes.io/version": "v0",
                    "app.kubernetes.io/managed-by": "model-release",
                },
                annotations: {
                    "serving.kserve.io/deploymentMode": "Knative",
                    "pulumi.com/waitFor": "condition=Ready",
                    "pulumi.com/timeoutSeconds": "600",
                    "pulumi.com/patchForce": "true",
                },
            },
            spec: {
                predictor: {
                    model: { modelFormat: { name: "sklearn" }, runtime: "kserve-mlserver", storageUri: GS_MODEL },
                },
            },
        });
    });

    it("writes the legacy mode names when asked", () => {
        const names = (environment: Environment) =>
            manifestOf(
                plan(wisdom([modelVersion("v0")], { environment, deploymentModeNames: "legacy" })),
                "InferenceService/wisdom-0",
            ).metadata.annotations?.["serving.kserve.io/deploymentMode"];
        assert.equal(names("kserve"), "Serverless");
        assert.equal(names("kserve-raw"), "RawDeployment");
    });

    it("points the app Service at the Knative local gateway", () => {
        const p = plan(wisdom([modelVersion("v0")]));
        assert.deepEqual(manifestOf(p, "Service/wisdom").spec, {
            type: "ExternalName",
            externalName: KNATIVE_GATEWAY,
            ports: [{ name: "http", port: 80, protocol: "TCP" }],
            sessionAffinity: "None",
        });
    });

    it("routes a single version in one hop, rewriting both v1 and v2 model paths", () => {
        const vs = vsSpec(plan(wisdom([modelVersion("v0")])));
        assert.deepEqual(vs.hosts, HOSTS);
        // The entry Service points at knative-local-gateway, so the VirtualService is bound there too.
        assert.deepEqual(vs.gateways, ["mesh", "knative-serving/knative-local-gateway"]);
        assert.deepEqual(vs.http, [
            {
                name: "wisdom-0-model",
                match: [{ uri: { regex: MODEL_PATH } }],
                rewrite: { uriRegexRewrite: { match: MODEL_PATH, rewrite: "/\\1/models/wisdom-0\\2" } },
                route: [knativeDestination("wisdom-0", 100)],
            },
            { name: "wisdom-0", route: [knativeDestination("wisdom-0", 100)] },
        ]);
        const regex = new RegExp(MODEL_PATH);
        for (const [path, rewritten] of [
            ["/v1/models/wisdom:predict", "/v1/models/wisdom-0:predict"],
            ["/v2/models/wisdom/infer", "/v2/models/wisdom-0/infer"],
            ["/v2/models/wisdom/ready", "/v2/models/wisdom-0/ready"],
            ["/v1/models/wisdom", "/v1/models/wisdom-0"],
        ]) {
            assert.equal(
                path.replace(
                    regex,
                    (_m, proto: string, rest: string | undefined) => `/${proto}/models/wisdom-0${rest ?? ""}`,
                ),
                rewritten,
            );
        }
        assert.equal(regex.test("/v1/models/wisdom-other:predict"), false, "another model's path is not rewritten");
    });

    it("splits 50/50 in two hops through the split gateway, never binding KServe's own hosts", () => {
        const p = plan(wisdom([modelVersion("v0"), modelVersion("v1")]));
        const vs = vsSpec(p);
        assert.deepEqual(vs.gateways, ["mesh", "knative-serving/knative-local-gateway"]);
        assert.deepEqual(
            vs.http.map((r) => r.name),
            ["wisdom-0-model", "wisdom-0", "wisdom-1-model", "wisdom-1", "split"],
        );
        assert.deepEqual(vs.http[1].match, [{ headers: { "x-model-release-version": { exact: "wisdom-0" } } }]);
        assert.deepEqual(vs.http[2].match, [
            { headers: { "x-model-release-version": { exact: "wisdom-1" } }, uri: { regex: MODEL_PATH } },
        ]);
        assert.deepEqual(vs.http[4], {
            name: "split",
            route: ["wisdom-0", "wisdom-1"].map((v) => ({
                destination: { host: KNATIVE_GATEWAY, port: { number: 80 } },
                weight: 50,
                headers: {
                    request: { set: { "x-model-release-version": v, Host: "wisdom.default" } },
                    response: { set: { "app-version": v } },
                },
            })),
        });
        for (const host of vs.hosts) {
            assert.ok(!/^wisdom-\d/.test(host), `${host} belongs to KServe`);
        }
        assert.equal(vs.http.filter((r) => r.match === undefined).length, 1, "exactly one default route, last");
        assert.equal(vs.http[vs.http.length - 1].match, undefined);
    });

    it("records configured weight and effective percent in the weight ConfigMaps", () => {
        const p = plan(wisdom([modelVersion("v0", { weight: 1 }), modelVersion("v1", { weight: 2 })]));
        assert.deepEqual(manifestOf(p, "ConfigMap/wisdom-0-weight-config").data, { version: "wisdom-0" });
        assert.deepEqual(manifestOf(p, "ConfigMap/wisdom-0-weight-config").metadata.annotations, {
            "model-release.dev/strategy": "blue-green",
            "model-release.dev/role": "primary",
            "model-release.dev/percent": "33",
            "model-release.dev/weight": "1",
            "pulumi.com/patchForce": "true",
        });
        assert.equal(
            manifestOf(p, "ConfigMap/wisdom-1-weight-config").metadata.annotations?.["model-release.dev/percent"],
            "67",
        );
        assert.deepEqual(manifestOf(p, "ConfigMap/wisdom-1-weight-config").metadata.labels, {
            "app.kubernetes.io/name": "wisdom",
            "app.kubernetes.io/version": "v1",
            "app.kubernetes.io/component": "weight-config",
            "app.kubernetes.io/managed-by": "model-release",
        });
    });

    it("drops a 0% version from the routing (0 means 0) and routes the other in one hop", () => {
        const p = plan(wisdom([modelVersion("v0", { weight: 0 }), modelVersion("v1", { weight: 10 })]));
        assert.deepEqual(trafficOf(p), { "wisdom-0": 0, "wisdom-1": 100 });
        const vs = vsSpec(p);
        assert.deepEqual(
            vs.http.map((r) => r.name),
            ["wisdom-1-model", "wisdom-1"],
        );
        assert.deepEqual(vs.gateways, ["mesh", "knative-serving/knative-local-gateway"]);
    });

    it("sends canary requests by header to the candidate and the rest to the primary", () => {
        const vs = vsSpec(plan(wisdom([modelVersion("v0"), modelVersion("v1")], { strategy: "canary" })));
        assert.deepEqual(
            vs.http.map((r) => [r.name, r.match]),
            [
                ["wisdom-1-model", [{ headers: { traffic: { exact: "test" } }, uri: { regex: MODEL_PATH } }]],
                ["wisdom-1", [{ headers: { traffic: { exact: "test" } } }]],
                ["wisdom-0-model", [{ uri: { regex: MODEL_PATH } }]],
                ["wisdom-0", undefined],
            ],
        );
        assert.deepEqual(vs.http[0].route, [knativeDestination("wisdom-1", 100)]);
    });

    it("adds configured gateways next to mesh", () => {
        const vs = vsSpec(
            plan(
                wisdom([modelVersion("v0")], {
                    routing: { gateways: ["knative-serving/knative-ingress-gateway", "mesh"] },
                }),
            ),
        );
        assert.deepEqual(vs.gateways, [
            "mesh",
            "knative-serving/knative-ingress-gateway",
            "knative-serving/knative-local-gateway",
        ]);
    });
});

describe("planRelease: KServe Standard (raw) mode", () => {
    it("routes to the predictor Service directly and keeps Host alone", () => {
        const p = plan(
            wisdom([modelVersion("v0"), modelVersion("v1")], { environment: "kserve-raw", strategy: "canary" }),
        );
        assert.equal(
            manifestOf(p, "InferenceService/wisdom-0").metadata.annotations?.["serving.kserve.io/deploymentMode"],
            "Standard",
        );
        const vs = vsSpec(p);
        assert.deepEqual(vs.http[0].route, [
            {
                destination: { host: "wisdom-1-predictor.default.svc.cluster.local", port: { number: 80 } },
                headers: {
                    request: { remove: ["x-model-release-version"] },
                    response: { set: { "app-version": "wisdom-1" } },
                },
                weight: 100,
            },
        ]);
    });

    it("on a cluster without Knative: nothing refers to a Knative gateway, the entry points at the primary's predictor", () => {
        const raw = { environment: "kserve-raw" as const };
        const plans = [
            plan(wisdom([modelVersion("v0")], raw)),
            plan(
                wisdom([modelVersion("v0", { weight: 100 }), modelVersion("v1", { weight: 0 })], {
                    ...raw,
                    strategy: "blue-green",
                }),
            ),
            plan(wisdom([modelVersion("v0"), modelVersion("v1")], { ...raw, strategy: "canary" })),
        ];
        for (const p of plans) {
            assert.doesNotMatch(JSON.stringify(p.objects.map((o) => o.manifest)), /knative/);
            assert.equal(
                (manifestOf(p, "Service/wisdom").spec as { externalName: string }).externalName,
                "wisdom-0-predictor.default.svc.cluster.local",
            );
            assert.deepEqual(vsSpec(p).gateways, ["mesh"]);
            // One hop: every destination is a predictor Service.
            for (const route of vsSpec(p).http) {
                for (const d of route.route) {
                    assert.match(d.destination.host, /^wisdom-[01]-predictor\.default\.svc\.cluster\.local$/);
                }
            }
        }
    });

    it("refuses a weighted split without a split gateway, naming routing.splitGateway; 100/0 needs none", () => {
        const raw = { environment: "kserve-raw" as const, strategy: "blue-green" as const };
        const issues = issuesOf(wisdom([modelVersion("v0", { weight: 90 }), modelVersion("v1", { weight: 10 })], raw));
        assert.equal(issues.length, 1);
        assert.equal(issues[0].path, "releases.wisdom.routing.splitGateway");
        assert.match(
            issues[0].problem,
            /wisdom-0 90% \/ wisdom-1 10% takes a second hop through a gateway.*no knative-local-gateway/,
        );
        assert.match(issues[0].fix, /set routing\.splitGateway/);
        // Equal split by default (no weights): refused too.
        assert.equal(
            issuesOf(wisdom([modelVersion("v0"), modelVersion("v1")], raw))[0].path,
            "releases.wisdom.routing.splitGateway",
        );
        // A weight so small it rounds to 0% serves one version: one hop, no gateway.
        resolve(wisdom([modelVersion("v0", { weight: 1000 }), modelVersion("v1", { weight: 1 })], raw));
        // Knative mode keeps its default gateway.
        resolve(wisdom([modelVersion("v0"), modelVersion("v1")], { ...raw, environment: "kserve" }));
    });

    it("reports bad weights in Standard mode as weight issues, not a crash of the split rule", () => {
        const raw = { environment: "kserve-raw" as const, strategy: "blue-green" as const };
        for (const weights of [
            [0, 0],
            [-5, 10],
            [1.5, 10],
        ]) {
            const issues = issuesOf(
                wisdom(
                    weights.map((weight) => modelVersion(`v${weight}`, { weight })),
                    raw,
                ),
            );
            assert.ok(issues.length > 0, `weights ${weights.join("/")}`);
            assert.ok(
                issues.every((i) => i.path !== "releases.wisdom.routing.splitGateway" || /is required/.test(i.problem)),
                JSON.stringify(issues),
            );
            assert.ok(
                issues.some((i) => /weight/.test(i.path)),
                JSON.stringify(issues),
            );
        }
    });

    it("refuses a rollout without a split gateway up front, even at 100/0: its first step would split", () => {
        const raw = { environment: "kserve-raw" as const, strategy: "blue-green" as const };
        const issues = issuesOf(
            wisdom([modelVersion("v0", { weight: 100 }), modelVersion("v1", { weight: 0 })], {
                ...raw,
                rollout: { steps: [10, 50] },
            }),
        );
        assert.equal(issues.length, 1, JSON.stringify(issues));
        assert.equal(issues[0].path, "releases.wisdom.routing.splitGateway");
        assert.match(issues[0].problem, /each rollout step splits traffic between wisdom-0 and wisdom-1/);
        assert.match(issues[0].fix, /set routing\.splitGateway.*or remove the rollout/);
        const splitGateway = {
            gateway: "istio-system/model-split",
            service: "model-split.istio-system.svc.cluster.local",
        };
        resolve(
            wisdom([modelVersion("v0", { weight: 100 }), modelVersion("v1", { weight: 0 })], {
                ...raw,
                rollout: { steps: [10, 50] },
                routing: { splitGateway },
            }),
        );
    });

    it("uses the configured split gateway for weighted splits", () => {
        const splitGateway = {
            gateway: "istio-system/model-split",
            service: "model-split.istio-system.svc.cluster.local",
        };
        const p = plan(
            wisdom([modelVersion("v0"), modelVersion("v1")], { environment: "kserve-raw", routing: { splitGateway } }),
        );
        const vs = vsSpec(p);
        assert.deepEqual(vs.gateways, ["mesh", "istio-system/model-split"]);
        assert.deepEqual(
            vs.http[vs.http.length - 1].route.map((d) => d.destination.host),
            [splitGateway.service, splitGateway.service],
        );
        assert.equal(
            (manifestOf(p, "Service/wisdom").spec as { externalName: string }).externalName,
            splitGateway.service,
        );
    });
});

describe("planRelease: ModelMesh", () => {
    it("routes by mm-vmodel-id to modelmesh-serving on gRPC 8033 and declares a ServiceEntry", () => {
        const p = plan(
            wisdomModelMesh([
                { storageUri: "s3://models/a", labels: { "app.kubernetes.io/version": "v1" } },
                { storageUri: "s3://models/b", labels: { "app.kubernetes.io/version": "v2" } },
            ]),
        );
        const isvc = manifestOf(p, "InferenceService/wisdom-0");
        assert.equal(isvc.metadata.namespace, "modelmesh-serving");
        assert.equal(isvc.metadata.annotations?.["serving.kserve.io/deploymentMode"], "ModelMesh");
        assert.equal(isvc.metadata.annotations?.["serving.kserve.io/secretKey"], "localMinIO");
        assert.deepEqual(isvc.spec, {
            predictor: { model: { modelFormat: { name: "sklearn" }, storageUri: "s3://models/a" } },
        });
        assert.deepEqual(manifestOf(p, "ServiceEntry/wisdom").spec, {
            hosts: [
                "wisdom.modelmesh-serving",
                "wisdom.modelmesh-serving.svc",
                "wisdom.modelmesh-serving.svc.cluster.local",
            ],
            location: "MESH_INTERNAL",
            ports: [{ number: 8033, name: "grpc", protocol: "GRPC" }],
            resolution: "STATIC",
            workloadSelector: { labels: { "modelmesh-service": "modelmesh-serving" } },
        });
        const vs = vsSpec(p);
        const mm = (v: string): Destination => ({
            destination: { host: "modelmesh-serving.modelmesh-serving.svc.cluster.local", port: { number: 8033 } },
            headers: { request: { set: { "mm-vmodel-id": v } }, response: { set: { "app-version": v } } },
            weight: 100,
        });
        assert.deepEqual(vs.http, [
            { name: "wisdom-1", match: [{ headers: { traffic: { exact: "test" } } }], route: [mm("wisdom-1")] },
            { name: "wisdom-0", route: [mm("wisdom-0")] },
        ]);
    });

    it("splits by weight in one route with per-destination model ids", () => {
        const p = plan(
            wisdomModelMesh(
                [
                    { storageUri: "s3://a", weight: 30 },
                    { storageUri: "s3://b", weight: 70 },
                ],
                { strategy: "blue-green", routing: { modelMesh: { namespace: "mm", port: 9000 } } },
            ),
        );
        const [route] = vsSpec(p).http;
        assert.deepEqual(
            route.route.map((d) => [
                d.destination.host,
                d.destination.port?.number,
                d.weight,
                d.headers?.request?.set?.["mm-vmodel-id"],
            ]),
            [
                ["modelmesh-serving.mm.svc.cluster.local", 9000, 30, "wisdom-0"],
                ["modelmesh-serving.mm.svc.cluster.local", 9000, 70, "wisdom-1"],
            ],
        );
    });
});

describe("planRelease: Deployments", () => {
    it("creates a Deployment pod spec and a Service per version, Iter8-style app labels", () => {
        const p = plan(
            httpbin([appVersion(), appVersion({ labels: { "app.kubernetes.io/version": "v1" } })]),
            "httpbin",
        );
        const deployment = p.objects.find((o) => o.id === "Deployment/httpbin-0");
        assert.ok(deployment);
        assert.deepEqual(deployment.podSpec, {
            containers: [
                { name: "httpbin-0", image: "kennethreitz/httpbin", ports: [{ name: "http", containerPort: 80 }] },
            ],
        });
        assert.equal(deployment.manifest.spec, undefined);
        assert.equal(
            deployment.manifest.metadata.annotations?.["pulumi.com/waitFor"],
            undefined,
            "the provider's Deployment await is the gate",
        );
        assert.deepEqual(manifestOf(p, "Service/httpbin-1").spec, {
            selector: { app: "httpbin-1" },
            ports: [{ name: "http", port: 80, targetPort: 80 }],
        });
        assert.equal(
            (manifestOf(p, "Service/httpbin").spec as { externalName: string }).externalName,
            "istio-ingressgateway.istio-system.svc.cluster.local",
        );
        const [route] = vsSpec(p).http;
        assert.deepEqual(route, {
            name: "httpbin",
            route: ["httpbin-0", "httpbin-1"].map((v) => ({
                destination: { host: `${v}.default.svc.cluster.local`, port: { number: 80 } },
                headers: { response: { set: { "app-version": v } } },
                weight: 50,
            })),
        });
    });

    it("gates Deployments on the Available condition when asked", () => {
        const p = plan(
            httpbin([appVersion()], { readiness: { deployment: "available", timeoutSeconds: 30 } }),
            "httpbin",
        );
        assert.deepEqual(manifestOf(p, "Deployment/httpbin-0").metadata.annotations, {
            "pulumi.com/timeoutSeconds": "30",
            "pulumi.com/waitFor": "condition=Available",
            "pulumi.com/patchForce": "true",
        });
    });

    it("mirrors a percentage to the candidate while the primary serves", () => {
        const p = plan(httpbin([appVersion(), appVersion({ mirrorPercent: 20 })], { strategy: "mirror" }), "httpbin");
        assert.deepEqual(vsSpec(p).http, [
            {
                name: "httpbin",
                route: [
                    {
                        destination: { host: "httpbin-0.default.svc.cluster.local", port: { number: 80 } },
                        headers: { response: { set: { "app-version": "httpbin-0" } } },
                        weight: 100,
                    },
                ],
                mirror: { host: "httpbin-1.default.svc.cluster.local", port: { number: 80 } },
                mirrorPercentage: { value: 20 },
            },
        ]);
        assert.deepEqual(manifestOf(p, "ConfigMap/httpbin-1-weight-config").metadata.annotations, {
            "model-release.dev/strategy": "mirror",
            "model-release.dev/role": "candidate",
            "model-release.dev/percent": "0",
            "model-release.dev/mirror-percent": "20",
            "pulumi.com/patchForce": "true",
        });
    });

    it("uses the escape-hatch specs as given, selecting pods by their labels", () => {
        const deploymentSpec = {
            selector: { matchLabels: { run: "web" } },
            template: { metadata: { labels: { run: "web" } }, spec: { containers: [{ name: "web", image: "nginx" }] } },
        };
        const p = plan(httpbin([{ deploymentSpec }]), "httpbin");
        assert.deepEqual(manifestOf(p, "Deployment/httpbin-0").spec, deploymentSpec);
        assert.deepEqual((manifestOf(p, "Service/httpbin-0").spec as { selector: unknown }).selector, { run: "web" });
        const withService = plan(
            httpbin([appVersion({ serviceSpec: { selector: { app: "x" }, ports: [{ port: 8080 }] } })]),
            "httpbin",
        );
        assert.deepEqual(vsSpec(withService).http[0].route[0].destination, {
            host: "httpbin-0.default.svc.cluster.local",
            port: { number: 8080 },
        });
    });
});

describe("planRelease: KServe native canary", () => {
    it("writes canaryTrafficPercent on the one InferenceService and creates no routing", () => {
        const p = plan(
            sklearnIris("gs://kfserving-examples/models/sklearn/1.0/model-2", { canaryTrafficPercent: 10 }),
            "sklearn-iris",
        );
        assert.deepEqual(
            p.objects.map((o) => o.id),
            ["InferenceService/sklearn-iris"],
        );
        assert.deepEqual(manifestOf(p, "InferenceService/sklearn-iris").spec, {
            predictor: {
                canaryTrafficPercent: 10,
                model: {
                    modelFormat: { name: "sklearn" },
                    storageUri: "gs://kfserving-examples/models/sklearn/1.0/model-2",
                },
            },
        });
        assert.deepEqual(p.traffic, [
            { version: "sklearn-iris", role: "candidate", percent: 10, revision: "latest" },
            { version: "sklearn-iris", role: "primary", percent: 90, revision: "previous" },
        ]);
        assert.equal(p.host, "sklearn-iris.kserve-test.svc.cluster.local");
    });

    it("adds the tag-routing annotation when asked", () => {
        const p = plan(sklearnIris(GS_MODEL, { canaryTrafficPercent: 10, tagRouting: true }), "sklearn-iris");
        assert.equal(
            manifestOf(p, "InferenceService/sklearn-iris").metadata.annotations?.[
                "serving.kserve.io/enable-tag-routing"
            ],
            "true",
        );
    });
});

describe("planRelease: KServe v0.20 Standard-mode canary (spec.canary)", () => {
    const canary = (percent = 10) => plan(standardCanary([canaryVersion("v1"), canaryVersion("v2", percent)]));
    type Predictor = { name: string; model: { name: string; storageUri: string } };
    const isvcSpec = (p: ReturnType<typeof plan>) =>
        manifestOf(p, "InferenceService/wisdom").spec as {
            predictor: Predictor;
            canary?: { predictor: Predictor; trafficPercent: number }[];
        };

    it("writes one InferenceService named after the app: the stable predictor named, each canary with its percent", () => {
        const p = canary();
        const spec = isvcSpec(p);
        assert.equal(spec.predictor.name, "v1");
        // The v0.20 CRD requires a container name on canaries; the stable one has the same, so a
        // promoted canary's spec equals the stable spec it becomes.
        assert.equal(spec.predictor.model.name, "kserve-container");
        assert.equal(spec.canary?.[0].predictor.model.name, "kserve-container");
        assert.equal(spec.predictor.model.storageUri, `${GS_MODEL}-v1`);
        assert.deepEqual(
            spec.canary?.map((c) => [c.predictor.name, c.predictor.model.storageUri, c.trafficPercent]),
            [["v2", `${GS_MODEL}-v2`, 10]],
        );
        const annotations = manifestOf(p, "InferenceService/wisdom").metadata.annotations ?? {};
        // KServe v0.20's webhook accepts spec.canary only under the current name of the mode.
        assert.equal(annotations["serving.kserve.io/deploymentMode"], "Standard");
        assert.deepEqual(
            p.traffic.map((r) => [r.version, r.role, r.percent]),
            [
                ["v1", "primary", 90],
                ["v2", "candidate", 10],
            ],
        );
    });

    it("gates each predictor that gets traffic with an awaited PodDisruptionBudget, not the InferenceService (kserve#6081)", () => {
        const gates = (p: ReturnType<typeof plan>) =>
            p.objects
                .filter((o) => o.role === "readiness-gate")
                .map((o) => [
                    o.manifest.metadata.name,
                    o.manifest.metadata.annotations?.["pulumi.com/waitFor"],
                    JSON.stringify(o.manifest.spec),
                    o.dependsOn.join(),
                ]);
        const selector = (predictor: string) =>
            JSON.stringify({ minAvailable: 0, selector: { matchLabels: { app: `isvc.${predictor}` } } });
        assert.deepEqual(gates(canary(10)), [
            [
                "wisdom-v1-predictor-ready",
                "condition=DisruptionAllowed",
                selector("wisdom-v1-predictor"),
                "InferenceService/wisdom",
            ],
            [
                "wisdom-v2-predictor-ready",
                "condition=DisruptionAllowed",
                selector("wisdom-v2-predictor"),
                "InferenceService/wisdom",
            ],
        ]);
        // A 0% canary may have no replicas (autoscalerClass none): no gate; a drained stable none.
        assert.deepEqual(
            gates(canary(0)).map(([name]) => name),
            ["wisdom-v1-predictor-ready"],
        );
        assert.deepEqual(
            gates(canary(100)).map(([name]) => name),
            ["wisdom-v2-predictor-ready"],
        );
        // The InferenceService is not awaited (its observedGeneration is the stable Deployment's),
        // and its annotations do not change with the traffic (KServe copies them onto every pod).
        const annotations = (p: ReturnType<typeof plan>) =>
            manifestOf(p, "InferenceService/wisdom").metadata.annotations;
        assert.equal(annotations(canary(10))?.["pulumi.com/waitFor"], undefined);
        assert.equal(annotations(canary(10))?.["pulumi.com/skipAwait"], "true");
        assert.deepEqual(annotations(canary(0)), annotations(canary(10)));
        assert.deepEqual(annotations(canary(100)), annotations(canary(10)));
        assert.equal(isvcSpec(plan(standardCanary([canaryVersion("v1")]))).canary, undefined);
    });

    it("splits in one hop to the predictor Services <app>-<version>-predictor, with no model path rewrite", () => {
        const p = canary(25);
        const { http, gateways } = vsSpec(p);
        assert.deepEqual(gateways, ["mesh"]);
        assert.equal(http.length, 1);
        assert.equal(http[0].rewrite, undefined);
        assert.deepEqual(
            http[0].route.map((d) => [d.destination.host, d.weight, d.headers?.response?.set?.["app-version"]]),
            [
                ["wisdom-v1-predictor.models.svc.cluster.local", 75, "v1"],
                ["wisdom-v2-predictor.models.svc.cluster.local", 25, "v2"],
            ],
        );
        const entry = manifestOf(p, "Service/wisdom").spec as { externalName: string };
        assert.equal(entry.externalName, "wisdom-v1-predictor.models.svc.cluster.local");
    });

    it("labels each predictor with its version, and the InferenceService with the app only (KServe copies its labels onto every predictor's pods)", () => {
        const p = canary(10);
        const isvc = manifestOf(p, "InferenceService/wisdom");
        assert.equal(isvc.metadata.labels["app.kubernetes.io/version"], undefined);
        const spec = isvc.spec as {
            predictor: { labels: Record<string, string> };
            canary: { predictor: { labels: Record<string, string> } }[];
        };
        assert.equal(spec.predictor.labels["app.kubernetes.io/version"], "v1");
        assert.equal(spec.canary[0].predictor.labels["app.kubernetes.io/version"], "v2");
        // On promotion the stable predictor takes the canary's labels: its pods' labels stay.
        const promoted = plan(standardCanary([canaryVersion("v2")]));
        const stable = (manifestOf(promoted, "InferenceService/wisdom").spec as typeof spec).predictor;
        assert.deepEqual(stable.labels, spec.canary[0].predictor.labels);
    });

    it("records a canary at 100% (a promotion's drain) as the primary: the stable predictor serves nothing", () => {
        assert.deepEqual(
            canary(100).traffic.map((r) => [r.version, r.role, r.percent]),
            [
                ["v1", "candidate", 0],
                ["v2", "primary", 100],
            ],
        );
    });

    it("routes a pinned canary (0%) nothing, and a canary at 100% everything", () => {
        const hostsOf = (p: ReturnType<typeof plan>) =>
            vsSpec(p).http.flatMap((r) => r.route.map((d) => `${d.destination.host.split(".")[0]} ${d.weight}`));
        assert.deepEqual(hostsOf(canary(0)), ["wisdom-v1-predictor 100"]);
        assert.deepEqual(hostsOf(canary(100)), ["wisdom-v2-predictor 100"]);
    });

    it("writes the split as one weighted HTTPRoute rule on the Gateway API back-end", () => {
        const p = plan(
            standardCanary([canaryVersion("v1"), canaryVersion("v2", 30)], { routing: { backend: "gateway-api" } }),
        );
        const rules = (manifestOf(p, "HTTPRoute/wisdom").spec as { rules: Record<string, unknown>[] }).rules;
        assert.equal(rules.length, 1);
        assert.equal(rules[0].filters, undefined, "no URLRewrite");
        assert.deepEqual(
            (rules[0].backendRefs as { name: string; weight: number }[]).map((b) => [b.name, b.weight]),
            [
                ["wisdom-v1-predictor", 70],
                ["wisdom-v2-predictor", 30],
            ],
        );
    });

    it("records each version's share in a weight ConfigMap prefixed with the app (versions are named within it)", () => {
        const p = canary(10);
        const annotations = manifestOf(p, "ConfigMap/wisdom-v2-weight-config").metadata.annotations ?? {};
        assert.equal(annotations["model-release.dev/percent"], "10");
        assert.equal(annotations["model-release.dev/role"], "candidate");
        const routing = p.objects.find((o) => o.id === "VirtualService/wisdom");
        assert.deepEqual(routing?.dependsOn, [
            "InferenceService/wisdom",
            "PodDisruptionBudget/wisdom-v1-predictor-ready",
            "PodDisruptionBudget/wisdom-v2-predictor-ready",
            "Service/wisdom",
        ]);
    });

    it("takes a canary's full spec as its predictor only", () => {
        const predictor = {
            minReplicas: 1,
            model: { name: "custom", modelFormat: { name: "sklearn" }, storageUri: GS_MODEL },
        };
        const p = plan(
            standardCanary([
                canaryVersion("v1"),
                { name: "v2", trafficPercent: 5, inferenceServiceSpec: { predictor } },
            ]),
        );
        const entry = isvcSpec(p).canary?.[0] as { predictor: Record<string, unknown>; trafficPercent: number };
        const { labels, ...rest } = entry.predictor;
        assert.deepEqual({ ...entry, predictor: rest }, { predictor: { name: "v2", ...predictor }, trafficPercent: 5 });
        assert.equal((labels as Record<string, string>)["app.kubernetes.io/version"], "v2");
    });
});

describe("planRelease: dependencies and credentials", () => {
    it("makes routing wait for every version and weight config wait for routing", () => {
        const p = plan(wisdom([modelVersion("v0"), modelVersion("v1")]));
        const deps = Object.fromEntries(p.objects.map((o) => [o.id, o.dependsOn]));
        assert.deepEqual(deps["VirtualService/wisdom"], [
            "InferenceService/wisdom-0",
            "InferenceService/wisdom-1",
            "Service/wisdom",
        ]);
        assert.deepEqual(deps["ConfigMap/wisdom-1-weight-config"], ["VirtualService/wisdom"]);
        assert.deepEqual(deps["InferenceService/wisdom-0"], []);
        const ids = p.objects.map((o) => o.id);
        for (const o of p.objects) {
            for (const d of o.dependsOn) {
                assert.ok(ids.indexOf(d) < ids.indexOf(o.id), `${d} is planned before ${o.id}`);
            }
        }
    });

    it("creates a Secret and ServiceAccount for storage credentials and has predictors use it", () => {
        const p = plan(
            wisdom([modelVersion("v0")], {
                storageCredentials: {
                    data: { AWS_ACCESS_KEY_ID: "x" },
                    annotations: { "serving.kserve.io/s3-endpoint": "minio:9000" },
                },
            }),
        );
        assert.deepEqual(
            p.objects.slice(0, 2).map((o) => o.id),
            ["Secret/wisdom-storage", "ServiceAccount/wisdom-storage"],
        );
        const secret = manifestOf(p, "Secret/wisdom-storage");
        assert.equal(secret.metadata.annotations?.["serving.kserve.io/s3-endpoint"], "minio:9000");
        assert.equal(JSON.stringify(p).includes('"x"'), false, "the plan never holds secret values");
        assert.deepEqual(manifestOf(p, "ServiceAccount/wisdom-storage").secrets, [{ name: "wisdom-storage" }]);
        assert.equal(
            (manifestOf(p, "InferenceService/wisdom-0").spec as { predictor: { serviceAccountName: string } }).predictor
                .serviceAccountName,
            "wisdom-storage",
        );
        assert.deepEqual(p.objects.find((o) => o.id === "InferenceService/wisdom-0")?.dependsOn, [
            "Secret/wisdom-storage",
            "ServiceAccount/wisdom-storage",
        ]);
    });
});

describe("planRelease: invariants over the matrix", () => {
    const combos: [Environment, Strategy][] = [
        ["kserve", "none"],
        ["kserve", "blue-green"],
        ["kserve", "canary"],
        ["kserve-raw", "none"],
        ["kserve-raw", "blue-green"],
        ["kserve-raw", "canary"],
        ["kserve-modelmesh", "none"],
        ["kserve-modelmesh", "blue-green"],
        ["kserve-modelmesh", "canary"],
        ["deployment", "none"],
        ["deployment", "blue-green"],
        ["deployment", "canary"],
        ["deployment", "mirror"],
    ];
    for (const [environment, strategy] of combos) {
        it(`${environment} / ${strategy}: integer weights summing to 100, app-version on every destination, one default route last`, () => {
            const vs = vsSpec(
                planRelease(
                    validateRelease("wisdom", releaseFor(environment, strategy), {
                        path: "r",
                        defaultNamespace: "default",
                    }).release!,
                ),
            );
            assert.ok(vs.http.length > 0);
            for (const route of vs.http) {
                const total = route.route.reduce((sum, d) => sum + (d.weight ?? 0), 0);
                assert.equal(total, 100, `route ${route.name} sums to 100`);
                for (const d of route.route) {
                    assert.ok(Number.isInteger(d.weight));
                    assert.ok(d.headers?.response?.set?.["app-version"], `route ${route.name} names the version`);
                }
            }
            const defaults = vs.http.filter((r) => r.match === undefined);
            assert.equal(defaults.length, 1);
            assert.equal(vs.http[vs.http.length - 1], defaults[0]);
        });
    }
});

describe("planRelease: maps without prototypes", () => {
    /** A valid canary release whose candidate match is then replaced, as a direct caller could. */
    function canaryWith(match: HttpMatch[]): ResolvedRelease {
        const release = resolve(httpbin([appVersion(), appVersion()], { strategy: "canary" }));
        release.versions[1].match = match;
        return release;
    }

    it("emits a __proto__ key of a match map as an own key, never as a prototype", () => {
        const headers = JSON.parse(
            '{"__proto__": {"exact": "x"}, "traffic": {"exact": "test"}}',
        ) as HttpMatch["headers"];
        const p = planRelease(canaryWith([{ headers }]));
        const [canary] = vsSpec(p).http;
        const emitted = (canary.match as { headers: Record<string, unknown> }[])[0].headers;
        assert.equal(Object.getPrototypeOf(emitted), Object.prototype);
        assert.deepEqual(Object.keys(emitted), ["__proto__", "traffic"]);
        assert.equal((emitted as { exact?: string }).exact, undefined);
        const row = p.traffic[1].match?.[0].headers;
        assert.ok(row && Object.hasOwn(row, "__proto__") && Object.getPrototypeOf(row) === Object.prototype);
    });

    it("emits labels and annotations with a __proto__ key as own keys", () => {
        const release = resolve(httpbin([appVersion()]));
        release.versions[0].labels = JSON.parse('{"__proto__": "x", "app.kubernetes.io/name": "wisdom"}');
        const { metadata } = manifestOf(planRelease(release), "Deployment/wisdom-0");
        assert.ok(Object.hasOwn(metadata.labels, "__proto__"));
        assert.equal(Object.getPrototypeOf(metadata.labels), Object.prototype);
    });

    for (const [what, match] of [
        ["no match at all", []],
        ["an empty match", [{}]],
        ["empty headers", [{ headers: {} }]],
        ["only a name", [{ name: "beta" }]],
        ['uri prefix "/"', [{ uri: { prefix: "/" } }]],
    ] as [string, HttpMatch[]][]) {
        it(`refuses to plan a canary candidate whose match constrains nothing (${what})`, () => {
            assert.throws(() => planRelease(canaryWith(match)), /constrains nothing/);
        });
    }
});
