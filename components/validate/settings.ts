/**
 * The settings each section of a release accepts, read from the JSON Schema that `npm run schema`
 * derives from components/types.ts: the types are the one list of keys, and unknown-key checks
 * (with their did-you-mean) follow them without a copy here.
 */
import releaseSchema from "../../schema/release.schema.json";

interface DefinitionSchema {
    properties?: Record<string, unknown>;
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
