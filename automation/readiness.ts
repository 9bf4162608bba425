/**
 * Readiness of the objects that serve versions, read from the cluster a stack targets: the
 * Kubernetes provider's kubeconfig and context from stack config (`kubernetes:kubeconfig`,
 * `kubernetes:context`), else KUBECONFIG, else the default kubeconfig or in-cluster config.
 * A promotion is refused unless the candidate is Ready now; a cluster that cannot be read
 * refuses it too, never allows it.
 */
import * as k8s from "@kubernetes/client-node";

import type { StackConfigFile } from "./stackConfig";

/**
 * The kind of object that serves a version. `CanaryPredictor` is a KServe v0.20 `spec.canary`
 * predictor, named `<isvc>/<canary>`: ready when the InferenceService's `status.canaryStatuses`
 * says so (its Deployment has an available replica) for the current generation.
 */
export type WorkloadKind = "InferenceService" | "Deployment" | "CanaryPredictor";

/** Whether a version's object is Ready now; throws ReadinessUnknownError if that can't be read. */
export type ReadinessProbe = (kind: WorkloadKind, namespace: string, name: string) => Promise<boolean>;

/** Readiness could not be read (cluster unreachable, forbidden, timed out). */
export class ReadinessUnknownError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "ReadinessUnknownError";
    }
}

interface Condition {
    type: string;
    status: string;
}

interface LiveObject {
    metadata?: { generation?: number; annotations?: Record<string, string> };
    spec?: { canary?: { predictor?: { name?: string }; trafficPercent?: number }[] };
    status?: {
        observedGeneration?: number;
        conditions?: Condition[];
        canaryStatuses?: { name?: string; ready?: boolean; trafficPercent?: number }[];
    };
}

/**
 * KServe Standard mode copies status.observedGeneration from the stable predictor's Deployment
 * (inference_service_status.go PropagateRawStatus), not from the InferenceService: a canary edit
 * raises the InferenceService's generation and leaves that number behind, so it says nothing about
 * which spec the status is for.
 */
function isStandardMode(object: LiveObject): boolean {
    const mode = object.metadata?.annotations?.["serving.kserve.io/deploymentMode"];
    return mode === "Standard" || mode === "RawDeployment";
}

/**
 * A canary predictor is ready: listed ready in canaryStatuses with the trafficPercent the spec
 * gives it (so the status was written for this spec; see isStandardMode on the generation).
 */
export function isCanaryReady(object: LiveObject, canary: string): boolean {
    const wanted = object.spec?.canary?.find((c) => c.predictor?.name === canary)?.trafficPercent;
    return (
        wanted !== undefined &&
        (object.status?.canaryStatuses?.some(
            (c) => c.name === canary && c.ready === true && c.trafficPercent === wanted,
        ) ??
            false)
    );
}

/**
 * Ready for the current generation: the condition is True and reports on the latest spec (not
 * comparable for a Standard-mode InferenceService, see isStandardMode: the condition alone).
 */
export function isReady(object: LiveObject, condition: "Ready" | "Available"): boolean {
    const ok = object.status?.conditions?.some((c) => c.type === condition && c.status === "True") ?? false;
    if (isStandardMode(object)) return ok;
    const observed = object.status?.observedGeneration;
    const generation = object.metadata?.generation;
    return ok && (observed === undefined || generation === undefined || observed >= generation);
}

/** Where the kubeconfig comes from: stack config, else the environment of the stack's runs. */
export interface ClusterSource {
    /** `kubernetes:kubeconfig`: a path or the kubeconfig itself. */
    kubeconfig?: string;
    /** `kubernetes:context`. */
    context?: string;
    /** KUBECONFIG of the stack's Pulumi runs (falls back to this process's). */
    kubeconfigEnv?: string;
}

/** A KubeConfig for a cluster source. */
export function kubeConfigFor(source: ClusterSource): k8s.KubeConfig {
    const kc = new k8s.KubeConfig();
    const value = source.kubeconfig?.trim();
    if (value) {
        // The provider accepts either a path or the document itself.
        if (/^(apiVersion|clusters|kind|contexts|current-context|users|preferences)\s*:|^\{/m.test(value)) {
            kc.loadFromString(value);
        } else {
            kc.loadFromFile(value);
        }
    } else {
        const env = source.kubeconfigEnv ?? process.env.KUBECONFIG;
        const first = env?.split(":").find((p) => p !== "");
        if (first) kc.loadFromFile(first);
        else kc.loadFromDefault();
    }
    if (source.context) kc.setCurrentContext(source.context);
    return kc;
}

/**
 * The cluster source of a stack: plain `kubernetes:*` values are read from the stack file; a
 * secret kubeconfig is decrypted by `decrypt` (the Pulumi CLI, output read from stdout).
 */
export async function clusterSourceOf(
    config: StackConfigFile,
    kubeconfigEnv: string | undefined,
    decrypt: (key: string) => Promise<string>,
): Promise<ClusterSource> {
    const value = (key: string) => config.value(key);
    const kubeconfig = value("kubernetes:kubeconfig");
    const context = value("kubernetes:context");
    return {
        kubeconfig:
            kubeconfig === undefined
                ? undefined
                : typeof kubeconfig === "string"
                  ? kubeconfig
                  : await decrypt("kubernetes:kubeconfig"),
        context: typeof context === "string" ? context : undefined,
        kubeconfigEnv,
    };
}

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ReadinessUnknownError(`${what}: no answer within ${ms / 1000}s`)), ms);
    });
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** Why a request failed, without addresses or URLs: the message may reach HTTP callers. */
export function reasonOf(error: unknown): string {
    if (error instanceof k8s.ApiException) return `HTTP ${error.code}`;
    const code =
        (error as { code?: unknown; cause?: { code?: unknown } }).code ??
        (error as { cause?: { code?: unknown } }).cause?.code;
    if (typeof code === "string") return code;
    const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
    return message
        .replace(/[a-z][a-z0-9+.-]*:\/\/\S+/gi, "<url>")
        .replace(/\[?[0-9a-f:.]{3,}\]?:\d+/gi, "<address>")
        .slice(0, 200);
}

/**
 * One read of a live object: undefined if it does not exist (404), ReadinessUnknownError naming
 * `what` and the reason for anything else (unreachable, forbidden, no answer in time).
 */
async function readLive<T>(request: Promise<unknown>, timeoutMs: number, what: string): Promise<T | undefined> {
    try {
        return (await withTimeout(request, timeoutMs, what)) as T;
    } catch (error) {
        if (error instanceof k8s.ApiException && error.code === 404) return undefined;
        if (error instanceof ReadinessUnknownError) throw error;
        throw new ReadinessUnknownError(`${what} (${reasonOf(error)})`);
    }
}

/** A probe reading InferenceServices (`Ready`) and Deployments (`Available`) from a cluster. */
export function clusterReadiness(kc: k8s.KubeConfig, timeoutMs = 10_000): ReadinessProbe {
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const apps = kc.makeApiClient(k8s.AppsV1Api);
    return async (kind, namespace, name) => {
        const what = `readiness of ${kind} ${namespace}/${name} could not be read from the cluster`;
        const [isvc, canary] = kind === "CanaryPredictor" ? name.split("/") : [name, undefined];
        const request =
            kind === "Deployment"
                ? apps.readNamespacedDeployment({ namespace, name })
                : custom.getNamespacedCustomObject({
                      group: "serving.kserve.io",
                      version: "v1beta1",
                      namespace,
                      plural: "inferenceservices",
                      name: isvc,
                  });
        const live = await readLive<LiveObject>(request, timeoutMs, what);
        if (live === undefined) return false;
        if (canary !== undefined) return isCanaryReady(live, canary);
        return isReady(live, kind === "InferenceService" ? "Ready" : "Available");
    };
}

/** The parts of a live VirtualService that say where requests go. */
export interface LiveVirtualService {
    spec?: {
        http?: {
            match?: unknown[];
            route?: { weight?: number; headers?: { response?: { set?: Record<string, string> } } }[];
        }[];
    };
}

/**
 * Percent of unmatched requests per version, as the live VirtualService routes them: its
 * catch-all route (the last one, without a match), each destination named by the `app-version`
 * response header it sets. Undefined when there is no such route (e.g. KServe's own canary).
 */
export function liveWeights(vs: LiveVirtualService): Record<string, number> | undefined {
    const http = vs.spec?.http ?? [];
    const last = http[http.length - 1];
    if (!last || (last.match?.length ?? 0) > 0 || !last.route) return undefined;
    const weights: Record<string, number> = Object.create(null) as Record<string, number>;
    for (const destination of last.route) {
        const version = destination.headers?.response?.set?.["app-version"];
        if (version === undefined) return undefined;
        weights[version] = (weights[version] ?? 0) + (destination.weight ?? (last.route.length === 1 ? 100 : 0));
    }
    return weights;
}

/** The parts of a live HTTPRoute (Gateway API back-end) that say where requests go. */
export interface LiveHttpRoute {
    spec?: {
        rules?: {
            matches?: Record<string, unknown>[];
            backendRefs?: {
                weight?: number;
                filters?: { type?: string; responseHeaderModifier?: { set?: { name: string; value: string }[] } }[];
            }[];
        }[];
    };
}

/** Whether an HTTPRoute rule matches every request: no matches, or only the path prefix `/`. */
function matchesEverything(matches: Record<string, unknown>[] | undefined): boolean {
    if (matches === undefined || matches.length === 0) return true;
    return matches.some((m) => {
        const path = m.path as { type?: string; value?: string } | undefined;
        const others = Object.keys(m).filter((key) => key !== "path");
        return others.length === 0 && (path === undefined || (path.type === "PathPrefix" && path.value === "/"));
    });
}

/**
 * Percent of unmatched requests per version, as the live HTTPRoute routes them: its rule that
 * matches every request, each backendRef named by the `app-version` response header it sets
 * (Gateway API's default weight is 1). Undefined when there is no such rule.
 */
export function liveRouteWeights(route: LiveHttpRoute): Record<string, number> | undefined {
    const rule = (route.spec?.rules ?? []).find((r) => matchesEverything(r.matches));
    if (!rule?.backendRefs) return undefined;
    const weights: Record<string, number> = Object.create(null) as Record<string, number>;
    const total = rule.backendRefs.reduce((sum, b) => sum + (b.weight ?? 1), 0);
    for (const backend of rule.backendRefs) {
        const header = backend.filters
            ?.find((f) => f.type === "ResponseHeaderModifier")
            ?.responseHeaderModifier?.set?.find((h) => h.name.toLowerCase() === "app-version");
        if (header === undefined) return undefined;
        const weight = backend.weight ?? 1;
        weights[header.value] = (weights[header.value] ?? 0) + (total > 0 ? Math.round((weight * 100) / total) : 0);
    }
    return weights;
}

/** A namespaced custom object kind the status reads: its API group, version, plural and kind name. */
interface CustomKind {
    group: string;
    version: string;
    plural: string;
    kind: string;
}

/** Reads a namespaced custom object; undefined if it does not exist. Throws ReadinessUnknownError otherwise. */
function readCustomObject<T>(
    kc: k8s.KubeConfig,
    { group, version, plural, kind }: CustomKind,
    namespace: string,
    name: string,
    timeoutMs: number,
): Promise<T | undefined> {
    const request = kc
        .makeApiClient(k8s.CustomObjectsApi)
        .getNamespacedCustomObject({ group, version, namespace, plural, name });
    return readLive(request, timeoutMs, `${kind} ${namespace}/${name} could not be read from the cluster`);
}

/** Reads an HTTPRoute; undefined if it does not exist. Throws ReadinessUnknownError otherwise. */
export function readHttpRoute(
    kc: k8s.KubeConfig,
    namespace: string,
    name: string,
    timeoutMs = 10_000,
): Promise<LiveHttpRoute | undefined> {
    const kind = { group: "gateway.networking.k8s.io", version: "v1", plural: "httproutes", kind: "HTTPRoute" };
    return readCustomObject(kc, kind, namespace, name, timeoutMs);
}

/** Reads a VirtualService; undefined if it does not exist. Throws ReadinessUnknownError otherwise. */
export function readVirtualService(
    kc: k8s.KubeConfig,
    namespace: string,
    name: string,
    timeoutMs = 10_000,
): Promise<LiveVirtualService | undefined> {
    const kind = { group: "networking.istio.io", version: "v1", plural: "virtualservices", kind: "VirtualService" };
    return readCustomObject(kc, kind, namespace, name, timeoutMs);
}
