/**
 * The two tables the rules read instead of scattering conditionals: (1) which settings each
 * environment reads, and (2) which strategy owns which per-version (or release) field. A new
 * environment or strategy is mostly a new row here; the messages are built from the rows.
 */
import { Environment, Strategy } from "../types";

/** Environments served by an InferenceService (KServe Knative, Standard and ModelMesh). */
export const KSERVE_ENVIRONMENTS: readonly Environment[] = ["kserve", "kserve-raw", "kserve-modelmesh"];

// ---------------------------------------------------------------------------------------------
// (1) Settings per environment.
// ---------------------------------------------------------------------------------------------

/**
 * A setting that nothing reads in some environments. Accepting it would let a user believe it
 * applies (e.g. a port on an InferenceService), so it is refused there at `<path>.<key>` with
 * "has no effect with environment <env>: <why>".
 */
export interface NoEffectRow {
    /** Keys below the release or version; a dotted key ("readiness.deployment") is nested. */
    keys: readonly string[];
    /** Environments in which nothing reads these keys. */
    noEffectIn: readonly Environment[];
    why: string;
    fix: string;
}

/** Release settings, in the order they are reported. */
export const RELEASE_NO_EFFECT: readonly NoEffectRow[] = [
    {
        keys: ["modelFormat", "runtime", "protocolVersion"],
        noEffectIn: ["deployment"],
        why: "it is a KServe predictor setting",
        fix: "remove it; a Deployment runs its image as given",
    },
    {
        keys: ["deploymentModeNames"],
        noEffectIn: ["deployment"],
        why: "it names InferenceService deployment modes",
        fix: "remove it; Deployments have no deployment mode",
    },
    {
        keys: ["port"],
        noEffectIn: KSERVE_ENVIRONMENTS,
        why: "InferenceServices are reached on port 80 and the ServingRuntime picks the container port",
        fix: "remove it",
    },
    {
        keys: ["image"],
        noEffectIn: ["kserve-modelmesh"],
        why: "ModelMesh reads only modelFormat, runtime, protocolVersion and storage from a predictor",
        fix: "remove it; set the image on the ServingRuntime",
    },
    {
        keys: ["deploymentModeNames"],
        noEffectIn: ["kserve-modelmesh"],
        why: "ModelMesh mode is written ModelMesh under both names",
        fix: "remove it",
    },
    {
        keys: ["readiness.deployment"],
        noEffectIn: KSERVE_ENVIRONMENTS,
        why: "it only chooses how Deployments are awaited",
        fix: "remove it; InferenceServices are awaited on their Ready condition",
    },
];

/**
 * Routing knobs, checked after RELEASE_NO_EFFECT. Strategy kserve-canary refuses the whole
 * `routing` section instead (KServe routes its own canary), so these rows are not read then.
 */
export const ROUTING_NO_EFFECT: readonly NoEffectRow[] = [
    {
        keys: ["routing.modelMesh"],
        noEffectIn: ["kserve", "kserve-raw", "deployment"],
        why: "only ModelMesh routes to the ModelMesh Serving Service",
        fix: "remove it",
    },
    {
        keys: ["routing.splitGateway"],
        noEffectIn: ["kserve-modelmesh", "deployment"],
        why: "only KServe Knative and Standard mode route through the split gateway",
        fix: "remove it",
    },
    {
        keys: ["routing.entryTarget"],
        noEffectIn: ["kserve-modelmesh"],
        why: "ModelMesh apps are declared by a ServiceEntry, not an ExternalName Service",
        fix: "remove it",
    },
];

/** Version settings, in the order they are reported (before SPEC_REPLACES). */
export const VERSION_NO_EFFECT: readonly (NoEffectRow & { unlessSet?: string })[] = [
    {
        keys: ["modelFormat", "runtime", "protocolVersion"],
        noEffectIn: ["deployment"],
        why: "it is a KServe predictor setting",
        fix: "remove it; a Deployment runs its image as given",
    },
    {
        keys: ["port"],
        noEffectIn: KSERVE_ENVIRONMENTS,
        why: "InferenceServices are reached on port 80 and the ServingRuntime picks the container port",
        fix: "remove it",
    },
    {
        keys: ["image", "args"],
        noEffectIn: ["kserve-modelmesh"],
        why: "ModelMesh reads only modelFormat, runtime, protocolVersion and storage from a predictor",
        fix: "remove it; set it on the ServingRuntime",
        // The inferenceServiceSpec row of SPEC_REPLACES reports them then.
        unlessSet: "inferenceServiceSpec",
    },
];

/**
 * Version settings a full spec replaces: refused with "has no effect next to <spec>...", in the
 * environments where that spec exists (elsewhere the spec itself is refused).
 */
export const SPEC_REPLACES: readonly {
    keys: readonly string[];
    specs: readonly ("inferenceServiceSpec" | "deploymentSpec" | "serviceSpec")[];
    environments: readonly Environment[];
    why: string;
    fix: string;
}[] = [
    {
        keys: ["image", "args"],
        specs: ["deploymentSpec"],
        environments: ["deployment"],
        why: "next to deploymentSpec, which is used as given",
        fix: "remove it, or put it in deploymentSpec",
    },
    {
        keys: ["port"],
        specs: ["deploymentSpec", "serviceSpec"],
        environments: ["deployment"],
        why: "next to deploymentSpec and serviceSpec, which are used as given",
        fix: "remove it; routing uses the first port of serviceSpec",
    },
    {
        keys: ["modelFormat", "runtime", "protocolVersion", "image", "args"],
        specs: ["inferenceServiceSpec"],
        environments: KSERVE_ENVIRONMENTS,
        why: "next to inferenceServiceSpec, which is used as given",
        fix: "remove it, or put it in inferenceServiceSpec.predictor",
    },
];

/**
 * Settings that belong to some environments only and are refused elsewhere with
 * "cannot be used with environment <env>" (match uri: "...with KServe environments").
 */
export const ONLY_IN: Readonly<
    Record<
        "storageCredentials" | "storageUri" | "inferenceServiceSpec" | "deploymentSpec" | "serviceSpec" | "matchUri",
        readonly Environment[]
    >
> = {
    storageCredentials: ["kserve", "kserve-raw"],
    storageUri: KSERVE_ENVIRONMENTS,
    inferenceServiceSpec: KSERVE_ENVIRONMENTS,
    deploymentSpec: ["deployment"],
    serviceSpec: ["deployment"],
    // KServe environments rewrite /v1 and /v2 model paths themselves.
    matchUri: ["kserve-modelmesh", "deployment"],
};

/** The fix for storageCredentials where ONLY_IN refuses it. */
export const STORAGE_CREDENTIALS_FIX: Readonly<Partial<Record<Environment, string>>> = {
    deployment: "remove it; Deployments take credentials through their own spec",
    "kserve-modelmesh":
        "remove it; ModelMesh reads the storage-config Secret, selected with the serving.kserve.io/secretKey annotation",
};

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

/** storageUri schemes per environment that loads models from a storageUri. */
export const STORAGE_SCHEMES: Readonly<Partial<Record<Environment, readonly string[]>>> = {
    kserve: KSERVE_STORAGE_SCHEMES,
    "kserve-raw": KSERVE_STORAGE_SCHEMES,
    "kserve-modelmesh": MODELMESH_STORAGE_SCHEMES,
};

/** Whether a release runs KServe v0.20's Standard-mode canary (`spec.canary`) rather than Knative's. */
export function isStandardCanary(release: { strategy?: Strategy; environment?: Environment }): boolean {
    return release.strategy === "kserve-canary" && release.environment === "kserve-raw";
}

/**
 * Longest version name per environment. Knative names revisions `<isvc>-predictor-00001` and
 * Standard mode labels the predictor's pods `app=isvc.<isvc>-predictor`; both must fit in a
 * 63-character label.
 */
export const MAX_VERSION_NAME: Readonly<Record<Environment, number>> = {
    kserve: 63 - "-predictor-00001".length,
    "kserve-raw": 63 - "isvc.-predictor".length,
    "kserve-modelmesh": 63,
    deployment: 63,
};

/** Strategies that work in some environments only, refused at `<release>.strategy` elsewhere. */
export const STRATEGY_ENVIRONMENTS: Readonly<
    Partial<
        Record<Strategy, { environments: readonly Environment[]; problem: (env: Environment) => string; fix: string }>
    >
> = {
    "kserve-canary": {
        environments: ["kserve", "kserve-raw"],
        problem: (environment) =>
            `kserve-canary needs environment kserve (Knative revisions) or kserve-raw (Standard mode, KServe v0.20 spec.canary), got ${environment}`,
        fix: "KServe has no canary of its own for this environment; use strategy canary or blue-green",
    },
    mirror: {
        environments: ["deployment"],
        problem: (environment) => `mirror is not supported with environment ${environment}`,
        fix: "Istio cannot set the Host header or model path of mirrored requests (istio/istio#50811), so they would not reach the candidate model; use canary or blue-green",
    },
};

/** Whether an environment reads a dotted key of a raw release or version that is set. */
export function isSet(raw: Record<string, unknown>, key: string): boolean {
    let value: unknown = raw;
    for (const part of key.split(".")) {
        if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
        value = (value as Record<string, unknown>)[part];
    }
    return value !== undefined;
}

/** The keys of the rows that are set but have no effect in the environment, in table order. */
export function noEffectKeys(
    rows: readonly (NoEffectRow & { unlessSet?: string })[],
    raw: Record<string, unknown>,
    environment: Environment,
): { key: string; row: NoEffectRow }[] {
    return rows
        .filter((row) => row.noEffectIn.includes(environment))
        .filter((row) => row.unlessSet === undefined || !isSet(raw, row.unlessSet))
        .flatMap((row) => row.keys.filter((key) => isSet(raw, key)).map((key) => ({ key, row })));
}

// ---------------------------------------------------------------------------------------------
// (2) Fields per strategy.
// ---------------------------------------------------------------------------------------------

/**
 * A field that only one strategy reads. Set with another strategy it is refused with
 * "only applies to strategy <owner>, not <strategy>".
 */
export interface StrategyField {
    strategy: Strategy;
    level: "release" | "version";
    /** The fix when set with another strategy. */
    fix: (strategy: Strategy) => string;
    /** Why the primary (first version) cannot hold it; absent when it may. */
    onPrimary?: { problem: string; fix: string };
}

/** Which strategy owns which field, in the order the fields are checked. */
export const STRATEGY_FIELDS = {
    canaryTrafficPercent: {
        strategy: "kserve-canary",
        level: "release",
        fix: () => "remove it, or set strategy: kserve-canary",
    },
    tagRouting: { strategy: "kserve-canary", level: "release", fix: () => "remove it, or set strategy: kserve-canary" },
    weight: {
        strategy: "blue-green",
        level: "version",
        // Mirror's share is the candidate's mirrorPercent, the closest thing to a weight there.
        fix: (strategy) => (strategy === "mirror" ? "use mirrorPercent on the candidate" : "remove it"),
    },
    match: {
        strategy: "canary",
        level: "version",
        fix: () => "remove it, or set strategy: canary",
        onPrimary: {
            problem: "cannot be set on the primary (the first version); it receives all unmatched requests",
            fix: "move match to a candidate",
        },
    },
    trafficPercent: {
        strategy: "kserve-canary",
        level: "version",
        fix: () => "remove it, or set strategy: kserve-canary with environment kserve-raw",
        onPrimary: {
            problem: "cannot be set on the stable predictor (the first version); it serves what the canaries leave",
            fix: "move trafficPercent to a canary (a later version)",
        },
    },
    mirrorPercent: {
        strategy: "mirror",
        level: "version",
        fix: () => "remove it, or set strategy: mirror",
        onPrimary: {
            problem: "cannot be set on the primary (the first version)",
            fix: "move mirrorPercent to the candidate",
        },
    },
} as const satisfies Record<string, StrategyField>;

export type StrategyFieldName = keyof typeof STRATEGY_FIELDS;

/** The version field that sets a gated strategy's candidate share (canary: match, mirror: mirrorPercent). */
export function shareFieldOf(strategy: Strategy): StrategyFieldName | undefined {
    return (Object.keys(STRATEGY_FIELDS) as StrategyFieldName[]).find(
        (field) => STRATEGY_FIELDS[field].level === "version" && STRATEGY_FIELDS[field].strategy === strategy,
    );
}

/**
 * The issue for a strategy field set with a strategy that does not read it, or undefined when
 * it applies (or the strategy is unknown: its own issue is already reported).
 */
export function wrongStrategy(
    field: StrategyFieldName,
    strategy: Strategy | undefined,
): { problem: string; fix: string } | undefined {
    const owner: StrategyField = STRATEGY_FIELDS[field];
    if (strategy === undefined || strategy === owner.strategy) return undefined;
    return { problem: `only applies to strategy ${owner.strategy}, not ${strategy}`, fix: owner.fix(strategy) };
}

/**
 * InferenceService predictor fields that are implementations, a container each (the CRD requires
 * its `name` on a canary predictor).
 */
export const PREDICTOR_IMPLEMENTATIONS: readonly string[] = [
    "model",
    "sklearn",
    "xgboost",
    "tensorflow",
    "pytorch",
    "triton",
    "onnx",
    "huggingface",
    "pmml",
    "lightgbm",
    "paddle",
];
