/**
 * Release-level rules: one release description, from its identity (name, namespace, environment,
 * strategy) through its sections to its versions, resolved with every default applied.
 */
import { ResolvedRollout } from "../rollout";
import { DeploymentModeNames, Environment, RoutingBackend, SplitGateway, Strategy } from "../types";
import { Checker, DNS1035_LABEL, DNS1123_LABEL, DNS1123_SUBDOMAIN, isObject, reservedKeys } from "./checker";
import {
    DEFAULT_DEPLOYMENT_ENTRY_TARGET,
    DEFAULT_KNATIVE_GATEWAY,
    ENVIRONMENTS,
    PROTOCOL_VERSIONS,
    STRATEGIES,
} from "./defaults";
import { modelFormatOf } from "./fields";
import { gatewayApiRules } from "./gatewayApi";
import { ConfigIssue, show } from "./issues";
import { rolloutOf } from "./rollout";
import { readinessOf, routingOf, storageCredentialsOf } from "./sections";
import {
    RELEASE_NO_EFFECT,
    ROUTING_NO_EFFECT,
    STRATEGY_ENVIRONMENTS,
    PREDICTOR_IMPLEMENTATIONS,
    isStandardCanary,
    noEffectKeys,
    wrongStrategy,
} from "./tables";
import { ReleaseContext, ResolvedVersion, servedShares, versionOf } from "./version";
import { rangeOf, settingsOf } from "./settings";

export const RELEASE_KEYS = settingsOf("ReleaseArgs");

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
    /** Which API the routing is written in (`routing.backend`). */
    backend: RoutingBackend;
    /** gateway-api: whether the HTTPRoute attaches to the app's Service (GAMMA). */
    mesh: boolean;
    gateways: string[];
    /** Where weighted KServe splits take their second hop; Knative mode defaults it, Standard mode does not. */
    splitGateway?: SplitGateway;
    entryTarget: string;
    modelMesh: { service: string; namespace: string; port: number };
    timeoutSeconds: number;
    deploymentReadiness: "rollout" | "available";
    /** Annotations of the credentials Secret, when credentials are configured. */
    storageCredentials?: { annotations: Record<string, string> };
    /** The automated progressive rollout, when configured. */
    rollout?: ResolvedRollout;
}

/** Options that come from outside the release description. */
export interface ValidateOptions {
    /** Config path prefix for messages, e.g. `releases.wisdom`. */
    path: string;
    /** Namespace used when the release does not set one. */
    defaultNamespace: string;
}

/**
 * Settings a release can hold that nothing reads in its environment or strategy. Accepting them
 * would let a user believe they apply (e.g. a port on an InferenceService, routing knobs with
 * KServe's own canary), so they are refused like any other mistake.
 */
function noEffectOnRelease(
    checker: Checker,
    path: string,
    raw: Record<string, unknown>,
    environment: Environment,
    strategy: Strategy,
): void {
    const refuse = (key: string, why: string, fix: string, by = `environment ${environment}`) => {
        checker.add(`${path}.${key}`, `has no effect with ${by}: ${why}`, fix);
    };
    for (const { key, row } of noEffectKeys(RELEASE_NO_EFFECT, raw, environment)) {
        refuse(key, row.why, row.fix);
    }
    if (!isObject(raw.routing)) return;
    if (strategy === "kserve-canary" && environment === "kserve") {
        // KServe owns the routing: no VirtualService, entry Service or ServiceEntry is created.
        refuse(
            "routing",
            "KServe routes its own canary, no VirtualService is created",
            "remove routing, or use strategy blue-green or canary to route with Istio",
            "strategy kserve-canary in Knative mode",
        );
        return;
    }
    for (const { key, row } of noEffectKeys(ROUTING_NO_EFFECT, raw, environment)) {
        refuse(key, row.why, row.fix);
    }
}

/** Strategy rules of the release itself: the fields it owns, the environments it works in. */
function strategyRules(
    checker: Checker,
    path: string,
    raw: Record<string, unknown>,
    environment: Environment | undefined,
    strategy: Strategy | undefined,
): void {
    for (const field of ["canaryTrafficPercent", "tagRouting"] as const) {
        const wrong = raw[field] === undefined ? undefined : wrongStrategy(field, strategy);
        if (wrong !== undefined) checker.add(`${path}.${field}`, wrong.problem, wrong.fix);
    }
    if (isStandardCanary({ strategy, environment })) {
        // Standard mode has no revisions: each canary is a predictor of its own with its percent.
        const knativeOnly = {
            canaryTrafficPercent: "set each canary's share with versions[i].trafficPercent (KServe v0.20 spec.canary)",
            tagRouting: "remove it; Standard mode has no Knative tags, reach a canary through its predictor Service",
        };
        for (const field of ["canaryTrafficPercent", "tagRouting"] as const) {
            if (raw[field] !== undefined) {
                checker.add(
                    `${path}.${field}`,
                    "only applies to kserve-canary in Knative mode (environment kserve)",
                    knativeOnly[field],
                );
            }
        }
        if (raw.deploymentModeNames === "legacy") {
            checker.add(
                `${path}.deploymentModeNames`,
                "is legacy, which writes deploymentMode RawDeployment, and KServe v0.20's webhook accepts spec.canary only with deploymentMode Standard",
                "remove it (spec.canary needs KServe >= 0.20, which reads the current names)",
            );
        }
    }
    const needs = strategy === undefined ? undefined : STRATEGY_ENVIRONMENTS[strategy];
    if (needs !== undefined && environment !== undefined && !needs.environments.includes(environment)) {
        checker.add(`${path}.strategy`, needs.problem(environment), needs.fix);
    }
}

/** Predictor fields a Standard-mode canary would silently inherit from the stable predictor. */
const INHERITED_BY_CANARIES = ["image", "args", "runtime", "protocolVersion"] as const;

/**
 * KServe v0.20 builds each canary by merging it over the stable predictor, where an unset field
 * never overrides: a canary that leaves out what the stable sets would run the stable's value
 * (and lose it on promotion), and a canary with another implementation (sklearn vs model) would
 * get both, KServe then serving the stable's model. Refused, with the field to set.
 */
function inheritanceRules(checker: Checker, path: string, versions: readonly ResolvedVersion[]): void {
    const [stable, ...canaries] = versions;
    if (stable === undefined) return;
    const implementation = (v: ResolvedVersion): string | undefined => {
        if (!v.inferenceServiceSpec) return "model";
        const predictor = v.inferenceServiceSpec.predictor;
        return isObject(predictor)
            ? Object.keys(predictor).find((k) => PREDICTOR_IMPLEMENTATIONS.includes(k))
            : undefined;
    };
    /** A version's full-spec predictor minReplicas, when it sets one. */
    const minReplicasOf = (v: ResolvedVersion): number | undefined => {
        const predictor = v.inferenceServiceSpec?.predictor;
        return isObject(predictor) && typeof predictor.minReplicas === "number" ? predictor.minReplicas : undefined;
    };
    const stableMin = minReplicasOf(stable);
    for (const canary of canaries) {
        const at = `${path}.versions[${canary.index}]`;
        const min = minReplicasOf(canary);
        if (min !== undefined && min > (stableMin ?? 1)) {
            checker.add(
                `${at}.inferenceServiceSpec.predictor.minReplicas`,
                `is ${min}, above the stable version's ${stableMin ?? "1 (KServe's default)"}; KServe v0.20 refuses a canary with more replicas than the stable predictor`,
                "lower it, or raise the stable version's minReplicas in its inferenceServiceSpec",
            );
        }
        if (implementation(canary) !== implementation(stable)) {
            checker.add(
                at,
                `serves with ${implementation(canary) ?? "no implementation"} while the stable version serves with ${implementation(stable) ?? "none"}; KServe merges a canary over the stable predictor, so it would get both and serve the stable's model`,
                "describe both the same way (storageUri and modelFormat, or the same key in inferenceServiceSpec.predictor)",
            );
            continue;
        }
        if (canary.inferenceServiceSpec || stable.inferenceServiceSpec) continue;
        for (const field of INHERITED_BY_CANARIES) {
            if (stable[field] !== undefined && canary[field] === undefined) {
                checker.add(
                    `${at}.${field}`,
                    `is not set while the stable version sets it (${show(stable[field])}); KServe merges a canary over the stable predictor, so the canary would run the stable's value`,
                    `set ${field} on the canary too (the same value, or its own)`,
                );
            }
        }
    }
}

/**
 * Rules over a release's version list: distinct names that do not take the app's name, and the
 * number of versions each strategy needs. `configured` counts every entry, even a wrong one.
 */
function versionListRules(
    checker: Checker,
    path: string,
    versions: readonly ResolvedVersion[],
    configured: number,
    release: { name?: string; strategy?: Strategy; environment?: Environment },
): void {
    const { name: appName, strategy, environment } = release;
    const firstIndexOfName = new Map<string, number>();
    for (const version of versions) {
        const first = firstIndexOfName.get(version.name);
        if (first !== undefined) {
            checker.add(
                `${path}.versions[${version.index}].name`,
                `duplicates versions[${first}] (${show(version.name)})`,
                "give every version a distinct name",
            );
        } else {
            firstIndexOfName.set(version.name, version.index);
        }
        if (appName !== undefined && version.name === appName && strategy !== "kserve-canary") {
            checker.add(
                `${path}.versions[${version.index}].name`,
                `equals the app name ${show(appName)}; the app's Service and VirtualService use that name, and KServe creates its own objects named after each InferenceService`,
                `rename the version, e.g. "${appName}-${version.index}"`,
            );
        }
    }
    if (strategy === "canary" && configured < 2) {
        checker.add(
            `${path}.versions`,
            "has one version, but canary needs a primary and at least one candidate",
            "add a candidate version, or use strategy none",
        );
    }
    if (strategy === "mirror" && configured !== 2) {
        checker.add(
            `${path}.versions`,
            `has ${configured} version${configured === 1 ? "" : "s"}, but mirror needs exactly a primary and one candidate`,
            configured < 2 ? "add the candidate to mirror to" : "keep one candidate",
        );
    }
    if (strategy === "kserve-canary" && environment === "kserve" && configured !== 1) {
        checker.add(
            `${path}.versions`,
            `has ${configured} versions, but kserve-canary uses one InferenceService whose previous revision KServe keeps`,
            "keep one version: its new spec is the canary, canaryTrafficPercent sets its share",
        );
    }
    if (isStandardCanary({ strategy, environment })) {
        inheritanceRules(checker, path, versions);
        const canaries = versions.slice(1).filter((v) => v.trafficPercent !== undefined);
        const sum = canaries.reduce((total, v) => total + (v.trafficPercent ?? 0), 0);
        if (sum > 100) {
            checker.add(
                `${path}.versions[*].trafficPercent`,
                `sum to ${sum} (${canaries.map((v) => `${v.name} ${v.trafficPercent}%`).join(" + ")}), and the canaries can take at most 100% (KServe refuses more)`,
                "lower the canaries' trafficPercent so they sum to 100 or less",
            );
        }
    }
    const allWeighted = versions.length === configured && versions.every((version) => version.weight !== undefined);
    if (strategy === "blue-green" && allWeighted && versions.every((version) => version.weight === 0)) {
        checker.add(
            `${path}.versions[*].weight`,
            "are all 0, so no version would receive traffic",
            "give at least one version a weight above 0",
        );
    }
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
    const checker = new Checker();
    const path = options.path;
    if (!isObject(raw)) {
        checker.add(
            path,
            `must be an object with environment and versions, got ${show(raw)}`,
            "see the README's config reference",
        );
        return { issues: checker.issues };
    }
    reservedKeys(checker, path, raw);
    checker.unknownKeys(path, raw, RELEASE_KEYS);

    // Identity.
    const name =
        raw.name === undefined
            ? key
            : checker.dnsName(
                  `${path}.name`,
                  raw.name,
                  DNS1035_LABEL,
                  63,
                  "a DNS-1035 label (lower-case letters, digits and '-', starting with a letter)",
              );
    if (raw.name === undefined && !(DNS1035_LABEL.test(key) && key.length <= 63)) {
        checker.add(
            path,
            `has key ${show(key)}, which is not a DNS-1035 label and so cannot name the app`,
            `rename the release or set ${path}.name`,
        );
    }
    const namespace =
        raw.namespace === undefined
            ? options.defaultNamespace
            : checker.dnsName(
                  `${path}.namespace`,
                  raw.namespace,
                  DNS1123_LABEL,
                  63,
                  "a namespace name (DNS-1123 label)",
              );
    if (raw.environment === undefined) {
        checker.add(`${path}.environment`, "is required", `set it to one of ${ENVIRONMENTS.join(", ")}`);
    }
    const environment = checker.oneOf(`${path}.environment`, raw.environment, ENVIRONMENTS);
    const strategy = raw.strategy === undefined ? "none" : checker.oneOf(`${path}.strategy`, raw.strategy, STRATEGIES);

    // App-wide settings; the model settings are inherited by versions that do not set them.
    const appLabels = checker.stringMap(`${path}.labels`, raw.labels, "label") ?? {};
    const appAnnotations = checker.stringMap(`${path}.annotations`, raw.annotations, "annotation") ?? {};
    const inherited: ReleaseContext["inherited"] = {
        modelFormat: modelFormatOf(checker, `${path}.modelFormat`, raw.modelFormat),
        runtime:
            raw.runtime === undefined
                ? undefined
                : checker.dnsName(`${path}.runtime`, raw.runtime, DNS1123_SUBDOMAIN, 253, "a ServingRuntime name"),
        protocolVersion: checker.oneOf(`${path}.protocolVersion`, raw.protocolVersion, PROTOCOL_VERSIONS),
        port: checker.integer(
            `${path}.port`,
            raw.port,
            ...rangeOf("ReleaseArgs", "port"),
            "use a TCP port number, e.g. 8080",
        ),
        image: checker.string(`${path}.image`, raw.image, 'give a container image, e.g. "kennethreitz/httpbin"'),
    };
    const deploymentModeNames =
        checker.oneOf(`${path}.deploymentModeNames`, raw.deploymentModeNames, Object.values(DeploymentModeNames)) ??
        "current";

    // Sections.
    const routing = routingOf(checker, `${path}.routing`, raw.routing);
    const { timeoutSeconds, deploymentReadiness } = readinessOf(checker, `${path}.readiness`, raw.readiness);
    const storageCredentials = storageCredentialsOf(
        checker,
        `${path}.storageCredentials`,
        raw.storageCredentials,
        environment,
    );
    const rollout = rolloutOf(checker, `${path}.rollout`, raw.rollout, strategy);
    const canaryTrafficPercent = checker.integer(
        `${path}.canaryTrafficPercent`,
        raw.canaryTrafficPercent,
        ...rangeOf("ReleaseArgs", "canaryTrafficPercent"),
        "use a percentage from 0 to 100, or remove it to promote",
    );
    const tagRouting = checker.boolean(`${path}.tagRouting`, raw.tagRouting) ?? false;
    strategyRules(checker, path, raw, environment, strategy);
    if (environment !== undefined && strategy !== undefined) {
        noEffectOnRelease(checker, path, raw, environment, strategy);
    }

    // Versions.
    const versions: ResolvedVersion[] = [];
    if (!Array.isArray(raw.versions) || raw.versions.length === 0) {
        checker.add(
            `${path}.versions`,
            `must be a non-empty list, got ${show(raw.versions)}`,
            "add at least the primary version with its storageUri or image",
        );
    } else {
        const context: ReleaseContext = {
            appName: name ?? key,
            environment,
            strategy,
            inherited,
            releaseSetsModelFormat: raw.modelFormat !== undefined,
            anyVersionSetsWeight: raw.versions.some((version) => isObject(version) && version.weight !== undefined),
        };
        raw.versions.forEach((version: unknown, index) => {
            const resolved = versionOf(checker, { path: `${path}.versions[${index}]`, index, raw: version }, context);
            if (resolved !== undefined) versions.push(resolved);
        });
        versionListRules(checker, path, versions, raw.versions.length, { name, strategy, environment });
    }

    if (environment !== undefined && strategy !== undefined) {
        gatewayApiRules(checker, {
            path,
            environment,
            strategy,
            versions,
            backend: routing.backend,
            mesh: routing.mesh,
            gateways: routing.gateways,
            hasRollout: rollout !== undefined,
            routingKeys: routing.keys,
        });
    }
    if (
        environment === "kserve-raw" &&
        strategy === "blue-green" &&
        routing.backend === "istio" &&
        routing.splitGateway === undefined
    ) {
        standardModeSplitRule(checker, path, versions, rollout !== undefined);
    }

    if (
        checker.issues.length > 0 ||
        name === undefined ||
        namespace === undefined ||
        environment === undefined ||
        strategy === undefined
    ) {
        return { issues: checker.issues };
    }

    // Defaults that depend on the app: identity labels, split gateway, entry target, ModelMesh namespace.
    const splitGateway = routing.splitGateway ?? (environment === "kserve" ? DEFAULT_KNATIVE_GATEWAY : undefined);
    const baseLabels = { "app.kubernetes.io/name": name, ...appLabels };
    const release: ResolvedRelease = {
        key,
        name,
        namespace,
        environment,
        strategy,
        labels: baseLabels,
        annotations: appAnnotations,
        versions: versions.map((version) => ({
            ...version,
            labels: { ...baseLabels, "app.kubernetes.io/version": version.name, ...version.labels },
            annotations: { ...appAnnotations, ...version.annotations },
        })),
        tagRouting,
        deploymentModeNames,
        backend: routing.backend,
        mesh: routing.mesh,
        gateways: [...new Set(routing.gateways)],
        entryTarget:
            routing.entryTarget ??
            defaultEntryTarget(environment, splitGateway, namespace, predictorServiceName(name, strategy, versions[0])),
        modelMesh: {
            service: routing.modelMesh.service,
            namespace: routing.modelMesh.namespace ?? namespace,
            port: routing.modelMesh.port,
        },
        timeoutSeconds,
        deploymentReadiness,
    };
    if (splitGateway !== undefined) release.splitGateway = splitGateway;
    if (canaryTrafficPercent !== undefined) release.canaryTrafficPercent = canaryTrafficPercent;
    if (storageCredentials !== undefined) release.storageCredentials = storageCredentials;
    if (rollout !== undefined) release.rollout = rollout;
    return { release, issues: [] };
}

/**
 * Where the app's ExternalName Service points (its host must resolve for clients; the mesh then
 * routes by the VirtualService). Knative mode: the Knative local gateway. Standard mode: the
 * configured split gateway (clients outside the mesh then get the split too), else the primary's
 * predictor Service, which KServe creates in that mode (there is no Knative gateway to name).
 * Deployments: the Istio ingress gateway.
 */
function defaultEntryTarget(
    environment: Environment,
    splitGateway: SplitGateway | undefined,
    namespace: string,
    primaryPredictor: string,
): string {
    switch (environment) {
        case "kserve-raw":
            return splitGateway?.service ?? `${primaryPredictor}.${namespace}.svc.cluster.local`;
        case "deployment":
            return DEFAULT_DEPLOYMENT_ENTRY_TARGET;
        default:
            return (splitGateway ?? DEFAULT_KNATIVE_GATEWAY).service;
    }
}

/**
 * The Service KServe's Standard mode creates for a version's predictor: `<isvc>-predictor` for an
 * InferenceService of its own, `<app>-<version>-predictor` for a predictor of the app's
 * InferenceService (kserve-canary, KServe v0.20 `PredictorServiceName`).
 */
export function predictorServiceName(app: string, strategy: Strategy, version: { name: string }): string {
    return strategy === "kserve-canary" ? `${app}-${version.name}-predictor` : `${version.name}-predictor`;
}

/**
 * Standard mode, blue-green: a split between two or more served versions needs a second hop
 * through a gateway (each version's model path is rewritten per route, and a route rewrites once),
 * and Standard-mode clusters have no knative-local-gateway to default to. One served version goes
 * straight to its predictor Service and needs none.
 */
function standardModeSplitRule(checker: Checker, path: string, versions: ResolvedVersion[], hasRollout: boolean): void {
    const fix =
        "set routing.splitGateway to an Istio Gateway that accepts the app's host and its Service's host, e.g. {gateway: istio-system/model-split, service: istio-ingressgateway.istio-system.svc.cluster.local}, or give one version all the weight";
    const why =
        "takes a second hop through a gateway, and KServe Standard mode has no knative-local-gateway to default to";
    // Refused up front: each step of a rollout splits traffic, so the first step would be refused
    // half-way through the rollout.
    if (hasRollout && versions.length >= 2) {
        checker.add(
            `${path}.routing.splitGateway`,
            `is required: each rollout step splits traffic between ${versions[0].name} and ${versions[1].name}, a split that ${why}`,
            fix.replace(", or give one version all the weight", ", or remove the rollout"),
        );
        return;
    }
    const served = servedShares(versions);
    if (served.length < 2) return;
    checker.add(`${path}.routing.splitGateway`, `is required: the split ${served.join(" / ")} ${why}`, fix);
}
