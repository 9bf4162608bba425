import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

import Ajv, { ValidateFunction } from "ajv";
import { parse } from "yaml";

import { ReleaseConfig } from "../../components/types";
import { ENVIRONMENTS, STRATEGIES, validateRelease } from "../../components/validate";
import { rangeOf } from "../../components/validate/settings";
import releaseSchema from "../../schema/release.schema.json";
import { RELEASE_SCHEMA_FILE, STACK_SCHEMA_FILE, releaseSchemas, schemaText } from "../../scripts/schema";
import { RAW_SPLIT_GATEWAY, modelVersion, releaseFor, wisdom } from "./fixtures";

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
