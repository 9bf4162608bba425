import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

import Ajv, { ValidateFunction } from "ajv";
import { parse } from "yaml";

import { ReleaseConfig } from "../../components/types";
import { ENVIRONMENTS, STRATEGIES, validateRelease } from "../../components/validate";
import { nameRuleOf, rangeOf } from "../../components/validate/settings";
import releaseSchema from "../../schema/release.schema.json";
import { RELEASE_SCHEMA_FILE, STACK_SCHEMA_FILE, releaseSchemas, schemaText } from "../../scripts/schema";
import {
    RAW_SPLIT_GATEWAY,
    S3_MODEL,
    appVersion,
    httpbin,
    modelVersion,
    releaseFor,
    wisdom,
    wisdomModelMesh,
} from "./fixtures";

const ROOT = path.join(__dirname, "..", "..");

/** Whether stack-config validation accepts a release. */
function validatesInCode(release: unknown): boolean {
    return (
        validateRelease("wisdom", release, { path: "releases.wisdom", defaultNamespace: "default" }).issues.length === 0
    );
}

describe("JSON Schemas derived from the release types", function () {
    // The generator runs the TypeScript compiler over components/types.ts.
    this.timeout(60_000);
    let release: ValidateFunction;
    let stack: ValidateFunction;

    before(() => {
        const ajv = new Ajv({ allErrors: true, strict: true });
        release = ajv.compile(JSON.parse(fs.readFileSync(RELEASE_SCHEMA_FILE, "utf8")));
        stack = new Ajv({ allErrors: true, strict: true }).compile(
            JSON.parse(fs.readFileSync(STACK_SCHEMA_FILE, "utf8")),
        );
    });

    it("the committed files are what the types give (run `npm run schema` after changing them)", () => {
        const fresh = releaseSchemas();
        assert.equal(fs.readFileSync(RELEASE_SCHEMA_FILE, "utf8"), schemaText(fresh.release));
        assert.equal(fs.readFileSync(STACK_SCHEMA_FILE, "utf8"), schemaText(fresh.stack));
    });

    it("accepts every valid release of the environment x strategy matrix", () => {
        let valid = 0;
        for (const environment of ENVIRONMENTS) {
            for (const strategy of STRATEGIES) {
                const args = releaseFor(environment, strategy);
                if (!validatesInCode(args)) continue;
                valid++;
                assert.ok(release(args), `${environment}/${strategy}: ${JSON.stringify(release.errors)}`);
            }
        }
        assert.ok(valid >= 12, `only ${valid} valid combinations`);
    });

    it("accepts the stack config's shorthands: modelFormat as a name", () => {
        const args: ReleaseConfig = {
            environment: "kserve",
            modelFormat: "sklearn",
            versions: [{ storageUri: "gs://m/1", modelFormat: "xgboost" }],
        };
        assert.ok(validatesInCode(args));
        assert.ok(release(args), JSON.stringify(release.errors));
    });

    const wrong: [string, (r: Record<string, unknown>) => void][] = [
        ["a misspelt key", (r) => (r.stratgy = "canary")],
        ["an unknown environment", (r) => (r.environment = "kserve-rawx")],
        ["a port out of range", (r) => (r.port = 70000)],
        ["a fractional weight", (r) => ((r.versions as Record<string, unknown>[])[0].weight = 1.5)],
        ["a negative weight", (r) => ((r.versions as Record<string, unknown>[])[0].weight = -1)],
        ["mirrorPercent above 100", (r) => ((r.versions as Record<string, unknown>[])[1].mirrorPercent = 101)],
        ["canaryTrafficPercent above 100", (r) => (r.canaryTrafficPercent = 101)],
        ["no versions", (r) => (r.versions = [])],
        [
            "a version name that is not a DNS label",
            (r) => ((r.versions as Record<string, unknown>[])[0].name = "Wisdom_0"),
        ],
        ["a zero timeout", (r) => (r.readiness = { timeoutSeconds: 0 })],
        ["a rollout step of 0", (r) => (r.rollout = { steps: [0, 50] })],
        ["a number as model format", (r) => (r.modelFormat = 5)],
        ["a label value that is not a string", (r) => (r.labels = { team: 1 })],
        ["a split gateway without its service", (r) => (r.routing = { splitGateway: { gateway: "istio-system/gw" } })],
    ];
    for (const [title, spoil] of wrong) {
        it(`refuses ${title}, as validation does`, () => {
            const args = JSON.parse(
                JSON.stringify(
                    wisdom([modelVersion("v0", { weight: 50 }), modelVersion("v1", { weight: 50 })], {
                        environment: "kserve-raw",
                        routing: { splitGateway: RAW_SPLIT_GATEWAY },
                    }),
                ),
            ) as Record<string, unknown>;
            assert.ok(validatesInCode(args) && release(args), "the unspoilt release is valid");
            spoil(args);
            assert.equal(release(args), false, "the schema accepts it");
            assert.equal(validatesInCode(args), false, "validation accepts it");
        });
    }

    it("validates this project's Pulumi.dev.yaml, and secrets where the types allow them", () => {
        const file = parse(fs.readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8")) as Record<string, unknown>;
        assert.ok(stack(file), JSON.stringify(stack.errors));
        const withSecrets = {
            encryptionsalt: "v1:abc",
            config: {
                "kubernetes:namespace": "models",
                "model-release:releases": {
                    wisdom: {
                        ...wisdom([modelVersion("v0")]),
                        storageCredentials: { data: { AWS_SECRET_ACCESS_KEY: { secure: "v1:xyz" } } },
                        rollout: {
                            steps: [10, 50],
                            analysis: [{ name: "smoke", webhook: { url: { secure: "v1:url" } } }],
                            notify: [{ webhook: { secure: "v1:hook" } }],
                        },
                    },
                },
            },
        };
        assert.ok(stack(withSecrets), JSON.stringify(stack.errors));
        const secretEnvironment = structuredClone(withSecrets);
        (secretEnvironment.config["model-release:releases"].wisdom as Record<string, unknown>).environment = {
            secure: "v1:env",
        };
        assert.equal(stack(secretEnvironment), false, "environment is not a secret-capable field");
    });
});

describe("validation takes its integer bounds from the schema", () => {
    type Field = { minimum?: number; maximum?: number };
    const definitions = (
        releaseSchema as unknown as { definitions: Record<string, { properties: Record<string, Field> }> }
    ).definitions;

    it("reads [minimum, maximum], following list items and $refs, and names an untagged field", () => {
        assert.deepEqual(rangeOf("VersionArgs", "mirrorPercent"), [0, 100]);
        assert.deepEqual(rangeOf("RolloutArgs", "steps[]"), [1, 99]);
        assert.deepEqual(rangeOf("ReadinessArgs", "timeoutSeconds"), [1, 86400]);
        assert.throws(() => rangeOf("VersionArgs", "name"), /no bounds for VersionArgs\.name: tag it/);
    });

    it("a bound changed in the schema changes what validation accepts (one description, no copy)", () => {
        const field = definitions.VersionArgs.properties.mirrorPercent;
        const saved = field.maximum;
        const mirror = (percent: number) =>
            validateRelease(
                "httpbin",
                {
                    environment: "deployment",
                    strategy: "mirror",
                    versions: [{ image: "i" }, { image: "i", mirrorPercent: percent }],
                },
                { path: "releases.httpbin", defaultNamespace: "default" },
            ).issues.map((i) => i.path);
        try {
            assert.deepEqual(mirror(60), []);
            field.maximum = 50;
            assert.deepEqual(mirror(60), ["releases.httpbin.versions[1].mirrorPercent"]);
        } finally {
            field.maximum = saved;
        }
    });
});

describe("validation takes its name rules from the schema", () => {
    const definitions = (
        releaseSchema as unknown as {
            definitions: Record<string, { properties: Record<string, { maxLength?: number }> }>;
        }
    ).definitions;

    it("reads [pattern, maxLength], and names an untagged field", () => {
        const [runtime, runtimeMax] = nameRuleOf("VersionArgs", "runtime");
        assert.equal(runtimeMax, 253);
        assert.ok(runtime.test("kserve.sklearn-server") && !runtime.test("a..b") && !runtime.test("a\\.b"));
        assert.equal(nameRuleOf("HttpMatch", "sourceNamespace")[1], 63);
        assert.throws(
            () => nameRuleOf("VersionArgs", "storageUri"),
            /no pattern or maxLength for VersionArgs\.storageUri/,
        );
    });

    it("a length changed in the schema changes what validation accepts, with the same message", () => {
        const field = definitions.HttpMatch.properties.sourceNamespace;
        const saved = field.maxLength;
        const canary = (namespace: string) =>
            validateRelease(
                "httpbin",
                {
                    environment: "deployment",
                    strategy: "canary",
                    versions: [{ image: "i" }, { image: "i", match: [{ sourceNamespace: namespace }] }],
                },
                { path: "releases.httpbin", defaultNamespace: "default" },
            ).issues.map((i) => `${i.path}: ${i.problem}`);
        try {
            assert.deepEqual(canary("team-a"), []);
            field.maxLength = 4;
            assert.deepEqual(canary("team-a"), [
                'releases.httpbin.versions[1].match[0].sourceNamespace: must be a namespace name of at most 4 characters, got "team-a"',
            ]);
        } finally {
            field.maxLength = saved;
        }
    });
});

describe("the schema refuses what validation refuses, field by field", function () {
    this.timeout(60_000);
    type Json = Record<string, unknown>;
    const definitions = (
        releaseSchema as unknown as { definitions: Record<string, { properties: Record<string, Json> }> }
    ).definitions;
    let schema: ValidateFunction;
    before(() => {
        schema = new Ajv({ allErrors: true, strict: true }).compile(releaseSchema);
    });

    it("derives patterns with single escapes: dotted names match, a literal backslash does not", () => {
        const pattern = (section: string, field: string) =>
            new RegExp(definitions[section].properties[field].pattern as string, "u");
        for (const [section, field] of [
            ["VersionArgs", "runtime"],
            ["ReleaseFields", "runtime"],
            ["SplitGateway", "service"],
            ["RoutingArgs", "entryTarget"],
        ]) {
            for (const name of ["a.b", "kserve.sklearn-server", "istio-ingressgateway.istio-system.svc"]) {
                assert.ok(pattern(section, field).test(name), `${section}.${field} refuses ${name}`);
            }
            assert.equal(pattern(section, field).test("a\\.b"), false, `${section}.${field} takes a backslash`);
        }
        assert.ok(pattern("SplitGateway", "gateway").test("istio-system/gw.example"));
        const dotted = {
            ...wisdomModelMesh([{ storageUri: S3_MODEL, runtime: "mlserver.v1" }], { strategy: "none" }),
            runtime: "kserve.mlserver",
        };
        assert.ok(validatesInCode(dotted), "validation accepts dotted runtimes");
        assert.ok(schema(dotted), JSON.stringify(schema.errors));
    });

    /** Valid releases that each sample spoils: one per kind of section reached. */
    const bases: Record<string, () => Json> = {
        raw: () =>
            wisdom([modelVersion("v0", { weight: 50 }), modelVersion("v1", { weight: 50 })], {
                environment: "kserve-raw",
                routing: { splitGateway: RAW_SPLIT_GATEWAY },
                storageCredentials: { data: { AWS_ACCESS_KEY_ID: "k" }, annotations: { "a.b/c": "d" } },
            }) as unknown as Json,
        modelMesh: () =>
            wisdomModelMesh([{ storageUri: S3_MODEL }], {
                strategy: "none",
                routing: { modelMesh: { service: "modelmesh-serving", namespace: "modelmesh-serving", port: 8033 } },
            }) as unknown as Json,
        canary: () =>
            httpbin([appVersion(), appVersion({ match: [{ headers: { traffic: { exact: "test" } } }] })], {
                strategy: "canary",
                rollout: { iterations: 3, failureLimit: 2 },
            }) as unknown as Json,
        rollout: () =>
            wisdom([modelVersion("v0"), modelVersion("v1")], {
                rollout: {
                    steps: [10, 50],
                    interval: "30s",
                    analysis: [
                        { name: "error-rate", prometheus: { query: "sum(up)", max: 0.01 } },
                        { name: "judge", webhook: { url: "http://checker.ml/judge", timeout: "5s" } },
                    ],
                },
            }) as unknown as Json,
    };
    /** [config path below the release, base, sample bad values]. */
    const samples: [string, keyof typeof bases, unknown[]][] = [
        ["runtime", "raw", ["a..b", "Sklearn", "a\\.b", `${"a".repeat(250)}.bcd`]],
        ["versions[1].runtime", "raw", ["a..b", "-a.b"]],
        ["versions[1].weight", "raw", [Number.MAX_SAFE_INTEGER + 1, 1e300]],
        ["labels", "raw", [{ "a..b/c": "x" }, { [`${"x".repeat(64)}`]: "x" }, { [`${"a".repeat(254)}/n`]: "x" }]],
        ["versions[1].labels", "raw", [{ "-bad": "x" }, { "a/b/c": "x" }]],
        ["annotations", "raw", [{ "a/b/c": "x" }, { "/x": "y" }]],
        ["versions[1].annotations", "raw", [{ "example.com/": "x" }]],
        ["modelFormat.version", "raw", [""]],
        ["routing.splitGateway.service", "raw", ["Istio.Ingress", "a..b", "a".repeat(254), ""]],
        ["routing.splitGateway.gateway", "raw", ["a/b/c", "istio-system/Public", "/gw", ""]],
        ["routing.entryTarget", "raw", ["Not_A_Host", "a".repeat(254), "a.b."]],
        ["storageCredentials.data", "raw", [{}]],
        ["storageCredentials.annotations", "raw", [{ "a/b/c": "x" }]],
        ["routing.modelMesh.service", "modelMesh", ["ModelMesh", "9mesh", "a".repeat(64), "mesh.serving"]],
        ["routing.modelMesh.namespace", "modelMesh", ["ns.x", "-ns", "a".repeat(64)]],
        ["versions[1].match[0].sourceNamespace", "canary", ["Bad", "a.b", "a".repeat(64)]],
        ["versions[1].match[0].name", "canary", [""]],
        ["versions[1].match[0].headers", "canary", [{}, { "X-User": { exact: "t" } }, { "a b": { exact: "t" } }]],
        ["versions[1].match[0].withoutHeaders", "canary", [{}, { "X-User": { exact: "t" } }]],
        ["versions[1].match[0].queryParams", "canary", [{}]],
        ["versions[1].match[0].headers.traffic", "canary", [{ exact: "" }, { regex: "" }]],
        ["versions[1].match[0].sourceLabels", "canary", [{ "a/b/c": "x" }]],
        ["rollout.iterations", "canary", [Number.MAX_SAFE_INTEGER + 1]],
        ["rollout.failureLimit", "canary", [Number.MAX_SAFE_INTEGER + 1]],
        ["rollout.interval", "rollout", ["10ms", "1d", "", "1.5m", "m"]],
        ["rollout.steps", "rollout", [[10, 10]]],
        ["rollout.analysis[0].name", "rollout", ["Error_Rate", "a".repeat(64), "error.rate", ""]],
        ["rollout.analysis[0].prometheus.query", "rollout", [""]],
        ["rollout.analysis[1].webhook.timeout", "rollout", ["1.5s", "10ms", ""]],
    ];

    /** Sets a value at a path such as `versions[1].match[0].name`. */
    function set(target: Json, path: string, value: unknown): void {
        const keys = path.split(/\.|\[(\d+)\]/).filter((key) => key !== undefined && key !== "");
        let node = target as Record<string, unknown>;
        for (const key of keys.slice(0, -1)) node = node[key] as Record<string, unknown>;
        node[keys[keys.length - 1]] = value;
    }

    for (const [field, base, values] of samples) {
        it(`${field}: both refuse ${values.map((v) => JSON.stringify(v).slice(0, 24)).join(", ")}`, () => {
            const valid = JSON.parse(JSON.stringify(bases[base]())) as Json;
            assert.ok(validatesInCode(valid), `the ${base} base passes validation`);
            assert.ok(schema(valid), `the ${base} base passes the schema: ${JSON.stringify(schema.errors)}`);
            for (const value of values) {
                const spoilt = structuredClone(valid);
                set(spoilt, field, value);
                const shown = JSON.stringify(value).slice(0, 40);
                assert.equal(schema(spoilt), false, `the schema accepts ${field} = ${shown}`);
                assert.equal(validatesInCode(spoilt), false, `validation accepts ${field} = ${shown}`);
            }
        });
    }
});
