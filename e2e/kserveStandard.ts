/**
 * KServe v0.20.0 Standard-mode (raw) predictor semantics as pure functions, for the controller
 * stub (controllerStub.ts). Every name, label, port and rule below is taken from KServe v0.20.0:
 * - pkg/constants/constants.go: PredictorServiceName, GetRawServiceLabel, the label and annotation
 *   keys, CommonDefaultHttpPort (80), InferenceServiceDefaultHttpPort (8080),
 *   ServiceAnnotationDisallowedList, DefaultMinReplicas (1);
 * - pkg/controller/v1beta1/inferenceservice/components/predictor.go: buildObjectMeta,
 *   reconcileRawDeployment (the stable minReplicas less the canaries'), canaryReplicaCount,
 *   buildCanaryPredictor, reconcileCanaryDeployments (canary statuses, CanaryPredictorReady,
 *   orphan cleanup);
 * - reconcilers/deployment/deployment_reconciler.go (selector and pod labels `app: isvc.<name>`,
 *   spec.replicas set only for autoscaler class `none`), reconcilers/hpa/hpa_reconciler.go (the
 *   HPA's minReplicas is at least 1), reconcilers/service/service_reconciler.go (ClusterIP Service,
 *   selector `app: isvc.<name>`, port 80 -> 8080 named after the predictor when the container
 *   declares no ports), reconcilers/ingress/kube_ingress_reconciler.go (IngressReady, url, address);
 * - pkg/apis/serving/v1beta1/inference_service_status.go: CanaryStatus, CanaryPredictorReady, and
 *   Ready depending on PredictorReady and IngressReady only.
 */

/** constants.DeploymentMode. */
export const DEPLOYMENT_MODE_ANNOTATION = "serving.kserve.io/deploymentMode";
/** constants.AutoscalerClass. */
export const AUTOSCALER_CLASS_ANNOTATION = "serving.kserve.io/autoscalerClass";
/** constants.InferenceServicePodLabelKey. */
export const ISVC_LABEL = "serving.kserve.io/inferenceservice";
/** constants.KServiceComponentLabel. */
export const COMPONENT_LABEL = "component";
/** v1beta1.PredictorComponent. */
export const PREDICTOR_COMPONENT = "predictor";
/** constants.RawDeploymentAppLabel. */
export const APP_LABEL = "app";
/** constants.StorageInitializerSourceUriInternalAnnotationKey. */
export const STORAGE_URI_ANNOTATION = "internal.serving.kserve.io/storage-initializer-sourceuri";
/** constants.InferenceServiceContainerName. */
export const CONTAINER_NAME = "kserve-container";
/** constants.InferenceServiceNameEnvVarKey. */
export const ISVC_NAME_ENV = "INFERENCE_SERVICE_NAME";
/** constants.CommonDefaultHttpPort. */
export const SERVICE_PORT = 80;
/** constants.InferenceServiceDefaultHttpPort. */
export const TARGET_PORT = 8080;
/** constants.ServiceAnnotationDisallowedList: never copied to the predictor's objects. */
const DISALLOWED_ANNOTATIONS = new Set([
    "autoscaling.knative.dev/min-scale",
    "autoscaling.knative.dev/max-scale",
    STORAGE_URI_ANNOTATION,
    "kubectl.kubernetes.io/last-applied-configuration",
    "modelFormat",
]);
/**
 * The stub's own pod-template annotation: the predictor spec the pod spec is derived from. KServe
 * builds the container from it (serving runtime, storage, resources); the stub runs no pods, so
 * this canonical JSON stands for that container: a spec change rolls the Deployment, and a
 * promotion whose stable spec equals the canary's merged one leaves it untouched, as in KServe.
 */
export const PREDICTOR_SPEC_ANNOTATION = "e2e.model-release.dev/predictor-spec";
/** The image of a predictor that names none (the ServingRuntime's is not emulated): kwok pulls nothing. */
export const PLACEHOLDER_IMAGE = "registry.invalid/kserve-stub/predictor:none";

export interface OwnerReference {
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
    name: string;
    namespace: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
}

export interface Condition {
    type: string;
    status: string;
    reason?: string;
    message?: string;
    lastTransitionTime?: string;
}

/** A predictor spec: only the fields the stub reads are typed, the rest is kept as is. */
export interface PredictorSpec {
    name?: string;
    minReplicas?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [field: string]: unknown;
}

export interface CanarySpec {
    predictor: PredictorSpec;
    trafficPercent: number;
}

export interface CanaryStatus {
    name: string;
    ready: boolean;
    trafficPercent: number;
}

export interface InferenceServiceStatus {
    observedGeneration?: number;
    url?: string;
    address?: { url?: string };
    deploymentMode?: string;
    conditions?: Condition[];
    canaryStatuses?: CanaryStatus[];
    [field: string]: unknown;
}

export interface InferenceService {
    metadata: ObjectMeta;
    spec?: { predictor?: PredictorSpec; canary?: CanarySpec[] };
    status?: InferenceServiceStatus;
}

export interface Deployment {
    metadata: ObjectMeta;
    spec?: { replicas?: number; [field: string]: unknown };
    status?: { observedGeneration?: number; availableReplicas?: number; conditions?: Condition[] };
}

export interface Manifest {
    apiVersion: string;
    kind: string;
    metadata: ObjectMeta;
    spec: Record<string, unknown>;
}

/** What KServe keeps for one predictor: its Deployment and its Service. */
export interface PredictorObjects {
    /** Both objects' name: constants.PredictorServiceName. */
    name: string;
    /** Set for a `spec.canary` entry: its predictor name and traffic percent. */
    canary?: { name: string; trafficPercent: number };
    deployment: Manifest;
    service: Manifest;
}

/** `Standard`, or its legacy name `RawDeployment` (constants.ParseDeploymentMode). */
export function isStandardMode(isvc: InferenceService): boolean {
    const mode = isvc.metadata.annotations?.[DEPLOYMENT_MODE_ANNOTATION];
    return mode === "Standard" || mode === "RawDeployment";
}

/** constants.PredictorServiceName: `{isvc}-{predictorName}-predictor`, or `{isvc}-predictor`. */
export function predictorServiceName(isvcName: string, predictorName?: string): string {
    return predictorName ? `${isvcName}-${predictorName}-predictor` : `${isvcName}-predictor`;
}

/** constants.GetRawServiceLabel: the `app` label of a predictor's pods, selector and Service. */
export function rawServiceLabel(objectName: string): string {
    return `isvc.${objectName}`;
}

/**
 * predictor.go canaryReplicaCount: the canary's own minReplicas if set, else its share of the
 * stable predictor's minReplicas (default 1), rounded up: 0 at 0%.
 */
export function canaryReplicaCount(stableMinReplicas: number | undefined, canary: CanarySpec): number {
    if (canary.predictor.minReplicas !== undefined) return canary.predictor.minReplicas;
    return Math.ceil(((stableMinReplicas ?? 1) * canary.trafficPercent) / 100);
}

/**
 * The replicas the predictor's Deployment ends up with for a component minReplicas, by autoscaler
 * class (the stub plays the autoscaler): `none` sets spec.replicas to minReplicas (unset: the API
 * default 1; deployment_reconciler.go); `hpa`, the default, leaves spec.replicas unset and creates
 * an HPA whose minReplicas is at least DefaultMinReplicas (1; hpa_reconciler.go createHPA), so a
 * 0-replica canary still runs one pod; `keda` scales an idle predictor to its minReplicaCount
 * (minReplicas, default 1); `external` leaves spec.replicas unset (1) for an autoscaler the stub
 * does not play.
 */
export function deploymentReplicas(minReplicas: number | undefined, autoscalerClass: string | undefined): number {
    switch (autoscalerClass) {
        case "none":
        case "keda":
            return minReplicas ?? 1;
        case "external":
            return 1;
        default:
            return Math.max(minReplicas ?? 1, 1);
    }
}

function isObject(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** mergo's notion of an empty value: it never overrides. */
function isEmpty(value: unknown): boolean {
    if (value === undefined || value === null || value === "" || value === 0 || value === false) return true;
    if (Array.isArray(value)) return value.length === 0;
    return false;
}

/**
 * mergo.Merge(&dst, src, mergo.WithOverride) on JSON, as buildCanaryPredictor merges the canary's
 * predictor over a copy of the stable one: objects merge field by field (and map key by key); a
 * non-empty array or scalar of the source replaces the destination's; empty values (0, "", false,
 * empty arrays, absent) never override.
 */
export function mergeOverride(dst: unknown, src: unknown): unknown {
    if (isObject(dst) && isObject(src)) {
        const out: Record<string, unknown> = { ...dst };
        for (const [key, value] of Object.entries(src)) {
            if (isObject(value) && isObject(out[key])) {
                out[key] = mergeOverride(out[key], value);
            } else if (!isEmpty(value) || !(key in out)) {
                if (value !== undefined) out[key] = structuredClone(value);
            }
        }
        return out;
    }
    return isEmpty(src) ? structuredClone(dst) : structuredClone(src);
}

/**
 * buildCanaryPredictor: the stable predictor with the canary's merged over it, autoscaling fields
 * cleared and minReplicas set to the canary's replica count.
 */
export function canaryPredictor(stable: PredictorSpec, canary: CanarySpec, replicas: number): PredictorSpec {
    const merged = mergeOverride(stable, canary.predictor) as PredictorSpec;
    delete merged.maxReplicas;
    delete merged.scaleTarget;
    delete merged.scaleMetric;
    delete merged.autoScaling;
    merged.minReplicas = replicas;
    return merged;
}

/** JSON with object keys sorted, so that equal specs give equal text whatever their key order. */
export function canonicalJson(value: unknown): string {
    if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
    if (isObject(value)) {
        const keys = Object.keys(value)
            .filter((k) => value[k] !== undefined)
            .sort();
        return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(",")}}`;
    }
    return JSON.stringify(value);
}

/** Fields of a predictor spec that shape the Deployment's metadata or replicas, not its pods. */
const NOT_POD_SPEC = new Set([
    "name",
    "labels",
    "annotations",
    "minReplicas",
    "maxReplicas",
    "scaleTarget",
    "scaleMetric",
    "autoScaling",
    "deploymentStrategy",
    "canaryTrafficPercent",
]);

/** GetImplementation().GetStorageUri(): the storageUri of the model (or framework) spec. */
function storageUriOf(predictor: PredictorSpec): string | undefined {
    for (const value of Object.values(predictor)) {
        if (isObject(value) && typeof value.storageUri === "string") return value.storageUri;
    }
    return undefined;
}

/**
 * A model (or framework) spec is a container merged into the serving runtime's `kserve-container`
 * (MergeServingRuntimeAndInferenceServiceSpecs): no name and that name give the same pod. The
 * CRD requires the name on a canary's model (its `required` list is not stripped there as it is
 * for spec.predictor), so a promotion compares a named canary model with an unnamed stable one.
 */
function withoutDefaultContainerName(value: unknown): unknown {
    if (!isObject(value) || !("storageUri" in value || "modelFormat" in value)) return value;
    if (value.name !== undefined && value.name !== "" && value.name !== CONTAINER_NAME) return value;
    const rest = { ...value };
    delete rest.name;
    return rest;
}

function withoutDisallowed(annotations: Record<string, string>): Record<string, string> {
    return Object.fromEntries(Object.entries(annotations).filter(([key]) => !DISALLOWED_ANNOTATIONS.has(key)));
}

/**
 * The predictor's own image (`model.image`), as KServe's container would run it; otherwise the
 * ServingRuntime's, which is not emulated (a placeholder: kwok pulls nothing).
 */
function imageOf(predictor: PredictorSpec): string | undefined {
    const model = (predictor as Record<string, unknown>).model;
    return isObject(model) && typeof model.image === "string" ? model.image : undefined;
}

/** The Deployment and Service reconcileRawDeployment / reconcileCanaryDeployments keep for one predictor. */
function predictorObjects(
    isvc: InferenceService,
    predictor: PredictorSpec,
    minReplicas: number | undefined,
    canary?: CanarySpec,
): PredictorObjects {
    const { name: isvcName, namespace, uid } = isvc.metadata;
    const name = predictorServiceName(isvcName, predictor.name);
    const app = rawServiceLabel(name);
    // buildObjectMeta: predictor > isvc, then the two KServe labels; createRawDefaultDeployment
    // adds `app` to the same map, which the Service's metadata shares.
    const labels = {
        ...isvc.metadata.labels,
        ...predictor.labels,
        [ISVC_LABEL]: isvcName,
        [COMPONENT_LABEL]: PREDICTOR_COMPONENT,
        [APP_LABEL]: app,
    };
    const annotations = withoutDisallowed({ ...isvc.metadata.annotations, ...predictor.annotations });
    const storageUri = storageUriOf(predictor);
    if (storageUri !== undefined) annotations[STORAGE_URI_ANNOTATION] = storageUri;
    const podSpec = Object.fromEntries(
        Object.entries(predictor)
            .filter(([key]) => !NOT_POD_SPEC.has(key))
            .map(([key, value]) => [key, withoutDefaultContainerName(value)]),
    );
    const metadata: ObjectMeta = {
        name,
        namespace,
        labels,
        annotations,
        ownerReferences: [
            {
                apiVersion: "serving.kserve.io/v1beta1",
                kind: "InferenceService",
                name: isvcName,
                uid: uid ?? "",
                controller: true,
                blockOwnerDeletion: true,
            },
        ],
    };
    const deployment: Manifest = {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: structuredClone(metadata),
        spec: {
            replicas: deploymentReplicas(minReplicas, annotations[AUTOSCALER_CLASS_ANNOTATION]),
            selector: { matchLabels: { [APP_LABEL]: app } },
            template: {
                metadata: {
                    labels: { ...labels },
                    annotations: { ...annotations, [PREDICTOR_SPEC_ANNOTATION]: canonicalJson(podSpec) },
                },
                spec: {
                    containers: [
                        {
                            name: CONTAINER_NAME,
                            image: imageOf(predictor) ?? PLACEHOLDER_IMAGE,
                            env: [{ name: ISVC_NAME_ENV, value: isvcName }],
                        },
                    ],
                },
            },
        },
    };
    const service: Manifest = {
        apiVersion: "v1",
        kind: "Service",
        metadata: structuredClone(metadata),
        spec: {
            type: "ClusterIP",
            selector: { [APP_LABEL]: app },
            ports: [{ name, port: SERVICE_PORT, targetPort: TARGET_PORT, protocol: "TCP" }],
        },
    };
    return {
        name,
        canary: canary && { name: canary.predictor.name ?? "", trafficPercent: canary.trafficPercent },
        deployment,
        service,
    };
}

/**
 * The predictor objects KServe keeps for a Standard-mode InferenceService: the stable predictor's
 * first, then one per `spec.canary` entry, in order. With canaries, a stable minReplicas that is
 * set is lowered by the canaries' replicas, to at least 1 (reconcileRawDeployment).
 */
export function desiredPredictors(isvc: InferenceService): PredictorObjects[] {
    const stable = isvc.spec?.predictor ?? {};
    const canaries = isvc.spec?.canary ?? [];
    const canaryReplicas = canaries.map((c) => canaryReplicaCount(stable.minReplicas, c));
    let stableMin = stable.minReplicas;
    if (canaries.length > 0 && stableMin !== undefined) {
        stableMin = Math.max(stableMin - canaryReplicas.reduce((sum, r) => sum + r, 0), 1);
    }
    const objects = [predictorObjects(isvc, stable, stableMin)];
    canaries.forEach((canary, i) => {
        const predictor = canaryPredictor(stable, canary, canaryReplicas[i]);
        const next = predictorObjects(isvc, predictor, canaryReplicas[i], canary);
        // KServe's webhook refuses duplicate names; the stub keeps the first.
        if (!objects.some((o) => o.name === next.name)) objects.push(next);
    });
    return objects;
}

/**
 * reconcileCanaryDeployments' cleanup: the Deployments or Services in the InferenceService's
 * namespace labeled for it and the predictor component whose names are not expected (a renamed
 * stable predictor, a removed canary).
 */
export function orphans<T extends { metadata: ObjectMeta }>(
    isvc: InferenceService,
    objects: readonly T[],
    expected: ReadonlySet<string>,
): T[] {
    return objects.filter(
        (o) =>
            o.metadata.namespace === isvc.metadata.namespace &&
            o.metadata.labels?.[ISVC_LABEL] === isvc.metadata.name &&
            o.metadata.labels?.[COMPONENT_LABEL] === PREDICTOR_COMPONENT &&
            !expected.has(o.metadata.name),
    );
}

/** reconcileCanaryDeployments: a canary is ready when its Deployment has an available replica. */
export function canaryStatuses(isvc: InferenceService, deployments: ReadonlyMap<string, Deployment>): CanaryStatus[] {
    return (isvc.spec?.canary ?? []).map((c) => ({
        name: c.predictor.name ?? "",
        ready:
            (deployments.get(predictorServiceName(isvc.metadata.name, c.predictor.name))?.status?.availableReplicas ??
                0) > 0,
        trafficPercent: c.trafficPercent,
    }));
}

/**
 * The stable predictor is ready once its Deployment is Available for its current generation with
 * an available replica. Stricter than KServe, which copies the Deployment's Available condition
 * whatever its generation (it stays True during a rolling update): the stub's status always
 * describes the InferenceService's current spec.
 */
export function deploymentAvailable(d: Deployment | undefined): boolean {
    if (!d || d.status?.observedGeneration !== d.metadata.generation) return false;
    const available = d.status?.conditions?.some((c) => c.type === "Available" && c.status === "True");
    return Boolean(available) && (d.status?.availableReplicas ?? 0) > 0;
}

/**
 * The status KServe writes for a Standard-mode InferenceService, without transition times:
 * PredictorReady from the stable Deployment, IngressReady after it (kube_ingress_reconciler.go),
 * Ready from both; canaryStatuses and CanaryPredictorReady (AllCanariesReady / CanariesNotReady)
 * when there are canaries, both absent when there are none. `neverReady` keeps the stable
 * predictor unavailable. Conditions are sorted by type, as Knative's condition manager keeps them.
 */
export function standardStatus(
    isvc: InferenceService,
    deployments: ReadonlyMap<string, Deployment>,
    options: { neverReady?: boolean } = {},
): InferenceServiceStatus {
    const { name, namespace } = isvc.metadata;
    const stableName = predictorServiceName(name, isvc.spec?.predictor?.name);
    const stable = deployments.get(stableName);
    const ready = !options.neverReady && deploymentAvailable(stable);
    const availableReason = stable?.status?.conditions?.find((c) => c.type === "Available")?.reason;
    const conditions: Condition[] = [
        ready
            ? { type: "IngressReady", status: "True" }
            : { type: "IngressReady", status: "False", reason: "Predictor ingress not created" },
        ready
            ? { type: "PredictorReady", status: "True", ...(availableReason ? { reason: availableReason } : {}) }
            : { type: "PredictorReady", status: "False" },
        { type: "Ready", status: ready ? "True" : "False" },
    ];
    // KServe copies the stable Deployment's observedGeneration, not the InferenceService's own
    // (inference_service_status.go; kserve#6081): after a change that leaves that Deployment alone
    // it stays below metadata.generation.
    const status: InferenceServiceStatus = { deploymentMode: "Standard", conditions };
    if (stable?.status?.observedGeneration !== undefined) status.observedGeneration = stable.status.observedGeneration;
    if (ready) {
        status.url = `http://${name}-${namespace}.example.com`;
        status.address = { url: `http://${stableName}.${namespace}.svc.cluster.local` };
    }
    if ((isvc.spec?.canary ?? []).length > 0) {
        status.canaryStatuses = canaryStatuses(isvc, deployments);
        const all = status.canaryStatuses.every((c) => c.ready);
        conditions.push({
            type: "CanaryPredictorReady",
            status: all ? "True" : "False",
            reason: all ? "AllCanariesReady" : "CanariesNotReady",
        });
    }
    conditions.sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
    return status;
}

function sameCondition(a: Condition, b: Condition): boolean {
    return a.type === b.type && a.status === b.status && (a.reason ?? "") === (b.reason ?? "");
}

/**
 * The merge patch that turns `current` into `desired` (from standardStatus), or undefined when
 * nothing differs: the stub then writes nothing. A condition keeps its lastTransitionTime while its
 * status is unchanged; canaryStatuses absent from `desired` are removed (null).
 */
export function statusPatch(
    current: InferenceServiceStatus | undefined,
    desired: InferenceServiceStatus,
    now: string,
): Record<string, unknown> | undefined {
    const before = current?.conditions ?? [];
    const conditions = (desired.conditions ?? []).map((c) => {
        const old = before.find((b) => b.type === c.type);
        const since = old && old.status === c.status && old.lastTransitionTime ? old.lastTransitionTime : now;
        return { ...c, lastTransitionTime: since };
    });
    const sameConditions =
        before.length === conditions.length && conditions.every((c, i) => sameCondition(c, before[i]));
    const canaries = desired.canaryStatuses;
    const liveCanaries = current?.canaryStatuses ?? [];
    const sameCanaries =
        canaries === undefined
            ? current?.canaryStatuses === undefined
            : canaries.length === liveCanaries.length &&
              canaries.every(
                  (c, i) =>
                      c.name === liveCanaries[i].name &&
                      c.ready === liveCanaries[i].ready &&
                      c.trafficPercent === liveCanaries[i].trafficPercent,
              );
    const same =
        sameConditions &&
        sameCanaries &&
        current?.observedGeneration === desired.observedGeneration &&
        current?.deploymentMode === desired.deploymentMode &&
        (desired.url === undefined || current?.url === desired.url) &&
        (desired.address === undefined || current?.address?.url === desired.address.url);
    if (same) return undefined;
    const patch: Record<string, unknown> = { ...desired, conditions, canaryStatuses: canaries ?? null };
    return patch;
}

/** Maps compared whole: a label or annotation left over must count as a difference. */
const EXACT_MAPS = new Set(["labels", "annotations", "matchLabels", "selector"]);

function deepEqual(a: unknown, b: unknown): boolean {
    return canonicalJson(a) === canonicalJson(b);
}

/**
 * Whether a live object holds every field of `desired` (API-server defaults may add others),
 * arrays element by element with the same length, label and annotation maps exactly.
 */
export function covers(live: unknown, desired: unknown, key = ""): boolean {
    if (Array.isArray(desired)) {
        return Array.isArray(live) && live.length === desired.length && desired.every((d, i) => covers(live[i], d));
    }
    if (isObject(desired)) {
        if (EXACT_MAPS.has(key)) return deepEqual(live ?? {}, desired);
        return isObject(live) && Object.entries(desired).every(([k, v]) => covers(live[k], v, k));
    }
    return live === desired;
}

/**
 * deployment_reconciler.go checkDeploymentExist: the Deployment is updated when its spec differs
 * (replicas included: the stub plays the autoscaler too).
 */
export function deploymentDiffers(live: { spec?: unknown }, desired: Manifest): boolean {
    return !covers(live.spec, desired.spec);
}

/** service_reconciler.go semanticServiceEquals: only the ports and the selector count. */
export function serviceDiffers(live: { spec?: Record<string, unknown> }, desired: Manifest): boolean {
    return (
        !covers(live.spec?.ports, desired.spec.ports) || !deepEqual(live.spec?.selector ?? {}, desired.spec.selector)
    );
}
