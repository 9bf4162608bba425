// The rules for Gateway API HTTPRoutes (and the shared rules that read them): valid routes pass,
// each invalid state is refused with a message naming the route and the problem.
import * as assert from "node:assert/strict";

import * as rules from "../../policies/rules";
import { allPolicies } from "../../policies/rules";
import { ReleaseArgs } from "../../components/types";
import { appVersion, httpbin, modelVersion, wisdom } from "../components/fixtures";
import {
    EVERY_PATH,
    HTTP_ROUTE,
    HTTP_ROUTE_V1BETA1,
    backend,
    canaryRoute,
    deployment,
    deploymentVersions,
    headerMatch,
    httpRoute,
    inferenceService,
    kserveRoute,
    mirror,
    mirrorRoute,
    rule,
    service,
    splitRoute,
    virtualService,
    weightConfig,
} from "./fixtures";
import {
    InvalidState,
    TestResource,
    componentResources,
    copy,
    refusesEach,
    resourceViolations,
    stackViolations,
    violationsOf,
} from "./helpers";

/** Hand-built stacks that every rule accepts. */
const validStacks: [string, () => TestResource[]][] = [
    [
        "a blue-green split 90/10 with its weight ConfigMaps",
        () => [
            splitRoute(90, 10),
            service("app"),
            ...deploymentVersions(),
            weightConfig("a", { percent: "90", role: "primary" }),
            weightConfig("b", { percent: "10" }),
        ],
    ],
    ["a header canary", () => [canaryRoute(), service("app"), ...deploymentVersions()]],
    [
        "a 20% mirror with its weight ConfigMaps",
        () => [
            mirrorRoute(),
            service("app"),
            ...deploymentVersions(),
            weightConfig("a", { percent: "100", mirrorPercent: "0", role: "primary" }),
            weightConfig("b", { percent: "0", mirrorPercent: "20" }),
        ],
    ],
    [
        "a mirror by fraction 1/5 (20%)",
        () => [
            mirrorRoute({ fraction: { numerator: 1, denominator: 5 } }),
            ...deploymentVersions(),
            weightConfig("b", { percent: "0", mirrorPercent: "20" }),
        ],
    ],
    [
        "a KServe Standard-mode route to <isvc>-predictor with model path rules",
        () => [
            kserveRoute("m-1"),
            inferenceService("m-0"),
            inferenceService("m-1"),
            weightConfig("m-0", { percent: "0", role: "primary" }),
            weightConfig("m-1", { percent: "100" }),
        ],
    ],
    [
        "a v1beta1 HTTPRoute whose default rule has no matches and a backend in another namespace",
        () => [
            httpRoute([rule([backend("a", 100, { namespace: "other" })], { matches: null })], {
                type: HTTP_ROUTE_V1BETA1,
            }),
            service("a", "other"),
        ],
    ],
];

describe("HTTPRoute rules accept valid routes", () => {
    for (const [what, stack] of validStacks) {
        it(`passes ${what} through every rule`, async () => {
            const resources = stack();
            for (const policy of allPolicies) {
                assert.deepEqual(await violationsOf(policy, resources), [], policy.name);
            }
        });
    }

    it("accepts relative weights (1/3) in relative mode only", async () => {
        const route = splitRoute(1, 3);
        assert.deepEqual(await resourceViolations(rules.httpRouteWeightSum, route, { mode: "relative" }), []);
        assert.match(
            (await resourceViolations(rules.httpRouteWeightSum, route)).join("\n"),
            /HTTPRoute default\/app rule #0 splits 1\/3 \(total 4\)/,
        );
    });

    it("does not count a mirror to a backend with weight 0 as mirroring to a weighted backend", async () => {
        const route = httpRoute([rule([backend("a", 100), backend("b", 0)], { filters: [mirror("b")] })]);
        assert.deepEqual(await resourceViolations(rules.httpRouteMirrorTarget, route), []);
    });

    it("counts neither canary rules nor mirrored requests as a candidate's share", async () => {
        assert.deepEqual(await violationsOf(rules.maxCandidatePercent, [canaryRoute()], { maxPercent: 10 }), []);
        assert.deepEqual(
            await violationsOf(rules.maxCandidatePercent, [mirrorRoute({ percent: 100 })], { maxPercent: 10 }),
            [],
        );
    });

    it("does not send traffic to an ungated version with weight 0", async () => {
        const resources = [
            splitRoute(100, 0),
            ...deploymentVersions().slice(0, 3),
            deployment("b", { skipAwait: true }),
        ];
        assert.deepEqual(await stackViolations(rules.noTrafficWithoutReadinessGate, resources), []);
    });

    it("declares the weight-sum mode with a default of strict", () => {
        assert.deepEqual(rules.httpRouteWeightSum.configSchema?.properties.mode, {
            type: "string",
            enum: ["strict", "relative"],
            default: "strict",
        });
    });
});

/** Invalid states, each expected to be refused by the named rule with a message matching. */
const invalidStates: InvalidState[] = [
    // http-route-weight-range
    {
        title: "an omitted weight (Gateway API would give it 1)",
        run: () => resourceViolations(rules.httpRouteWeightRange, splitRoute(90, null)),
        expect: /HTTPRoute default\/app rule #0 backendRef #1 \(Service b:80\) has no weight; Gateway API then gives it weight 1/,
    },
    {
        title: "a weight above 100",
        run: () => resourceViolations(rules.httpRouteWeightRange, splitRoute(150, -50)),
        expect: /HTTPRoute default\/app rule #0 backendRef #0 \(Service a:80\) has weight 150; use an integer from 0 to 100/,
    },
    {
        title: "a negative weight",
        run: () => resourceViolations(rules.httpRouteWeightRange, splitRoute(110, -10)),
        expect: /backendRef #1 \(Service b:80\) has weight -10/,
    },
    {
        title: "a fractional weight",
        run: () => resourceViolations(rules.httpRouteWeightRange, splitRoute(33.5, 66.5)),
        expect: /HTTPRoute default\/app rule #0 backendRef #0 \(Service a:80\) has weight 33.5/,
    },
    {
        title: "a weight given as a string",
        run: () => resourceViolations(rules.httpRouteWeightRange, httpRoute([rule([backend("a", "100")])])),
        expect: /backendRef #0 \(Service a:80\) has weight "100"; use an integer/,
    },
    {
        title: "an omitted weight in a v1beta1 HTTPRoute",
        run: () =>
            resourceViolations(
                rules.httpRouteWeightRange,
                httpRoute([rule([backend("a", null)], { name: "all" })], { type: HTTP_ROUTE_V1BETA1 }),
            ),
        expect: /HTTPRoute default\/app rule "all" backendRef #0 \(Service a:80\) has no weight/,
    },
    // http-route-weight-sum
    {
        title: "a split summing to 90 (strict)",
        run: () => resourceViolations(rules.httpRouteWeightSum, splitRoute(30, 60)),
        expect: /HTTPRoute default\/app rule #0 splits 30\/60 \(total 90\); weights of a split must sum to exactly 100/,
    },
    {
        title: "a split with an omitted weight, counted as 1 (strict)",
        run: () => resourceViolations(rules.httpRouteWeightSum, splitRoute(90, null)),
        expect: /splits 90\/1 \(total 91; an omitted weight counts as Gateway API's default of 1\)/,
    },
    {
        title: "a single backendRef with weight 50 (strict)",
        run: () => resourceViolations(rules.httpRouteWeightSum, httpRoute([rule([backend("a", 50)])])),
        expect: /HTTPRoute default\/app rule #0 has one backendRef with weight 50; give it weight 100/,
    },
    {
        title: "a single backendRef without weight (strict)",
        run: () => resourceViolations(rules.httpRouteWeightSum, httpRoute([rule([backend("a", null)])])),
        expect: /has one backendRef with weight 1; an omitted weight counts as Gateway API's default of 1; give it weight 100/,
    },
    {
        title: "an all-zero split (relative mode)",
        run: () => resourceViolations(rules.httpRouteWeightSum, splitRoute(0, 0), { mode: "relative" }),
        expect: /HTTPRoute default\/app rule #0 has total backendRef weight 0/,
    },
    // http-route-mirror-percent
    {
        title: "a mirror percent of 150",
        run: () => resourceViolations(rules.httpRouteMirrorPercent, mirrorRoute({ percent: 150 })),
        expect: /HTTPRoute default\/app rule #0 RequestMirror mirrors percent 150; use an integer from 0 to 100/,
    },
    {
        title: "a fractional mirror percent",
        run: () => resourceViolations(rules.httpRouteMirrorPercent, mirrorRoute({ percent: 12.5 })),
        expect: /RequestMirror mirrors percent 12.5/,
    },
    {
        title: "a mirror fraction above 1",
        run: () =>
            resourceViolations(
                rules.httpRouteMirrorPercent,
                mirrorRoute({ fraction: { numerator: 3, denominator: 2 } }),
            ),
        expect: /HTTPRoute default\/app rule #0 RequestMirror mirrors fraction 3\/2/,
    },
    {
        title: "a mirror fraction above the default denominator of 100",
        run: () => resourceViolations(rules.httpRouteMirrorPercent, mirrorRoute({ fraction: { numerator: 150 } })),
        expect: /RequestMirror mirrors fraction 150\/100/,
    },
    {
        title: "a mirror with both percent and fraction",
        run: () =>
            resourceViolations(rules.httpRouteMirrorPercent, mirrorRoute({ percent: 20, fraction: { numerator: 1 } })),
        expect: /HTTPRoute default\/app rule #0 RequestMirror sets both percent and fraction/,
    },
    {
        title: "a backendRef-level mirror with denominator 0",
        run: () =>
            resourceViolations(
                rules.httpRouteMirrorPercent,
                httpRoute([
                    rule([
                        backend("a", 100, { filters: [mirror("b", { fraction: { numerator: 0, denominator: 0 } })] }),
                    ]),
                ]),
            ),
        expect: /HTTPRoute default\/app rule #0 backendRef #0 RequestMirror mirrors fraction 0\/0/,
    },
    // http-route-mirror-target
    {
        title: "a mirror to the rule's own weighted backend",
        run: () =>
            resourceViolations(
                rules.httpRouteMirrorTarget,
                httpRoute([rule([backend("a", 100)], { filters: [mirror("a")] })]),
            ),
        expect: /HTTPRoute default\/app rule #0 mirrors to Service a:80, which it also routes to \(weight 100\)/,
    },
    {
        title: "a mirror to a weighted backend of a split",
        run: () =>
            resourceViolations(
                rules.httpRouteMirrorTarget,
                httpRoute([rule([backend("a", 90), backend("b", 10)], { filters: [mirror("b")] })]),
            ),
        expect: /mirrors to Service b:80, which it also routes to \(weight 10\)/,
    },
    {
        title: "a backendRef-level mirror to a backend without weight (counted as 1)",
        run: () =>
            resourceViolations(
                rules.httpRouteMirrorTarget,
                httpRoute([rule([backend("a", null, { filters: [mirror("a")] })])]),
            ),
        expect: /rule #0 mirrors \(on backendRef #0\) to Service a:80, which it also routes to \(weight 1\)/,
    },
    {
        title: "a mirror without a backendRef",
        run: () =>
            resourceViolations(
                rules.httpRouteMirrorTarget,
                httpRoute([rule([backend("a", 100)], { filters: [{ type: "RequestMirror", requestMirror: {} }] })]),
            ),
        expect: /HTTPRoute default\/app rule #0 has a RequestMirror filter without a backendRef name/,
    },
    // http-route-default-rule
    {
        title: "an HTTPRoute without rules",
        run: () => resourceViolations(rules.httpRouteDefaultRule, httpRoute([])),
        expect: /HTTPRoute default\/app has no rules/,
    },
    {
        title: "no default rule (only a header canary)",
        run: () =>
            resourceViolations(
                rules.httpRouteDefaultRule,
                httpRoute([rule([backend("b", 100)], { matches: [headerMatch()] })]),
            ),
        expect: /HTTPRoute default\/app has 0 default rules; it needs exactly one/,
    },
    {
        title: "no default rule (model paths only: prefix /v2/models/app and exact /)",
        run: () =>
            resourceViolations(
                rules.httpRouteDefaultRule,
                httpRoute([
                    rule([backend("a", 100)], { matches: [{ path: { type: "PathPrefix", value: "/v2/models/app" } }] }),
                    rule([backend("a", 100)], { matches: [{ path: { type: "Exact", value: "/" } }] }),
                ]),
            ),
        expect: /has 0 default rules/,
    },
    {
        title: "two default rules (one without matches, one on PathPrefix /)",
        run: () =>
            resourceViolations(
                rules.httpRouteDefaultRule,
                httpRoute([rule([backend("a", 100)], { matches: null }), rule([backend("b", 100)])]),
            ),
        expect: /HTTPRoute default\/app has 2 default rules \(rule #0, rule #1\)/,
    },
    ...(
        [
            ["an empty match", [{}]],
            ["a match with empty headers", [{ ...EVERY_PATH, headers: [] }]],
            ["a path match with the default type", [{ path: { value: "/" } }]],
            ["one catch-all alternative among conditions", [headerMatch(), { ...EVERY_PATH }]],
        ] as [string, Record<string, unknown>[]][]
    ).map(([what, matches]) => ({
        title: `a second default rule: ${what}`,
        run: () =>
            resourceViolations(
                rules.httpRouteDefaultRule,
                httpRoute([rule([backend("b", 100)], { matches, name: "all" }), rule([backend("a", 100)])]),
            ),
        expect: /HTTPRoute default\/app has 2 default rules \(rule "all", rule #1\)/,
    })),
    // http-route-backends-resolve
    {
        title: "a backendRef to a Service not in the stack (deleted)",
        run: () => stackViolations(rules.httpRouteBackendsResolve, [splitRoute(90, 10), service("a")]),
        expect: /HTTPRoute default\/app rule #0 backendRef #1 sends traffic to Service default\/b, which is not in the stack \(or is being deleted\)/,
    },
    {
        title: "a backendRef to <isvc>-predictor of an InferenceService not in the stack",
        run: () => stackViolations(rules.httpRouteBackendsResolve, [kserveRoute("m-1"), inferenceService("m-0")]),
        expect: /HTTPRoute default\/app rule #0 backendRef #0 sends traffic to Service default\/m-1-predictor, which is not in the stack \(or is being deleted\), nor is InferenceService default\/m-1/,
    },
    {
        title: "a backendRef to <isvc>-predictor of a Knative-mode InferenceService",
        run: () =>
            stackViolations(rules.httpRouteBackendsResolve, [
                kserveRoute("m-1"),
                inferenceService("m-1", { mode: "Knative" }),
            ]),
        expect: /sends traffic to Service default\/m-1-predictor of InferenceService default\/m-1, which is in Knative mode; KServe creates that Service for Gateway API routing only in Standard mode/,
    },
    {
        title: "a backendRef to a Service in another namespace that only exists in the route's",
        run: () =>
            stackViolations(rules.httpRouteBackendsResolve, [
                httpRoute([rule([backend("a", 100, { namespace: "other" })])]),
                service("a"),
            ]),
        expect: /backendRef #0 sends traffic to Service other\/a, which is not in the stack/,
    },
    {
        title: "a mirror to a Service not in the stack",
        run: () => stackViolations(rules.httpRouteBackendsResolve, [mirrorRoute(), service("a")]),
        expect: /HTTPRoute default\/app rule #0 mirrors to Service default\/b, which is not in the stack/,
    },
    {
        title: "a backendRef of another kind (an InferencePool)",
        run: () =>
            stackViolations(rules.httpRouteBackendsResolve, [
                httpRoute([
                    rule([backend("pool", 100, { group: "inference.networking.k8s.io", kind: "InferencePool" })]),
                ]),
            ]),
        expect: /backendRef #0 sends traffic to inference.networking.k8s.io\/InferencePool pool:80, which is no version object of this stack/,
    },
    // max-candidate-percent
    {
        title: "an HTTPRoute candidate above the configured maximum",
        run: () => violationsOf(rules.maxCandidatePercent, [splitRoute(40, 60)], { maxPercent: 50 }),
        expect: /HTTPRoute default\/app rule #0 gives candidate b 60%, above the maximum of 50%/,
    },
    {
        title: "an HTTPRoute candidate above the maximum by relative weights (1/3: 75%)",
        run: () => violationsOf(rules.maxCandidatePercent, [splitRoute(1, 3)], { maxPercent: 50 }),
        expect: /HTTPRoute default\/app rule #0 gives candidate b 75%, above the maximum of 50%/,
    },
    // weight-config-agrees
    {
        title: "a ConfigMap disagreeing with the HTTPRoute's default rule",
        run: () =>
            stackViolations(rules.weightConfigAgrees, [splitRoute(30, 70), weightConfig("b", { percent: "50" })]),
        expect: /ConfigMap default\/b-weight-config records 50% for b, but HTTPRoute default\/app sends it 70%/,
    },
    {
        title: "a ConfigMap disagreeing with a KServe route (the served version gets 100%)",
        run: () =>
            stackViolations(rules.weightConfigAgrees, [kserveRoute("m-1"), weightConfig("m-1", { percent: "10" })]),
        expect: /records 10% for m-1, but HTTPRoute default\/app sends it 100%/,
    },
    {
        title: "a ConfigMap mirrorPercent disagreeing with the HTTPRoute's RequestMirror",
        run: () =>
            stackViolations(rules.weightConfigAgrees, [
                mirrorRoute({ fraction: { numerator: 1, denominator: 5 } }),
                weightConfig("b", { percent: "0", mirrorPercent: "50" }),
            ]),
        expect: /records mirrorPercent 50 for b, but HTTPRoute default\/app mirrors 20%/,
    },
    {
        title: "a ConfigMap recording traffic for a version no HTTPRoute routes to",
        run: () =>
            stackViolations(rules.weightConfigAgrees, [splitRoute(100, 0), weightConfig("c", { percent: "10" })]),
        expect: /records 10% for c, but no VirtualService or HTTPRoute in default routes to it/,
    },
    // no-traffic-without-readiness-gate
    {
        title: "HTTPRoute traffic to an ungated InferenceService (<isvc>-predictor)",
        run: () =>
            stackViolations(rules.noTrafficWithoutReadinessGate, [
                kserveRoute("m-1"),
                inferenceService("m-1", { gated: false }),
            ]),
        expect: /HTTPRoute default\/app rule #0 sends traffic to InferenceService default\/m-1, which has no readiness gate/,
    },
    {
        title: "HTTPRoute traffic to a Deployment that skips await",
        run: () =>
            stackViolations(rules.noTrafficWithoutReadinessGate, [
                splitRoute(90, 10),
                service("a"),
                service("b"),
                deployment("a"),
                deployment("b", { skipAwait: true }),
            ]),
        expect: /HTTPRoute default\/app rule #0 sends traffic to Service default\/b, which has no readiness gate/,
    },
    // unique-hosts
    {
        title: "two HTTPRoutes claiming one hostname",
        run: () =>
            stackViolations(rules.uniqueHosts, [
                httpRoute([rule([backend("a", 100)])], { name: "one", hostnames: ["app.default"] }),
                httpRoute([rule([backend("b", 100)])], { name: "two", hostnames: ["app.default"] }),
            ]),
        expect: /HTTPRoute default\/one and HTTPRoute default\/two both claim host app.default/,
    },
    {
        title: "an HTTPRoute and a VirtualService claiming one host",
        run: () =>
            stackViolations(rules.uniqueHosts, [
                splitRoute(90, 10),
                virtualService("app", ["app.default.svc.cluster.local"]),
            ]),
        expect: /VirtualService default\/app and HTTPRoute default\/app both claim host app.default.svc.cluster.local/,
    },
    {
        title: "an HTTPRoute claiming a KServe-owned host",
        run: () =>
            stackViolations(rules.uniqueHosts, [
                httpRoute([rule([backend("m-predictor", 100)])], { hostnames: ["m-predictor.default.svc"] }),
                inferenceService("m"),
            ]),
        expect: /HTTPRoute default\/app claims host m-predictor.default.svc, which KServe owns for InferenceService default\/m/,
    },
    {
        title: "an HTTPRoute claiming the <isvc> host of a Knative-mode InferenceService",
        run: () =>
            stackViolations(rules.uniqueHosts, [
                httpRoute([rule([backend("m-predictor", 100)])], { hostnames: ["m.default.svc"] }),
                inferenceService("m", { mode: "Knative" }),
            ]),
        expect: /HTTPRoute default\/app claims host m.default.svc, which KServe owns for InferenceService default\/m/,
    },
    // allowed-namespaces
    {
        title: "an HTTPRoute outside the allowed namespaces",
        run: () =>
            violationsOf(rules.allowedNamespaces, [httpRoute([rule([backend("a", 100)])], { namespace: "prod" })], {
                namespaces: ["models"],
            }),
        expect: /HTTPRoute prod\/app is in namespace prod, which is not allowed/,
    },
];

describe("HTTPRoute rules refuse invalid states", () => {
    refusesEach(invalidStates);
});

describe("HTTPRoute rules on what the component renders (routing.backend: gateway-api)", () => {
    const gatewayApi = (args: ReleaseArgs): ReleaseArgs => ({ ...args, routing: { backend: "gateway-api" } });
    const releases: [string, Record<string, ReleaseArgs>][] = [
        [
            "deployment blue-green 90/10",
            { httpbin: gatewayApi(httpbin([appVersion({ weight: 90 }), appVersion({ weight: 10 })])) },
        ],
        ["deployment canary", { httpbin: gatewayApi(httpbin([appVersion(), appVersion()], { strategy: "canary" })) }],
        [
            "deployment mirror 20%",
            {
                httpbin: gatewayApi(httpbin([appVersion(), appVersion({ mirrorPercent: 20 })], { strategy: "mirror" })),
            },
        ],
        [
            "kserve-raw blue-green 0/1",
            {
                wisdom: gatewayApi(
                    wisdom([modelVersion("v0", { weight: 0 }), modelVersion("v1", { weight: 1 })], {
                        environment: "kserve-raw",
                    }),
                ),
            },
        ],
        [
            "kserve-raw canary",
            {
                wisdom: gatewayApi(
                    wisdom([modelVersion("v0"), modelVersion("v1")], { environment: "kserve-raw", strategy: "canary" }),
                ),
            },
        ],
    ];
    const outputs = new Map<string, TestResource[]>();

    before(async function () {
        this.timeout(30000);
        for (const [what, release] of releases) outputs.set(what, await componentResources(release));
    });

    for (const [what] of releases) {
        it(`passes ${what} through every rule`, async () => {
            const resources = outputs.get(what) ?? [];
            assert.ok(
                resources.some((r) => r.type === HTTP_ROUTE),
                "the component renders an HTTPRoute",
            );
            for (const policy of allPolicies) {
                assert.deepEqual(await violationsOf(policy, resources), [], policy.name);
            }
        });
    }

    it("catches a component-shaped route gone wrong: a hand-edited split and a dropped weight", async () => {
        const edited = copy(outputs.get("deployment blue-green 90/10") ?? []);
        const route = edited.find((r) => r.type === HTTP_ROUTE);
        assert.ok(route);
        const refs = (route.props.spec as { rules: { backendRefs: { weight?: number }[] }[] }).rules[0].backendRefs;
        refs[1].weight = 20;
        assert.match(
            (await resourceViolations(rules.httpRouteWeightSum, route))[0],
            /HTTPRoute default\/httpbin rule #0 splits 90\/20 \(total 110\)/,
        );
        assert.match(
            (await stackViolations(rules.weightConfigAgrees, edited)).join("\n"),
            /records 10% for httpbin-1, but HTTPRoute default\/httpbin sends it 18.18%/,
        );
        delete refs[1].weight;
        assert.match(
            (await resourceViolations(rules.httpRouteWeightRange, route))[0],
            /HTTPRoute default\/httpbin rule #0 backendRef #1 \(Service httpbin-1:80\) has no weight/,
        );
    });
});
