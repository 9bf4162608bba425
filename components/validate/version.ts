/**
 * Version-level rules: one entry of a release's `versions` list, with what it inherits from the
 * release, and the rules over the whole list (distinct names, how many versions a strategy needs).
 */
import { Environment, HttpMatch, ModelFormat, ProtocolVersion, Strategy } from "../types";
import { toPercentages } from "../weights";
import { Checker, isObject } from "./checker";
import { DEFAULT_CANARY_MATCH, DEFAULT_PORT, PROTOCOL_VERSIONS } from "./defaults";
import { matchesOf, modelFormatOf, specOf, storageScheme } from "./fields";
import { show } from "./issues";
import {
    KSERVE_ENVIRONMENTS,
    KSERVE_STORAGE_SCHEMES,
    MAX_VERSION_NAME,
    ONLY_IN,
    SPEC_REPLACES,
    STORAGE_SCHEMES,
    STRATEGY_FIELDS,
    StrategyField,
    VERSION_NO_EFFECT,
    PREDICTOR_IMPLEMENTATIONS,
    isStandardCanary,
    noEffectKeys,
    wrongStrategy,
} from "./tables";
import { nameRuleOf, rangeOf, settingsOf } from "./settings";

export const VERSION_KEYS = settingsOf("VersionArgs");

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
    /** kserve-canary in Standard mode: a canary's percent (KServe v0.20 `spec.canary[].trafficPercent`). */
    trafficPercent?: number;
    inferenceServiceSpec?: Record<string, unknown>;
    deploymentSpec?: Record<string, unknown>;
    serviceSpec?: Record<string, unknown>;
}

/**
 * What a version needs to know of its release. Environment and strategy are undefined when the
 * release's own values are wrong (already reported): the rules that need them are skipped.
 */
export interface ReleaseContext {
    /** The app name (the release's name, or its key when the name is wrong). */
    appName: string;
    environment?: Environment;
    strategy?: Strategy;
    /** Release-level settings a version inherits when it does not set them. */
    inherited: {
        image?: string;
        modelFormat?: ModelFormat;
        runtime?: string;
        protocolVersion?: ProtocolVersion;
        port?: number;
    };
    /** Whether the release sets modelFormat (even a wrong one: then it is not required again). */
    releaseSetsModelFormat: boolean;
    /** Whether any version sets a weight (blue-green: then every version must). */
    anyVersionSetsWeight: boolean;
}

/** One entry of `versions`: its config path, position and raw value. */
export interface VersionEntry {
    path: string;
    index: number;
    raw: unknown;
}

/** The full specs of a version, each accepted only in its environments (ONLY_IN). */
interface Specs {
    inferenceServiceSpec?: Record<string, unknown>;
    deploymentSpec?: Record<string, unknown>;
    serviceSpec?: Record<string, unknown>;
}

/** KServe versions load a model: from storageUri with a known scheme, or from a full spec. */
function kserveSourceRules(
    checker: Checker,
    path: string,
    version: Record<string, unknown>,
    parsed: { storageUri?: string; modelFormat?: ModelFormat; specs: Specs },
    release: ReleaseContext & { environment: Environment },
): void {
    const { storageUri, modelFormat, specs } = parsed;
    if (specs.inferenceServiceSpec !== undefined) {
        if (!isObject(specs.inferenceServiceSpec.predictor)) {
            checker.add(
                `${path}.inferenceServiceSpec.predictor`,
                "is required",
                "an InferenceService spec needs a predictor",
            );
        }
        if (storageUri !== undefined) {
            checker.add(
                `${path}.storageUri`,
                "cannot be combined with inferenceServiceSpec",
                "put the storageUri inside inferenceServiceSpec.predictor, or drop the spec",
            );
        }
    } else {
        if (version.storageUri === undefined) {
            checker.add(
                `${path}.storageUri`,
                "is required",
                'give the model location, e.g. "gs://seldon-models/sklearn/mms/lr_model", or a full inferenceServiceSpec',
            );
        }
        if (modelFormat === undefined && version.modelFormat === undefined && !release.releaseSetsModelFormat) {
            checker.add(`${path}.modelFormat`, "is required (here or on the release)", "set modelFormat, e.g. sklearn");
        }
    }
    if (storageUri !== undefined) {
        const scheme = storageScheme(storageUri);
        const allowed = STORAGE_SCHEMES[release.environment] ?? KSERVE_STORAGE_SCHEMES;
        if (scheme === undefined || !allowed.includes(scheme)) {
            checker.add(
                `${path}.storageUri`,
                `has ${scheme === undefined ? "no scheme" : `scheme "${scheme}"`}, which ${release.environment} cannot load (${show(storageUri)})`,
                `use one of ${allowed.map((s) => `${s}://`).join(", ")}`,
            );
        }
    }
}

/** Deployment versions run an image (or a full deploymentSpec) and are routed by a Service. */
function deploymentSourceRules(
    checker: Checker,
    path: string,
    version: Record<string, unknown>,
    parsed: { image?: string; specs: Specs },
    environment: Environment,
): void {
    const { deploymentSpec, serviceSpec } = parsed.specs;
    if (version.storageUri !== undefined && !ONLY_IN.storageUri.includes(environment)) {
        checker.add(
            `${path}.storageUri`,
            `cannot be used with environment ${environment}`,
            "package the model in the image and set image instead",
        );
    }
    if (deploymentSpec === undefined && parsed.image === undefined) {
        checker.add(
            `${path}.image`,
            "is required (here or on the release)",
            'set image, e.g. "kennethreitz/httpbin", or a full deploymentSpec',
        );
    }
    if (deploymentSpec !== undefined) {
        const selector = deploymentSpec.selector;
        if (!isObject(selector) || !isObject(selector.matchLabels) || Object.keys(selector.matchLabels).length === 0) {
            checker.add(
                `${path}.deploymentSpec.selector.matchLabels`,
                "is required",
                "the Service selects the version's pods by these labels",
            );
        }
    }
    if (serviceSpec !== undefined) {
        const ports = serviceSpec.ports;
        if (!Array.isArray(ports) || ports.length === 0 || !isObject(ports[0]) || typeof ports[0].port !== "number") {
            checker.add(
                `${path}.serviceSpec.ports[0].port`,
                "is required",
                "routing sends traffic to the first Service port",
            );
        }
    }
}

/** Version settings nothing reads in this environment, or that a full spec replaces. */
function noEffectOnVersion(
    checker: Checker,
    path: string,
    version: Record<string, unknown>,
    environment: Environment,
): void {
    for (const { key, row } of noEffectKeys(VERSION_NO_EFFECT, version, environment)) {
        checker.add(`${path}.${key}`, `has no effect with environment ${environment}: ${row.why}`, row.fix);
    }
    for (const rule of SPEC_REPLACES) {
        if (!rule.environments.includes(environment) || !rule.specs.every((spec) => version[spec] !== undefined)) {
            continue;
        }
        for (const key of rule.keys.filter((k) => version[k] !== undefined)) {
            checker.add(`${path}.${key}`, `has no effect ${rule.why}`, rule.fix);
        }
    }
}

/** The fields one strategy owns (STRATEGY_FIELDS): weight, match, mirrorPercent. */
function strategyFieldsOf(
    checker: Checker,
    entry: { path: string; index: number },
    version: Record<string, unknown>,
    release: ReleaseContext,
): { weight?: number; match: HttpMatch[]; mirrorPercent?: number; trafficPercent?: number } {
    const { path, index } = entry;
    const { environment, strategy } = release;
    const isPrimary = index === 0;
    const misplaced = (field: "weight" | "match" | "mirrorPercent" | "trafficPercent"): boolean => {
        const wrong = wrongStrategy(field, strategy);
        if (wrong !== undefined) {
            checker.add(`${path}.${field}`, wrong.problem, wrong.fix);
            return true;
        }
        const { onPrimary }: StrategyField = STRATEGY_FIELDS[field];
        if (isPrimary && onPrimary !== undefined) {
            checker.add(`${path}.${field}`, onPrimary.problem, onPrimary.fix);
            return true;
        }
        return false;
    };

    let weight: number | undefined;
    if (version.weight !== undefined) {
        weight = checker.integer(
            `${path}.weight`,
            version.weight,
            ...rangeOf("VersionArgs", "weight"),
            "use a whole number >= 0; weights are relative, e.g. 30 and 70",
        );
        misplaced("weight");
    } else if (strategy === STRATEGY_FIELDS.weight.strategy && release.anyVersionSetsWeight) {
        checker.add(
            `${path}.weight`,
            "is missing while other versions set a weight",
            "set a weight on every version, or on none for an equal split",
        );
    }

    let match: HttpMatch[] = [];
    if (version.match !== undefined) {
        const matches = environment ? matchesOf(checker, `${path}.match`, version.match, environment) : undefined;
        if (!misplaced("match") && matches) {
            match = matches;
        }
    } else if (strategy === STRATEGY_FIELDS.match.strategy && !isPrimary) {
        match = DEFAULT_CANARY_MATCH.map((m) => structuredClone(m));
    }

    let mirrorPercent: number | undefined;
    if (version.mirrorPercent !== undefined) {
        mirrorPercent = checker.integer(
            `${path}.mirrorPercent`,
            version.mirrorPercent,
            ...rangeOf("VersionArgs", "mirrorPercent"),
            "use a percentage from 0 to 100",
        );
        misplaced("mirrorPercent");
    } else if (strategy === STRATEGY_FIELDS.mirrorPercent.strategy && !isPrimary) {
        mirrorPercent = 100;
    }

    let trafficPercent: number | undefined;
    const standardCanary = isStandardCanary(release);
    if (version.trafficPercent !== undefined) {
        trafficPercent = checker.integer(
            `${path}.trafficPercent`,
            version.trafficPercent,
            ...rangeOf("VersionArgs", "trafficPercent"),
            "use a percentage from 0 to 100",
        );
        if (!misplaced("trafficPercent") && !standardCanary && strategy === "kserve-canary") {
            checker.add(
                `${path}.trafficPercent`,
                "only applies to kserve-canary in Standard mode (environment kserve-raw)",
                "in Knative mode set the release's canaryTrafficPercent; its one version is the canary",
            );
        }
    } else if (standardCanary && !isPrimary) {
        checker.add(
            `${path}.trafficPercent`,
            "is required on a canary (KServe v0.20 spec.canary[].trafficPercent)",
            "set the canary's share, e.g. 10, or 0 to deploy it without traffic",
        );
    }
    return { weight, match, mirrorPercent, trafficPercent };
}

/**
 * KServe v0.20 refuses a canary predictor that autoscales or runs workers: canaries use fixed
 * replicas (inference_service_validation.go validateCanarySpecs). A canary's full spec gives only
 * its predictor: the canary entry has no transformer or explainer of its own.
 */

const CANARY_PREDICTOR_REFUSED = ["maxReplicas", "scaleTarget", "scaleMetric", "autoScaling", "workerSpec"];

function standardCanarySpecRules(checker: Checker, path: string, spec: Record<string, unknown>): void {
    for (const key of Object.keys(spec).filter((k) => k !== "predictor")) {
        checker.add(
            `${path}.inferenceServiceSpec.${key}`,
            "has no effect on a canary: KServe v0.20 spec.canary entries hold a predictor only",
            "remove it; a canary shares the stable version's transformer and explainer",
        );
    }
    const predictor = spec.predictor;
    if (!isObject(predictor)) return;
    for (const key of CANARY_PREDICTOR_REFUSED.filter((k) => predictor[k] !== undefined)) {
        checker.add(
            `${path}.inferenceServiceSpec.predictor.${key}`,
            "is refused by KServe on a canary predictor: canaries run fixed replicas",
            "remove it (the canary's replicas follow its trafficPercent, or set minReplicas)",
        );
    }
    for (const key of PREDICTOR_IMPLEMENTATIONS.filter(
        (k) => isObject(predictor[k]) && predictor[k].name === undefined,
    )) {
        checker.add(
            `${path}.inferenceServiceSpec.predictor.${key}.name`,
            "is required on a canary predictor by the KServe v0.20 CRD",
            'set it, e.g. "kserve-container" (KServe\'s model server container)',
        );
    }
    if (predictor.name !== undefined) {
        checker.add(
            `${path}.inferenceServiceSpec.predictor.name`,
            "is set from the version's name",
            "remove it and set the version's name instead",
        );
    }
}

/**
 * Validates one entry of `versions` and applies what it inherits from the release. Returns the
 * resolved version, or undefined when its name is wrong (its issues are in the checker either way).
 */
export function versionOf(checker: Checker, entry: VersionEntry, release: ReleaseContext): ResolvedVersion | undefined {
    const { path, index } = entry;
    const { environment, strategy, inherited } = release;
    if (!isObject(entry.raw)) {
        checker.add(path, `must be an object, got ${show(entry.raw)}`, "describe the version with storageUri or image");
        return undefined;
    }
    const version = entry.raw;
    checker.unknownKeys(path, version, VERSION_KEYS);

    // kserve-canary keeps one InferenceService named after the app; other strategies number them.
    const defaultName = strategy === "kserve-canary" ? release.appName : `${release.appName}-${index}`;
    const standardCanary = isStandardCanary(release);
    // Standard-mode canary versions are predictors of the app's InferenceService: KServe labels
    // their pods app=isvc.<app>-<name>-predictor, a label value of at most 63 characters.
    const maxNameLength = standardCanary
        ? Math.max(1, 63 - `isvc.${release.appName}--predictor`.length)
        : environment
          ? MAX_VERSION_NAME[environment]
          : 63;
    if (standardCanary && version.name === undefined) {
        checker.add(
            `${path}.name`,
            "is required with kserve-canary in Standard mode: KServe names each predictor <app>-<name>-predictor, and a promotion renames the stable predictor to the canary's name",
            'name the version, e.g. "v1"',
        );
    }
    const name =
        version.name === undefined
            ? defaultName
            : checker.dnsName(
                  `${path}.name`,
                  version.name,
                  // The schema's 63 is the most any environment allows; MAX_VERSION_NAME is this one's.
                  nameRuleOf("VersionArgs", "name")[0],
                  maxNameLength,
                  "a DNS-1035 label (lower-case letters, digits and '-', starting with a letter)",
              );
    if (version.name === undefined && !standardCanary && defaultName.length > maxNameLength) {
        checker.add(
            `${path}.name`,
            `defaults to ${show(defaultName)}, longer than the ${maxNameLength} characters ${environment} allows`,
            "set a shorter name",
        );
    }
    const labels = checker.stringMap(`${path}.labels`, version.labels, "label") ?? {};
    const annotations = checker.stringMap(`${path}.annotations`, version.annotations, "annotation") ?? {};
    const storageUri = checker.string(
        `${path}.storageUri`,
        version.storageUri,
        'give the model location, e.g. "gs://bucket/model"',
    );
    const image =
        checker.string(`${path}.image`, version.image, 'give a container image, e.g. "kennethreitz/httpbin"') ??
        inherited.image;
    const modelFormat = modelFormatOf(checker, `${path}.modelFormat`, version.modelFormat) ?? inherited.modelFormat;
    const runtime =
        (version.runtime === undefined
            ? undefined
            : checker.dnsName(
                  `${path}.runtime`,
                  version.runtime,
                  ...nameRuleOf("VersionArgs", "runtime"),
                  "a ServingRuntime name",
              )) ?? inherited.runtime;
    const protocolVersion =
        checker.oneOf(`${path}.protocolVersion`, version.protocolVersion, PROTOCOL_VERSIONS) ??
        inherited.protocolVersion;
    const port =
        checker.integer(
            `${path}.port`,
            version.port,
            ...rangeOf("VersionArgs", "port"),
            "use a TCP port number, e.g. 8080",
        ) ??
        inherited.port ??
        DEFAULT_PORT;
    let args: string[] | undefined;
    if (version.args !== undefined) {
        if (!Array.isArray(version.args) || !version.args.every((arg) => typeof arg === "string")) {
            checker.add(
                `${path}.args`,
                `must be a list of strings, got ${show(version.args)}`,
                'write e.g. ["--enable_docs_url=True"]',
            );
        } else {
            args = version.args as string[];
        }
    }
    const specAllowed = (spec: keyof Specs) => environment !== undefined && ONLY_IN[spec].includes(environment);
    const specs: Specs = {};
    for (const spec of ["inferenceServiceSpec", "deploymentSpec", "serviceSpec"] as const) {
        const value = specOf(checker, `${path}.${spec}`, version[spec], specAllowed(spec), environment ?? "?");
        if (value !== undefined) specs[spec] = value;
    }

    if (environment !== undefined && KSERVE_ENVIRONMENTS.includes(environment)) {
        kserveSourceRules(checker, path, version, { storageUri, modelFormat, specs }, { ...release, environment });
    } else if (environment === "deployment") {
        deploymentSourceRules(checker, path, version, { image, specs }, environment);
    }
    if (environment !== undefined) {
        noEffectOnVersion(checker, path, version, environment);
    }
    if (standardCanary && specs.inferenceServiceSpec !== undefined) {
        if (index > 0) standardCanarySpecRules(checker, path, specs.inferenceServiceSpec);
        else if (
            isObject(specs.inferenceServiceSpec.predictor) &&
            specs.inferenceServiceSpec.predictor.name !== undefined
        ) {
            checker.add(
                `${path}.inferenceServiceSpec.predictor.name`,
                "is set from the version's name",
                "remove it and set the version's name instead",
            );
        }
        if (index === 0 && specs.inferenceServiceSpec.canary !== undefined) {
            checker.add(
                `${path}.inferenceServiceSpec.canary`,
                "is written from the later versions",
                "remove it and list each canary as a version with its trafficPercent",
            );
        }
        const stablePredictor = specs.inferenceServiceSpec.predictor;
        if (index === 0 && isObject(stablePredictor) && stablePredictor.canaryTrafficPercent !== undefined) {
            checker.add(
                `${path}.inferenceServiceSpec.predictor.canaryTrafficPercent`,
                "is Knative mode's canary; KServe ignores it in Standard mode, where spec.canary splits",
                "remove it and give each canary version a trafficPercent",
            );
        }
    }
    const { weight, match, mirrorPercent, trafficPercent } = strategyFieldsOf(checker, entry, version, release);

    if (name === undefined) {
        return undefined;
    }
    const resolved: ResolvedVersion = { index, name, labels, annotations, port, match };
    if (storageUri !== undefined) resolved.storageUri = storageUri;
    if (image !== undefined) resolved.image = image;
    if (modelFormat !== undefined) resolved.modelFormat = modelFormat;
    if (runtime !== undefined) resolved.runtime = runtime;
    if (protocolVersion !== undefined) resolved.protocolVersion = protocolVersion;
    if (args !== undefined) resolved.args = args;
    if (weight !== undefined) resolved.weight = weight;
    if (mirrorPercent !== undefined && index > 0) resolved.mirrorPercent = mirrorPercent;
    if (trafficPercent !== undefined && index > 0) resolved.trafficPercent = trafficPercent;
    if (specs.inferenceServiceSpec !== undefined) resolved.inferenceServiceSpec = specs.inferenceServiceSpec;
    if (specs.deploymentSpec !== undefined) resolved.deploymentSpec = specs.deploymentSpec;
    if (specs.serviceSpec !== undefined) resolved.serviceSpec = specs.serviceSpec;
    return resolved;
}

/**
 * The versions a blue-green split serves, as `<name> <percent>%` (percent above 0), in order; none
 * when the weights are invalid (negative, not integers, all zero): those have issues of their own.
 */
export function servedShares(versions: readonly ResolvedVersion[]): string[] {
    const weights = versions.map((v) => v.weight ?? 1);
    if (weights.length === 0 || !weights.every((w) => Number.isSafeInteger(w) && w >= 0)) return [];
    if (!weights.some((w) => w > 0)) return [];
    const percents = toPercentages(weights);
    return versions.flatMap((v, i) => (percents[i] > 0 ? [`${v.name} ${percents[i]}%`] : []));
}
