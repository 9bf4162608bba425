// KServe v0.20 canaries (InferenceService spec.canary, Standard mode): the three isvc-canary-*
// rules, and the shared rules that resolve, gate and limit traffic to `<isvc>-<name>-predictor`.
// A valid release passes every rule; each invalid state is refused with a message naming the
// InferenceService, the canary and the fix.
import * as assert from "node:assert/strict";

import { waitForExpressions } from "../../policies/lib";
import * as rules from "../../policies/rules";
import { allPolicies } from "../../policies/rules";
import {
    ISVC,
    PDB,
    backend,
    httpRoute,
    isvcResource,
    rule,
    service,
    vsResource,
    weightConfig as weightConfigMap,
} from "./fixtures";
import { ModelReleaseArgs } from "../../components/modelRelease";
import { canaryVersion, standardCanary as standardCanaryArgs } from "../components/fixtures";
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

type Obj = Record<string, unknown>;

/** A predictor spec named `name` (left out when undefined) loading `gs://models/<name>`. */
function predictor(name: string | undefined, extra: Obj = {}): Obj {
    const p: Obj = name === undefined ? {} : { name };
    return { ...p, model: { modelFormat: { name: "sklearn" }, storageUri: `gs://models/${name ?? "m"}` }, ...extra };
}

/** A spec.canary entry; `trafficPercent` undefined leaves it out. */
function canary(name: string | undefined, trafficPercent?: unknown, extra: Obj = {}): Obj {
    const entry: Obj = { predictor: predictor(name, extra) };
    if (trafficPercent !== undefined) entry.trafficPercent = trafficPercent;
    return entry;
}

/**
 * The readiness gate the component writes for a predictor that gets traffic: a PodDisruptionBudget
 * over its pods, awaited until DisruptionAllowed. `waitFor: null` leaves the wait out.
 */
function podGate(
    predictorService: string,
    opts: { waitFor?: string | null; skipAwait?: boolean; app?: string } = {},
): TestResource {
    const name = `${predictorService}-ready`;
    const annotations: Record<string, string> = {};
    const waitFor = opts.waitFor === undefined ? "condition=DisruptionAllowed" : opts.waitFor;
    if (waitFor !== null) annotations["pulumi.com/waitFor"] = waitFor;
    if (opts.skipAwait) annotations["pulumi.com/skipAwait"] = "true";
    return {
        type: PDB,
        name: `default/${name}`,
        props: {
            apiVersion: "policy/v1",
            kind: "PodDisruptionBudget",
            metadata: { name, namespace: "default", annotations },
            spec: { minAvailable: 0, selector: { matchLabels: { app: opts.app ?? `isvc.${predictorService}` } } },
        },
    };
}

/**
 * The app's one InferenceService (default `wisdom`, stable predictor `v1`, Standard mode) with
 * `canaries`. `mode: null` leaves the annotation out; like the component's, it is not awaited
 * (skipAwait) unless `waitFor` is given.
 */
function canaryIsvc(
    canaries: Obj[] | unknown,
    opts: {
        name?: string;
        stable?: Obj;
        mode?: string | null;
        waitFor?: string | null;
        skipAwait?: boolean;
        /** serving.kserve.io/autoscalerClass; with `none` KServe writes a canary's computed replicas. */
        autoscalerClass?: string;
    } = {},
): TestResource {
    const name = opts.name ?? "wisdom";
    const annotations: Record<string, string> = {};
    if (opts.mode !== null) annotations["serving.kserve.io/deploymentMode"] = opts.mode ?? "Standard";
    if (opts.waitFor !== undefined && opts.waitFor !== null) annotations["pulumi.com/waitFor"] = opts.waitFor;
    if (opts.skipAwait ?? opts.waitFor === undefined) annotations["pulumi.com/skipAwait"] = "true";
    if (opts.autoscalerClass !== undefined) annotations["serving.kserve.io/autoscalerClass"] = opts.autoscalerClass;
    annotations["pulumi.com/timeoutSeconds"] = "600";
    return isvcResource(
        name,
        { predictor: opts.stable ?? predictor("v1"), canary: canaries },
        { annotations, labels: { "app.kubernetes.io/name": "wisdom", "app.kubernetes.io/version": "v1" } },
    );
}

/** A VirtualService destination to Service `service` on port 80, answering as `version`. */
function to(service: string, weight: number, version?: string): Obj {
    const d: Obj = { destination: { host: `${service}.default.svc.cluster.local`, port: { number: 80 } }, weight };
    if (version !== undefined) d.headers = { response: { set: { "app-version": version } } };
    return d;
}

/** The app's VirtualService (hosts `wisdom.default...`): one default route splitting over `destinations`. */
function splitVirtualService(destinations: Obj[], opts: { hosts?: string[] } = {}): TestResource {
    return vsResource("wisdom", {
        hosts: opts.hosts ?? ["wisdom.default", "wisdom.default.svc", "wisdom.default.svc.cluster.local"],
        http: [{ name: "wisdom", route: destinations }],
    });
}

/** The app's HTTPRoute: one default rule over `backendRefs`. */
function splitHttpRoute(backendRefs: Obj[]): TestResource {
    return httpRoute([rule(backendRefs)], { name: "wisdom" });
}

/** The weight ConfigMap the component writes for a version of the app: `wisdom-<version>-weight-config`. */
const weightConfig = (version: string, percent: number, role = "candidate"): TestResource =>
    weightConfigMap(
        version,
        { percent: String(percent), role, strategy: "kserve-canary" },
        { name: `wisdom-${version}-weight-config` },
    );

/**
 * Stable v1 at 90%, canary v2 at 10%: the InferenceService, a readiness gate per predictor that
 * gets traffic, its entry Service and weight ConfigMaps.
 */
function release(canaries: Obj[] = [canary("v2", 10)]): TestResource[] {
    const stablePercent = 100 - canaries.reduce((sum, c) => sum + (c.trafficPercent as number), 0);
    const trafficked = canaries.filter((c) => (c.trafficPercent as number) > 0);
    return [
        canaryIsvc(canaries),
        ...(stablePercent > 0 ? [podGate("wisdom-v1-predictor")] : []),
        ...trafficked.map((c) => podGate(`wisdom-${(c.predictor as Obj).name as string}-predictor`)),
        service("wisdom"),
        weightConfig("v1", stablePercent, "primary"),
        ...canaries.map((c) => weightConfig((c.predictor as Obj).name as string, c.trafficPercent as number)),
    ];
}

const v1v2Split = () => splitVirtualService([to("wisdom-v1-predictor", 90, "v1"), to("wisdom-v2-predictor", 10, "v2")]);
const v1v2Route = () =>
    splitHttpRoute([
        backend("wisdom-v1-predictor", 90, { version: "v1" }),
        backend("wisdom-v2-predictor", 10, { version: "v2" }),
    ]);

/** Stacks every rule of the pack accepts. */
const validStacks: [string, () => TestResource[]][] = [
    ["stable v1 90% and canary v2 10% over a VirtualService", () => [...release(), v1v2Split()]],
    ["stable v1 90% and canary v2 10% over an HTTPRoute", () => [...release(), v1v2Route()]],
    [
        "a canary pinned at 0% (not waited for, weight 0) beside one at 10%, over an HTTPRoute",
        () => [
            ...release([canary("v2", 10), canary("v3", 0)]),
            splitHttpRoute([
                backend("wisdom-v1-predictor", 90, { version: "v1" }),
                backend("wisdom-v2-predictor", 10, { version: "v2" }),
                backend("wisdom-v3-predictor", 0, { version: "v3" }),
            ]),
        ],
    ],
    [
        "a canary pinned at 0% left out of the VirtualService",
        () => [...release([canary("v2", 10), canary("v3", 0)]), v1v2Split()],
    ],
    [
        "a pinned canary with a gate of its own (minReplicas 1: it has a replica)",
        () => [
            ...release([canary("v2", 10), canary("v3", 0, { minReplicas: 1 })]),
            podGate("wisdom-v3-predictor"),
            v1v2Split(),
        ],
    ],
    [
        "an unnamed stable predictor routed as <isvc>-predictor beside canary v2",
        () => [
            canaryIsvc([canary("v2", 10)], { stable: predictor(undefined) }),
            podGate("wisdom-predictor"),
            podGate("wisdom-v2-predictor"),
            splitVirtualService([to("wisdom-predictor", 90), to("wisdom-v2-predictor", 10)]),
        ],
    ],
    [
        "the stable predictor alone (no canary yet), named v1",
        () => [
            canaryIsvc([], { waitFor: "condition=Ready" }),
            service("wisdom"),
            weightConfig("v1", 100, "primary"),
            splitVirtualService([to("wisdom-v1-predictor", 100, "v1")]),
        ],
    ],
];

describe("KServe v0.20 canaries: valid releases pass every rule", () => {
    it("registers the three isvc-canary rules as mandatory", () => {
        for (const name of ["isvc-canary-percent", "isvc-canary-names", "isvc-canary-spec"]) {
            const policy = allPolicies.find((p) => p.name === name);
            assert.ok(policy, `${name} is in the pack`);
            assert.equal(policy.enforcementLevel, "mandatory", name);
        }
    });

    for (const [what, stack] of validStacks) {
        it(`passes ${what} through every rule`, async () => {
            const resources = stack();
            for (const policy of allPolicies) {
                assert.deepEqual(await violationsOf(policy, resources), [], policy.name);
            }
        });
    }

    for (const [what, versions] of [
        ["the stable predictor alone", [canaryVersion("v1")]],
        ["a canary at 10%", [canaryVersion("v1"), canaryVersion("v2", 10)]],
        ["a canary pinned at 0%", [canaryVersion("v1"), canaryVersion("v2", 0)]],
        ["a drained stable predictor (canary at 100%)", [canaryVersion("v1"), canaryVersion("v2", 100)]],
    ] as const) {
        it(`passes the component's own objects for ${what} through every rule`, async () => {
            const resources = await componentResources({
                wisdom: standardCanaryArgs([...versions]) as ModelReleaseArgs,
            });
            for (const policy of allPolicies) {
                assert.deepEqual(await violationsOf(policy, resources), [], policy.name);
            }
        });
    }

    it("lets a promotion's drain through a 50% maximum: the component's own objects with the canary at 100%", async () => {
        const resources = await componentResources({
            wisdom: standardCanaryArgs([canaryVersion("v1"), canaryVersion("v2", 100)]) as ModelReleaseArgs,
        });
        assert.deepEqual(await violationsOf(rules.maxCandidatePercent, resources, { maxPercent: 50 }), []);
        const halfway = await componentResources({
            wisdom: standardCanaryArgs([canaryVersion("v1"), canaryVersion("v2", 60)]) as ModelReleaseArgs,
        });
        assert.match(
            (await violationsOf(rules.maxCandidatePercent, halfway, { maxPercent: 50 })).join("\n"),
            /canary "v2" \(a candidate\) trafficPercent 60, above the maximum of 50%/,
        );
    });

    it("reads each predictor's labels for required-labels: the component's InferenceService passes, a canary without its version does not", async () => {
        const resources = await componentResources({
            wisdom: standardCanaryArgs([canaryVersion("v1"), canaryVersion("v2", 10)]) as ModelReleaseArgs,
        });
        assert.deepEqual(await violationsOf(rules.requiredLabels, resources), []);
        const isvc = copy(resources).find((r) => r.type === ISVC);
        assert.ok(isvc);
        const spec = isvc.props.spec as { canary: { predictor: { labels: Record<string, string> } }[] };
        delete spec.canary[0].predictor.labels["app.kubernetes.io/version"];
        assert.deepEqual(await resourceViolations(rules.requiredLabels, isvc), [
            'InferenceService models/wisdom canary "v2" lacks label app.kubernetes.io/version; add them to the version or release labels.',
        ]);
    });

    it("holds a canary at exactly the configured maximum (10 of 10%) and refuses it under 5%", async () => {
        const resources = [...release(), v1v2Split()];
        assert.deepEqual(await violationsOf(rules.maxCandidatePercent, resources, { maxPercent: 10 }), []);
        const refused = await violationsOf(rules.maxCandidatePercent, resources, { maxPercent: 5 });
        assert.match(
            refused.join("\n"),
            /InferenceService default\/wisdom gives canary "v2" \(a candidate\) trafficPercent 10/,
        );
        assert.match(refused.join("\n"), /VirtualService default\/wisdom route "wisdom" gives candidate v2 10%/);
    });

    it("catches the valid release gone wrong: a canary at 120% and a canary without its gate", async () => {
        const edited = copy([...release(), v1v2Split()]);
        const isvc = edited.find((r) => r.type === ISVC);
        assert.ok(isvc);
        const spec = isvc.props.spec as { canary: { trafficPercent: number }[] };
        spec.canary[0].trafficPercent = 120;
        assert.match(
            (await resourceViolations(rules.isvcCanaryPercent, isvc)).join("\n"),
            /InferenceService default\/wisdom canary "v2" has trafficPercent 120/,
        );
        const ungated = edited.filter((r) => r.name !== "default/wisdom-v2-predictor-ready");
        assert.match(
            (await stackViolations(rules.noTrafficWithoutReadinessGate, ungated)).join("\n"),
            /sends traffic to predictor wisdom-v2-predictor of InferenceService default\/wisdom \(canary "v2"\), which has no readiness gate on its pods/,
        );
    });

    it("sends no traffic to a canary at weight 0, so does not ask for its readiness", async () => {
        const resources = [
            canaryIsvc([canary("v2", 0)]),
            podGate("wisdom-v1-predictor"),
            splitVirtualService([to("wisdom-v1-predictor", 100, "v1"), to("wisdom-v2-predictor", 0, "v2")]),
        ];
        assert.deepEqual(await stackViolations(rules.noTrafficWithoutReadinessGate, resources), []);
        const gets = copy(resources);
        const route = (gets[2].props.spec as { http: { route: { weight: number }[] }[] }).http[0].route;
        route[0].weight = 95;
        route[1].weight = 5;
        assert.equal((await stackViolations(rules.noTrafficWithoutReadinessGate, gets)).length, 1);
    });

    it("gives a Standard-mode InferenceService's name to the app's routing, but not its predictor hosts", async () => {
        const app = [...release(), v1v2Split()];
        assert.deepEqual(await stackViolations(rules.uniqueHosts, app), []);
        const knative = [canaryIsvc([], { mode: "Knative" }), v1v2Split()];
        assert.match(
            (await stackViolations(rules.uniqueHosts, knative)).join("\n"),
            /claims host wisdom.default, which KServe owns for InferenceService default\/wisdom/,
        );
    });
});

describe("reading pulumi.com/waitFor as the provider does", () => {
    const gate = (value: string) => ({ "pulumi.com/waitFor": value });

    it("splits a JSON array of expressions, else takes the value as one expression", () => {
        assert.deepEqual(waitForExpressions(gate('["condition=Ready","jsonpath={.a}=b"]')), [
            "condition=Ready",
            "jsonpath={.a}=b",
        ]);
        assert.deepEqual(waitForExpressions(gate("condition=Ready")), ["condition=Ready"]);
        assert.deepEqual(waitForExpressions(gate('["condition=Ready", 1]')), ['["condition=Ready", 1]']);
        assert.deepEqual(waitForExpressions({}), []);
    });
});

const isvcWith = (canaries: Obj[] | unknown, opts: Parameters<typeof canaryIsvc>[1] = {}) => canaryIsvc(canaries, opts);

/** Invalid states, each expected to be refused by the named rule with a message matching. */
const invalidStates: InvalidState[] = [
    // isvc-canary-percent
    ...(
        [
            ["above 100", 150, /canary "v2" has trafficPercent 150; use an integer from 0 to 100/],
            ["negative", -5, /canary "v2" has trafficPercent -5/],
            ["fractional", 12.5, /canary "v2" has trafficPercent 12.5/],
            ["a string", "10", /canary "v2" has trafficPercent "10"; use an integer/],
        ] as [string, unknown, RegExp][]
    ).map(([what, percent, expect]) => ({
        title: `a canary trafficPercent ${what}`,
        run: () => resourceViolations(rules.isvcCanaryPercent, isvcWith([canary("v2", percent)])),
        expect,
    })),
    {
        title: "a canary without trafficPercent",
        run: () => resourceViolations(rules.isvcCanaryPercent, isvcWith([canary("v2")])),
        expect: /InferenceService default\/wisdom canary "v2" has no trafficPercent; set an integer from 0 to 100/,
    },
    {
        title: "canaries summing to 110%",
        run: () => resourceViolations(rules.isvcCanaryPercent, isvcWith([canary("v2", 60), canary("v3", 50)])),
        expect: /InferenceService default\/wisdom gives its canaries 110% in total \(canary "v2" 60, canary "v3" 50\); the canaries' trafficPercent must sum to at most 100/,
    },
    // isvc-canary-names
    {
        title: "a canary without predictor.name",
        run: () => resourceViolations(rules.isvcCanaryNames, isvcWith([canary(undefined, 10)])),
        expect: /InferenceService default\/wisdom canary #0 has no predictor.name; KServe v0.20 requires one/,
    },
    ...(["V2", "2v", "v2-", "v_2", "v.2"] as const).map((name) => ({
        title: `a canary named "${name}"`,
        run: () => resourceViolations(rules.isvcCanaryNames, isvcWith([canary(name, 10)])),
        expect: new RegExp(`canary #0 is named "${name.replace(".", "\\.")}"; a canary name must match`),
    })),
    {
        title: "a canary named by a number",
        run: () =>
            resourceViolations(
                rules.isvcCanaryNames,
                isvcWith([{ predictor: { name: 2, model: {} }, trafficPercent: 10 }]),
            ),
        expect: /canary #0 is named 2; a canary name must match/,
    },
    {
        title: "two canaries with one name",
        run: () => resourceViolations(rules.isvcCanaryNames, isvcWith([canary("v2", 10), canary("v2", 5)])),
        expect: /InferenceService default\/wisdom canaries #0 and #1 are both named "v2"; canary names must be unique/,
    },
    {
        title: "a canary named like the stable predictor",
        run: () => resourceViolations(rules.isvcCanaryNames, isvcWith([canary("v1", 10)])),
        expect: /InferenceService default\/wisdom canary "v1" has the stable predictor's name; both would be wisdom-v1-predictor/,
    },
    {
        title: "a canary whose <isvc>-<name>-predictor exceeds 63 characters",
        run: () =>
            resourceViolations(
                rules.isvcCanaryNames,
                isvcWith([canary("candidate-with-a-long-name", 10)], { name: "a-rather-long-inference-service-name" }),
            ),
        expect: /canary "candidate-with-a-long-name" gets Deployment and Service a-rather-long-inference-service-name-candidate-with-a-long-name-predictor, 73 characters; Kubernetes allows at most 63/,
    },
    {
        title: "a stable predictor name whose Service exceeds 63 characters",
        run: () =>
            resourceViolations(
                rules.isvcCanaryNames,
                isvcWith([], {
                    name: "a-rather-long-inference-service-name",
                    stable: predictor("stable-with-a-long-name"),
                }),
            ),
        expect: /stable predictor "stable-with-a-long-name" gets Deployment and Service .*-predictor, 70 characters/,
    },
    {
        title: "an invalid stable predictor name",
        run: () => resourceViolations(rules.isvcCanaryNames, isvcWith([canary("v2", 10)], { stable: predictor("V1") })),
        expect: /InferenceService default\/wisdom names its stable predictor "V1"; a predictor name must match/,
    },
    // isvc-canary-spec
    {
        title: "spec.canary in RawDeployment mode (the legacy name)",
        run: () => resourceViolations(rules.isvcCanarySpec, isvcWith([canary("v2", 10)], { mode: "RawDeployment" })),
        expect: /InferenceService default\/wisdom sets spec.canary in deploymentMode "RawDeployment", the legacy name the KServe v0.20 webhook refuses with canaries; .*set serving.kserve.io\/deploymentMode: Standard/,
    },
    {
        title: "spec.canary in Knative mode",
        run: () => resourceViolations(rules.isvcCanarySpec, isvcWith([canary("v2", 10)], { mode: "Knative" })),
        expect: /sets spec.canary in deploymentMode "Knative"; KServe v0.20 accepts spec.canary only in Standard mode: .*\(Knative mode splits with canaryTrafficPercent instead\)/,
    },
    {
        title: "spec.canary without a deployment mode",
        run: () => resourceViolations(rules.isvcCanarySpec, isvcWith([canary("v2", 10)], { mode: null })),
        expect: /sets spec.canary without the serving.kserve.io\/deploymentMode annotation/,
    },
    ...(
        [
            ["maxReplicas", 3],
            ["scaleTarget", 80],
            ["scaleMetric", "cpu"],
            ["autoScaling", { metrics: [] }],
            ["workerSpec", { pipelineParallelSize: 2 }],
        ] as [string, unknown][]
    ).map(([field, value]) => ({
        title: `a canary setting ${field}`,
        run: () => resourceViolations(rules.isvcCanarySpec, isvcWith([canary("v2", 10, { [field]: value })])),
        expect: new RegExp(
            `InferenceService default/wisdom canary "v2" sets ${field}; KServe v0.20 refuses it on a canary`,
        ),
    })),
    {
        title: "a canary setting two autoscaling fields",
        run: () =>
            resourceViolations(
                rules.isvcCanarySpec,
                isvcWith([canary("v2", 10, { maxReplicas: 3, scaleMetric: "cpu" })]),
            ),
        expect: /canary "v2" sets maxReplicas, scaleMetric; KServe v0.20 refuses them on a canary/,
    },
    {
        title: "a canary minReplicas above the stable's default of 1",
        run: () => resourceViolations(rules.isvcCanarySpec, isvcWith([canary("v2", 10, { minReplicas: 2 })])),
        expect: /canary "v2" has minReplicas 2, above the stable predictor's 1 \(the default\)/,
    },
    {
        title: "a canary minReplicas above the stable's own",
        run: () =>
            resourceViolations(
                rules.isvcCanarySpec,
                isvcWith([canary("v2", 10, { minReplicas: 3 })], { stable: predictor("v1", { minReplicas: 2 }) }),
            ),
        expect: /canary "v2" has minReplicas 3, above the stable predictor's 2; KServe v0.20 refuses it/,
    },
    {
        title: "spec.canary that is not a list",
        run: () => resourceViolations(rules.isvcCanarySpec, isvcWith(canary("v2", 10), { waitFor: "condition=Ready" })),
        expect: /InferenceService default\/wisdom has spec.canary \{.*\}; it is a list of \{predictor, trafficPercent\}/,
    },
    {
        title: "a canary entry without predictor",
        run: () =>
            resourceViolations(
                rules.isvcCanarySpec,
                isvcWith([{ trafficPercent: 10 }], { waitFor: "condition=Ready" }),
            ),
        expect: /InferenceService default\/wisdom canary #0 has no predictor/,
    },
    {
        title: "an InferenceService with canaries awaited by its own waitFor (kserve#6081: it would stall)",
        run: () =>
            resourceViolations(rules.isvcCanarySpec, isvcWith([canary("v2", 10)], { waitFor: "condition=Ready" })),
        expect: /InferenceService default\/wisdom has canaries and waits for condition=Ready \(pulumi.com\/waitFor\); KServe reports the stable Deployment's observedGeneration as its own \(kserve#6081\).*drop pulumi.com\/waitFor, set pulumi.com\/skipAwait: "true", and gate each predictor/,
    },
    // isvc-storage-uri
    {
        title: "a canary loading from ftp://",
        run: () =>
            resourceViolations(
                rules.isvcStorageUri,
                isvcWith([{ predictor: { name: "v2", model: { storageUri: "ftp://x" } }, trafficPercent: 10 }]),
            ),
        expect: /InferenceService default\/wisdom canary "v2" loads "ftp:\/\/x", which KServe cannot load/,
    },
    // max-candidate-percent
    {
        title: "a canary trafficPercent above the configured maximum",
        run: () =>
            violationsOf(rules.maxCandidatePercent, [isvcWith([canary("v2", 10), canary("v3", 60)])], {
                maxPercent: 50,
            }),
        expect: /InferenceService default\/wisdom gives canary "v3" \(a candidate\) trafficPercent 60, above the maximum of 50%; raise it in smaller steps/,
    },
    // vs-destinations-resolve
    {
        title: "a VirtualService route to a canary the InferenceService does not have",
        run: () =>
            stackViolations(rules.vsDestinationsResolve, [
                isvcWith([canary("v2", 10)]),
                splitVirtualService([to("wisdom-v1-predictor", 90), to("wisdom-v3-predictor", 10)]),
            ]),
        expect: /VirtualService default\/wisdom route "wisdom" sends traffic to Service default\/wisdom-v3-predictor, which no InferenceService of the stack serves: InferenceService default\/wisdom has no predictor or canary named "v3" \(it serves wisdom-v1-predictor, wisdom-v2-predictor\)/,
    },
    {
        title: "a VirtualService route to <isvc>-predictor when the stable predictor is named",
        run: () =>
            stackViolations(rules.vsDestinationsResolve, [
                isvcWith([canary("v2", 10)]),
                splitVirtualService([to("wisdom-predictor", 90), to("wisdom-v2-predictor", 10)]),
            ]),
        expect: /sends traffic to Service default\/wisdom-predictor, which no InferenceService of the stack serves: InferenceService default\/wisdom names its predictor "v1", so KServe serves it as Service wisdom-v1-predictor, not wisdom-predictor/,
    },
    {
        title: "a VirtualService route to a canary whose InferenceService is not in the stack",
        run: () =>
            stackViolations(rules.vsDestinationsResolve, [
                splitVirtualService([to("wisdom-v1-predictor", 90), to("wisdom-v2-predictor", 10)]),
            ]),
        expect: /sends traffic to InferenceService default\/wisdom-v2, which is not in the stack \(or is being deleted\)/,
    },
    // http-route-backends-resolve
    {
        title: "an HTTPRoute backendRef to a canary the InferenceService does not have",
        run: () =>
            stackViolations(rules.httpRouteBackendsResolve, [
                isvcWith([canary("v2", 10)]),
                splitHttpRoute([backend("wisdom-v1-predictor", 90), backend("wisdom-v3-predictor", 10)]),
            ]),
        expect: /HTTPRoute default\/wisdom rule #0 backendRef #1 sends traffic to Service default\/wisdom-v3-predictor, which is not in the stack \(or is being deleted\): InferenceService default\/wisdom has no predictor or canary named "v3"/,
    },
    {
        title: "an HTTPRoute backendRef to <isvc>-predictor when the stable predictor is named",
        run: () =>
            stackViolations(rules.httpRouteBackendsResolve, [
                isvcWith([canary("v2", 10)]),
                splitHttpRoute([backend("wisdom-predictor", 90), backend("wisdom-v2-predictor", 10)]),
            ]),
        expect: /backendRef #0 sends traffic to Service default\/wisdom-predictor, which is not in the stack \(or is being deleted\): InferenceService default\/wisdom names its predictor "v1"/,
    },
    {
        title: "an HTTPRoute backendRef to a canary of a Knative-mode InferenceService",
        run: () =>
            stackViolations(rules.httpRouteBackendsResolve, [
                isvcWith([canary("v2", 10)], { mode: "Knative" }),
                v1v2Route(),
            ]),
        expect: /backendRef #1 sends traffic to Service default\/wisdom-v2-predictor of InferenceService default\/wisdom, which is in Knative mode/,
    },
    // no-traffic-without-readiness-gate
    ...(
        [
            ["no gate on its pods", () => []],
            ["a gate that is not awaited (no waitFor)", () => [podGate("wisdom-v2-predictor", { waitFor: null })]],
            ["a gate that skips await", () => [podGate("wisdom-v2-predictor", { skipAwait: true })]],
            [
                "a gate awaited on another condition",
                () => [podGate("wisdom-v2-predictor", { waitFor: "condition=Ready" })],
            ],
            [
                "a gate over another predictor's pods",
                () => [podGate("wisdom-v2-predictor", { app: "isvc.wisdom-v3-predictor" })],
            ],
        ] as [string, () => TestResource[]][]
    ).flatMap(([what, gates]) => [
        {
            title: `VirtualService traffic to a canary with ${what}`,
            run: () =>
                stackViolations(rules.noTrafficWithoutReadinessGate, [
                    isvcWith([canary("v2", 10)]),
                    podGate("wisdom-v1-predictor"),
                    ...gates(),
                    v1v2Split(),
                ]),
            expect: /VirtualService default\/wisdom route "wisdom" sends traffic to predictor wisdom-v2-predictor of InferenceService default\/wisdom \(canary "v2"\), which has no readiness gate on its pods \(the InferenceService's own waitFor cannot gate it: .*kserve#6081\); add a PodDisruptionBudget with selector app: isvc.wisdom-v2-predictor and pulumi.com\/waitFor: condition=DisruptionAllowed, or give it 0%/,
        },
    ]),
    {
        title: "HTTPRoute traffic to a canary without a gate",
        run: () =>
            stackViolations(rules.noTrafficWithoutReadinessGate, [
                isvcWith([canary("v2", 10)]),
                podGate("wisdom-v1-predictor"),
                v1v2Route(),
            ]),
        expect: /HTTPRoute default\/wisdom rule #0 sends traffic to predictor wisdom-v2-predictor of InferenceService default\/wisdom \(canary "v2"\), which has no readiness gate on its pods.* or give it weight 0/,
    },
    {
        title: "traffic to the named stable predictor without a gate, even with the InferenceService awaited",
        run: () =>
            stackViolations(rules.noTrafficWithoutReadinessGate, [
                isvcWith([canary("v2", 10)], { waitFor: "condition=Ready" }),
                podGate("wisdom-v2-predictor"),
                v1v2Split(),
            ]),
        expect: /route "wisdom" sends traffic to predictor wisdom-v1-predictor of InferenceService default\/wisdom, which has no readiness gate on its pods/,
    },
    // unique-hosts
    {
        title: "a VirtualService claiming a canary's predictor host",
        run: () =>
            stackViolations(rules.uniqueHosts, [
                isvcWith([canary("v2", 10)]),
                splitVirtualService([to("wisdom-v1-predictor", 100)], {
                    hosts: ["wisdom-v2-predictor.default.svc.cluster.local"],
                }),
            ]),
        expect: /VirtualService default\/wisdom claims host wisdom-v2-predictor.default.svc.cluster.local, which KServe owns for InferenceService default\/wisdom/,
    },
];

describe("KServe v0.20 canaries: invalid states are refused", () => {
    refusesEach(invalidStates);
});
