import * as assert from "node:assert/strict";

import { ReleaseConfigError, formatIssue, validateRelease, validateReleases } from "../../components/validate";
import {
    GS_MODEL,
    S3_MODEL,
    appVersion,
    canaryVersion,
    httpbin,
    issuesOf,
    modelVersion,
    resolve,
    sklearnIris,
    standardCanary,
    wisdom,
    wisdomModelMesh,
} from "./fixtures";

/** A bad input, the config path its issue must name, and words the problem must contain. */
interface BadInput {
    title: string;
    args: unknown;
    path: string;
    problem: RegExp;
}

const twoVersions = [modelVersion("v0"), modelVersion("v1")];

const badInputs: BadInput[] = [
    { title: "release that is not an object", args: "kserve", path: "releases.wisdom", problem: /must be an object/ },
    {
        title: "unknown release key (typo)",
        args: { ...wisdom(twoVersions), stratgy: "canary" },
        path: "releases.wisdom.stratgy",
        problem: /not a known setting/,
    },
    {
        title: "missing environment",
        args: { ...wisdom(twoVersions), environment: undefined },
        path: "releases.wisdom.environment",
        problem: /is required/,
    },
    {
        title: "unknown environment",
        args: wisdom(twoVersions, { environment: "knative" as never }),
        path: "releases.wisdom.environment",
        problem: /must be one of kserve, kserve-raw/,
    },
    {
        title: "unknown strategy",
        args: wisdom(twoVersions, { strategy: "bluegreen" as never }),
        path: "releases.wisdom.strategy",
        problem: /must be one of none, blue-green/,
    },
    { title: "no versions", args: wisdom([]), path: "releases.wisdom.versions", problem: /non-empty list/ },
    {
        title: "version that is not an object",
        args: wisdom(["v1" as never]),
        path: "releases.wisdom.versions[0]",
        problem: /must be an object/,
    },
    {
        title: "unknown version key",
        args: wisdom([{ ...modelVersion("v0"), metadata: {} } as never]),
        path: "releases.wisdom.versions[0].metadata",
        problem: /not a known setting/,
    },
    {
        title: "duplicate version names",
        args: wisdom([modelVersion("v0", { name: "wisdom-a" }), modelVersion("v1", { name: "wisdom-a" })]),
        path: "releases.wisdom.versions[1].name",
        problem: /duplicates versions\[0\]/,
    },
    {
        title: "version name that is not DNS-1035",
        args: wisdom([modelVersion("v0", { name: "Wisdom_0" })]),
        path: "releases.wisdom.versions[0].name",
        problem: /DNS-1035 label/,
    },
    {
        title: "version name too long for Knative revisions",
        args: wisdom([modelVersion("v0", { name: `w${"x".repeat(50)}` })]),
        path: "releases.wisdom.versions[0].name",
        problem: /at most 47 characters/,
    },
    {
        title: "version named like the app",
        args: wisdom([modelVersion("v0", { name: "wisdom" })]),
        path: "releases.wisdom.versions[0].name",
        problem: /equals the app name/,
    },
    {
        title: "app name that is not DNS-1035",
        args: wisdom(twoVersions, { name: "9wisdom" }),
        path: "releases.wisdom.name",
        problem: /DNS-1035 label/,
    },
    {
        title: "bad namespace",
        args: wisdom(twoVersions, { namespace: "Models" }),
        path: "releases.wisdom.namespace",
        problem: /namespace name/,
    },
    {
        title: "missing storageUri",
        args: wisdom([{ labels: { "app.kubernetes.io/version": "v0" } }]),
        path: "releases.wisdom.versions[0].storageUri",
        problem: /is required/,
    },
    {
        title: "storageUri scheme KServe cannot load",
        args: wisdom([modelVersion("v0", { storageUri: "ftp://models/lr" })]),
        path: "releases.wisdom.versions[0].storageUri",
        problem: /scheme "ftp"/,
    },
    {
        title: "storageUri without scheme",
        args: wisdom([modelVersion("v0", { storageUri: "gs:/bucket/model" })]),
        path: "releases.wisdom.versions[0].storageUri",
        problem: /no scheme/,
    },
    {
        title: "storageUri scheme ModelMesh cannot load",
        args: wisdomModelMesh([{ storageUri: "hf://org/model" }, { storageUri: S3_MODEL }]),
        path: "releases.wisdom.versions[0].storageUri",
        problem: /kserve-modelmesh cannot load/,
    },
    {
        title: "storageUri together with a full spec",
        args: wisdom([modelVersion("v0", { inferenceServiceSpec: { predictor: {} } })]),
        path: "releases.wisdom.versions[0].storageUri",
        problem: /cannot be combined/,
    },
    {
        title: "missing modelFormat",
        args: wisdom(twoVersions, { modelFormat: undefined }),
        path: "releases.wisdom.versions[0].modelFormat",
        problem: /is required/,
    },
    {
        title: "deployment without image",
        args: httpbin([{}]),
        path: "releases.wisdom.versions[0].image",
        problem: /is required/,
    },
    {
        title: "storageUri on a deployment",
        args: httpbin([appVersion({ storageUri: GS_MODEL })]),
        path: "releases.wisdom.versions[0].storageUri",
        problem: /cannot be used with environment deployment/,
    },
    {
        title: "deploymentSpec on KServe",
        args: wisdom([modelVersion("v0", { deploymentSpec: { replicas: 1 } })]),
        path: "releases.wisdom.versions[0].deploymentSpec",
        problem: /cannot be used with environment kserve/,
    },
    {
        title: "deploymentSpec without selector",
        args: httpbin([appVersion({ deploymentSpec: { replicas: 1 } })]),
        path: "releases.wisdom.versions[0].deploymentSpec.selector.matchLabels",
        problem: /is required/,
    },
    {
        title: "negative weight",
        args: wisdom([modelVersion("v0", { weight: -5 }), modelVersion("v1", { weight: 5 })]),
        path: "releases.wisdom.versions[0].weight",
        problem: /must be a non-negative integer, got -5/,
    },
    {
        title: "fractional weight",
        args: wisdom([modelVersion("v0", { weight: 2.5 }), modelVersion("v1", { weight: 5 })]),
        path: "releases.wisdom.versions[0].weight",
        problem: /non-negative integer, got 2.5/,
    },
    {
        title: "weight given as a string",
        args: wisdom([modelVersion("v0", { weight: "30" as never }), modelVersion("v1", { weight: 70 })]),
        path: "releases.wisdom.versions[0].weight",
        problem: /got "30"/,
    },
    {
        title: "weights all zero",
        args: wisdom([modelVersion("v0", { weight: 0 }), modelVersion("v1", { weight: 0 })]),
        path: "releases.wisdom.versions[*].weight",
        problem: /all 0/,
    },
    {
        title: "weight on some versions only",
        args: wisdom([modelVersion("v0", { weight: 30 }), modelVersion("v1")]),
        path: "releases.wisdom.versions[1].weight",
        problem: /missing while other versions set a weight/,
    },
    {
        title: "weight with canary",
        args: wisdom([modelVersion("v0"), modelVersion("v1", { weight: 10 })], { strategy: "canary" }),
        path: "releases.wisdom.versions[1].weight",
        problem: /only applies to strategy blue-green/,
    },
    {
        title: "canary with one version",
        args: wisdom([modelVersion("v0")], { strategy: "canary" }),
        path: "releases.wisdom.versions",
        problem: /canary needs a primary and at least one candidate/,
    },
    {
        title: "match on the primary",
        args: wisdom([modelVersion("v0", { match: [{ headers: { a: { exact: "b" } } }] }), modelVersion("v1")], {
            strategy: "canary",
        }),
        path: "releases.wisdom.versions[0].match",
        problem: /cannot be set on the primary/,
    },
    {
        title: "match with two string-match kinds",
        args: wisdom(
            [
                modelVersion("v0"),
                modelVersion("v1", { match: [{ headers: { traffic: { exact: "test", prefix: "t" } } }] }),
            ],
            { strategy: "canary" },
        ),
        path: 'releases.wisdom.versions[1].match[0].headers["traffic"]',
        problem: /exactly one of exact, prefix or regex/,
    },
    {
        title: "match header name with upper case",
        args: wisdom(
            [modelVersion("v0"), modelVersion("v1", { match: [{ headers: { Traffic: { exact: "test" } } }] })],
            { strategy: "canary" },
        ),
        path: 'releases.wisdom.versions[1].match[0].headers["Traffic"]',
        problem: /not a valid header name/,
    },
    {
        title: "match uri in a KServe environment",
        args: wisdom([modelVersion("v0"), modelVersion("v1", { match: [{ uri: { prefix: "/v2" } }] })], {
            strategy: "canary",
        }),
        path: "releases.wisdom.versions[1].match[0].uri",
        problem: /cannot be used with KServe/,
    },
    {
        title: "invalid match regex",
        args: httpbin([appVersion(), appVersion({ match: [{ headers: { user: { regex: "(" } } }] })], {
            strategy: "canary",
        }),
        path: 'releases.wisdom.versions[1].match[0].headers["user"].regex',
        problem: /not a valid regular expression/,
    },
    {
        title: "mirror without a candidate",
        args: httpbin([appVersion()], { strategy: "mirror" }),
        path: "releases.wisdom.versions",
        problem: /mirror needs exactly a primary and one candidate/,
    },
    {
        title: "mirror on KServe",
        args: wisdom(twoVersions, { strategy: "mirror" }),
        path: "releases.wisdom.strategy",
        problem: /mirror is not supported with environment kserve/,
    },
    {
        title: "mirrorPercent above 100",
        args: httpbin([appVersion(), appVersion({ mirrorPercent: 150 })], { strategy: "mirror" }),
        path: "releases.wisdom.versions[1].mirrorPercent",
        problem: /from 0 to 100, got 150/,
    },
    {
        title: "kserve-canary outside Knative and Standard mode",
        args: sklearnIris(GS_MODEL, { environment: "kserve-modelmesh" }),
        path: "releases.wisdom.strategy",
        problem: /kserve-canary needs environment kserve/,
    },
    {
        title: "kserve-canary with two versions",
        args: { ...sklearnIris(GS_MODEL), versions: twoVersions },
        path: "releases.wisdom.versions",
        problem: /kserve-canary uses one InferenceService/,
    },
    {
        title: "canaryTrafficPercent out of range",
        args: sklearnIris(GS_MODEL, { canaryTrafficPercent: 101 }),
        path: "releases.wisdom.canaryTrafficPercent",
        problem: /from 0 to 100, got 101/,
    },
    {
        title: "canaryTrafficPercent with blue-green",
        args: wisdom(twoVersions, { canaryTrafficPercent: 10 }),
        path: "releases.wisdom.canaryTrafficPercent",
        problem: /only applies to strategy kserve-canary/,
    },
    {
        title: "tagRouting that is not a boolean",
        args: sklearnIris(GS_MODEL, { tagRouting: "true" as never }),
        path: "releases.wisdom.tagRouting",
        problem: /true or false/,
    },
    {
        title: "port out of range",
        args: httpbin([appVersion({ port: 70000 })]),
        path: "releases.wisdom.versions[0].port",
        problem: /from 1 to 65535/,
    },
    {
        title: "unknown protocolVersion",
        args: wisdom([modelVersion("v0", { protocolVersion: "v3" as never })]),
        path: "releases.wisdom.versions[0].protocolVersion",
        problem: /must be one of v1, v2/,
    },
    {
        title: "label value with spaces",
        args: wisdom([modelVersion("v0", { labels: { "app.kubernetes.io/version": "v 0" } })]),
        path: 'releases.wisdom.versions[0].labels["app.kubernetes.io/version"]',
        problem: /not a valid label value/,
    },
    {
        title: "label value that is a number",
        args: wisdom(twoVersions, { labels: { tier: 1 as never } }),
        path: 'releases.wisdom.labels["tier"]',
        problem: /must be a string/,
    },
    {
        title: "gateway that is not namespace/name",
        args: wisdom(twoVersions, { routing: { gateways: ["a/b/c"] } }),
        path: "releases.wisdom.routing.gateways[0]",
        problem: /<namespace>\/<name>/,
    },
    {
        title: "readiness timeout of zero",
        args: wisdom(twoVersions, { readiness: { timeoutSeconds: 0 } }),
        path: "releases.wisdom.readiness.timeoutSeconds",
        problem: /from 1 to 86400/,
    },
    {
        title: "storage credentials on ModelMesh",
        args: wisdomModelMesh([{ storageUri: S3_MODEL }, { storageUri: S3_MODEL }], {
            storageCredentials: { data: { KEY: "x" } },
        }),
        path: "releases.wisdom.storageCredentials",
        problem: /cannot be used with environment kserve-modelmesh/,
    },
    {
        title: "storage credentials without data",
        args: wisdom(twoVersions, { storageCredentials: { annotations: {} } as never }),
        path: "releases.wisdom.storageCredentials.data",
        problem: /is required/,
    },
    {
        title: "unknown deploymentModeNames",
        args: wisdom(twoVersions, { deploymentModeNames: "old" as never }),
        path: "releases.wisdom.deploymentModeNames",
        problem: /must be one of current, legacy/,
    },
    // Settings that nothing reads in the release's environment or strategy.
    {
        title: "modelFormat on a deployment release",
        args: httpbin([appVersion()], { modelFormat: { name: "sklearn" } }),
        path: "releases.wisdom.modelFormat",
        problem: /has no effect with environment deployment/,
    },
    {
        title: "runtime on a deployment version",
        args: httpbin([appVersion({ runtime: "kserve-mlserver" })]),
        path: "releases.wisdom.versions[0].runtime",
        problem: /has no effect with environment deployment/,
    },
    {
        title: "protocolVersion on a deployment version",
        args: httpbin([appVersion({ protocolVersion: "v2" })]),
        path: "releases.wisdom.versions[0].protocolVersion",
        problem: /has no effect with environment deployment/,
    },
    {
        title: "deploymentModeNames on a deployment release",
        args: httpbin([appVersion()], { deploymentModeNames: "legacy" }),
        path: "releases.wisdom.deploymentModeNames",
        problem: /has no effect with environment deployment/,
    },
    {
        title: "port on a KServe release",
        args: wisdom(twoVersions, { port: 8080 }),
        path: "releases.wisdom.port",
        problem: /has no effect with environment kserve/,
    },
    {
        title: "port on a KServe version",
        args: wisdom([modelVersion("v0", { port: 8080 })]),
        path: "releases.wisdom.versions[0].port",
        problem: /has no effect with environment kserve/,
    },
    {
        title: "image on a ModelMesh release",
        args: wisdomModelMesh([{ storageUri: S3_MODEL }, { storageUri: S3_MODEL }], { image: "x/y" }),
        path: "releases.wisdom.image",
        problem: /has no effect with environment kserve-modelmesh/,
    },
    {
        title: "args on a ModelMesh version",
        args: wisdomModelMesh([{ storageUri: S3_MODEL }, { storageUri: S3_MODEL, args: ["--x"] }]),
        path: "releases.wisdom.versions[1].args",
        problem: /has no effect with environment kserve-modelmesh/,
    },
    {
        title: "deploymentModeNames on a ModelMesh release",
        args: wisdomModelMesh([{ storageUri: S3_MODEL }, { storageUri: S3_MODEL }], { deploymentModeNames: "legacy" }),
        path: "releases.wisdom.deploymentModeNames",
        problem: /has no effect with environment kserve-modelmesh/,
    },
    {
        title: "runtime next to a full inferenceServiceSpec",
        args: wisdom([{ runtime: "kserve-mlserver", inferenceServiceSpec: { predictor: { model: {} } } }]),
        path: "releases.wisdom.versions[0].runtime",
        problem: /has no effect next to inferenceServiceSpec/,
    },
    {
        title: "image next to a full deploymentSpec",
        args: httpbin([appVersion({ deploymentSpec: { selector: { matchLabels: { app: "x" } }, template: {} } })]),
        path: "releases.wisdom.versions[0].image",
        problem: /has no effect next to deploymentSpec/,
    },
    {
        title: "port next to deploymentSpec and serviceSpec",
        args: httpbin([
            {
                port: 8080,
                deploymentSpec: { selector: { matchLabels: { app: "x" } }, template: {} },
                serviceSpec: { ports: [{ port: 80 }] },
            },
        ]),
        path: "releases.wisdom.versions[0].port",
        problem: /has no effect next to deploymentSpec and serviceSpec/,
    },
    {
        title: "routing.modelMesh outside ModelMesh",
        args: wisdom(twoVersions, { routing: { modelMesh: { port: 9000 } } }),
        path: "releases.wisdom.routing.modelMesh",
        problem: /has no effect with environment kserve/,
    },
    {
        title: "routing.splitGateway on Deployments",
        args: httpbin([appVersion(), appVersion()], {
            routing: { splitGateway: { gateway: "istio-system/gw", service: "gw.istio-system.svc.cluster.local" } },
        }),
        path: "releases.wisdom.routing.splitGateway",
        problem: /has no effect with environment deployment/,
    },
    {
        title: "routing.entryTarget on ModelMesh",
        args: wisdomModelMesh([{ storageUri: S3_MODEL }, { storageUri: S3_MODEL }], {
            routing: { entryTarget: "gw.istio-system.svc.cluster.local" },
        }),
        path: "releases.wisdom.routing.entryTarget",
        problem: /has no effect with environment kserve-modelmesh/,
    },
    {
        title: "routing with kserve-canary",
        args: sklearnIris(GS_MODEL, { routing: { gateways: ["istio-system/public"] } }),
        path: "releases.wisdom.routing",
        problem: /has no effect with strategy kserve-canary/,
    },
    {
        title: "readiness.deployment on KServe",
        args: wisdom(twoVersions, { readiness: { deployment: "available" } }),
        path: "releases.wisdom.readiness.deployment",
        problem: /has no effect with environment kserve/,
    },
    {
        title: "tagRouting with canary",
        args: wisdom(twoVersions, { strategy: "canary", tagRouting: false }),
        path: "releases.wisdom.tagRouting",
        problem: /only applies to strategy kserve-canary/,
    },
    {
        title: "mirrorPercent with blue-green",
        args: httpbin([appVersion(), appVersion({ mirrorPercent: 10 })]),
        path: "releases.wisdom.versions[1].mirrorPercent",
        problem: /only applies to strategy mirror/,
    },
    {
        title: "match with blue-green",
        args: httpbin([appVersion(), appVersion({ match: [{ headers: { a: { exact: "b" } } }] })]),
        path: "releases.wisdom.versions[1].match",
        problem: /only applies to strategy canary/,
    },
    // Matches that select every request would give a canary candidate all traffic.
    ...(
        [
            ["an empty match", {}],
            ["a match with only a name", { name: "beta" }],
            ["a match with empty sourceLabels", { sourceLabels: {} }],
            ['a match on uri prefix "/"', { uri: { prefix: "/" } }],
            ['a match on uri prefix ""', { uri: { prefix: "" } }],
        ] as const
    ).map(([what, match]) => ({
        title: `${what} (constrains nothing)`,
        args: httpbin([appVersion(), appVersion({ match: [{ headers: { a: { exact: "b" } } }, match] })], {
            strategy: "canary",
        }),
        path: "releases.wisdom.versions[1].match[1]",
        problem: /constrains nothing/,
    })),
    {
        title: "a match with empty headers",
        args: httpbin([appVersion(), appVersion({ match: [{ headers: {} }] })], { strategy: "canary" }),
        path: "releases.wisdom.versions[1].match[0].headers",
        problem: /must be a non-empty map/,
    },
];

/** A canary release whose candidate's match is given as JSON, as stack config arrives. */
function canaryWithMatch(matchJson: string): unknown {
    return {
        ...wisdom(twoVersions, { strategy: "canary" }),
        versions: [modelVersion("v0"), { ...modelVersion("v1"), match: JSON.parse(matchJson) }],
    };
}

describe("validateRelease: reserved keys", () => {
    const untouched = () => {
        for (const key of ["exact", "versions", "environment"]) {
            assert.equal(Object.hasOwn(Object.prototype, key), false, key);
            assert.equal(Object.hasOwn(Object, key), false, key);
        }
    };

    for (const key of ["__proto__", "constructor", "prototype"]) {
        it(`refuses a header match keyed ${key} (JSON), naming its path`, () => {
            const issues = issuesOf(canaryWithMatch(`[{"headers": {"${key}": {"exact": "x"}}}]`));
            const hit = issues.find((i) => i.path === `releases.wisdom.versions[1].match[0].headers["${key}"]`);
            assert.ok(hit, issues.map(formatIssue).join("\n"));
            assert.match(hit.problem, /reserved key/);
            assert.ok(hit.fix.length > 0);
            untouched();
        });
    }

    it("refuses __proto__ in query params, labels, annotations, routing and escape-hatch specs", () => {
        const release = JSON.parse(
            JSON.stringify({
                ...httpbin([appVersion(), appVersion({ match: [{ queryParams: { PROTO: { exact: "1" } } }] })], {
                    strategy: "canary",
                    labels: { LABEL: "x" },
                    routing: { gateways: [], PROTO: {} } as never,
                }),
            })
                .replace('"PROTO"', '"__proto__"')
                .replace('"LABEL"', '"__proto__"')
                .replace('"PROTO"', '"constructor"'),
        );
        release.versions[0].annotations = JSON.parse('{"prototype": "x"}');
        release.versions[0].deploymentSpec = JSON.parse(
            '{"selector": {"matchLabels": {"app": "x"}}, "template": {"spec": {"__proto__": {}}}}',
        );
        delete release.versions[0].image;
        const issues = issuesOf(release);
        const paths = issues.map((i) => i.path);
        for (const path of [
            'releases.wisdom.versions[1].match[0].queryParams["__proto__"]',
            'releases.wisdom.labels["__proto__"]',
            'releases.wisdom.routing["constructor"]',
            'releases.wisdom.versions[0].annotations["prototype"]',
            'releases.wisdom.versions[0].deploymentSpec.template.spec["__proto__"]',
        ]) {
            assert.ok(paths.includes(path), `missing ${path} in\n${paths.join("\n")}`);
        }
        assert.deepEqual(
            issues.filter((i) => /not a known setting/.test(i.problem)),
            [],
            "reported once, not also as an unknown setting",
        );
        untouched();
    });

    it("never lets a __proto__ key set a prototype in what it resolves", () => {
        const { issues } = validateRelease("wisdom", canaryWithMatch('[{"headers": {"__proto__": {"exact": "x"}}}]'), {
            path: "releases.wisdom",
            defaultNamespace: "default",
        });
        // Refused, and also as a match that constrains nothing: the candidate would get everything.
        assert.ok(issues.some((i) => /constrains nothing/.test(i.problem)));
        assert.equal(({} as Record<string, unknown>).exact, undefined);
    });

    it("refuses releases keyed constructor or __proto__ (JSON) by path, polluting nothing", () => {
        for (const key of ["constructor", "__proto__", "prototype"]) {
            const raw = JSON.parse(`{"${key}": ${JSON.stringify(wisdom(twoVersions))}}`);
            assert.throws(
                () => validateReleases(raw, "default"),
                (error: unknown) => {
                    assert.ok(error instanceof ReleaseConfigError);
                    assert.deepEqual(
                        error.issues.map((i) => i.path),
                        [`releases["${key}"]`],
                    );
                    assert.match(error.issues[0].fix, /rename the release/);
                    return true;
                },
            );
        }
        untouched();
    });

    it("accepts versions named constructor and prototype: names are values, never keys", () => {
        const releases = validateReleases(
            {
                wisdom: wisdom([
                    modelVersion("v0", { name: "constructor" }),
                    modelVersion("v1", { name: "prototype" }),
                ]),
                iris: wisdom([modelVersion("v0"), modelVersion("v1")], { name: "iris" }),
            },
            "default",
        );
        assert.deepEqual(
            releases[0].versions.map((v) => v.name),
            ["constructor", "prototype"],
        );
        untouched();
    });
});

describe("validateRelease", () => {
    it(`covers at least 25 distinct bad inputs (has ${badInputs.length})`, () => {
        assert.ok(badInputs.length >= 25);
        assert.equal(new Set(badInputs.map((b) => b.title)).size, badInputs.length);
    });

    for (const bad of badInputs) {
        it(`refuses ${bad.title}, naming ${bad.path}`, () => {
            const issues = issuesOf(bad.args);
            const hit = issues.find((i) => i.path === bad.path && bad.problem.test(i.problem));
            assert.ok(hit, `expected ${bad.path} ~ ${bad.problem}, got:\n${issues.map(formatIssue).join("\n")}`);
            assert.ok(hit.fix.length > 0, "every issue says how to fix it");
        });
    }

    it("formats an issue as path, problem and fix on one line", () => {
        const [issue] = issuesOf(wisdom([modelVersion("v0", { weight: -5 }), modelVersion("v1", { weight: 5 })]));
        assert.equal(
            formatIssue(issue),
            "releases.wisdom.versions[0].weight must be a non-negative integer, got -5 (fix: use a whole number >= 0; weights are relative, e.g. 30 and 70)",
        );
    });

    it("reports every problem at once", () => {
        const issues = issuesOf({
            environment: "kserve",
            strategy: "canary",
            versions: [{ storageUri: "ftp://x", weight: -1 }, { name: "Bad" }],
        });
        const paths = issues.map((i) => i.path);
        for (const path of [
            "releases.wisdom.versions[0].storageUri",
            "releases.wisdom.versions[0].weight",
            "releases.wisdom.versions[1].name",
            "releases.wisdom.versions[1].storageUri",
        ]) {
            assert.ok(paths.includes(path), `missing ${path} in ${paths.join(", ")}`);
        }
    });

    it("suggests the closest key for a typo", () => {
        const [issue] = issuesOf({ ...wisdom(twoVersions), stratgy: "canary" });
        assert.match(issue.fix, /did you mean "strategy"\?/);
    });

    it("applies defaults: names, namespace, strategy, labels, canary match, timeouts", () => {
        const r = resolve({ environment: "kserve", modelFormat: "sklearn", versions: [{ storageUri: GS_MODEL }] });
        assert.equal(r.name, "wisdom");
        assert.equal(r.namespace, "default");
        assert.equal(r.strategy, "none");
        assert.equal(r.versions[0].name, "wisdom-0");
        assert.deepEqual(r.versions[0].labels, {
            "app.kubernetes.io/name": "wisdom",
            "app.kubernetes.io/version": "wisdom-0",
        });
        assert.equal(r.timeoutSeconds, 600);
        assert.equal(r.entryTarget, "knative-local-gateway.istio-system.svc.cluster.local");
        const canary = resolve(wisdom(twoVersions, { strategy: "canary" }));
        assert.deepEqual(canary.versions[1].match, [{ headers: { traffic: { exact: "test" } } }]);
        assert.deepEqual(canary.versions[0].match, []);
    });

    it("lets version labels and annotations win over the app's", () => {
        const r = resolve(
            wisdom(
                [
                    modelVersion("v0", {
                        annotations: { team: "b" },
                        labels: { tier: "gold", "app.kubernetes.io/version": "v0" },
                    }),
                ],
                {
                    labels: { tier: "silver", "app.kubernetes.io/name": "wisdom" },
                    annotations: { team: "a", owner: "ml" },
                },
            ),
        );
        assert.deepEqual(r.versions[0].labels, {
            "app.kubernetes.io/name": "wisdom",
            tier: "gold",
            "app.kubernetes.io/version": "v0",
        });
        assert.deepEqual(r.versions[0].annotations, { team: "b", owner: "ml" });
    });

    it("inherits app-level model defaults into versions, and lets a version override them", () => {
        const r = resolve(
            wisdom(
                [modelVersion("v0"), modelVersion("v1", { runtime: "kserve-sklearnserver", protocolVersion: "v1" })],
                { protocolVersion: "v2" },
            ),
        );
        assert.equal(r.versions[0].runtime, "kserve-mlserver");
        assert.equal(r.versions[1].runtime, "kserve-sklearnserver");
        assert.equal(r.versions[0].protocolVersion, "v2");
        assert.equal(r.versions[1].protocolVersion, "v1");
        assert.deepEqual(r.versions[0].modelFormat, { name: "sklearn" });
    });

    it("accepts explicit stable version names", () => {
        const r = resolve(
            wisdom([modelVersion("v0", { name: "wisdom-stable" }), modelVersion("v1", { name: "wisdom-next" })]),
        );
        assert.deepEqual(
            r.versions.map((v) => v.name),
            ["wisdom-stable", "wisdom-next"],
        );
    });
});

describe("validateRelease: KServe v0.20 Standard-mode canary (spec.canary)", () => {
    const stable = canaryVersion("v1");
    const bad: BadInput[] = [
        {
            title: "an unnamed version (the predictor name drives <app>-<name>-predictor)",
            args: standardCanary([stable, { storageUri: GS_MODEL, trafficPercent: 10 }]),
            path: "releases.wisdom.versions[1].name",
            problem: /is required with kserve-canary in Standard mode/,
        },
        {
            title: "a canary without trafficPercent",
            args: standardCanary([stable, canaryVersion("v2")]),
            path: "releases.wisdom.versions[1].trafficPercent",
            problem: /is required on a canary/,
        },
        {
            title: "trafficPercent on the stable predictor",
            args: standardCanary([canaryVersion("v1", 10), canaryVersion("v2", 10)]),
            path: "releases.wisdom.versions[0].trafficPercent",
            problem: /cannot be set on the stable predictor/,
        },
        {
            title: "canaries over 100%",
            args: standardCanary([stable, canaryVersion("v2", 60), canaryVersion("v3", 50)]),
            path: "releases.wisdom.versions[*].trafficPercent",
            problem: /sum to 110 \(v2 60% \+ v3 50%\)/,
        },
        {
            title: "a trafficPercent over 100",
            args: standardCanary([stable, canaryVersion("v2", 101)]),
            path: "releases.wisdom.versions[1].trafficPercent",
            problem: /from 0 to 100/,
        },
        {
            title: "the Knative canaryTrafficPercent in Standard mode",
            args: standardCanary([stable, canaryVersion("v2", 10)], { canaryTrafficPercent: 10 }),
            path: "releases.wisdom.canaryTrafficPercent",
            problem: /only applies to kserve-canary in Knative mode/,
        },
        {
            title: "canaryTrafficPercent inside the stable version's full spec (ignored in Standard mode)",
            args: standardCanary([
                {
                    name: "v1",
                    inferenceServiceSpec: {
                        predictor: {
                            canaryTrafficPercent: 10,
                            model: { name: "kserve-container", modelFormat: { name: "sklearn" }, storageUri: GS_MODEL },
                        },
                    },
                },
            ]),
            path: "releases.wisdom.versions[0].inferenceServiceSpec.predictor.canaryTrafficPercent",
            problem: /KServe ignores it in Standard mode, where spec.canary splits/,
        },
        {
            title: "a canary with more minReplicas than the stable's default of 1",
            args: standardCanary([
                stable,
                {
                    name: "v2",
                    trafficPercent: 10,
                    inferenceServiceSpec: {
                        predictor: {
                            minReplicas: 2,
                            model: { name: "kserve-container", modelFormat: { name: "sklearn" }, storageUri: GS_MODEL },
                        },
                    },
                },
            ]),
            path: "releases.wisdom.versions[1].inferenceServiceSpec.predictor.minReplicas",
            problem: /is 2, above the stable version's 1 \(KServe's default\); KServe v0.20 refuses/,
        },
        {
            title: "tag routing in Standard mode",
            args: standardCanary([stable], { tagRouting: true }),
            path: "releases.wisdom.tagRouting",
            problem: /only applies to kserve-canary in Knative mode/,
        },
        {
            title: "legacy mode names (RawDeployment, which v0.20 refuses with spec.canary)",
            args: standardCanary([stable], { deploymentModeNames: "legacy" }),
            path: "releases.wisdom.deploymentModeNames",
            problem: /accepts spec.canary only with deploymentMode Standard/,
        },
        {
            title: "a name too long for the pod label app=isvc.<app>-<name>-predictor",
            args: standardCanary([canaryVersion("v".repeat(42))]),
            path: "releases.wisdom.versions[0].name",
            problem: /at most 41/,
        },
        {
            title: "an autoscaling canary predictor",
            args: standardCanary([
                stable,
                {
                    name: "v2",
                    trafficPercent: 10,
                    inferenceServiceSpec: { predictor: { maxReplicas: 3, model: { storageUri: GS_MODEL } } },
                },
            ]),
            path: "releases.wisdom.versions[1].inferenceServiceSpec.predictor.maxReplicas",
            problem: /canaries run fixed replicas/,
        },
        {
            title: "a canary's full spec without a container name (the v0.20 CRD requires it)",
            args: standardCanary([
                stable,
                {
                    name: "v2",
                    trafficPercent: 10,
                    inferenceServiceSpec: { predictor: { model: { storageUri: GS_MODEL } } },
                },
            ]),
            path: "releases.wisdom.versions[1].inferenceServiceSpec.predictor.model.name",
            problem: /is required on a canary predictor by the KServe v0.20 CRD/,
        },
        {
            title: "a canary that would inherit the stable's args (KServe merges it over the stable predictor)",
            args: standardCanary([canaryVersion("v1", undefined, { args: ["--workers=4"] }), canaryVersion("v2", 10)]),
            path: "releases.wisdom.versions[1].args",
            problem: /is not set while the stable version sets it \(\["--workers=4"\]\)/,
        },
        {
            title: "a canary with another implementation than the stable (it would get both)",
            args: standardCanary([
                canaryVersion("v1"),
                {
                    name: "v2",
                    trafficPercent: 10,
                    inferenceServiceSpec: {
                        predictor: { sklearn: { name: "kserve-container", storageUri: GS_MODEL } },
                    },
                },
            ]),
            path: "releases.wisdom.versions[1]",
            problem: /serves with sklearn while the stable version serves with model/,
        },
        {
            title: "a transformer on a canary",
            args: standardCanary([
                stable,
                {
                    name: "v2",
                    trafficPercent: 10,
                    inferenceServiceSpec: {
                        predictor: { model: { name: "kserve-container", storageUri: GS_MODEL } },
                        transformer: {},
                    },
                },
            ]),
            path: "releases.wisdom.versions[1].inferenceServiceSpec.transformer",
            problem: /hold a predictor only/,
        },
        {
            title: "trafficPercent with Knative's canary",
            args: sklearnIris(GS_MODEL, { versions: [{ storageUri: GS_MODEL, trafficPercent: 10 }] }),
            path: "releases.wisdom.versions[0].trafficPercent",
            problem: /only applies to kserve-canary in Standard mode|cannot be set on the stable/,
        },
        {
            title: "trafficPercent with blue-green",
            args: wisdom([modelVersion("v0"), modelVersion("v1", { trafficPercent: 10 })]),
            path: "releases.wisdom.versions[1].trafficPercent",
            problem: /only applies to strategy kserve-canary, not blue-green/,
        },
    ];
    for (const b of bad) {
        it(`refuses ${b.title}, naming ${b.path}`, () => {
            const issues = issuesOf(b.args);
            const hit = issues.find((i) => i.path === b.path && b.problem.test(i.problem));
            assert.ok(hit, `expected ${b.path} ~ ${b.problem}, got:\n${issues.map(formatIssue).join("\n")}`);
            assert.ok(hit.fix.length > 0);
        });
    }

    it("accepts routing settings (the release routes a Standard-mode canary), a pinned canary and several canaries", () => {
        resolve(standardCanary([stable, canaryVersion("v2", 0)], { routing: { gateways: ["istio-system/public"] } }));
        resolve(standardCanary([stable, canaryVersion("v2", 60), canaryVersion("v3", 40)]));
        resolve(standardCanary([stable, canaryVersion("v2", 20)], { routing: { backend: "gateway-api" } }));
    });

    it("lets two Standard-mode canary apps in one namespace both name their versions v1 and v2", () => {
        const two = [canaryVersion("v1"), canaryVersion("v2", 10)];
        const releases = validateReleases(
            { a: standardCanary(two, { name: "wisdom" }), b: standardCanary(two, { name: "iris" }) },
            "default",
        );
        assert.equal(releases.length, 2);
    });

    it("refuses a version of another release whose predictor would be <app>-<version>-predictor too", () => {
        assert.throws(
            () =>
                validateReleases(
                    {
                        a: standardCanary([canaryVersion("v1")], { name: "wisdom" }),
                        b: wisdom([modelVersion("v0", { name: "wisdom-v1" })], {
                            environment: "kserve-raw",
                            namespace: "models",
                            name: "other",
                        }),
                    },
                    "default",
                ),
            /releases\.b\.versions\[0\]\.name names "wisdom-v1" in namespace "models", already used by release "a"/,
        );
    });
});

describe("validateReleases", () => {
    it("validates a stack's releases together and throws every issue in one error", () => {
        assert.throws(
            () =>
                validateReleases(
                    { a: wisdom([modelVersion("v0", { weight: -1 })]), b: { environment: "nope", versions: [] } },
                    "default",
                ),
            (error: unknown) => {
                assert.ok(error instanceof ReleaseConfigError);
                const paths = error.issues.map((i) => i.path);
                assert.ok(paths.includes("releases.a.versions[0].weight"));
                assert.ok(paths.includes("releases.b.environment"));
                assert.ok(paths.includes("releases.b.versions"));
                assert.match(error.message, /invalid release configuration \(\d+ problems\)/);
                return true;
            },
        );
    });

    it("refuses two releases that claim the same app in one namespace", () => {
        assert.throws(
            () =>
                validateReleases(
                    { a: wisdom(twoVersions, { name: "wisdom" }), b: wisdom(twoVersions, { name: "wisdom" }) },
                    "default",
                ),
            /app "wisdom" in namespace "default", already used by release "a"/,
        );
    });

    it("refuses a version of one release named like another release's app", () => {
        assert.throws(
            () =>
                validateReleases(
                    { iris: wisdom([modelVersion("v0", { name: "wisdom" })]), wisdom: wisdom(twoVersions) },
                    "default",
                ),
            /equals the app name of release "wisdom"/,
        );
    });

    it("accepts two releases side by side in one namespace", () => {
        const releases = validateReleases({ wisdom: wisdom(twoVersions), iris: wisdom(twoVersions) }, "default");
        assert.deepEqual(
            releases.map((r) => r.versions.map((v) => v.name)),
            [
                ["wisdom-0", "wisdom-1"],
                ["iris-0", "iris-1"],
            ],
        );
    });

    it("refuses a releases value that is not a map", () => {
        assert.throws(() => validateReleases([], "default"), /releases must be a map of release name to release/);
    });
});
