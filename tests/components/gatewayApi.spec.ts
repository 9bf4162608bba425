import * as assert from "node:assert/strict";

import { ReleasePlan } from "../../components/plan";
import { ReleaseArgs, RoutingArgs, VersionArgs } from "../../components/types";
import { appVersion, httpbin, issuesOf, manifestOf, modelVersion, plan, wisdom, wisdomModelMesh } from "./fixtures";

const GATEWAY_API: RoutingArgs = { backend: "gateway-api" };

interface BackendRef {
    group: string;
    kind: string;
    name: string;
    port: number;
    weight: number;
    filters: { type: string; responseHeaderModifier?: { set: { name: string; value: string }[] } }[];
}

interface Rule {
    matches: Record<string, unknown>[];
    filters?: Record<string, unknown>[];
    backendRefs: BackendRef[];
}

interface RouteSpec {
    parentRefs: Record<string, unknown>[];
    hostnames: string[];
    rules: Rule[];
}

function routeOf(p: ReleasePlan): RouteSpec {
    return manifestOf(p, `HTTPRoute/${p.name}`).spec as RouteSpec;
}

/** [backend name, weight] per backendRef of each rule. */
function weightsOf(spec: RouteSpec): [string, number][][] {
    return spec.rules.map((rule) => rule.backendRefs.map((b) => [b.name, b.weight]));
}

function gatewayApi(args: ReleaseArgs, routing: RoutingArgs = {}): ReleaseArgs {
    return { ...args, routing: { ...GATEWAY_API, ...routing } };
}

const rawWisdom = (versions: VersionArgs[], extra: Partial<ReleaseArgs> = {}) =>
    gatewayApi(wisdom(versions, { environment: "kserve-raw", ...extra }));

describe("Gateway API back-end: the plan", () => {
    it("renders an HTTPRoute instead of a VirtualService, attached to the app's ClusterIP Service (GAMMA)", () => {
        const p = plan(gatewayApi(httpbin([appVersion({ weight: 90 }), appVersion({ weight: 10 })])), "httpbin");
        assert.deepEqual(
            p.objects.map((o) => o.id).filter((id) => /VirtualService|HTTPRoute|Service\/httpbin$/.test(id)),
            ["Service/httpbin", "HTTPRoute/httpbin"],
        );
        const route = manifestOf(p, "HTTPRoute/httpbin");
        assert.equal(route.apiVersion, "gateway.networking.k8s.io/v1");
        assert.deepEqual(manifestOf(p, "Service/httpbin").spec, {
            type: "ClusterIP",
            ports: [{ name: "http", port: 80, protocol: "TCP" }],
            sessionAffinity: "None",
        });
        const spec = routeOf(p);
        assert.deepEqual(spec.parentRefs, [{ group: "", kind: "Service", name: "httpbin", port: 80 }]);
        assert.deepEqual(spec.hostnames, [
            "httpbin.default",
            "httpbin.default.svc",
            "httpbin.default.svc.cluster.local",
        ]);
        assert.deepEqual(weightsOf(spec), [
            [
                ["httpbin-0", 90],
                ["httpbin-1", 10],
            ],
        ]);
        assert.deepEqual(spec.rules[0].matches, [{ path: { type: "PathPrefix", value: "/" } }]);
        assert.deepEqual(spec.rules[0].backendRefs[1].filters, [
            {
                type: "ResponseHeaderModifier",
                responseHeaderModifier: { set: [{ name: "app-version", value: "httpbin-1" }] },
            },
        ]);
        // The routing waits for the versions, as with a VirtualService.
        const routing = p.objects.find((o) => o.id === "HTTPRoute/httpbin");
        assert.ok(routing?.dependsOn.includes("Deployment/httpbin-1"));
    });

    it("writes every weight as the traffic table's integer percent: 0 stays 0, 1:2 is 33/67", () => {
        const zero = routeOf(
            plan(gatewayApi(httpbin([appVersion({ weight: 1 }), appVersion({ weight: 0 })])), "httpbin"),
        );
        assert.deepEqual(weightsOf(zero), [
            [
                ["httpbin-0", 100],
                ["httpbin-1", 0],
            ],
        ]);
        const thirds = routeOf(
            plan(gatewayApi(httpbin([appVersion({ weight: 1 }), appVersion({ weight: 2 })])), "httpbin"),
        );
        assert.deepEqual(
            weightsOf(thirds)[0].map(([, w]) => w),
            [33, 67],
        );
    });

    it("routes a canary by header in its own rule, translating prefixes to equivalent regular expressions", () => {
        const p = plan(
            gatewayApi(
                httpbin(
                    [
                        appVersion(),
                        appVersion({
                            match: [
                                { headers: { traffic: { exact: "test" } } },
                                { headers: { "x-user": { prefix: "beta.tester" } }, uri: { prefix: "/api" } },
                                {
                                    queryParams: { v: { regex: "^2$" } },
                                    method: { exact: "POST" },
                                    uri: { exact: "/x" },
                                },
                            ],
                        }),
                    ],
                    { strategy: "canary" },
                ),
            ),
            "httpbin",
        );
        const spec = routeOf(p);
        assert.deepEqual(weightsOf(spec), [[["httpbin-1", 100]], [["httpbin-0", 100]]]);
        assert.deepEqual(spec.rules[0].matches, [
            { path: { type: "PathPrefix", value: "/" }, headers: [{ name: "traffic", type: "Exact", value: "test" }] },
            {
                path: { type: "RegularExpression", value: "^/api.*" },
                headers: [{ name: "x-user", type: "RegularExpression", value: "^beta\\.tester.*" }],
            },
            {
                path: { type: "Exact", value: "/x" },
                queryParams: [{ name: "v", type: "RegularExpression", value: "^2$" }],
                method: "POST",
            },
        ]);
        assert.deepEqual(spec.rules[1].matches, [{ path: { type: "PathPrefix", value: "/" } }]);
    });

    it("mirrors with a RequestMirror filter and its percent", () => {
        const p = plan(
            gatewayApi(httpbin([appVersion(), appVersion({ mirrorPercent: 20 })], { strategy: "mirror" })),
            "httpbin",
        );
        const [rule] = routeOf(p).rules;
        assert.deepEqual(weightsOf(routeOf(p)), [[["httpbin-0", 100]]]);
        assert.deepEqual(rule.filters, [
            {
                type: "RequestMirror",
                requestMirror: { backendRef: { group: "", kind: "Service", name: "httpbin-1", port: 80 }, percent: 20 },
            },
        ]);
    });

    it("attaches to configured Gateways, and to the mesh unless routing.mesh is false", () => {
        const both = routeOf(
            plan(
                gatewayApi(httpbin([appVersion()], { strategy: "none" }), { gateways: ["istio-system/public"] }),
                "httpbin",
            ),
        );
        assert.deepEqual(both.parentRefs, [
            { group: "gateway.networking.k8s.io", kind: "Gateway", namespace: "istio-system", name: "public" },
            { group: "", kind: "Service", name: "httpbin", port: 80 },
        ]);
        const northSouth = routeOf(
            plan(
                gatewayApi(httpbin([appVersion()], { strategy: "none" }), {
                    gateways: ["istio-system/public"],
                    mesh: false,
                }),
                "httpbin",
            ),
        );
        assert.deepEqual(northSouth.parentRefs, [
            { group: "gateway.networking.k8s.io", kind: "Gateway", namespace: "istio-system", name: "public" },
        ]);
    });

    it("KServe Standard mode: rewrites the model name per rule (prefix for /v1 and /v2 paths, full path for the v1 verbs)", () => {
        const spec = routeOf(plan(rawWisdom([modelVersion("v0")], { strategy: "none" })));
        assert.equal(spec.rules.length, 5);
        for (const rule of spec.rules) {
            assert.deepEqual(
                rule.backendRefs.map((b) => [b.name, b.port, b.weight]),
                [["wisdom-0-predictor", 80, 100]],
            );
        }
        const rewrites = spec.rules.map((rule) => [rule.matches, rule.filters]);
        assert.deepEqual(rewrites, [
            [
                [{ path: { type: "PathPrefix", value: "/v1/models/wisdom" } }],
                [
                    {
                        type: "URLRewrite",
                        urlRewrite: { path: { type: "ReplacePrefixMatch", replacePrefixMatch: "/v1/models/wisdom-0" } },
                    },
                ],
            ],
            [
                [{ path: { type: "PathPrefix", value: "/v2/models/wisdom" } }],
                [
                    {
                        type: "URLRewrite",
                        urlRewrite: { path: { type: "ReplacePrefixMatch", replacePrefixMatch: "/v2/models/wisdom-0" } },
                    },
                ],
            ],
            [
                [{ path: { type: "Exact", value: "/v1/models/wisdom:predict" } }],
                [
                    {
                        type: "URLRewrite",
                        urlRewrite: {
                            path: { type: "ReplaceFullPath", replaceFullPath: "/v1/models/wisdom-0:predict" },
                        },
                    },
                ],
            ],
            [
                [{ path: { type: "Exact", value: "/v1/models/wisdom:explain" } }],
                [
                    {
                        type: "URLRewrite",
                        urlRewrite: {
                            path: { type: "ReplaceFullPath", replaceFullPath: "/v1/models/wisdom-0:explain" },
                        },
                    },
                ],
            ],
            [[{ path: { type: "PathPrefix", value: "/" } }], undefined],
        ]);
    });

    it("KServe Standard mode: a canary's rules carry its headers on the same paths (more specific than the primary's)", () => {
        const spec = routeOf(
            plan(
                rawWisdom(
                    [modelVersion("v0"), modelVersion("v1", { match: [{ headers: { traffic: { exact: "test" } } }] })],
                    { strategy: "canary" },
                ),
            ),
        );
        assert.equal(spec.rules.length, 10);
        const header = [{ name: "traffic", type: "Exact", value: "test" }];
        for (const rule of spec.rules.slice(0, 5)) {
            assert.equal(rule.backendRefs[0].name, "wisdom-1-predictor");
            for (const m of rule.matches) assert.deepEqual(m.headers, header);
        }
        for (const rule of spec.rules.slice(5)) {
            assert.equal(rule.backendRefs[0].name, "wisdom-0-predictor");
            for (const m of rule.matches) assert.equal(m.headers, undefined);
        }
        // Same paths, version for version.
        assert.deepEqual(
            spec.rules.slice(0, 5).map((r) => r.matches.map((m) => m.path)),
            spec.rules.slice(5).map((r) => r.matches.map((m) => m.path)),
        );
    });

    it("KServe Standard mode blue-green routes the one served version (100/0)", () => {
        const spec = routeOf(plan(rawWisdom([modelVersion("v0", { weight: 0 }), modelVersion("v1", { weight: 5 })])));
        assert.ok(spec.rules.every((r) => r.backendRefs.every((b) => b.name === "wisdom-1-predictor")));
    });

    it("every rule's weights sum to exactly 100 over strategies and environments", () => {
        const cases: [ReleaseArgs, string][] = [
            [
                gatewayApi(httpbin([appVersion({ weight: 3 }), appVersion({ weight: 7 }), appVersion({ weight: 1 })])),
                "httpbin",
            ],
            [gatewayApi(httpbin([appVersion(), appVersion()], { strategy: "canary" })), "httpbin"],
            [gatewayApi(httpbin([appVersion(), appVersion()], { strategy: "mirror" })), "httpbin"],
            [rawWisdom([modelVersion("v0"), modelVersion("v1")], { strategy: "canary" }), "wisdom"],
            [rawWisdom([modelVersion("v0")], { strategy: "none" }), "wisdom"],
        ];
        for (const [args, key] of cases) {
            for (const rule of routeOf(plan(args, key)).rules) {
                assert.equal(
                    rule.backendRefs.reduce((sum, b) => sum + b.weight, 0),
                    100,
                    JSON.stringify(rule),
                );
            }
        }
    });
});

describe("Gateway API back-end: what it cannot express is refused with its path", () => {
    const refused = (args: unknown, path: string, problem: RegExp, key = "wisdom") => {
        const issues = issuesOf(args, key);
        const issue = issues.find((i) => i.path === path);
        assert.ok(issue, `no issue at ${path}: ${JSON.stringify(issues)}`);
        assert.match(issue.problem, problem);
        return issue;
    };

    it("refuses KServe Knative mode and ModelMesh, naming the reason and the way out", () => {
        const knative = refused(
            gatewayApi(wisdom([modelVersion("v0")])),
            "releases.wisdom.routing.backend",
            /not offered with environment kserve \(Knative mode\).*ReferenceGrant/,
        );
        assert.match(knative.fix, /kserve-raw/);
        refused(
            gatewayApi(wisdomModelMesh([{ storageUri: "s3://m/a" }])),
            "releases.wisdom.routing.backend",
            /not offered with environment kserve-modelmesh.*GRPCRoute/,
        );
    });

    it("refuses a weighted KServe Standard-mode split and a rollout, but not 100/0", () => {
        const split = refused(
            rawWisdom([modelVersion("v0", { weight: 90 }), modelVersion("v1", { weight: 10 })]),
            "releases.wisdom.routing.backend",
            /cannot route the split wisdom-0 90% \/ wisdom-1 10%.*backendRef URLRewrite/,
        );
        assert.match(split.fix, /strategy canary/);
        refused(
            rawWisdom([modelVersion("v0", { weight: 100 }), modelVersion("v1", { weight: 0 })], {
                rollout: { steps: [10] },
            }),
            "releases.wisdom.routing.backend",
            /cannot run the rollout's steps/,
        );
        plan(rawWisdom([modelVersion("v0", { weight: 100 }), modelVersion("v1", { weight: 0 })]));
    });

    it("refuses canary match parts with no Gateway API equivalent, each at its own path", () => {
        const args = gatewayApi(
            httpbin(
                [
                    appVersion(),
                    appVersion({
                        match: [
                            {
                                headers: { a: { exact: "1" } },
                                withoutHeaders: { b: { exact: "2" } },
                                sourceLabels: { app: "x" },
                                sourceNamespace: "ns",
                                name: "m",
                                method: { regex: "GET|POST" },
                            },
                        ],
                    }),
                ],
                { strategy: "canary" },
            ),
        );
        const issues = issuesOf(args, "httpbin");
        assert.deepEqual(
            issues.map((i) => i.path),
            ["withoutHeaders", "sourceLabels", "sourceNamespace", "name", "method"].map(
                (field) => `releases.httpbin.versions[1].match[0].${field}`,
            ),
        );
        for (const issue of issues) assert.match(issue.problem, /cannot be expressed with routing.backend gateway-api/);
    });

    it("refuses Istio-only routing settings, mesh on Istio, and a route attached to nothing", () => {
        refused(
            gatewayApi(httpbin([appVersion()], { strategy: "none" }), {
                entryTarget: "gw.istio-system.svc.cluster.local",
            }),
            "releases.httpbin.routing.entryTarget",
            /has no effect with routing.backend gateway-api/,
            "httpbin",
        );
        refused(
            { ...httpbin([appVersion()], { strategy: "none" }), routing: { mesh: true } },
            "releases.httpbin.routing.mesh",
            /has no effect with routing.backend istio/,
            "httpbin",
        );
        refused(
            gatewayApi(httpbin([appVersion()], { strategy: "none" }), { mesh: false }),
            "releases.httpbin.routing.mesh",
            /attach to nothing/,
            "httpbin",
        );
        refused(
            { ...httpbin([appVersion()], { strategy: "none" }), routing: { backend: "gateway" } },
            "releases.httpbin.routing.backend",
            /must be one of istio, gateway-api/,
            "httpbin",
        );
    });

    it("refuses a release that needs more than 16 HTTPRoute rules", () => {
        const candidate = (n: number) =>
            modelVersion(`v${n}`, {
                match: [{ headers: { c: { exact: String(n) } } }, { headers: { d: { exact: String(n) } } }],
            });
        refused(
            rawWisdom([modelVersion("v0"), candidate(1), candidate(2)], { strategy: "canary" }),
            "releases.wisdom.versions",
            /render 19 HTTPRoute rules, and an HTTPRoute holds at most 16/,
        );
    });
});
