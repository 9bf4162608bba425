/**
 * `npm run schema`: the JSON Schemas derived from the release types (components/types.ts, the one
 * description of a release: fields, doc comments and the constraint tags in them).
 *
 *   schema/release.schema.json        a release as stack config writes it (`ReleaseConfig`) and
 *                                     every exported type; validation takes each section's
 *                                     settings from it, the HTTP service validates its bodies
 *                                     with these definitions and documents them in OpenAPI
 *   schema/pulumi-stack.schema.json   `Pulumi.<stack>.yaml` for editors: `config:
 *                                     model-release:releases` is a map of releases, and the
 *                                     fields tagged `@secret` also take `{secure: ...}` values
 *
 * `--check` exits 1 when the files differ from what the types give (CI runs the same comparison
 * in tests/components/schema.spec.ts).
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { createGenerator } from "ts-json-schema-generator";

const ROOT = path.join(__dirname, "..");
export const RELEASE_SCHEMA_FILE = path.join(ROOT, "schema", "release.schema.json");
export const STACK_SCHEMA_FILE = path.join(ROOT, "schema", "pulumi-stack.schema.json");

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** The custom tag that marks a field whose value may be a Pulumi secret (`secure:` in the file). */
const SECRET_TAG = "secret";

function isObject(value: Json | undefined): value is JsonObject {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A copy of a schema with every `secret` marker replaced by what `transform` makes of it. */
function mapSecrets(value: Json, transform: (schema: JsonObject) => Json): Json {
    if (Array.isArray(value)) return value.map((item) => mapSecrets(item, transform));
    if (!isObject(value)) return value;
    const out: JsonObject = {};
    for (const [key, item] of Object.entries(value)) out[key] = mapSecrets(item, transform);
    if (out[SECRET_TAG] === true) {
        delete out[SECRET_TAG];
        return transform(out);
    }
    return out;
}

/** Both schemas, freshly derived from the types. */
export function releaseSchemas(): { release: JsonObject; stack: JsonObject } {
    const generated = createGenerator({
        path: path.join(ROOT, "components", "types.ts"),
        tsconfig: path.join(ROOT, "tsconfig.json"),
        // Every exported type: validation reads the settings of each section from here too.
        type: "*",
        expose: "export",
        topRef: true,
        jsDoc: "extended",
        additionalProperties: false,
        skipTypeCheck: true,
        sortProps: false,
        extraTags: [SECRET_TAG],
    }).createSchema("*") as unknown as JsonObject;
    const definitions = generated.definitions as JsonObject;

    const release: JsonObject = {
        $schema: "http://json-schema.org/draft-07/schema#",
        $comment: "Generated from components/types.ts by `npm run schema`; do not edit.",
        title: "A model-release release (releases.<name> in stack config)",
        $ref: "#/definitions/ReleaseConfig",
        definitions: mapSecrets(definitions, (schema) => schema) as JsonObject,
    };

    // In a stack file a secret is `{secure: <ciphertext>}` where the plain value would be; in a
    // secret map (storage credentials), each value is.
    const secure = { $ref: "#/definitions/SecureValue" };
    const secretDefinitions = mapSecrets(definitions, (schema) => {
        if (schema.type === "object" && isObject(schema.additionalProperties)) {
            return { ...schema, additionalProperties: { anyOf: [schema.additionalProperties, secure] } };
        }
        const { description, ...plain } = schema;
        return {
            ...(description === undefined ? {} : { description }),
            anyOf: [plain, secure],
        };
    }) as JsonObject;
    const stack: JsonObject = {
        $schema: "http://json-schema.org/draft-07/schema#",
        $comment: "Generated from components/types.ts by `npm run schema`; do not edit.",
        title: "Pulumi.<stack>.yaml of a model-release project",
        type: "object",
        properties: {
            config: {
                type: "object",
                description: "Stack config: `model-release:releases` holds the releases; other keys pass.",
                properties: {
                    "model-release:releases": {
                        type: "object",
                        description:
                            "Map of release name to release description. Edit with `pulumi config set --path`.",
                        additionalProperties: { $ref: "#/definitions/ReleaseConfig" },
                    },
                },
            },
            secretsprovider: { type: "string" },
            encryptedkey: { type: "string" },
            encryptionsalt: { type: "string" },
        },
        definitions: {
            ...secretDefinitions,
            SecureValue: {
                type: "object",
                description: "A Pulumi secret, encrypted (`pulumi config set --secret --path ...`).",
                properties: { secure: { type: "string" } },
                required: ["secure"],
                additionalProperties: false,
            },
        },
    };
    return { release, stack };
}

/** The file text of a schema (what the committed files hold). */
export function schemaText(schema: JsonObject): string {
    return `${JSON.stringify(schema, null, 4)}\n`;
}

if (require.main === module) {
    const { release, stack } = releaseSchemas();
    const check = process.argv.includes("--check");
    let stale = false;
    for (const [file, schema] of [
        [RELEASE_SCHEMA_FILE, release],
        [STACK_SCHEMA_FILE, stack],
    ] as const) {
        const text = schemaText(schema);
        const current = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
        if (current === text) continue;
        if (check) {
            console.error(`${path.relative(ROOT, file)} is stale: run npm run schema`);
            stale = true;
        } else {
            fs.mkdirSync(path.dirname(file), { recursive: true });
            fs.writeFileSync(file, text);
            console.log(`wrote ${path.relative(ROOT, file)}`);
        }
    }
    process.exit(stale ? 1 : 0);
}
