import * as assert from "node:assert/strict";

import * as rules from "../../policies/rules";
import { allPolicies } from "../../policies/rules";
import { appVersion, httpbin, modelVersion, sklearnIris, wisdom, wisdomModelMesh } from "../components/fixtures";
import {
    InvalidState,
    TestResource,
    allResourceViolations,
    componentResources,
    copy,
    refusesEach,
    resourceViolations,
    stackViolations,
    violationsOf,
} from "./helpers";
import { DEPLOYMENT, SKLEARN_PREDICTOR, VS, isvcResource, service, weightConfig, vsResource } from "./fixtures";

/** Small builders for raw resources the component would never produce. */
function dest(
    host: string,
    weight?: number,
    version?: string,
    requestSet?: Record<string, string>,
): Record<string, unknown> {
    const d: Record<string, unknown> = { destination: { host, port: { number: 80 } } };
    if (weight !== undefined) d.weight = weight;
    const headers: Record<string, unknown> = {};
    if (requestSet) headers.request = { set: requestSet };
    if (version) headers.response = { set: { "app-version": version } };
    if (Object.keys(headers).length > 0) d.headers = headers;
    return d;
}
function virtualService(
    http: Record<string, unknown>[],
    name = "app",
    namespace = "default",
    hosts?: string[],
): TestResource {
    return vsResource(name, { hosts: hosts ?? [`${name}.${namespace}.svc.cluster.local`], http }, namespace);
}
/** An InferenceService with `annotations` and one `predictor` (by default one sklearn model). */
const inferenceService = (
    name: string,
    annotations: Record<string, string>,
    predictor: Record<string, unknown> = SKLEARN_PREDICTOR,
    namespace = "default",
): TestResource => isvcResource(name, { predictor }, { annotations, namespace });
/** A VirtualService with only tcp or only tls routes (L4: routed by port or SNI, no http). */
function l4VirtualService(kind: "tcp" | "tls", routes: Record<string, unknown>[], name = "db"): TestResource {
    return vsResource(name, { hosts: [`${name}.default.svc.cluster.local`], [kind]: routes });
}
const svcDest = (name: string, weight?: number) => dest(`${name}.default.svc.cluster.local`, weight);
const GATED = { "serving.kserve.io/deploymentMode": "Standard", "pulumi.com/waitFor": "condition=Ready" };
const raw = (v: string, w?: number) => dest(`${v}-predictor.default.svc.cluster.local`, w, v);
const canaryRoute = { name: "canary", match: [{ headers: { traffic: { exact: "test" } } }], route: [raw("b")] };

/** The component's real output for a spread of environments and strategies. */
let componentOutput: TestResource[][] = [];

before(async function () {
    this.timeout(30000);
    componentOutput = [
        await componentResources({
            wisdom: wisdom([modelVersion("v0", { weight: 30 }), modelVersion("v1", { weight: 70 })]),
        }),
        await componentResources({ wisdom: wisdom([modelVersion("v0"), modelVersion("v1")], { strategy: "canary" }) }),
        await componentResources({
            wisdom: wisdom([modelVersion("v0", { weight: 0 }), modelVersion("v1", { weight: 1 })], {
                environment: "kserve-raw",
            }),
        }),
        await componentResources({ wisdom: wisdomModelMesh([{ storageUri: "s3://a" }, { storageUri: "s3://b" }]) }),
        await componentResources({
            wisdom: wisdomModelMesh(
                [
                    { storageUri: "s3://a", weight: 1 },
                    { storageUri: "s3://b", weight: 2 },
                ],
                { strategy: "blue-green" },
            ),
        }),
        await componentResources({
            httpbin: httpbin([appVersion(), appVersion({ mirrorPercent: 20 })], { strategy: "mirror" }),
        }),
        await componentResources({ httpbin: httpbin([appVersion({ weight: 20 }), appVersion({ weight: 80 })]) }),
        await componentResources({
            "sklearn-iris": sklearnIris("gs://m2", { canaryTrafficPercent: 10, tagRouting: true }),
        }),
        await componentResources({
            wisdom: wisdom([modelVersion("v0")]),
            iris: wisdom([modelVersion("v0")], { name: "iris" }),
        }),
    ];
});

describe("policy pack", () => {
    it("has 29 uniquely named rules, with levels", () => {
        assert.equal(allPolicies.length, 29);
        assert.equal(new Set(allPolicies.map((p) => p.name)).size, 29);
        for (const p of allPolicies) {
            assert.ok(p.enforcementLevel === "mandatory" || p.enforcementLevel === "advisory", p.name);
            assert.ok(p.description.length > 10);
        }
    });

    it("passes everything the component produces, for every rule", async () => {
        for (const resources of componentOutput) {
            for (const policy of allPolicies) {
                const violations =
                    "validateStack" in policy
                        ? await stackViolations(policy, resources)
                        : await allResourceViolations(policy, resources);
                assert.deepEqual(violations, [], `${policy.name} on ${resources.map((r) => r.name).join(", ")}`);
            }
        }
    });
});

/** Invalid states, each expected to be refused by the named rule with a message matching. */
const invalidStates: InvalidState[] = [
    {
        title: "weight above 100",
        run: () => resourceViolations(rules.vsWeightRange, virtualService([{ route: [raw("a", 150), raw("b", -50)] }])),
        expect: /weight 150; use an integer from 0 to 100/,
    },
    {
        title: "negative weight",
        run: () => resourceViolations(rules.vsWeightRange, virtualService([{ route: [raw("a", -10), raw("b", 110)] }])),
        expect: /weight -10/,
    },
    {
        title: "fractional weight",
        run: () =>
            resourceViolations(rules.vsWeightRange, virtualService([{ route: [raw("a", 33.5), raw("b", 66.5)] }])),
        expect: /weight 33.5/,
    },
    {
        title: "split summing to 90 (strict)",
        run: () => resourceViolations(rules.vsWeightSum, virtualService([{ route: [raw("a", 30), raw("b", 60)] }])),
        expect: /splits 30\/60 \(total 90\)/,
    },
    {
        title: "raw relative weights 1/1 (Iter8 style, strict)",
        run: () => resourceViolations(rules.vsWeightSum, virtualService([{ route: [raw("a", 1), raw("b", 1)] }])),
        expect: /total 2/,
    },
    {
        title: "all-zero split (Istio >= 1.15 mode)",
        run: () =>
            resourceViolations(rules.vsWeightSum, virtualService([{ route: [raw("a", 0), raw("b", 0)] }]), {
                mode: "istio-1.15",
            }),
        expect: /total destination weight 0/,
    },
    {
        title: "split without weights (strict)",
        run: () => resourceViolations(rules.vsWeightSum, virtualService([{ route: [raw("a"), raw("b")] }])),
        expect: /total 0/,
    },
    {
        title: "single destination with weight 50",
        run: () => resourceViolations(rules.vsSingleDestinationWeight, virtualService([{ route: [raw("a", 50)] }])),
        expect: /one destination with weight 50/,
    },
    {
        title: "mirror percentage 150",
        run: () =>
            resourceViolations(
                rules.vsMirrorPercentage,
                virtualService([
                    {
                        route: [raw("a", 100)],
                        mirror: { host: "b.default.svc.cluster.local" },
                        mirrorPercentage: { value: 150 },
                    },
                ]),
            ),
        expect: /mirrors 150%/,
    },
    {
        title: "mirror to the route's own destination",
        run: () =>
            resourceViolations(
                rules.vsMirrorTarget,
                virtualService([
                    {
                        route: [dest("a.default.svc.cluster.local", 100, "a")],
                        mirror: { host: "a.default.svc.cluster.local", port: { number: 80 } },
                    },
                ]),
            ),
        expect: /mirrors to a.default.svc.cluster.local, which it also routes to/,
    },
    {
        title: "mirror and mirrors together",
        run: () =>
            resourceViolations(
                rules.vsMirrorExclusive,
                virtualService([
                    { route: [raw("a", 100)], mirror: { host: "b" }, mirrors: [{ destination: { host: "c" } }] },
                ]),
            ),
        expect: /both mirror and mirrors/,
    },
    {
        title: "authority set twice",
        run: () =>
            resourceViolations(
                rules.vsAuthorityOnce,
                virtualService([
                    {
                        rewrite: { authority: "x" },
                        route: [dest("gw", 100, "a", { Host: "a-predictor.default.svc.cluster.local" })],
                    },
                ]),
            ),
        expect: /rewrite.authority and a Host header/,
    },
    {
        title: "no default route",
        run: () =>
            resourceViolations(
                rules.vsRouteOrder,
                virtualService([{ match: [{ headers: { t: { exact: "1" } } }], route: [raw("a")] }]),
            ),
        expect: /has 0 default/,
    },
    {
        title: "two default routes",
        run: () =>
            resourceViolations(rules.vsRouteOrder, virtualService([{ route: [raw("a")] }, { route: [raw("b")] }])),
        expect: /has 2 default/,
    },
    {
        title: "default route before a matched route",
        run: () =>
            resourceViolations(
                rules.vsRouteOrder,
                virtualService([
                    { name: "primary", route: [raw("a")] },
                    { name: "canary", match: [{ headers: { traffic: { exact: "test" } } }], route: [raw("b")] },
                ]),
            ),
        expect: /route "primary" has no match but is not last/,
    },
    ...(
        [
            ["an empty match entry", [{}]],
            ["a match with empty headers", [{ headers: {} }]],
            ["a match with only a name", [{ name: "all" }]],
            ['a match on uri prefix "/"', [{ uri: { prefix: "/" } }]],
            ["one catch-all entry among conditions", [{ headers: { t: { exact: "1" } } }, { queryParams: {} }]],
        ] as [string, Record<string, unknown>[]][]
    ).map(([what, match]) => ({
        title: `a catch-all route first: ${what}`,
        run: () =>
            resourceViolations(
                rules.vsRouteOrder,
                virtualService([
                    { name: "all", match, route: [raw("b")] },
                    { name: "primary", route: [raw("a")] },
                ]),
            ),
        expect: /route "all" has a match that constrains nothing but is not last/,
    })),
    {
        title: "a tcp catch-all route before a matched tcp route",
        run: () =>
            resourceViolations(
                rules.vsRouteOrder,
                l4VirtualService("tcp", [
                    { route: [svcDest("a")] },
                    { match: [{ port: 5432 }], route: [svcDest("b")] },
                ]),
            ),
        expect: /tcp route #0 has no match but is not last; it takes every connection/,
    },
    {
        title: "a VirtualService without any route",
        run: () => resourceViolations(rules.vsRouteOrder, virtualService([])),
        expect: /has no http, tcp or tls routes/,
    },
    {
        title: "tcp route to a Service not in the stack",
        run: () =>
            stackViolations(rules.vsDestinationsResolve, [
                l4VirtualService("tcp", [{ route: [svcDest("a", 50), svcDest("b", 50)] }]),
                service("a"),
            ]),
        expect: /tcp route #0 sends traffic to Service default\/b, which is not in the stack/,
    },
    {
        title: "tls route to an InferenceService predictor not in the stack",
        run: () =>
            stackViolations(rules.vsDestinationsResolve, [
                l4VirtualService("tls", [
                    {
                        match: [{ sniHosts: ["db.example.com"] }],
                        route: [dest("m-predictor.default.svc.cluster.local")],
                    },
                ]),
            ]),
        expect: /tls route #0 sends traffic to InferenceService default\/m, which is not in the stack/,
    },
    {
        title: "http mirrors to a Service not in the stack",
        run: () =>
            stackViolations(rules.vsDestinationsResolve, [
                virtualService([
                    {
                        route: [dest("a.default.svc.cluster.local", 100, "a")],
                        mirrors: [{ destination: { host: "b" } }],
                    },
                ]),
                service("a"),
            ]),
        expect: /sends traffic to Service default\/b, which is not in the stack/,
    },
    {
        title: "tcp split summing to 90 (strict)",
        run: () =>
            resourceViolations(
                rules.vsWeightSum,
                l4VirtualService("tcp", [{ route: [svcDest("a", 30), svcDest("b", 60)] }]),
            ),
        expect: /tcp route #0 splits 30\/60 \(total 90\)/,
    },
    {
        title: "tcp candidate above the configured maximum",
        run: () =>
            violationsOf(
                rules.maxCandidatePercent,
                [l4VirtualService("tcp", [{ route: [svcDest("a", 10), svcDest("b", 90)] }])],
                {
                    maxPercent: 50,
                },
            ),
        expect: /tcp route #0 gives candidate b.default.svc.cluster.local 90%, above the maximum of 50%/,
    },
    {
        title: "KServe canary (canaryTrafficPercent) above the configured maximum",
        run: () =>
            violationsOf(
                rules.maxCandidatePercent,
                [
                    inferenceService(
                        "a",
                        { "serving.kserve.io/deploymentMode": "Knative" },
                        { canaryTrafficPercent: 90, model: {} },
                    ),
                ],
                { maxPercent: 50 },
            ),
        expect: /InferenceService default\/a gives its latest revision \(the candidate\) canaryTrafficPercent 90, above the maximum of 50%/,
    },
    {
        title: "canaryTrafficPercent 150",
        run: () =>
            resourceViolations(
                rules.isvcCanaryTrafficPercent,
                inferenceService(
                    "a",
                    { "serving.kserve.io/deploymentMode": "Knative" },
                    { canaryTrafficPercent: 150, model: {} },
                ),
            ),
        expect: /canaryTrafficPercent 150/,
    },
    {
        title: "canaryTrafficPercent in Standard mode",
        run: () =>
            resourceViolations(
                rules.isvcCanaryTrafficPercent,
                inferenceService("a", GATED, { canaryTrafficPercent: 10, model: {} }),
            ),
        expect: /in Standard mode; KServe only reads it in Knative/,
    },
    {
        title: "no deployment mode annotation",
        run: () => resourceViolations(rules.isvcDeploymentMode, inferenceService("a", {})),
        expect: /has no serving.kserve.io\/deploymentMode annotation/,
    },
    {
        title: "ModelMesh loading from hf://",
        run: () =>
            resourceViolations(
                rules.isvcStorageUri,
                inferenceService(
                    "a",
                    { "serving.kserve.io/deploymentMode": "ModelMesh" },
                    { model: { storageUri: "hf://org/model" } },
                ),
            ),
        expect: /ModelMesh cannot load/,
    },
    {
        title: "KServe loading from ftp://",
        run: () =>
            resourceViolations(
                rules.isvcStorageUri,
                inferenceService("a", GATED, { model: { storageUri: "ftp://x" } }),
            ),
        expect: /KServe cannot load/,
    },
    {
        title: "InferenceService without readiness gate",
        run: () =>
            resourceViolations(
                rules.isvcReadinessGate,
                inferenceService("a", { "serving.kserve.io/deploymentMode": "Knative" }),
            ),
        expect: /has no readiness gate/,
    },
    {
        title: "weight ConfigMap recording 120%",
        run: () => resourceViolations(rules.weightConfigPercent, weightConfig("a", { percent: "120" })),
        expect: /records model-release.dev\/percent "120"/,
    },
    {
        title: "weight ConfigMap recording 33.5%",
        run: () => resourceViolations(rules.weightConfigPercent, weightConfig("a", { percent: "33.5" })),
        expect: /records model-release.dev\/percent "33.5"/,
    },
    {
        title: "route to an InferenceService not in the stack (deleted)",
        run: () =>
            stackViolations(rules.vsDestinationsResolve, [
                virtualService([{ route: [raw("a", 50), raw("b", 50)] }]),
                inferenceService("a", GATED),
            ]),
        expect: /sends traffic to InferenceService default\/b, which is not in the stack \(or is being deleted\)/,
    },
    {
        title: "ModelMesh route to an unknown model id",
        run: () =>
            stackViolations(rules.vsDestinationsResolve, [
                virtualService([
                    { route: [dest("modelmesh-serving.default.svc.cluster.local", 100, "x", { "mm-vmodel-id": "x" })] },
                ]),
            ]),
        expect: /InferenceService default\/x, which is not in the stack/,
    },
    {
        title: "route to an external host",
        run: () =>
            stackViolations(rules.vsDestinationsResolve, [
                virtualService([{ route: [dest("example.com:443", 100, "x")] }]),
            ]),
        expect: /sends traffic to example.com:443, which is no version object/,
    },
    {
        title: "ConfigMap disagreeing with the VirtualService",
        run: () =>
            stackViolations(rules.weightConfigAgrees, [
                virtualService([{ route: [raw("a", 30), raw("b", 70)] }]),
                weightConfig("b", { percent: "50" }),
            ]),
        expect: /records 50% for b, but VirtualService default\/app sends it 70%/,
    },
    {
        title: "ConfigMap mirrorPercent disagreeing",
        run: () =>
            stackViolations(rules.weightConfigAgrees, [
                virtualService([
                    {
                        route: [dest("a.default.svc.cluster.local", 100, "a")],
                        mirror: { host: "b.default.svc.cluster.local" },
                        mirrorPercentage: { value: 20 },
                    },
                ]),
                weightConfig("b", { percent: "0", mirrorPercent: "50" }),
            ]),
        expect: /mirrorPercent 50 for b, but VirtualService default\/app mirrors 20%/,
    },
    {
        title: "traffic to an ungated InferenceService",
        run: () =>
            stackViolations(rules.noTrafficWithoutReadinessGate, [
                virtualService([{ route: [raw("a", 90), raw("b", 10)] }]),
                inferenceService("a", GATED),
                inferenceService("b", { "serving.kserve.io/deploymentMode": "Standard" }),
            ]),
        expect: /InferenceService default\/b, which has no readiness gate/,
    },
    {
        title: "traffic to a Deployment that skips await",
        run: () =>
            stackViolations(rules.noTrafficWithoutReadinessGate, [
                virtualService([{ route: [dest("a.default.svc.cluster.local", 100, "a")] }]),
                service("a"),
                {
                    type: DEPLOYMENT,
                    name: "default/a",
                    props: {
                        metadata: { name: "a", namespace: "default", annotations: { "pulumi.com/skipAwait": "true" } },
                    },
                },
            ]),
        expect: /Service default\/a, which has no readiness gate/,
    },
    {
        title: "two VirtualServices claiming one host",
        run: () =>
            stackViolations(rules.uniqueHosts, [
                virtualService([{ route: [raw("a")] }], "one", "default", ["app.default"]),
                virtualService([{ route: [raw("b")] }], "two", "default", ["app.default"]),
            ]),
        expect: /both claim host app.default \(Istio conflict IST0109\)/,
    },
    {
        title: "VirtualService claiming a KServe-owned host (Knative mode's <isvc> Service)",
        run: () =>
            stackViolations(rules.uniqueHosts, [
                virtualService([{ route: [raw("a")] }], "app", "default", ["a.default.svc.cluster.local"]),
                inferenceService("a", { ...GATED, "serving.kserve.io/deploymentMode": "Knative" }),
            ]),
        expect: /claims host a.default.svc.cluster.local, which KServe owns/,
    },
    {
        title: "VirtualService claiming a KServe-owned host (Standard mode's <isvc>-predictor Service)",
        run: () =>
            stackViolations(rules.uniqueHosts, [
                virtualService([{ route: [raw("a")] }], "app", "default", ["a-predictor.default.svc.cluster.local"]),
                inferenceService("a", GATED),
            ]),
        expect: /claims host a-predictor.default.svc.cluster.local, which KServe owns for InferenceService default\/a/,
    },
    {
        title: "candidate above the configured maximum",
        run: () =>
            violationsOf(rules.maxCandidatePercent, [virtualService([{ route: [raw("a", 40), raw("b", 60)] }])], {
                maxPercent: 50,
            }),
        expect: /gives candidate b 60%, above the maximum of 50%/,
    },
    {
        title: "object outside the allowed namespaces",
        run: () =>
            violationsOf(rules.allowedNamespaces, [inferenceService("a", GATED, undefined, "prod")], {
                namespaces: ["models"],
            }),
        expect: /is in namespace prod, which is not allowed/,
    },
    {
        title: "workload without version label",
        run: () => {
            const isvc = inferenceService("a", GATED);
            (isvc.props.metadata as { labels: Record<string, string> }).labels = { "app.kubernetes.io/name": "app" };
            return resourceViolations(rules.requiredLabels, isvc);
        },
        expect: /lacks label app.kubernetes.io\/version/,
    },
];

describe("policy rules refuse invalid states", () => {
    it(`covers at least 15 invalid weight and routing states (has ${invalidStates.length})`, () => {
        assert.ok(invalidStates.length >= 15);
    });
    refusesEach(invalidStates);
});

describe("policy rules accept every route kind without false positives", () => {
    const tcpOnly = l4VirtualService("tcp", [
        { match: [{ port: 5432 }], route: [svcDest("a", 90), svcDest("b", 10)] },
        { route: [svcDest("a")] },
    ]);
    const tlsOnly = l4VirtualService("tls", [
        { match: [{ sniHosts: ["a.example.com"] }], route: [svcDest("a")] },
        { match: [{ sniHosts: ["b.example.com"], port: 443 }], route: [svcDest("b")] },
    ]);
    const stack = (vs: TestResource) => [vs, service("a"), service("b")];

    for (const [what, vs] of [
        ["a TCP-only VirtualService", tcpOnly],
        ["a TLS-only VirtualService", tlsOnly],
        [
            "a tcp route without a catch-all",
            l4VirtualService("tcp", [{ match: [{ port: 5432 }], route: [svcDest("a")] }]),
        ],
        [
            "an http route whose only match is uri prefix / (the usual catch-all), last",
            virtualService([canaryRoute, { name: "all", match: [{ uri: { prefix: "/" } }], route: [raw("a")] }]),
        ],
    ] as [string, TestResource][]) {
        it(`passes ${what} through every rule`, async () => {
            const resources = [...stack(vs), inferenceService("a", GATED), inferenceService("b", GATED)];
            for (const policy of allPolicies) {
                assert.deepEqual(await violationsOf(policy, resources), [], policy.name);
            }
        });
    }

    it("resolves tcp and tls destinations to the stack's Services", async () => {
        assert.deepEqual(await stackViolations(rules.vsDestinationsResolve, stack(tcpOnly)), []);
        assert.deepEqual(await stackViolations(rules.vsDestinationsResolve, stack(tlsOnly)), []);
        assert.equal((await stackViolations(rules.vsDestinationsResolve, [tcpOnly, service("a")])).length, 1);
    });
});

describe("policy config", () => {
    const split = [virtualService([{ route: [raw("a", 1), raw("b", 1)] }])];

    it("defaults to strict weight sums and accepts Istio >= 1.15 relative weights when configured", async () => {
        assert.equal((await resourceViolations(rules.vsWeightSum, split[0])).length, 1);
        assert.deepEqual(await resourceViolations(rules.vsWeightSum, split[0], { mode: "istio-1.15" }), []);
    });

    it("guards the candidate share of every strategy alike: blue-green 10/90 and kserve-canary 90 are refused under 50", async () => {
        const blueGreen = await componentResources({
            wisdom: wisdom([modelVersion("v0", { weight: 10 }), modelVersion("v1", { weight: 90 })]),
        });
        const kserveCanary = await componentResources({
            "sklearn-iris": sklearnIris("gs://m2", { canaryTrafficPercent: 90 }),
        });
        assert.notDeepEqual(await violationsOf(rules.maxCandidatePercent, blueGreen, { maxPercent: 50 }), []);
        assert.match(
            (await violationsOf(rules.maxCandidatePercent, kserveCanary, { maxPercent: 50 })).join("\n"),
            /canaryTrafficPercent 90, above the maximum of 50%/,
        );
        const at10 = await componentResources({ "sklearn-iris": sklearnIris("gs://m2", { canaryTrafficPercent: 10 }) });
        assert.deepEqual(await violationsOf(rules.maxCandidatePercent, at10, { maxPercent: 50 }), []);
    });

    it("does not count mirrored requests as candidate traffic: the mirror's answers are discarded", async () => {
        const mirrored = await componentResources({
            httpbin: httpbin([appVersion(), appVersion({ mirrorPercent: 100 })], { strategy: "mirror" }),
        });
        assert.deepEqual(await violationsOf(rules.maxCandidatePercent, mirrored, { maxPercent: 10 }), []);
    });

    it("allows any candidate share by default and limits it when configured", async () => {
        const vs = [virtualService([{ route: [raw("a", 10), raw("b", 90)] }])];
        assert.deepEqual(await violationsOf(rules.maxCandidatePercent, vs), []);
        assert.equal((await violationsOf(rules.maxCandidatePercent, vs, { maxPercent: 25 })).length, 1);
    });

    it("allows any namespace by default and restricts when configured", async () => {
        const resources = [inferenceService("a", GATED, undefined, "prod")];
        assert.deepEqual(await violationsOf(rules.allowedNamespaces, resources), []);
        assert.deepEqual(await violationsOf(rules.allowedNamespaces, resources, { namespaces: ["prod"] }), []);
    });

    it("requires configured labels", async () => {
        const isvc = inferenceService("a", GATED);
        assert.deepEqual(await violationsOf(rules.requiredLabels, [isvc]), []);
        assert.match((await violationsOf(rules.requiredLabels, [isvc], { labels: ["team"] }))[0], /lacks label team/);
    });

    it("declares a schema for every tunable, with defaults", () => {
        const schemas = Object.fromEntries(
            allPolicies.filter((p) => p.configSchema).map((p) => [p.name, p.configSchema?.properties]),
        );
        assert.deepEqual(Object.keys(schemas).sort(), [
            "allowed-namespaces",
            "http-route-weight-sum",
            "max-candidate-percent",
            "required-labels",
            "vs-weight-sum",
        ]);
        assert.deepEqual(schemas["vs-weight-sum"]?.mode, {
            type: "string",
            enum: ["strict", "istio-1.15"],
            default: "strict",
        });
        assert.deepEqual(schemas["max-candidate-percent"]?.maxPercent, {
            type: "integer",
            minimum: 0,
            maximum: 100,
            default: 100,
        });
    });

    it("catches a component-shaped state gone wrong: a hand-edited split", async () => {
        const [resources] = componentOutput;
        const edited = copy(resources);
        const vs = edited.find((r) => r.type === VS);
        assert.ok(vs);
        const http = (vs.props.spec as { http: { name: string; route: { weight: number }[] }[] }).http;
        const split = http.find((r) => r.name === "split");
        assert.ok(split);
        split.route[1].weight = 80;
        assert.match((await resourceViolations(rules.vsWeightSum, vs))[0], /splits 30\/80 \(total 110\)/);
        assert.match(
            (await stackViolations(rules.weightConfigAgrees, edited))[0],
            /records 70% for wisdom-1, but VirtualService default\/wisdom sends it 80%/,
        );
    });
});
