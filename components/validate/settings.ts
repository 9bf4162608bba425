/**
 * The settings each section of a release accepts, read from the JSON Schema that `npm run schema`
 * derives from components/types.ts: the types are the one list of keys, and unknown-key checks
 * (with their did-you-mean) follow them without a copy here.
 */
import releaseSchema from "../../schema/release.schema.json";

interface DefinitionSchema {
    properties?: Record<string, FieldSchema>;
}

interface FieldSchema {
    $ref?: string;
    items?: FieldSchema;
    minimum?: number;
    maximum?: number;
    pattern?: string;
    maxLength?: number;
}

const DEFINITIONS = (releaseSchema as { definitions: Record<string, DefinitionSchema> }).definitions;

/** The sections whose keys validation checks, by the name of their type. */
export type Section =
    | "ReleaseArgs"
    | "VersionArgs"
    | "ModelFormat"
    | "HttpMatch"
    | "RoutingArgs"
    | "SplitGateway"
    | "ModelMeshServiceArgs"
    | "ReadinessArgs"
    | "StorageCredentialsArgs"
    | "RolloutArgs"
    | "AnalysisCheckArgs"
    | "PrometheusCheckArgs"
    | "WebhookCheckArgs"
    | "NotifyArgs";

/** The keys a section accepts, in the order the type declares them. */
export function settingsOf(section: Section): readonly string[] {
    const properties = DEFINITIONS[section]?.properties;
    if (!properties) throw new Error(`schema/release.schema.json has no ${section}: run npm run schema`);
    return Object.keys(properties);
}

/** A field's schema, following `[]` (list items) and `$ref`s. */
function fieldSchema(section: Section, field: string): FieldSchema | undefined {
    const [name, ...items] = field.split("[]");
    let schema: FieldSchema | undefined = DEFINITIONS[section]?.properties?.[name];
    for (let depth = 0; schema !== undefined && depth <= items.length; depth++) {
        while (schema?.$ref !== undefined) {
            schema = DEFINITIONS[schema.$ref.replace("#/definitions/", "")] as FieldSchema;
        }
        if (depth < items.length) schema = schema?.items;
    }
    return schema;
}

/**
 * The `[minimum, maximum]` of an integer field, from its `@minimum`/`@maximum` tags in
 * components/types.ts (`steps[]` for a list's items): validation's bounds are the schema's.
 */
export function rangeOf(section: Section, field: string): [number, number] {
    const schema = fieldSchema(section, field);
    if (schema?.minimum === undefined || schema.maximum === undefined) {
        throw new Error(
            `schema/release.schema.json has no bounds for ${section}.${field}: tag it, then run npm run schema`,
        );
    }
    return [schema.minimum, schema.maximum];
}

/** Compiled `@pattern`s, by their source (Ajv reads them with the `u` flag too). */
const PATTERNS = new Map<string, RegExp>();

/**
 * The `[pattern, maxLength]` of a name field (Kubernetes names and hosts), from its `@pattern` and
 * `@maxLength` tags in components/types.ts: the rule Checker.dnsName applies.
 */
export function nameRuleOf(section: Section, field: string): [RegExp, number] {
    const schema = fieldSchema(section, field);
    if (schema?.pattern === undefined || schema.maxLength === undefined) {
        throw new Error(
            `schema/release.schema.json has no pattern or maxLength for ${section}.${field}: tag it, then run npm run schema`,
        );
    }
    let pattern = PATTERNS.get(schema.pattern);
    if (pattern === undefined) {
        pattern = new RegExp(schema.pattern, "u");
        PATTERNS.set(schema.pattern, pattern);
    }
    return [pattern, schema.maxLength];
}
