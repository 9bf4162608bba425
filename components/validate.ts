/**
 * Validation of release descriptions. Pure: no Pulumi imports, no I/O.
 *
 * Every problem is collected (not just the first) and reported with the config path it was
 * found at and how to fix it, so a user editing `Pulumi.<stack>.yaml` sees all mistakes at once
 * and before any resource is registered.
 */
import {
    QUERY_PLACEHOLDERS,
    ResolvedCheck,
    ResolvedRollout,
    SAMPLE_QUERY_VARIABLES,
    expandStepWeight,
    parseDuration,
    promqlSyntaxError,
    unknownPlaceholders,
} from "./rollout";
import {
    AnalysisCheckArgs,
    DeploymentModeNames,
    Environment,
    HttpMatch,
    ModelFormat,
    NotifyArgs,
    PrometheusCheckArgs,
    ProtocolVersion,
    ReleaseArgs,
    RolloutArgs,
    SplitGateway,
    StorageCredentialsArgs,
    Strategy,
    StringMatch,
    VersionArgs,
    WebhookCheckArgs,
} from "./types";

export const ENVIRONMENTS: readonly Environment[] = ["kserve", "kserve-raw", "kserve-modelmesh", "deployment"];
export const STRATEGIES: readonly Strategy[] = ["none", "blue-green", "canary", "mirror", "kserve-canary"];
export const PROTOCOL_VERSIONS: readonly ProtocolVersion[] = ["v1", "v2", "grpc-v1", "grpc-v2"];

/** storageUri schemes the KServe storage initializer accepts (webhook allow-list). */
export const KSERVE_STORAGE_SCHEMES: readonly string[] = [
    "gs",
    "s3",
    "pvc",
    "file",
    "http",
    "https",
    "hdfs",
    "webhdfs",
    "oci",
    "oci+native",
    "oci+fetch",
    "hf",
    "modelscope",
];
/** storageUri schemes ModelMesh Serving can load ("unsupported storageUri scheme" otherwise). */
export const MODELMESH_STORAGE_SCHEMES: readonly string[] = ["s3", "gs", "pvc", "http", "https"];

/** Header that selects a version on the second hop of a weighted KServe split. */
export const BRANCH_HEADER = "x-model-release-version";

export const DEFAULT_TIMEOUT_SECONDS = 600;
export const DEFAULT_PORT = 80;
export const DEFAULT_CANARY_MATCH: readonly HttpMatch[] = [{ headers: { traffic: { exact: "test" } } }];
export const DEFAULT_KNATIVE_GATEWAY: SplitGateway = {
    gateway: "knative-serving/knative-local-gateway",
    service: "knative-local-gateway.istio-system.svc.cluster.local",
};
export const DEFAULT_DEPLOYMENT_ENTRY_TARGET = "istio-ingressgateway.istio-system.svc.cluster.local";

/** One problem in a release description. */
export interface ConfigIssue {
    /** Config path, e.g. `releases.wisdom.versions[1].weight`. */
    path: string;
    /** What is wrong, including the offending value. */
    problem: string;
    /** How to fix it. */
    fix: string;
}

/** Formats an issue as one line: `<path> <problem> (fix: <fix>)`. */
export function formatIssue(issue: ConfigIssue): string {
    return `${issue.path} ${issue.problem} (fix: ${issue.fix})`;
}

/** Thrown when a release description is invalid; lists every problem found. */
export class ReleaseConfigError extends Error {
    constructor(public readonly issues: readonly ConfigIssue[]) {
        super(
            `invalid release configuration (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n` +
                issues.map((i) => `  - ${formatIssue(i)}`).join("\n"),
        );
        this.name = "ReleaseConfigError";
    }
}

/** A version after defaults and inheritance from the app are applied. */
export interface ResolvedVersion {
    index: number;
    name: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    storageUri?: string;
    image?: string;
    modelFormat?: ModelFormat;
    runtime?: string;
    protocolVersion?: ProtocolVersion;
    port: number;
    args?: string[];
    /** Configured relative weight (blue-green); undefined when weights are implicit. */
    weight?: number;
    /** Requests this candidate receives (canary); empty for the primary. */
    match: HttpMatch[];
    /** Mirrored percentage (mirror candidates). */
    mirrorPercent?: number;
    inferenceServiceSpec?: Record<string, unknown>;
    deploymentSpec?: Record<string, unknown>;
    serviceSpec?: Record<string, unknown>;
}

/** A release after validation, defaults and inheritance. */
export interface ResolvedRelease {
    /** Config key / component name. */
    key: string;
    name: string;
    namespace: string;
    environment: Environment;
    strategy: Strategy;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    versions: ResolvedVersion[];
    canaryTrafficPercent?: number;
    tagRouting: boolean;
    deploymentModeNames: DeploymentModeNames;
    gateways: string[];
    splitGateway: SplitGateway;
    entryTarget: string;
    modelMesh: { service: string; namespace: string; port: number };
    timeoutSeconds: number;
    deploymentReadiness: "rollout" | "available";
    /** Annotations of the credentials Secret, when credentials are configured. */
    storageCredentials?: { annotations: Record<string, string> };
    /** The automated progressive rollout, when configured. */
    rollout?: ResolvedRollout;
}

const RELEASE_KEYS: readonly (keyof ReleaseArgs)[] = [
    "name",
    "namespace",
    "environment",
    "strategy",
    "labels",
    "annotations",
    "modelFormat",
    "runtime",
    "protocolVersion",
    "port",
    "image",
    "versions",
    "canaryTrafficPercent",
    "tagRouting",
    "deploymentModeNames",
    "routing",
    "readiness",
    "storageCredentials",
    "rollout",
];
const VERSION_KEYS: readonly (keyof VersionArgs)[] = [
    "name",
    "labels",
    "annotations",
    "storageUri",
    "image",
    "modelFormat",
    "runtime",
    "protocolVersion",
    "port",
    "args",
    "weight",
    "match",
    "mirrorPercent",
    "inferenceServiceSpec",
    "deploymentSpec",
    "serviceSpec",
];
const MATCH_KEYS: readonly (keyof HttpMatch)[] = [
    "headers",
    "withoutHeaders",
    "queryParams",
    "uri",
    "method",
    "sourceLabels",
    "sourceNamespace",
    "name",
];
const ROUTING_KEYS = ["gateways", "splitGateway", "entryTarget", "modelMesh"] as const;
const ROLLOUT_KEYS: readonly (keyof RolloutArgs)[] = [
    "steps",
    "stepWeight",
    "maxWeight",
    "iterations",
    "interval",
    "failureLimit",
    "prometheusUrl",
    "analysis",
    "onSuccess",
    "notify",
];
const CHECK_KEYS: readonly (keyof AnalysisCheckArgs)[] = ["name", "prometheus", "webhook"];
const PROMETHEUS_CHECK_KEYS: readonly (keyof PrometheusCheckArgs)[] = ["query", "min", "max"];
const WEBHOOK_CHECK_KEYS: readonly (keyof WebhookCheckArgs)[] = ["url", "timeout"];
const NOTIFY_KEYS: readonly (keyof NotifyArgs)[] = ["webhook"];

/** Rollout defaults. */
export const DEFAULT_ROLLOUT_INTERVAL = "1m";
export const DEFAULT_WEBHOOK_TIMEOUT = "10s";
/** Strategies whose rollout moves the candidate's share in steps (`steps` or `stepWeight`). */
export const STEPPED_STRATEGIES: readonly Strategy[] = ["blue-green", "kserve-canary"];
/** Strategies whose rollout judges the candidate `iterations` times, then promotes it. */
export const GATED_STRATEGIES: readonly Strategy[] = ["canary", "mirror"];

const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

/**
 * Keys that JavaScript gives a meaning of its own. Assigned as map keys they set an object's
 * prototype (`__proto__`) or shadow Object's members, so a header match keyed `__proto__` would
 * silently become `{}` and match every request. They are refused anywhere in a release.
 */
export const RESERVED_KEYS: readonly string[] = ["__proto__", "constructor", "prototype"];

/** Whether a key is one of RESERVED_KEYS. */
export function isReservedKey(key: string): boolean {
    return RESERVED_KEYS.includes(key);
}

/**
 * Longest version name per environment. Knative names revisions `<isvc>-predictor-00001` and
 * Standard mode names the Deployment `<isvc>-predictor`; both must fit in a 63-character label.
 */
const MAX_VERSION_NAME: Record<Environment, number> = {
    kserve: 63 - "-predictor-00001".length,
    "kserve-raw": 63 - "-predictor".length,
    "kserve-modelmesh": 63,
    deployment: 63,
};

function isObject(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

function show(value: unknown): string {
    if (value === undefined) {
        return "nothing";
    }
    const text = JSON.stringify(value);
    return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function editDistance(a: string, b: string): number {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        let previous = row[0];
        row[0] = i;
        for (let j = 1; j <= b.length; j++) {
            const current = row[j];
            row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
            previous = current;
        }
    }
    return row[b.length];
}

function suggest(word: string, options: readonly string[]): string {
    const close = options.filter((o) => editDistance(word.toLowerCase(), o.toLowerCase()) <= 2);
    return close.length > 0 ? `did you mean ${close.map((c) => `"${c}"`).join(" or ")}? ` : "";
}

/** Collects issues for one release; each check adds at most one issue per path. */
class Checker {
    readonly issues: ConfigIssue[] = [];

    add(path: string, problem: string, fix: string): void {
        this.issues.push({ path, problem, fix });
    }

    unknownKeys(path: string, value: Record<string, unknown>, allowed: readonly string[]): void {
        for (const key of Object.keys(value)) {
            // Reserved keys are reported once, by reservedKeys().
            if (!allowed.includes(key) && !isReservedKey(key)) {
                this.add(
                    `${path}.${key}`,
                    "is not a known setting",
                    `${suggest(key, allowed)}remove it; allowed here: ${allowed.join(", ")}`,
                );
            }
        }
    }

    string(path: string, value: unknown, fix: string): string | undefined {
        if (value === undefined) {
            return undefined;
        }
        if (typeof value !== "string" || value.length === 0) {
            this.add(path, `must be a non-empty string, got ${show(value)}`, fix);
            return undefined;
        }
        return value;
    }

    oneOf<T extends string>(path: string, value: unknown, options: readonly T[]): T | undefined {
        if (value === undefined) {
            return undefined;
        }
        if (typeof value !== "string" || !(options as readonly string[]).includes(value)) {
            const hint = typeof value === "string" ? suggest(value, options) : "";
            this.add(
                path,
                `must be one of ${options.join(", ")}, got ${show(value)}`,
                `${hint}use one of the listed values`,
            );
            return undefined;
        }
        return value as T;
    }

    integer(path: string, value: unknown, min: number, max: number, fix: string): number | undefined {
        if (value === undefined) {
            return undefined;
        }
        if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
            const range =
                max === Number.MAX_SAFE_INTEGER ? `a whole number >= ${min}` : `a whole number from ${min} to ${max}`;
            const what = min === 0 && max === Number.MAX_SAFE_INTEGER ? "a non-negative integer" : range;
            this.add(path, `must be ${what}, got ${show(value)}`, fix);
            return undefined;
        }
        return value;
    }

    boolean(path: string, value: unknown): boolean | undefined {
        if (value === undefined) {
            return undefined;
        }
        if (typeof value !== "boolean") {
            this.add(path, `must be true or false, got ${show(value)}`, "write true or false without quotes");
            return undefined;
        }
        return value;
    }

    dnsName(path: string, value: unknown, pattern: RegExp, maxLength: number, kind: string): string | undefined {
        const text = this.string(path, value, `use ${kind}`);
        if (text === undefined) {
            return undefined;
        }
        if (!pattern.test(text) || text.length > maxLength) {
            this.add(
                path,
                `must be ${kind} of at most ${maxLength} characters, got ${show(text)}`,
                `use ${kind}, e.g. "wisdom-0"`,
            );
            return undefined;
        }
        return text;
    }

    stringMap(
        path: string,
        value: unknown,
        kind: "label" | "annotation" | "plain",
    ): Record<string, string> | undefined {
        if (value === undefined) {
            return undefined;
        }
        if (!isObject(value)) {
            this.add(
                path,
                `must be a map of strings, got ${show(value)}`,
                `write ${path.split(".").pop()} as key: "value" lines`,
            );
            return undefined;
        }
        const entries: [string, string][] = [];
        for (const [key, entry] of Object.entries(value)) {
            if (isReservedKey(key)) continue; // reported by reservedKeys()
            const entryPath = `${path}["${key}"]`;
            if (typeof entry !== "string") {
                this.add(entryPath, `must be a string, got ${show(entry)}`, `quote the value, e.g. "${String(entry)}"`);
                continue;
            }
            if (kind !== "plain" && !validQualifiedKey(key)) {
                this.add(
                    entryPath,
                    `is not a valid ${kind} key`,
                    "use [prefix/]name with a DNS subdomain prefix and a name of at most 63 characters",
                );
                continue;
            }
            if (kind === "label" && (entry.length > 63 || !LABEL_VALUE.test(entry))) {
                this.add(
                    entryPath,
                    `is not a valid label value, got ${show(entry)}`,
                    "use at most 63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric",
                );
                continue;
            }
            entries.push([key, entry]);
        }
        // fromEntries defines own keys: no key can ever become a prototype.
        return Object.fromEntries(entries);
    }
}

/** A config path to a key of a map: `.key` for plain identifiers, `["key"]` otherwise. */
function keyPath(path: string, key: string): string {
    return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) && !isReservedKey(key) ? `${path}.${key}` : `${path}["${key}"]`;
}

/** Reports every reserved key (own key of any object) in a config value, at any depth. */
function reservedKeys(c: Checker, path: string, value: unknown, seen = new Set<object>()): void {
    if (typeof value !== "object" || value === null || seen.has(value)) return;
    seen.add(value);
    if (Array.isArray(value)) {
        value.forEach((item, i) => reservedKeys(c, `${path}[${i}]`, item, seen));
        return;
    }
    for (const [key, item] of Object.entries(value)) {
        if (isReservedKey(key)) {
            c.add(
                `${path}["${key}"]`,
                `is a reserved key (${RESERVED_KEYS.join(", ")}): JavaScript would not read it as a plain key`,
                "rename or remove the key",
            );
        } else {
            reservedKeys(c, keyPath(path, key), item, seen);
        }
    }
}

function validQualifiedKey(key: string): boolean {
    const parts = key.split("/");
    if (parts.length > 2) {
        return false;
    }
    const name = parts[parts.length - 1];
    if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) {
        return false;
    }
    if (parts.length === 2) {
        const prefix = parts[0];
        return prefix.length > 0 && prefix.length <= 253 && DNS1123_SUBDOMAIN.test(prefix);
    }
    return true;
}

function storageScheme(uri: string): string | undefined {
    const match = /^([a-z][a-z0-9+.-]*):\/\//.exec(uri);
    return match ? match[1] : undefined;
}

function modelFormatOf(c: Checker, path: string, value: unknown): ModelFormat | undefined {
    if (value === undefined) {
        return undefined;
    }
    if (typeof value === "string" && value.length > 0) {
        return { name: value };
    }
    if (isObject(value)) {
        c.unknownKeys(path, value, ["name", "version"]);
        const name = c.string(`${path}.name`, value.name, 'name the framework, e.g. "sklearn"');
        if (value.name === undefined) {
            c.add(`${path}.name`, "is required", 'name the framework, e.g. "sklearn"');
        }
        const version = c.string(`${path}.version`, value.version, 'give a version such as "1"');
        return name === undefined ? undefined : version === undefined ? { name } : { name, version };
    }
    c.add(path, `must be a framework name or {name, version}, got ${show(value)}`, "write e.g. modelFormat: sklearn");
    return undefined;
}

function stringMatchOf(c: Checker, path: string, value: unknown, allowEmptyPrefix: boolean): StringMatch | undefined {
    if (!isObject(value)) {
        c.add(path, `must be {exact|prefix|regex: "<value>"}, got ${show(value)}`, 'write e.g. {exact: "test"}');
        return undefined;
    }
    const keys = Object.keys(value);
    if (keys.length !== 1 || !["exact", "prefix", "regex"].includes(keys[0])) {
        c.add(
            path,
            `must have exactly one of exact, prefix or regex, got ${show(value)}`,
            'keep one key, e.g. {exact: "test"}',
        );
        return undefined;
    }
    const key = keys[0] as keyof StringMatch;
    const text = value[key];
    if (typeof text !== "string" || (text.length === 0 && !(allowEmptyPrefix && key === "prefix"))) {
        c.add(`${path}.${key}`, `must be a non-empty string, got ${show(text)}`, "give the value to match");
        return undefined;
    }
    if (key === "regex") {
        try {
            new RegExp(text);
        } catch {
            c.add(
                `${path}.regex`,
                `is not a valid regular expression: ${show(text)}`,
                "use RE2 syntax (Istio matches with RE2)",
            );
            return undefined;
        }
    }
    return { [key]: text };
}

function matchMapOf(
    c: Checker,
    path: string,
    value: unknown,
    headerNames: boolean,
): Record<string, StringMatch> | undefined {
    if (value === undefined) {
        return undefined;
    }
    if (!isObject(value) || Object.keys(value).length === 0) {
        c.add(
            path,
            `must be a non-empty map of name: {exact|prefix|regex}, got ${show(value)}`,
            'write e.g. traffic: {exact: "test"}',
        );
        return undefined;
    }
    const entries: [string, StringMatch][] = [];
    for (const [name, entry] of Object.entries(value)) {
        if (isReservedKey(name)) continue; // reported by reservedKeys()
        if (headerNames && !HEADER_NAME.test(name)) {
            c.add(
                `${path}["${name}"]`,
                "is not a valid header name",
                "use a lower-case HTTP header name, e.g. traffic",
            );
            continue;
        }
        const m = stringMatchOf(c, `${path}["${name}"]`, entry, false);
        if (m) {
            entries.push([name, m]);
        }
    }
    // fromEntries defines own keys: `__proto__` can never set the map's prototype.
    return entries.length > 0 ? Object.fromEntries(entries) : undefined;
}

/**
 * Whether a match selects only some requests. A match with no condition (only a name, empty maps,
 * or a URI prefix of "" or "/") selects every request: as a canary rule, placed before the
 * primary's route, it would send all traffic to the candidate while the traffic table says 0%.
 */
export function constrains(m: HttpMatch): boolean {
    const nonEmpty = (map: Record<string, unknown> | undefined) => map !== undefined && Object.keys(map).length > 0;
    const everyPath = m.uri !== undefined && (m.uri.prefix === "" || m.uri.prefix === "/");
    return (
        nonEmpty(m.headers) ||
        nonEmpty(m.withoutHeaders) ||
        nonEmpty(m.queryParams) ||
        nonEmpty(m.sourceLabels) ||
        (m.uri !== undefined && !everyPath) ||
        m.method !== undefined ||
        m.sourceNamespace !== undefined
    );
}

function matchesOf(c: Checker, path: string, value: unknown, env: Environment): HttpMatch[] | undefined {
    if (value === undefined) {
        return undefined;
    }
    if (!Array.isArray(value) || value.length === 0) {
        c.add(
            path,
            `must be a non-empty list of matches, got ${show(value)}`,
            'write e.g. match: [{headers: {traffic: {exact: "test"}}}]',
        );
        return undefined;
    }
    const result: HttpMatch[] = [];
    value.forEach((entry, i) => {
        const p = `${path}[${i}]`;
        if (!isObject(entry)) {
            c.add(
                p,
                `must be a match object, got ${show(entry)}`,
                'give at least one condition, e.g. headers: {traffic: {exact: "test"}}',
            );
            return;
        }
        const issuesBefore = c.issues.length;
        c.unknownKeys(p, entry, MATCH_KEYS);
        const m: HttpMatch = {};
        const headers = matchMapOf(c, `${p}.headers`, entry.headers, true);
        if (headers) m.headers = headers;
        const without = matchMapOf(c, `${p}.withoutHeaders`, entry.withoutHeaders, true);
        if (without) m.withoutHeaders = without;
        const query = matchMapOf(c, `${p}.queryParams`, entry.queryParams, false);
        if (query) m.queryParams = query;
        if (entry.uri !== undefined) {
            if (env === "kserve" || env === "kserve-raw") {
                c.add(
                    `${p}.uri`,
                    "cannot be used with KServe environments",
                    "match on headers or query parameters; the release rewrites /v1 and /v2 model paths itself",
                );
            } else {
                const uri = stringMatchOf(c, `${p}.uri`, entry.uri, true);
                if (uri) m.uri = uri;
            }
        }
        if (entry.method !== undefined) {
            const method = stringMatchOf(c, `${p}.method`, entry.method, false);
            if (method) m.method = method;
        }
        const sourceLabels = c.stringMap(`${p}.sourceLabels`, entry.sourceLabels, "label");
        if (sourceLabels && Object.keys(sourceLabels).length > 0) m.sourceLabels = sourceLabels;
        const sourceNamespace = c.dnsName(
            `${p}.sourceNamespace`,
            entry.sourceNamespace,
            DNS1123_LABEL,
            63,
            "a namespace name",
        );
        if (sourceNamespace) m.sourceNamespace = sourceNamespace;
        const name = c.string(`${p}.name`, entry.name, "give the match a short name");
        if (name) m.name = name;
        // Only when nothing else was wrong with it: a refused condition already explains itself.
        if (c.issues.length === issuesBefore && !constrains(m)) {
            c.add(
                p,
                `constrains nothing (${show(entry)}), so it would match every request and send all traffic to the candidate`,
                'give it a condition that only some requests meet, e.g. headers: {traffic: {exact: "test"}}',
            );
            return;
        }
        result.push(m);
    });
    return result;
}

function specOf(
    c: Checker,
    path: string,
    value: unknown,
    allowed: boolean,
    envName: string,
): Record<string, unknown> | undefined {
    if (value === undefined) {
        return undefined;
    }
    const key = path.split(".").pop();
    if (!allowed) {
        c.add(path, `cannot be used with environment ${envName}`, `remove ${key}; it belongs to another environment`);
        return undefined;
    }
    if (!isObject(value) || Object.keys(value).length === 0) {
        c.add(
            path,
            `must be a non-empty object (the complete spec), got ${show(value)}`,
            `paste the full ${key} there or remove it`,
        );
        return undefined;
    }
    return value;
}

function gatewayRef(c: Checker, path: string, value: unknown): string | undefined {
    const text = c.string(path, value, 'use "<namespace>/<name>" of an Istio Gateway');
    if (text === undefined) {
        return undefined;
    }
    const parts = text.split("/");
    const valid = parts.length <= 2 && parts.every((p) => DNS1123_SUBDOMAIN.test(p));
    if (!valid) {
        c.add(
            path,
            `must be "<namespace>/<name>" of an Istio Gateway, got ${show(text)}`,
            'write e.g. "istio-system/public-gateway"',
        );
        return undefined;
    }
    return text;
}

/**
 * Settings a release can hold that nothing reads in its environment or strategy. Accepting them
 * would let a user believe they apply (e.g. a port on an InferenceService, routing knobs with
 * KServe's own canary), so they are refused like any other mistake.
 */
function noEffectOnRelease(
    c: Checker,
    p: string,
    raw: Record<string, unknown>,
    environment: Environment,
    strategy: Strategy,
): void {
    const refuse = (key: string, why: string, fix: string, by = `environment ${environment}`) => {
        c.add(`${p}.${key}`, `has no effect with ${by}: ${why}`, fix);
    };
    if (environment === "deployment") {
        for (const key of ["modelFormat", "runtime", "protocolVersion"] as const) {
            if (raw[key] !== undefined) {
                refuse(key, "it is a KServe predictor setting", "remove it; a Deployment runs its image as given");
            }
        }
        if (raw.deploymentModeNames !== undefined) {
            refuse(
                "deploymentModeNames",
                "it names InferenceService deployment modes",
                "remove it; Deployments have no deployment mode",
            );
        }
    } else {
        if (raw.port !== undefined) {
            refuse(
                "port",
                "InferenceServices are reached on port 80 and the ServingRuntime picks the container port",
                "remove it",
            );
        }
        if (environment === "kserve-modelmesh") {
            if (raw.image !== undefined) {
                refuse(
                    "image",
                    "ModelMesh reads only modelFormat, runtime, protocolVersion and storage from a predictor",
                    "remove it; set the image on the ServingRuntime",
                );
            }
            if (raw.deploymentModeNames !== undefined) {
                refuse("deploymentModeNames", "ModelMesh mode is written ModelMesh under both names", "remove it");
            }
        }
    }
    if (isObject(raw.readiness) && raw.readiness.deployment !== undefined && environment !== "deployment") {
        refuse(
            "readiness.deployment",
            "it only chooses how Deployments are awaited",
            "remove it; InferenceServices are awaited on their Ready condition",
        );
    }
    const routing = raw.routing;
    if (!isObject(routing)) return;
    if (strategy === "kserve-canary") {
        // KServe owns the routing: no VirtualService, entry Service or ServiceEntry is created.
        refuse(
            "routing",
            "KServe routes its own canary, no VirtualService is created",
            "remove routing, or use strategy blue-green or canary to route with Istio",
            "strategy kserve-canary",
        );
        return;
    }
    if (routing.modelMesh !== undefined && environment !== "kserve-modelmesh") {
        refuse("routing.modelMesh", "only ModelMesh routes to the ModelMesh Serving Service", "remove it");
    }
    if (routing.splitGateway !== undefined && environment !== "kserve" && environment !== "kserve-raw") {
        refuse(
            "routing.splitGateway",
            "only KServe Knative and Standard mode route through the split gateway",
            "remove it",
        );
    }
    if (routing.entryTarget !== undefined && environment === "kserve-modelmesh") {
        refuse(
            "routing.entryTarget",
            "ModelMesh apps are declared by a ServiceEntry, not an ExternalName Service",
            "remove it",
        );
    }
}

/** Version settings nothing reads in this environment, or that a full spec replaces. */
function noEffectOnVersion(c: Checker, vp: string, raw: Record<string, unknown>, environment: Environment): void {
    const refuse = (key: string, why: string, fix: string) => {
        c.add(`${vp}.${key}`, `has no effect ${why}`, fix);
    };
    const set = (keys: readonly string[]) => keys.filter((k) => raw[k] !== undefined);
    if (environment === "deployment") {
        for (const key of set(["modelFormat", "runtime", "protocolVersion"])) {
            refuse(
                key,
                "with environment deployment: it is a KServe predictor setting",
                "remove it; a Deployment runs its image as given",
            );
        }
        if (raw.deploymentSpec !== undefined) {
            for (const key of set(["image", "args"])) {
                refuse(key, "next to deploymentSpec, which is used as given", `remove it, or put it in deploymentSpec`);
            }
            if (raw.port !== undefined && raw.serviceSpec !== undefined) {
                refuse(
                    "port",
                    "next to deploymentSpec and serviceSpec, which are used as given",
                    "remove it; routing uses the first port of serviceSpec",
                );
            }
        }
        return;
    }
    if (raw.port !== undefined) {
        refuse(
            "port",
            `with environment ${environment}: InferenceServices are reached on port 80 and the ServingRuntime picks the container port`,
            "remove it",
        );
    }
    if (raw.inferenceServiceSpec !== undefined) {
        for (const key of set(["modelFormat", "runtime", "protocolVersion", "image", "args"])) {
            refuse(
                key,
                "next to inferenceServiceSpec, which is used as given",
                "remove it, or put it in inferenceServiceSpec.predictor",
            );
        }
    } else if (environment === "kserve-modelmesh") {
        for (const key of set(["image", "args"])) {
            refuse(
                key,
                "with environment kserve-modelmesh: ModelMesh reads only modelFormat, runtime, protocolVersion and storage from a predictor",
                "remove it; set it on the ServingRuntime",
            );
        }
    }
}

/** A URL as shown in messages: its userinfo masked, so a password never reaches a log. */
function showUrl(value: string): string {
    return show(value.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/?#]*@/, "$1***@"));
}

/**
 * How the automation layer (automation/stackConfig.ts) hands a `secure:` config value to the
 * validator: an opaque placeholder. Webhook URLs may be secrets (a Slack incoming-webhook URL is
 * a credential); the runner decrypts them only when it POSTs.
 */
export const SECRET_PLACEHOLDER = /^\[secret:[0-9a-f]{16}\]$/;

/** A webhook URL: an http(s) URL without credentials, or a secret (see SECRET_PLACEHOLDER). */
function webhookUrlOf(c: Checker, path: string, value: unknown, example: string): string | undefined {
    if (typeof value === "string" && SECRET_PLACEHOLDER.test(value)) return value;
    return httpUrlOf(c, path, value, example);
}

/** An http(s) URL without credentials (config is stored and shown in plain text). */
function httpUrlOf(c: Checker, path: string, value: unknown, example: string): string | undefined {
    if (value === undefined) {
        return undefined;
    }
    if (typeof value !== "string" || value.length === 0) {
        c.add(path, `must be an http(s) URL, got ${show(value)}`, `write e.g. ${example}`);
        return undefined;
    }
    let url: URL;
    try {
        url = new URL(value);
    } catch {
        c.add(path, `is not a valid URL: ${showUrl(value)}`, `write e.g. ${example}`);
        return undefined;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
        c.add(
            path,
            `must use http or https, got ${url.protocol.slice(0, -1)} (${showUrl(value)})`,
            `write e.g. ${example}`,
        );
        return undefined;
    }
    if (url.username !== "" || url.password !== "") {
        c.add(
            path,
            `contains credentials (${showUrl(value)}); config is stored and shown in plain text`,
            "remove the user and password: point it at a proxy or Service that needs no credentials in config",
        );
        return undefined;
    }
    return value;
}

/** A duration of whole h/m/s units: the text as written and its seconds. */
function durationOf(c: Checker, path: string, value: unknown): { text: string; seconds: number } | undefined {
    if (value === undefined) {
        return undefined;
    }
    const seconds = typeof value === "string" ? parseDuration(value) : undefined;
    if (typeof value !== "string" || seconds === undefined) {
        c.add(
            path,
            `must be a duration of whole hours, minutes and seconds, got ${show(value)}`,
            "write e.g. 30s, 2m, 1h or 1m30s (units h, m, s, largest first; no fractions, ms or days)",
        );
        return undefined;
    }
    return { text: value, seconds };
}

/** A finite number, or undefined (with an issue when set to something else). */
function finiteOf(c: Checker, path: string, value: unknown, fix: string): number | undefined {
    if (value === undefined) {
        return undefined;
    }
    if (typeof value !== "number" || !Number.isFinite(value)) {
        c.add(path, `must be a finite number, got ${show(value)}`, fix);
        return undefined;
    }
    return value;
}

const PLACEHOLDER_LIST = Object.keys(QUERY_PLACEHOLDERS)
    .map((name) => `{{${name}}}`)
    .join(", ");

function prometheusCheckOf(
    c: Checker,
    pp: string,
    value: unknown,
    interval: string,
): ResolvedCheck["prometheus"] | undefined {
    if (!isObject(value)) {
        c.add(pp, `must be {query, min, max}, got ${show(value)}`, 'write e.g. prometheus: {query: "...", max: 0.01}');
        return undefined;
    }
    c.unknownKeys(pp, value, PROMETHEUS_CHECK_KEYS);
    let query: string | undefined;
    if (value.query === undefined) {
        c.add(`${pp}.query`, "is required", "give an instant PromQL query that returns one value");
    } else {
        query = c.string(`${pp}.query`, value.query, "give an instant PromQL query that returns one value");
    }
    if (query !== undefined) {
        const unknown = unknownPlaceholders(query);
        if (unknown.length > 0) {
            c.add(
                `${pp}.query`,
                `uses unknown placeholder${unknown.length === 1 ? "" : "s"} ${unknown.map((u) => `{{${u}}}`).join(", ")}`,
                `${unknown.map((u) => suggest(u, Object.keys(QUERY_PLACEHOLDERS))).join("")}use only ${PLACEHOLDER_LIST}`,
            );
            query = undefined;
        } else {
            const error = promqlSyntaxError(query, { ...SAMPLE_QUERY_VARIABLES, interval });
            if (error !== undefined) {
                c.add(
                    `${pp}.query`,
                    `is not valid PromQL: ${error}`,
                    "correct the query; try it in the Prometheus expression browser with the placeholders filled in",
                );
                query = undefined;
            }
        }
    }
    const fix = "use a plain number, e.g. 0.01";
    const min = finiteOf(c, `${pp}.min`, value.min, fix);
    const max = finiteOf(c, `${pp}.max`, value.max, fix);
    if (value.min === undefined && value.max === undefined) {
        c.add(
            pp,
            "has neither min nor max, so it could never fail",
            "set min (lowest passing value), max (highest) or both",
        );
    }
    if (min !== undefined && max !== undefined && min > max) {
        c.add(
            `${pp}.min`,
            `(${min}) is above max (${max}), so no value could pass`,
            "swap min and max, or correct one",
        );
        return undefined;
    }
    if (
        query === undefined ||
        (value.min !== undefined && min === undefined) ||
        (value.max !== undefined && max === undefined)
    ) {
        return undefined;
    }
    const check: NonNullable<ResolvedCheck["prometheus"]> = { query };
    if (min !== undefined) check.min = min;
    if (max !== undefined) check.max = max;
    return check;
}

function webhookCheckOf(c: Checker, wp: string, value: unknown): ResolvedCheck["webhook"] | undefined {
    if (!isObject(value)) {
        c.add(wp, `must be {url, timeout}, got ${show(value)}`, 'write e.g. webhook: {url: "http://checker.ml/judge"}');
        return undefined;
    }
    c.unknownKeys(wp, value, WEBHOOK_CHECK_KEYS);
    if (value.url === undefined) {
        c.add(`${wp}.url`, "is required", 'give the http(s) URL to POST to, e.g. "http://checker.ml/judge"');
    }
    const url = webhookUrlOf(c, `${wp}.url`, value.url, '"http://checker.ml/judge"');
    const timeout = durationOf(c, `${wp}.timeout`, value.timeout);
    if (url === undefined || (value.timeout !== undefined && timeout === undefined)) {
        return undefined;
    }
    return { url, timeoutSeconds: timeout?.seconds ?? (parseDuration(DEFAULT_WEBHOOK_TIMEOUT) as number) };
}

/** One analysis check; its name is returned whenever it is valid, for the uniqueness check. */
function checkOf(c: Checker, cp: string, value: unknown, interval: string): { name?: string; check?: ResolvedCheck } {
    if (!isObject(value)) {
        c.add(
            cp,
            `must be a check {name, prometheus | webhook}, got ${show(value)}`,
            'write e.g. {name: error-rate, prometheus: {query: "...", max: 0.01}}',
        );
        return {};
    }
    const before = c.issues.length;
    c.unknownKeys(cp, value, CHECK_KEYS);
    if (value.name === undefined) {
        c.add(`${cp}.name`, "is required", "name the check, e.g. error-rate (reports and notifications show it)");
    }
    const name =
        value.name === undefined
            ? undefined
            : c.dnsName(
                  `${cp}.name`,
                  value.name,
                  DNS1123_LABEL,
                  63,
                  "a short name of lower-case letters, digits and '-'",
              );
    let prometheus: ResolvedCheck["prometheus"];
    let webhook: ResolvedCheck["webhook"];
    if (value.prometheus !== undefined && value.webhook !== undefined) {
        c.add(cp, "has both prometheus and webhook", "keep one kind per check; split it into two named checks");
    } else if (value.prometheus !== undefined) {
        prometheus = prometheusCheckOf(c, `${cp}.prometheus`, value.prometheus, interval);
    } else if (value.webhook !== undefined) {
        webhook = webhookCheckOf(c, `${cp}.webhook`, value.webhook);
    } else {
        c.add(cp, "has neither prometheus nor webhook", "add prometheus: {query, min, max} or webhook: {url}");
    }
    if (name === undefined || c.issues.length > before) {
        return { name };
    }
    const check: ResolvedCheck = { name };
    if (prometheus !== undefined) check.prometheus = prometheus;
    if (webhook !== undefined) check.webhook = webhook;
    return { name, check };
}

/**
 * The rollout section of a release, with defaults. Its shape depends on the strategy: blue-green
 * and kserve-canary rollouts are stepped (steps, or stepWeight up to maxWeight), canary and mirror
 * rollouts are gated (iterations); strategy none (a release between rollouts) accepts either.
 * Returns undefined when the section is absent or has problems (they are added to the checker).
 */
function rolloutOf(
    c: Checker,
    rp: string,
    value: unknown,
    strategy: Strategy | undefined,
): ResolvedRollout | undefined {
    if (value === undefined) {
        return undefined;
    }
    if (!isObject(value)) {
        c.add(
            rp,
            `must be an object, got ${show(value)}`,
            "see the README's rollout reference, e.g. rollout: {steps: [10, 50], analysis: [...]}",
        );
        return undefined;
    }
    const before = c.issues.length;
    c.unknownKeys(rp, value, ROLLOUT_KEYS);
    const stepped = strategy !== undefined && STEPPED_STRATEGIES.includes(strategy);
    const gated = strategy !== undefined && GATED_STRATEGIES.includes(strategy);
    const stepKeys = (["steps", "stepWeight", "maxWeight"] as const).filter((k) => value[k] !== undefined);

    // The schedule: steps, or stepWeight up to maxWeight.
    let steps: number[] = [];
    if (gated) {
        for (const key of stepKeys) {
            c.add(
                `${rp}.${key}`,
                `has no effect with strategy ${strategy}: its rollout is gated, not stepped (the candidate's share is set by its ${strategy === "canary" ? "match" : "mirrorPercent"})`,
                "remove it; set iterations to how many intervals are judged before the promotion",
            );
        }
    } else {
        if (value.steps !== undefined) {
            if (!Array.isArray(value.steps) || value.steps.length === 0) {
                c.add(
                    `${rp}.steps`,
                    `must be a non-empty list of candidate percents, got ${show(value.steps)}`,
                    "write e.g. steps: [10, 25, 50]",
                );
            } else {
                const list = value.steps.map((step, i) =>
                    c.integer(
                        `${rp}.steps[${i}]`,
                        step,
                        1,
                        99,
                        "use a candidate percent from 1 to 99; the promotion after the last step gives it 100",
                    ),
                );
                list.forEach((step, i) => {
                    const previous = i > 0 ? list[i - 1] : undefined;
                    if (step !== undefined && previous !== undefined && step <= previous) {
                        c.add(
                            `${rp}.steps[${i}]`,
                            `must be above steps[${i - 1}] (${previous}), got ${step}`,
                            "list the percents in increasing order, each once",
                        );
                    }
                });
                if (list.every((step) => step !== undefined)) steps = list as number[];
            }
        }
        if (value.steps !== undefined && (value.stepWeight !== undefined || value.maxWeight !== undefined)) {
            const key = value.stepWeight !== undefined ? "stepWeight" : "maxWeight";
            c.add(`${rp}.${key}`, "cannot be combined with steps", "keep either steps, or stepWeight with maxWeight");
        } else if (value.stepWeight !== undefined && value.maxWeight === undefined) {
            c.add(`${rp}.maxWeight`, "is required with stepWeight", "set the last step's percent, e.g. maxWeight: 50");
        } else if (value.maxWeight !== undefined && value.stepWeight === undefined) {
            c.add(
                `${rp}.stepWeight`,
                "is required with maxWeight",
                "set the percent added per step, e.g. stepWeight: 10",
            );
        } else if (value.stepWeight !== undefined) {
            const stepWeight = c.integer(
                `${rp}.stepWeight`,
                value.stepWeight,
                1,
                99,
                "use the percent added per step, e.g. 10",
            );
            const maxWeight = c.integer(
                `${rp}.maxWeight`,
                value.maxWeight,
                stepWeight ?? 1,
                99,
                "use the last step's percent, from stepWeight to 99; the promotion after it gives the candidate 100",
            );
            if (stepWeight !== undefined && maxWeight !== undefined) {
                steps = expandStepWeight(stepWeight, maxWeight);
            }
        }
        if (stepped && stepKeys.length === 0) {
            c.add(
                `${rp}.steps`,
                `is required with strategy ${strategy}: its rollout moves the candidate's share in steps`,
                "set steps, e.g. [10, 25, 50], or stepWeight and maxWeight",
            );
        }
    }

    let iterations = 1;
    if (stepped && value.iterations !== undefined) {
        c.add(
            `${rp}.iterations`,
            `has no effect with strategy ${strategy}: a stepped rollout judges each step once`,
            "remove it; add steps to judge the candidate more often",
        );
    } else if (!stepped) {
        iterations =
            c.integer(
                `${rp}.iterations`,
                value.iterations,
                1,
                Number.MAX_SAFE_INTEGER,
                "use how many intervals the checks are judged before the promotion, e.g. 5",
            ) ?? 1;
    }

    const interval = durationOf(c, `${rp}.interval`, value.interval) ?? {
        text: DEFAULT_ROLLOUT_INTERVAL,
        seconds: parseDuration(DEFAULT_ROLLOUT_INTERVAL) as number,
    };
    const failureLimit =
        c.integer(
            `${rp}.failureLimit`,
            value.failureLimit,
            1,
            Number.MAX_SAFE_INTEGER,
            "use how many failed judgements trigger the rollback, e.g. 1",
        ) ?? 1;
    const prometheusUrl = httpUrlOf(
        c,
        `${rp}.prometheusUrl`,
        value.prometheusUrl,
        '"http://prometheus.istio-system:9090"',
    );

    const analysis: ResolvedCheck[] = [];
    if (value.analysis !== undefined) {
        if (!Array.isArray(value.analysis)) {
            c.add(
                `${rp}.analysis`,
                `must be a list of checks, got ${show(value.analysis)}`,
                'write e.g. analysis: [{name: error-rate, prometheus: {query: "...", max: 0.01}}]',
            );
        } else {
            const names = new Map<string, number>();
            value.analysis.forEach((entry, i) => {
                const { name, check } = checkOf(c, `${rp}.analysis[${i}]`, entry, interval.text);
                if (name !== undefined) {
                    const first = names.get(name);
                    if (first !== undefined) {
                        c.add(
                            `${rp}.analysis[${i}].name`,
                            `duplicates analysis[${first}] (${show(name)})`,
                            "give every check a distinct name",
                        );
                    } else {
                        names.set(name, i);
                    }
                }
                if (check !== undefined) analysis.push(check);
            });
        }
    }

    const onSuccess = c.oneOf(`${rp}.onSuccess`, value.onSuccess, ["promote", "hold"] as const) ?? "promote";

    const notify: string[] = [];
    if (value.notify !== undefined) {
        if (!Array.isArray(value.notify)) {
            c.add(
                `${rp}.notify`,
                `must be a list of receivers, got ${show(value.notify)}`,
                'write e.g. notify: [{webhook: "https://hooks.example.com/rollouts"}]',
            );
        } else {
            value.notify.forEach((entry, i) => {
                const np = `${rp}.notify[${i}]`;
                if (!isObject(entry)) {
                    c.add(
                        np,
                        `must be {webhook: <url>}, got ${show(entry)}`,
                        'write e.g. {webhook: "https://hooks.example.com/rollouts"}',
                    );
                    return;
                }
                c.unknownKeys(np, entry, NOTIFY_KEYS);
                if (entry.webhook === undefined) {
                    c.add(`${np}.webhook`, "is required", "give the http(s) URL notifications are POSTed to");
                }
                const url = webhookUrlOf(c, `${np}.webhook`, entry.webhook, '"https://hooks.example.com/rollouts"');
                if (url !== undefined) notify.push(url);
            });
        }
    }

    if (c.issues.length > before) {
        return undefined;
    }
    const rollout: ResolvedRollout = {
        steps: gated ? [] : steps,
        iterations,
        intervalSeconds: interval.seconds,
        interval: interval.text,
        failureLimit,
        analysis,
        onSuccess,
        notify,
    };
    if (prometheusUrl !== undefined) rollout.prometheusUrl = prometheusUrl;
    return rollout;
}

/** Options that come from outside the release description. */
export interface ValidateOptions {
    /** Config path prefix for messages, e.g. `releases.wisdom`. */
    path: string;
    /** Namespace used when the release does not set one. */
    defaultNamespace: string;
}

/**
 * Validates one release description and applies its defaults.
 * Returns the resolved release, or the full list of problems.
 */
export function validateRelease(
    key: string,
    raw: unknown,
    options: ValidateOptions,
): { release?: ResolvedRelease; issues: ConfigIssue[] } {
    const c = new Checker();
    const p = options.path;
    if (!isObject(raw)) {
        c.add(
            p,
            `must be an object with environment and versions, got ${show(raw)}`,
            "see the README's config reference",
        );
        return { issues: c.issues };
    }
    reservedKeys(c, p, raw);
    c.unknownKeys(p, raw, RELEASE_KEYS);

    const name =
        raw.name === undefined
            ? key
            : c.dnsName(
                  `${p}.name`,
                  raw.name,
                  DNS1035_LABEL,
                  63,
                  "a DNS-1035 label (lower-case letters, digits and '-', starting with a letter)",
              );
    if (raw.name === undefined && !(DNS1035_LABEL.test(key) && key.length <= 63)) {
        c.add(
            p,
            `has key ${show(key)}, which is not a DNS-1035 label and so cannot name the app`,
            `rename the release or set ${p}.name`,
        );
    }
    const namespace =
        raw.namespace === undefined
            ? options.defaultNamespace
            : c.dnsName(`${p}.namespace`, raw.namespace, DNS1123_LABEL, 63, "a namespace name (DNS-1123 label)");

    if (raw.environment === undefined) {
        c.add(`${p}.environment`, "is required", `set it to one of ${ENVIRONMENTS.join(", ")}`);
    }
    const environment = c.oneOf(`${p}.environment`, raw.environment, ENVIRONMENTS);
    const strategy = raw.strategy === undefined ? "none" : c.oneOf(`${p}.strategy`, raw.strategy, STRATEGIES);

    const appLabels = c.stringMap(`${p}.labels`, raw.labels, "label") ?? {};
    const appAnnotations = c.stringMap(`${p}.annotations`, raw.annotations, "annotation") ?? {};
    const appFormat = modelFormatOf(c, `${p}.modelFormat`, raw.modelFormat);
    const appRuntime =
        raw.runtime === undefined
            ? undefined
            : c.dnsName(`${p}.runtime`, raw.runtime, DNS1123_SUBDOMAIN, 253, "a ServingRuntime name");
    const appProtocol = c.oneOf(`${p}.protocolVersion`, raw.protocolVersion, PROTOCOL_VERSIONS);
    const appPort = c.integer(`${p}.port`, raw.port, 1, 65535, "use a TCP port number, e.g. 8080");
    const appImage = c.string(`${p}.image`, raw.image, 'give a container image, e.g. "kennethreitz/httpbin"');
    const modeNames =
        c.oneOf<DeploymentModeNames>(`${p}.deploymentModeNames`, raw.deploymentModeNames, ["current", "legacy"]) ??
        "current";

    // Routing knobs.
    let gateways: string[] = [];
    let splitGateway: SplitGateway = DEFAULT_KNATIVE_GATEWAY;
    let entryTarget: string | undefined;
    let mmService = "modelmesh-serving";
    let mmNamespace: string | undefined;
    let mmPort = 8033;
    if (raw.routing !== undefined) {
        const r = raw.routing;
        if (!isObject(r)) {
            c.add(`${p}.routing`, `must be an object, got ${show(r)}`, `use keys ${ROUTING_KEYS.join(", ")}`);
        } else {
            c.unknownKeys(`${p}.routing`, r, ROUTING_KEYS);
            if (r.gateways !== undefined) {
                if (!Array.isArray(r.gateways)) {
                    c.add(
                        `${p}.routing.gateways`,
                        `must be a list, got ${show(r.gateways)}`,
                        'write e.g. ["istio-system/public-gateway"]',
                    );
                } else {
                    gateways = r.gateways
                        .map((g, i) => (g === "mesh" ? "mesh" : gatewayRef(c, `${p}.routing.gateways[${i}]`, g)))
                        .filter((g): g is string => g !== undefined && g !== "mesh");
                }
            }
            if (r.splitGateway !== undefined) {
                const s = r.splitGateway;
                if (!isObject(s)) {
                    c.add(
                        `${p}.routing.splitGateway`,
                        `must be {gateway, service}, got ${show(s)}`,
                        "name the Istio Gateway and its Service host",
                    );
                } else {
                    c.unknownKeys(`${p}.routing.splitGateway`, s, ["gateway", "service"]);
                    const gateway = gatewayRef(c, `${p}.routing.splitGateway.gateway`, s.gateway);
                    const service = c.dnsName(
                        `${p}.routing.splitGateway.service`,
                        s.service,
                        DNS1123_SUBDOMAIN,
                        253,
                        "a Service host name",
                    );
                    if (s.gateway === undefined || s.service === undefined) {
                        c.add(`${p}.routing.splitGateway`, "needs both gateway and service", "set both keys");
                    }
                    if (gateway && service) {
                        splitGateway = { gateway, service };
                    }
                }
            }
            entryTarget =
                r.entryTarget === undefined
                    ? undefined
                    : c.dnsName(
                          `${p}.routing.entryTarget`,
                          r.entryTarget,
                          DNS1123_SUBDOMAIN,
                          253,
                          "a Service host name",
                      );
            if (r.modelMesh !== undefined) {
                const m = r.modelMesh;
                if (!isObject(m)) {
                    c.add(
                        `${p}.routing.modelMesh`,
                        `must be an object, got ${show(m)}`,
                        "use keys service, namespace, port",
                    );
                } else {
                    c.unknownKeys(`${p}.routing.modelMesh`, m, ["service", "namespace", "port"]);
                    mmService =
                        (m.service === undefined
                            ? undefined
                            : c.dnsName(
                                  `${p}.routing.modelMesh.service`,
                                  m.service,
                                  DNS1035_LABEL,
                                  63,
                                  "a Service name",
                              )) ?? mmService;
                    mmNamespace =
                        m.namespace === undefined
                            ? undefined
                            : c.dnsName(
                                  `${p}.routing.modelMesh.namespace`,
                                  m.namespace,
                                  DNS1123_LABEL,
                                  63,
                                  "a namespace name",
                              );
                    mmPort =
                        c.integer(
                            `${p}.routing.modelMesh.port`,
                            m.port,
                            1,
                            65535,
                            "use the ModelMesh gRPC port, 8033 by default",
                        ) ?? mmPort;
                }
            }
        }
    }

    let timeoutSeconds = DEFAULT_TIMEOUT_SECONDS;
    let deploymentReadiness: "rollout" | "available" = "rollout";
    if (raw.readiness !== undefined) {
        if (!isObject(raw.readiness)) {
            c.add(
                `${p}.readiness`,
                `must be an object, got ${show(raw.readiness)}`,
                "use readiness: {timeoutSeconds: 600}",
            );
        } else {
            c.unknownKeys(`${p}.readiness`, raw.readiness, ["timeoutSeconds", "deployment"]);
            timeoutSeconds =
                c.integer(
                    `${p}.readiness.timeoutSeconds`,
                    raw.readiness.timeoutSeconds,
                    1,
                    86400,
                    "use a number of seconds, e.g. 600",
                ) ?? timeoutSeconds;
            deploymentReadiness =
                c.oneOf(`${p}.readiness.deployment`, raw.readiness.deployment, ["rollout", "available"] as const) ??
                deploymentReadiness;
        }
    }

    let storageCredentials: ResolvedRelease["storageCredentials"];
    if (raw.storageCredentials !== undefined) {
        const s = raw.storageCredentials;
        if (!isObject(s)) {
            c.add(
                `${p}.storageCredentials`,
                `must be {data, annotations}, got ${show(s)}`,
                "see the README's storage credentials section",
            );
        } else {
            c.unknownKeys(`${p}.storageCredentials`, s, [
                "data",
                "annotations",
            ] satisfies (keyof StorageCredentialsArgs)[]);
            const data = c.stringMap(`${p}.storageCredentials.data`, s.data, "plain");
            if (data !== undefined && Object.keys(data).length === 0) {
                c.add(`${p}.storageCredentials.data`, "is empty", "add the credential keys, e.g. AWS_ACCESS_KEY_ID");
            }
            if (s.data === undefined) {
                c.add(
                    `${p}.storageCredentials.data`,
                    "is required",
                    "add the credential keys with pulumi config set --secret --path",
                );
            }
            const annotations = c.stringMap(`${p}.storageCredentials.annotations`, s.annotations, "annotation") ?? {};
            if (environment === "kserve-modelmesh" || environment === "deployment") {
                c.add(
                    `${p}.storageCredentials`,
                    `cannot be used with environment ${environment}`,
                    environment === "deployment"
                        ? "remove it; Deployments take credentials through their own spec"
                        : "remove it; ModelMesh reads the storage-config Secret, selected with the serving.kserve.io/secretKey annotation",
                );
            }
            storageCredentials = { annotations };
        }
    }

    const rollout = rolloutOf(c, `${p}.rollout`, raw.rollout, strategy);

    const canaryTrafficPercent = c.integer(
        `${p}.canaryTrafficPercent`,
        raw.canaryTrafficPercent,
        0,
        100,
        "use a percentage from 0 to 100, or remove it to promote",
    );
    const tagRouting = c.boolean(`${p}.tagRouting`, raw.tagRouting) ?? false;
    if (strategy !== undefined && strategy !== "kserve-canary") {
        if (raw.canaryTrafficPercent !== undefined) {
            c.add(
                `${p}.canaryTrafficPercent`,
                `only applies to strategy kserve-canary, not ${strategy}`,
                "remove it, or set strategy: kserve-canary",
            );
        }
        if (raw.tagRouting !== undefined) {
            c.add(
                `${p}.tagRouting`,
                `only applies to strategy kserve-canary, not ${strategy}`,
                "remove it, or set strategy: kserve-canary",
            );
        }
    }
    if (strategy === "kserve-canary" && environment !== undefined && environment !== "kserve") {
        c.add(
            `${p}.strategy`,
            `kserve-canary needs environment kserve (Knative mode), got ${environment}`,
            "KServe reads canaryTrafficPercent only in Knative mode; use strategy canary or blue-green",
        );
    }
    if (strategy === "mirror" && environment !== undefined && environment !== "deployment") {
        c.add(
            `${p}.strategy`,
            `mirror is not supported with environment ${environment}`,
            "Istio cannot set the Host header or model path of mirrored requests (istio/istio#50811), so they would not reach the candidate model; use canary or blue-green",
        );
    }

    if (environment !== undefined && strategy !== undefined) {
        noEffectOnRelease(c, p, raw, environment, strategy);
    }

    // Versions.
    const versions: ResolvedVersion[] = [];
    if (!Array.isArray(raw.versions) || raw.versions.length === 0) {
        c.add(
            `${p}.versions`,
            `must be a non-empty list, got ${show(raw.versions)}`,
            "add at least the primary version with its storageUri or image",
        );
    } else {
        const weightsSet = raw.versions.map((v) => isObject(v) && v.weight !== undefined);
        raw.versions.forEach((rawVersion, index) => {
            const vp = `${p}.versions[${index}]`;
            if (!isObject(rawVersion)) {
                c.add(
                    vp,
                    `must be an object, got ${show(rawVersion)}`,
                    "describe the version with storageUri or image",
                );
                return;
            }
            c.unknownKeys(vp, rawVersion, VERSION_KEYS);
            const defaultName = strategy === "kserve-canary" ? (name ?? key) : `${name ?? key}-${index}`;
            const maxName = environment ? MAX_VERSION_NAME[environment] : 63;
            const versionName =
                rawVersion.name === undefined
                    ? defaultName
                    : c.dnsName(
                          `${vp}.name`,
                          rawVersion.name,
                          DNS1035_LABEL,
                          maxName,
                          "a DNS-1035 label (lower-case letters, digits and '-', starting with a letter)",
                      );
            if (rawVersion.name === undefined && defaultName.length > maxName) {
                c.add(
                    `${vp}.name`,
                    `defaults to ${show(defaultName)}, longer than the ${maxName} characters ${environment} allows`,
                    "set a shorter name",
                );
            }
            const labels = c.stringMap(`${vp}.labels`, rawVersion.labels, "label") ?? {};
            const annotations = c.stringMap(`${vp}.annotations`, rawVersion.annotations, "annotation") ?? {};
            const storageUri = c.string(
                `${vp}.storageUri`,
                rawVersion.storageUri,
                'give the model location, e.g. "gs://bucket/model"',
            );
            const image =
                c.string(`${vp}.image`, rawVersion.image, 'give a container image, e.g. "kennethreitz/httpbin"') ??
                appImage;
            const modelFormat = modelFormatOf(c, `${vp}.modelFormat`, rawVersion.modelFormat) ?? appFormat;
            const runtime =
                (rawVersion.runtime === undefined
                    ? undefined
                    : c.dnsName(
                          `${vp}.runtime`,
                          rawVersion.runtime,
                          DNS1123_SUBDOMAIN,
                          253,
                          "a ServingRuntime name",
                      )) ?? appRuntime;
            const protocolVersion =
                c.oneOf(`${vp}.protocolVersion`, rawVersion.protocolVersion, PROTOCOL_VERSIONS) ?? appProtocol;
            const port =
                c.integer(`${vp}.port`, rawVersion.port, 1, 65535, "use a TCP port number, e.g. 8080") ??
                appPort ??
                DEFAULT_PORT;
            let args: string[] | undefined;
            if (rawVersion.args !== undefined) {
                if (!Array.isArray(rawVersion.args) || !rawVersion.args.every((a) => typeof a === "string")) {
                    c.add(
                        `${vp}.args`,
                        `must be a list of strings, got ${show(rawVersion.args)}`,
                        'write e.g. ["--enable_docs_url=True"]',
                    );
                } else {
                    args = rawVersion.args as string[];
                }
            }
            const isKServe =
                environment === "kserve" || environment === "kserve-raw" || environment === "kserve-modelmesh";
            const inferenceServiceSpec = specOf(
                c,
                `${vp}.inferenceServiceSpec`,
                rawVersion.inferenceServiceSpec,
                isKServe,
                environment ?? "?",
            );
            const deploymentSpec = specOf(
                c,
                `${vp}.deploymentSpec`,
                rawVersion.deploymentSpec,
                environment === "deployment",
                environment ?? "?",
            );
            const serviceSpec = specOf(
                c,
                `${vp}.serviceSpec`,
                rawVersion.serviceSpec,
                environment === "deployment",
                environment ?? "?",
            );

            if (isKServe) {
                if (inferenceServiceSpec !== undefined) {
                    if (!isObject(inferenceServiceSpec.predictor)) {
                        c.add(
                            `${vp}.inferenceServiceSpec.predictor`,
                            "is required",
                            "an InferenceService spec needs a predictor",
                        );
                    }
                    if (storageUri !== undefined) {
                        c.add(
                            `${vp}.storageUri`,
                            "cannot be combined with inferenceServiceSpec",
                            "put the storageUri inside inferenceServiceSpec.predictor, or drop the spec",
                        );
                    }
                } else {
                    if (rawVersion.storageUri === undefined) {
                        c.add(
                            `${vp}.storageUri`,
                            "is required",
                            'give the model location, e.g. "gs://seldon-models/sklearn/mms/lr_model", or a full inferenceServiceSpec',
                        );
                    }
                    if (
                        modelFormat === undefined &&
                        rawVersion.modelFormat === undefined &&
                        raw.modelFormat === undefined
                    ) {
                        c.add(
                            `${vp}.modelFormat`,
                            "is required (here or on the release)",
                            "set modelFormat, e.g. sklearn",
                        );
                    }
                }
                if (storageUri !== undefined) {
                    const scheme = storageScheme(storageUri);
                    const allowed =
                        environment === "kserve-modelmesh" ? MODELMESH_STORAGE_SCHEMES : KSERVE_STORAGE_SCHEMES;
                    if (scheme === undefined || !allowed.includes(scheme)) {
                        c.add(
                            `${vp}.storageUri`,
                            `has ${scheme === undefined ? "no scheme" : `scheme "${scheme}"`}, which ${environment} cannot load (${show(storageUri)})`,
                            `use one of ${allowed.map((s) => `${s}://`).join(", ")}`,
                        );
                    }
                }
            } else if (environment === "deployment") {
                if (rawVersion.storageUri !== undefined) {
                    c.add(
                        `${vp}.storageUri`,
                        "cannot be used with environment deployment",
                        "package the model in the image and set image instead",
                    );
                }
                if (deploymentSpec === undefined && image === undefined) {
                    c.add(
                        `${vp}.image`,
                        "is required (here or on the release)",
                        'set image, e.g. "kennethreitz/httpbin", or a full deploymentSpec',
                    );
                }
                if (deploymentSpec !== undefined) {
                    const selector = deploymentSpec.selector;
                    if (
                        !isObject(selector) ||
                        !isObject(selector.matchLabels) ||
                        Object.keys(selector.matchLabels).length === 0
                    ) {
                        c.add(
                            `${vp}.deploymentSpec.selector.matchLabels`,
                            "is required",
                            "the Service selects the version's pods by these labels",
                        );
                    }
                }
                if (serviceSpec !== undefined) {
                    const ports = serviceSpec.ports;
                    if (
                        !Array.isArray(ports) ||
                        ports.length === 0 ||
                        !isObject(ports[0]) ||
                        typeof ports[0].port !== "number"
                    ) {
                        c.add(
                            `${vp}.serviceSpec.ports[0].port`,
                            "is required",
                            "routing sends traffic to the first Service port",
                        );
                    }
                }
            }

            if (environment !== undefined) {
                noEffectOnVersion(c, vp, rawVersion, environment);
            }

            // Strategy-specific per-version fields.
            let weight: number | undefined;
            if (rawVersion.weight !== undefined) {
                weight = c.integer(
                    `${vp}.weight`,
                    rawVersion.weight,
                    0,
                    Number.MAX_SAFE_INTEGER,
                    "use a whole number >= 0; weights are relative, e.g. 30 and 70",
                );
                if (strategy !== undefined && strategy !== "blue-green") {
                    c.add(
                        `${vp}.weight`,
                        `only applies to strategy blue-green, not ${strategy}`,
                        strategy === "mirror" ? "use mirrorPercent on the candidate" : "remove it",
                    );
                }
            } else if (strategy === "blue-green" && weightsSet.some((s) => s)) {
                c.add(
                    `${vp}.weight`,
                    "is missing while other versions set a weight",
                    "set a weight on every version, or on none for an equal split",
                );
            }
            let match: HttpMatch[] = [];
            if (rawVersion.match !== undefined) {
                const m = environment ? matchesOf(c, `${vp}.match`, rawVersion.match, environment) : undefined;
                if (strategy !== undefined && strategy !== "canary") {
                    c.add(
                        `${vp}.match`,
                        `only applies to strategy canary, not ${strategy}`,
                        "remove it, or set strategy: canary",
                    );
                } else if (index === 0) {
                    c.add(
                        `${vp}.match`,
                        "cannot be set on the primary (the first version); it receives all unmatched requests",
                        "move match to a candidate",
                    );
                } else if (m) {
                    match = m;
                }
            } else if (strategy === "canary" && index > 0) {
                match = DEFAULT_CANARY_MATCH.map((m) => structuredClone(m));
            }
            let mirrorPercent: number | undefined;
            if (rawVersion.mirrorPercent !== undefined) {
                mirrorPercent = c.integer(
                    `${vp}.mirrorPercent`,
                    rawVersion.mirrorPercent,
                    0,
                    100,
                    "use a percentage from 0 to 100",
                );
                if (strategy !== undefined && strategy !== "mirror") {
                    c.add(
                        `${vp}.mirrorPercent`,
                        `only applies to strategy mirror, not ${strategy}`,
                        "remove it, or set strategy: mirror",
                    );
                } else if (index === 0) {
                    c.add(
                        `${vp}.mirrorPercent`,
                        "cannot be set on the primary (the first version)",
                        "move mirrorPercent to the candidate",
                    );
                }
            } else if (strategy === "mirror" && index > 0) {
                mirrorPercent = 100;
            }

            if (versionName !== undefined) {
                const resolved: ResolvedVersion = {
                    index,
                    name: versionName,
                    labels,
                    annotations,
                    port,
                    match,
                };
                if (storageUri !== undefined) resolved.storageUri = storageUri;
                if (image !== undefined) resolved.image = image;
                if (modelFormat !== undefined) resolved.modelFormat = modelFormat;
                if (runtime !== undefined) resolved.runtime = runtime;
                if (protocolVersion !== undefined) resolved.protocolVersion = protocolVersion;
                if (args !== undefined) resolved.args = args;
                if (weight !== undefined) resolved.weight = weight;
                if (mirrorPercent !== undefined && index > 0) resolved.mirrorPercent = mirrorPercent;
                if (inferenceServiceSpec !== undefined) resolved.inferenceServiceSpec = inferenceServiceSpec;
                if (deploymentSpec !== undefined) resolved.deploymentSpec = deploymentSpec;
                if (serviceSpec !== undefined) resolved.serviceSpec = serviceSpec;
                versions.push(resolved);
            }
        });

        // Cross-version checks.
        const seen = new Map<string, number>();
        for (const v of versions) {
            const first = seen.get(v.name);
            if (first !== undefined) {
                c.add(
                    `${p}.versions[${v.index}].name`,
                    `duplicates versions[${first}] (${show(v.name)})`,
                    "give every version a distinct name",
                );
            } else {
                seen.set(v.name, v.index);
            }
            if (name !== undefined && v.name === name && strategy !== "kserve-canary") {
                c.add(
                    `${p}.versions[${v.index}].name`,
                    `equals the app name ${show(name)}; the app's Service and VirtualService use that name, and KServe creates its own objects named after each InferenceService`,
                    `rename the version, e.g. "${name}-${v.index}"`,
                );
            }
        }
        const count = raw.versions.length;
        if (strategy === "canary" && count < 2) {
            c.add(
                `${p}.versions`,
                "has one version, but canary needs a primary and at least one candidate",
                "add a candidate version, or use strategy none",
            );
        }
        if (strategy === "mirror" && count !== 2) {
            c.add(
                `${p}.versions`,
                `has ${count} version${count === 1 ? "" : "s"}, but mirror needs exactly a primary and one candidate`,
                count < 2 ? "add the candidate to mirror to" : "keep one candidate",
            );
        }
        if (strategy === "kserve-canary" && count !== 1) {
            c.add(
                `${p}.versions`,
                `has ${count} versions, but kserve-canary uses one InferenceService whose previous revision KServe keeps`,
                "keep one version: its new spec is the canary, canaryTrafficPercent sets its share",
            );
        }
        if (strategy === "blue-green" && versions.length === count && versions.every((v) => v.weight !== undefined)) {
            if (versions.every((v) => v.weight === 0)) {
                c.add(
                    `${p}.versions[*].weight`,
                    "are all 0, so no version would receive traffic",
                    "give at least one version a weight above 0",
                );
            }
        }
    }

    if (
        c.issues.length > 0 ||
        name === undefined ||
        namespace === undefined ||
        environment === undefined ||
        strategy === undefined
    ) {
        return { issues: c.issues };
    }

    // Defaults that depend on the app: identity labels, entry target, ModelMesh namespace.
    const baseLabels = { "app.kubernetes.io/name": name, ...appLabels };
    const release: ResolvedRelease = {
        key,
        name,
        namespace,
        environment,
        strategy,
        labels: baseLabels,
        annotations: appAnnotations,
        versions: versions.map((v) => ({
            ...v,
            labels: { ...baseLabels, "app.kubernetes.io/version": v.name, ...v.labels },
            annotations: { ...appAnnotations, ...v.annotations },
        })),
        tagRouting,
        deploymentModeNames: modeNames,
        gateways: [...new Set(gateways)],
        splitGateway,
        entryTarget:
            entryTarget ?? (environment === "deployment" ? DEFAULT_DEPLOYMENT_ENTRY_TARGET : splitGateway.service),
        modelMesh: { service: mmService, namespace: mmNamespace ?? namespace, port: mmPort },
        timeoutSeconds,
        deploymentReadiness,
    };
    if (canaryTrafficPercent !== undefined) release.canaryTrafficPercent = canaryTrafficPercent;
    if (storageCredentials !== undefined) release.storageCredentials = storageCredentials;
    if (rollout !== undefined) release.rollout = rollout;
    return { release, issues: [] };
}

/**
 * Validates every release of a stack (`releases` config: a map of release name to description).
 * Throws one ReleaseConfigError listing every problem of every release.
 */
export function validateReleases(raw: unknown, defaultNamespace: string, path = "releases"): ResolvedRelease[] {
    if (!isObject(raw)) {
        throw new ReleaseConfigError([
            {
                path,
                problem: `must be a map of release name to release, got ${show(raw)}`,
                fix: "see Pulumi.dev.yaml for an example",
            },
        ]);
    }
    const issues: ConfigIssue[] = [];
    const releases: ResolvedRelease[] = [];
    // Own keys only (Object.entries): a release named `constructor` is never Object's.
    for (const [key, value] of Object.entries(raw)) {
        if (isReservedKey(key)) {
            issues.push({
                path: `${path}["${key}"]`,
                problem: `is a reserved key (${RESERVED_KEYS.join(", ")}) and cannot name a release`,
                fix: `rename the release, e.g. to "${key.replace(/[^a-z]/g, "") || "app"}-model"`,
            });
            continue;
        }
        const result = validateRelease(key, value, { path: `${path}.${key}`, defaultNamespace });
        issues.push(...result.issues);
        if (result.release) {
            releases.push(result.release);
        }
    }
    // Two releases must not claim the same app host or object names.
    const owners = new Map<string, string>();
    const objects = new Map<string, string>();
    for (const r of releases) {
        const host = `${r.namespace}/${r.name}`;
        const other = owners.get(host);
        if (other !== undefined) {
            issues.push({
                path: `${path}.${r.key}.name`,
                problem: `gives app ${show(r.name)} in namespace ${show(r.namespace)}, already used by release ${show(other)}`,
                fix: "give each release its own name or namespace",
            });
        }
        owners.set(host, r.key);
        for (const v of r.versions) {
            const id = `${r.namespace}/${v.name}`;
            const owner = objects.get(id);
            if (owner !== undefined && owner !== r.key) {
                issues.push({
                    path: `${path}.${r.key}.versions[${v.index}].name`,
                    problem: `names ${show(v.name)} in namespace ${show(r.namespace)}, already used by release ${show(owner)}`,
                    fix: "give the version a distinct name",
                });
            }
            objects.set(id, r.key);
        }
    }
    for (const r of releases) {
        for (const v of r.versions) {
            const clash = releases.find(
                (o) => o.namespace === r.namespace && o.name === v.name && o.strategy !== "kserve-canary" && o !== r,
            );
            if (clash) {
                issues.push({
                    path: `${path}.${r.key}.versions[${v.index}].name`,
                    problem: `equals the app name of release ${show(clash.key)} in the same namespace`,
                    fix: "rename the version",
                });
            }
        }
    }
    if (issues.length > 0) {
        throw new ReleaseConfigError(issues);
    }
    return releases;
}
