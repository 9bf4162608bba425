import * as assert from "node:assert/strict";
import * as path from "node:path";

import * as pulumi from "@pulumi/pulumi";
import { ComponentProvider, getPulumiComponents } from "@pulumi/pulumi/provider/experimental";

import { ModelRelease } from "../../components/modelRelease";
import { Environment, ProtocolVersion, Strategy } from "../../components/types";
import { RELEASE_KEYS } from "../../components/validate/release";
import { VERSION_KEYS } from "../../components/validate/version";
import { installMocks, valueOf } from "./mocks";
import { modelVersion, wisdom } from "./fixtures";

const ROOT = path.join(__dirname, "..", "..");
const TOKEN = "model-release:index:ModelRelease";

interface SchemaProperty {
    type?: string;
    $ref?: string;
    items?: SchemaProperty;
    additionalProperties?: SchemaProperty;
    plain?: boolean;
    optional?: boolean;
    description?: string;
}
interface SchemaType {
    type: string;
    properties?: Record<string, SchemaProperty>;
    enum?: { name: string; value: string }[];
}
interface PackageSchema {
    name: string;
    version: string;
    resources: Record<
        string,
        {
            isComponent: boolean;
            inputProperties: Record<string, SchemaProperty>;
            properties: Record<string, SchemaProperty>;
            requiredInputs?: string[];
        }
    >;
    types: Record<string, SchemaType>;
}

/** The provider the plugin runner starts for this package (see plugin.js, PulumiPlugin.yaml). */
function provider(): ComponentProvider {
    return new ComponentProvider({ components: [ModelRelease], name: "model-release", dirname: ROOT });
}

describe("component provider (multi-language ModelRelease)", function () {
    // The inference type-checks the project with the TypeScript compiler.
    this.timeout(120_000);
    let schema: PackageSchema;
    // One provider: it infers the schema once and keeps it, as the plugin does.
    const host = provider();

    before(async () => {
        schema = JSON.parse(await host.getSchema()) as PackageSchema;
    });

    const typeOf = (name: string): SchemaType => {
        const type = schema.types[`model-release:index:${name}`];
        assert.ok(type, `no type ${name} in ${Object.keys(schema.types).join(", ")}`);
        return type;
    };

    it("the plugin entry exports exactly one component, ModelRelease", () => {
        // What Pulumi's plugin runner does with the package directory: require it, collect components.
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const components = getPulumiComponents(require(ROOT));
        assert.deepEqual(
            components.map((c) => c.name),
            ["ModelRelease"],
        );
    });

    it("infers a schema whose inputs are every release setting that validation accepts", () => {
        assert.equal(schema.name, "model-release");
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        assert.equal(schema.version, (require(path.join(ROOT, "package.json")) as { version: string }).version);
        const resource = schema.resources[TOKEN];
        assert.ok(resource?.isComponent);
        assert.deepEqual(Object.keys(resource.inputProperties).sort(), [...RELEASE_KEYS].sort());
        assert.deepEqual(resource.requiredInputs?.sort(), ["environment", "versions"]);
        assert.deepEqual(Object.keys(typeOf("VersionArgs").properties ?? {}).sort(), [...VERSION_KEYS].sort());
        // Every input is documented (the doc comments become the SDKs' docs).
        for (const [name, property] of Object.entries(resource.inputProperties)) {
            assert.ok(property.description, `input ${name} has no description`);
        }
    });

    it("names the closed sets as enums with the same values as the TypeScript types", () => {
        const values = (name: string) => (typeOf(name).enum ?? []).map((e) => e.value).sort();
        assert.deepEqual(values("Environment"), Object.values(Environment).sort());
        assert.deepEqual(values("Strategy"), Object.values(Strategy).sort());
        assert.deepEqual(values("ProtocolVersion"), Object.values(ProtocolVersion).sort());
        assert.equal(
            schema.resources[TOKEN].inputProperties.environment.$ref,
            "#/types/model-release:index:Environment",
        );
    });

    it("keeps the escape hatches open and the credentials secret-capable", () => {
        const version = typeOf("VersionArgs").properties ?? {};
        for (const hatch of ["inferenceServiceSpec", "deploymentSpec", "serviceSpec"]) {
            assert.deepEqual(version[hatch].additionalProperties, { $ref: "pulumi.json#/Any" }, hatch);
        }
        // Plain inputs: the plan (names, weights) is made before anything is registered. The
        // credentials alone may be outputs (secrets from another resource or from config).
        const credentials = typeOf("ModelReleaseCredentials").properties ?? {};
        assert.notEqual(credentials.data.plain, true);
        assert.equal(schema.resources[TOKEN].inputProperties.versions.plain, true);
    });

    it("outputs host, namespace and the traffic table", () => {
        const outputs = schema.resources[TOKEN].properties;
        assert.deepEqual(Object.keys(outputs).sort(), ["host", "namespace", "traffic"]);
        assert.equal(outputs.traffic.items?.$ref, "#/types/model-release:index:TrafficRow");
        assert.deepEqual(Object.keys(typeOf("TrafficRow").properties ?? {}).sort(), [
            "match",
            "mirrorPercent",
            "percent",
            "revision",
            "role",
            "version",
            "weight",
        ]);
    });

    it("constructs a ModelRelease from another language's inputs and returns its outputs", async () => {
        const registered = await installMocks();
        const inputs = wisdom([modelVersion("v0", { weight: 80 }), modelVersion("v1", { weight: 20 })]);
        const result = await host.construct("wisdom", TOKEN, { ...inputs }, {});
        const state = result.state as { host: ModelRelease["host"]; traffic: ModelRelease["traffic"] };
        assert.equal(await valueOf(state.host), "wisdom.default.svc.cluster.local");
        assert.deepEqual(
            (await valueOf(state.traffic)).map((row) => [row.version, row.percent]),
            [
                ["wisdom-0", 80],
                ["wisdom-1", 20],
            ],
        );
        assert.match(await valueOf(pulumi.output(result.urn)), /model-release:index:ModelRelease::wisdom$/);
        assert.ok(registered.some((r) => r.type === TOKEN && r.name === "wisdom"));
    });

    it("refuses a type of another package or module", async () => {
        await assert.rejects(() => host.construct("x", "other:index:ModelRelease", {}, {}), /Invalid package name/);
        await assert.rejects(
            () => host.construct("x", "model-release:index:Nope", {}, {}),
            /Component class not found/,
        );
    });
});
