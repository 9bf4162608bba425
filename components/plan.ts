/**
 * The release planner: turns a validated release into the exact Kubernetes objects to create
 * and the traffic table they implement. Pure: no Pulumi imports, no I/O. The ModelRelease
 * component turns the plan into resources; tests assert on plans directly.
 */
import { BackendTarget, httpRouteRules, parentRefs } from "./gatewayApi";
import { HttpMatch, SplitGateway } from "./types";
import {
    BRANCH_HEADER,
    ResolvedRelease,
    ResolvedVersion,
    constrains,
    isStandardCanary,
    predictorServiceName,
} from "./validate";
import { toPercentages } from "./weights";

/** What an object is for; the component wires dependencies by role. */
export type ObjectRole =
    "credentials" | "workload" | "readiness-gate" | "service" | "entry" | "weight-config" | "routing";

/** A Kubernetes object to create, as a plain manifest. */
export interface PlannedObject {
    /** `<kind>/<name>`, unique within the release. */
    id: string;
    role: ObjectRole;
    /** The version this object belongs to, for per-version objects. */
    version?: string;
    /** Complete manifest: apiVersion, kind, metadata and body. */
    manifest: Manifest;
    /**
     * Deployments of the default shape carry their pod spec here instead of `manifest.spec`: the
     * component builds the Deployment spec from it with kubernetesx's PodBuilder.
     */
    podSpec?: PodSpec;
    /** Ids of objects that must be created or updated (and Ready) before this one. */
    dependsOn: string[];
}

export interface Manifest {
    apiVersion: string;
    kind: string;
    metadata: {
        name: string;
        namespace: string;
        labels: Record<string, string>;
        /** Never empty (an empty map would show as a diff forever: the API server drops it). */
        annotations?: Record<string, string>;
    };
    [body: string]: unknown;
}

export interface PodSpec {
    containers: {
        name: string;
        image: string;
        ports: { name: string; containerPort: number }[];
        args?: string[];
    }[];
}

/** A version's part in the routing. */
export const TrafficRole = {
    Primary: "primary",
    Candidate: "candidate",
} as const;
export type TrafficRole = (typeof TrafficRole)[keyof typeof TrafficRole];

/** kserve-canary: the Knative revision a traffic row stands for. */
export const KnativeRevision = {
    Latest: "latest",
    Previous: "previous",
} as const;
export type KnativeRevision = (typeof KnativeRevision)[keyof typeof KnativeRevision];

/** One row of the traffic table: who gets which share of the app's requests. */
export interface TrafficRow {
    version: string;
    role: TrafficRole;
    /** Configured relative weight (blue-green). */
    weight?: number;
    /** Integer share, 0..100, of requests that match no candidate rule. */
    percent: number;
    /** Requests that go to this candidate whatever the percentages (canary). */
    match?: HttpMatch[];
    /** Share of the primary's requests copied to this candidate (mirror). */
    mirrorPercent?: number;
    /** kserve-canary: which Knative revision of the InferenceService this row is. */
    revision?: KnativeRevision;
}

export interface ReleasePlan {
    key: string;
    name: string;
    namespace: string;
    environment: ResolvedRelease["environment"];
    strategy: ResolvedRelease["strategy"];
    /** The cluster host clients call. */
    host: string;
    hosts: string[];
    traffic: TrafficRow[];
    objects: PlannedObject[];
}

const MODE_NAMES = {
    current: { kserve: "Knative", "kserve-raw": "Standard", "kserve-modelmesh": "ModelMesh" },
    legacy: { kserve: "Serverless", "kserve-raw": "RawDeployment", "kserve-modelmesh": "ModelMesh" },
} as const;

const MANAGED_BY = { "app.kubernetes.io/managed-by": "model-release" };

/**
 * Every object is force-applied: stack config is the source of truth, so an out-of-band edit
 * (drift) is overwritten on the next update instead of failing it with a server-side apply
 * conflict, and so is an object left behind by an interrupted update under another field manager.
 */
const OWNED = { "pulumi.com/patchForce": "true" };

/** Pulumi Kubernetes provider annotations that gate on readiness. */
const WAIT_FOR = "pulumi.com/waitFor";
const TIMEOUT = "pulumi.com/timeoutSeconds";
const SKIP_AWAIT = "pulumi.com/skipAwait";

function clone<T>(value: T): T {
    return structuredClone(value);
}

/**
 * A map merged from the own entries of `maps`, later ones winning. Built with Object.fromEntries,
 * which defines every key as an own property: a key such as `__proto__` can never set the
 * prototype of a map the planner emits, and inherited properties are never copied.
 */
function dict<T>(...maps: (Readonly<Record<string, T>> | undefined)[]): Record<string, T> {
    return Object.fromEntries(maps.flatMap((m) => (m === undefined ? [] : Object.entries(m))));
}

/** A copy of a match whose maps are built by dict(). */
function matchCopy(m: HttpMatch): HttpMatch {
    const copy: HttpMatch = {};
    if (m.headers) copy.headers = dict(m.headers);
    if (m.withoutHeaders) copy.withoutHeaders = dict(m.withoutHeaders);
    if (m.queryParams) copy.queryParams = dict(m.queryParams);
    if (m.uri) copy.uri = { ...m.uri };
    if (m.method) copy.method = { ...m.method };
    if (m.sourceLabels) copy.sourceLabels = dict(m.sourceLabels);
    if (m.sourceNamespace !== undefined) copy.sourceNamespace = m.sourceNamespace;
    if (m.name !== undefined) copy.name = m.name;
    return copy;
}

function meta(
    release: ResolvedRelease,
    name: string,
    labels: Record<string, string>,
    annotations: Record<string, string>,
): Manifest["metadata"] {
    return {
        name,
        namespace: release.namespace,
        labels: dict(labels, MANAGED_BY),
        annotations: dict(annotations, OWNED),
    };
}

/** Computes the traffic table for a release. */
export function planTraffic(release: ResolvedRelease): TrafficRow[] {
    const [primary] = release.versions;
    switch (release.strategy) {
        case "kserve-canary": {
            if (isStandardCanary(release)) {
                // KServe v0.20 spec.canary: each canary has its percent, the stable one the rest. A
                // canary at 100% (a promotion's drain: the stable serves nothing) is the primary.
                const canaries = release.versions.slice(1).reduce((sum, v) => sum + (v.trafficPercent ?? 0), 0);
                const drainedInto = release.versions.find((v, i) => i > 0 && v.trafficPercent === 100);
                return release.versions.map((v, i) => {
                    const percent = i === 0 ? 100 - canaries : (v.trafficPercent ?? 0);
                    const primary = drainedInto ? v === drainedInto : i === 0;
                    return { version: v.name, role: primary ? "primary" : "candidate", percent };
                });
            }
            const latest = release.canaryTrafficPercent ?? 100;
            const rows: TrafficRow[] = [
                { version: primary.name, role: "candidate", percent: latest, revision: "latest" },
            ];
            if (latest < 100) {
                rows.push({ version: primary.name, role: "primary", percent: 100 - latest, revision: "previous" });
            }
            return rows;
        }
        case "blue-green": {
            const weights = release.versions.map((v) => v.weight ?? 1);
            const percents = toPercentages(weights);
            return release.versions.map((v, i) => ({
                version: v.name,
                role: i === 0 ? "primary" : "candidate",
                weight: weights[i],
                percent: percents[i],
            }));
        }
        case "canary":
            return release.versions.map((v, i) =>
                i === 0
                    ? { version: v.name, role: "primary", percent: 100 }
                    : { version: v.name, role: "candidate", percent: 0, match: v.match.map(matchCopy) },
            );
        case "mirror":
            return release.versions.map((v, i) =>
                i === 0
                    ? { version: v.name, role: "primary", percent: 100 }
                    : { version: v.name, role: "candidate", percent: 0, mirrorPercent: v.mirrorPercent ?? 100 },
            );
        case "none":
            return release.versions.map((v, i) => ({
                version: v.name,
                role: i === 0 ? "primary" : "candidate",
                percent: i === 0 ? 100 : 0,
            }));
    }
}

function isKServe(release: ResolvedRelease): boolean {
    return release.environment !== "deployment";
}

function inferenceService(release: ResolvedRelease, v: ResolvedVersion): PlannedObject {
    const env = release.environment as "kserve" | "kserve-raw" | "kserve-modelmesh";
    const annotations = dict(v.annotations, {
        "serving.kserve.io/deploymentMode": MODE_NAMES[release.deploymentModeNames][env],
        [WAIT_FOR]: "condition=Ready",
        [TIMEOUT]: String(release.timeoutSeconds),
    });
    if (release.strategy === "kserve-canary" && release.tagRouting) {
        annotations["serving.kserve.io/enable-tag-routing"] = "true";
    }
    const spec = inferenceServiceSpecOf(release, v);
    if (release.strategy === "kserve-canary" && release.canaryTrafficPercent !== undefined) {
        const predictor = spec.predictor as Record<string, unknown>;
        spec.predictor = { canaryTrafficPercent: release.canaryTrafficPercent, ...predictor };
    }
    return {
        id: `InferenceService/${v.name}`,
        dependsOn: [],
        role: "workload",
        version: v.name,
        manifest: {
            apiVersion: "serving.kserve.io/v1beta1",
            kind: "InferenceService",
            metadata: meta(release, v.name, v.labels, annotations),
            spec,
        },
    };
}

/** A version's InferenceService spec: its full spec as given, or a predictor built from its model. */
function inferenceServiceSpecOf(release: ResolvedRelease, v: ResolvedVersion): Record<string, unknown> {
    if (v.inferenceServiceSpec) {
        return clone(v.inferenceServiceSpec);
    }
    const model: Record<string, unknown> = { modelFormat: clone(v.modelFormat) };
    if (v.runtime) model.runtime = v.runtime;
    if (v.protocolVersion) model.protocolVersion = v.protocolVersion;
    model.storageUri = v.storageUri;
    if (v.image) model.image = v.image;
    if (v.args) model.args = [...v.args];
    const predictor: Record<string, unknown> = { model };
    if (release.storageCredentials) {
        predictor.serviceAccountName = credentialsName(release);
    }
    return { predictor };
}

/** KServe's name for the model server container (constants.InferenceServiceContainerName). */
const KSERVE_CONTAINER = "kserve-container";

/**
 * A predictor built from a version's model, its container named: the v0.20 CRD requires
 * `model.name` on canary predictors, and the stable one carries the same name, so that a promoted
 * canary's merged spec equals the stable spec it becomes (no restart). A full spec is used as given
 * (validation requires the name there).
 */
function namedContainer(v: ResolvedVersion, predictor: unknown): Record<string, unknown> {
    const copy = { ...(predictor as Record<string, unknown>) };
    if (!v.inferenceServiceSpec) copy.model = { name: KSERVE_CONTAINER, ...(copy.model as Record<string, unknown>) };
    return copy;
}

/** A version's labels and annotations, for its predictor (none when empty: the API server drops an empty map). */
function versionMeta(v: ResolvedVersion): { labels?: Record<string, string>; annotations?: Record<string, string> } {
    const out: { labels?: Record<string, string>; annotations?: Record<string, string> } = {};
    if (Object.keys(v.labels).length > 0) out.labels = dict(v.labels);
    if (Object.keys(v.annotations).length > 0) out.annotations = dict(v.annotations);
    return out;
}

/**
 * kserve-canary in Standard mode: the app's one InferenceService (KServe v0.20). The first version
 * is the stable predictor, named so that a promotion (the canary becomes the first version) only
 * renames it to the canary's name: KServe then keeps the canary's Deployment as the stable one,
 * without a restart, and deletes the old one. Each later version is a `spec.canary` entry.
 * The InferenceService itself is not awaited: in Standard mode KServe copies the stable
 * Deployment's observedGeneration into its status (kserve#6081), so after a change that leaves that
 * Deployment alone (a canary added, a percent moved) the provider's waitFor would never see its
 * generation observed. Readiness is gated per predictor instead (standardReadinessGate).
 */
function standardCanaryInferenceService(release: ResolvedRelease, traffic: TrafficRow[]): PlannedObject {
    const [stable, ...canaries] = release.versions;
    // The object's own labels and annotations are the app's, and constant: KServe copies them onto
    // every predictor's pods, so a version's (or a gate that changed with the traffic) would
    // restart the others. Each version's go on its own predictor (PredictorSpec labels/annotations).
    const annotations = dict(release.annotations, {
        "serving.kserve.io/deploymentMode": MODE_NAMES.current["kserve-raw"],
        [SKIP_AWAIT]: "true",
    });
    const spec = inferenceServiceSpecOf(release, stable);
    spec.predictor = { name: stable.name, ...versionMeta(stable), ...namedContainer(stable, spec.predictor) };
    if (canaries.length > 0) {
        spec.canary = canaries.map((c) => ({
            predictor: {
                name: c.name,
                ...versionMeta(c),
                ...namedContainer(c, inferenceServiceSpecOf(release, c).predictor),
            },
            trafficPercent: traffic[c.index].percent,
        }));
    }
    return {
        id: `InferenceService/${release.name}`,
        dependsOn: [],
        role: "workload",
        manifest: {
            apiVersion: "serving.kserve.io/v1beta1",
            kind: "InferenceService",
            metadata: meta(release, release.name, release.labels, annotations),
            spec,
        },
    };
}

/**
 * The readiness gate of a Standard-mode predictor that gets traffic: a PodDisruptionBudget over
 * its pods (KServe labels them `app: isvc.<predictor>`) that allows no disruption budget of its
 * own (minAvailable 0) and is awaited until DisruptionAllowed, which the disruption controller
 * sets once at least one of those pods is Ready, with the PDB's own observedGeneration. It exists
 * only while the predictor gets traffic, so it is created, and awaited, each time the predictor
 * starts to get some; the routing waits for it. A 0% canary may have no replicas (autoscalerClass
 * none) and has none.
 */
function standardReadinessGate(release: ResolvedRelease, v: ResolvedVersion): PlannedObject {
    const predictor = predictorServiceName(release.name, release.strategy, v);
    return {
        id: `PodDisruptionBudget/${predictor}-ready`,
        dependsOn: [],
        role: "readiness-gate",
        version: v.name,
        manifest: {
            apiVersion: "policy/v1",
            kind: "PodDisruptionBudget",
            metadata: meta(release, `${predictor}-ready`, release.labels, {
                [WAIT_FOR]: "condition=DisruptionAllowed",
                [TIMEOUT]: String(release.timeoutSeconds),
            }),
            spec: { minAvailable: 0, selector: { matchLabels: { app: `isvc.${predictor}` } } },
        },
    };
}

/** Pod label that ties a version's Deployment, pods and Service together (Iter8's shape). */
function podSelector(v: ResolvedVersion): Record<string, string> {
    const selector = (v.deploymentSpec?.selector as { matchLabels?: Record<string, string> } | undefined)?.matchLabels;
    return selector ? dict(selector) : { app: v.name };
}

function servicePort(v: ResolvedVersion): number {
    const ports = v.serviceSpec?.ports as { port: number }[] | undefined;
    return ports ? ports[0].port : v.port;
}

function deploymentObjects(release: ResolvedRelease, v: ResolvedVersion): PlannedObject[] {
    const annotations = dict(v.annotations, { [TIMEOUT]: String(release.timeoutSeconds) });
    if (release.deploymentReadiness === "available") {
        annotations[WAIT_FOR] = "condition=Available";
    }
    const deployment: PlannedObject = {
        id: `Deployment/${v.name}`,
        dependsOn: [],
        role: "workload",
        version: v.name,
        manifest: {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: meta(release, v.name, v.labels, annotations),
        },
    };
    if (v.deploymentSpec) {
        deployment.manifest.spec = clone(v.deploymentSpec);
    } else {
        const container: PodSpec["containers"][number] = {
            name: v.name,
            image: v.image as string,
            ports: [{ name: "http", containerPort: v.port }],
        };
        if (v.args) container.args = [...v.args];
        deployment.podSpec = { containers: [container] };
    }
    const service: PlannedObject = {
        id: `Service/${v.name}`,
        dependsOn: [],
        role: "service",
        version: v.name,
        manifest: {
            apiVersion: "v1",
            kind: "Service",
            metadata: meta(release, v.name, v.labels, v.annotations),
            spec: v.serviceSpec
                ? clone(v.serviceSpec)
                : { selector: podSelector(v), ports: [{ name: "http", port: v.port, targetPort: v.port }] },
        },
    };
    return [deployment, service];
}

function credentialsName(release: ResolvedRelease): string {
    return `${release.name}-storage`;
}

function credentialObjects(release: ResolvedRelease): PlannedObject[] {
    if (!release.storageCredentials) {
        return [];
    }
    const name = credentialsName(release);
    return [
        {
            id: `Secret/${name}`,
            dependsOn: [],
            role: "credentials",
            manifest: {
                apiVersion: "v1",
                kind: "Secret",
                metadata: meta(
                    release,
                    name,
                    release.labels,
                    dict(release.annotations, release.storageCredentials.annotations),
                ),
                type: "Opaque",
            },
        },
        {
            id: `ServiceAccount/${name}`,
            dependsOn: [],
            role: "credentials",
            manifest: {
                apiVersion: "v1",
                kind: "ServiceAccount",
                metadata: meta(release, name, release.labels, release.annotations),
                secrets: [{ name }],
            },
        },
    ];
}

/**
 * Annotations of a weight ConfigMap that record its version's traffic. They are annotations, not
 * data: the Kubernetes provider replaces a ConfigMap whose data changes (unless the provider is
 * configured with enableConfigMapMutable), and a weight change must be an in-place update.
 */
export const WEIGHT_ANNOTATIONS = {
    strategy: "model-release.dev/strategy",
    role: "model-release.dev/role",
    weight: "model-release.dev/weight",
    percent: "model-release.dev/percent",
    mirrorPercent: "model-release.dev/mirror-percent",
} as const;

function weightConfig(release: ResolvedRelease, v: ResolvedVersion, row: TrafficRow): PlannedObject {
    const traffic: Record<string, string> = {
        [WEIGHT_ANNOTATIONS.strategy]: release.strategy,
        [WEIGHT_ANNOTATIONS.role]: row.role,
        [WEIGHT_ANNOTATIONS.percent]: String(row.percent),
    };
    if (row.weight !== undefined) traffic[WEIGHT_ANNOTATIONS.weight] = String(row.weight);
    if (row.mirrorPercent !== undefined) traffic[WEIGHT_ANNOTATIONS.mirrorPercent] = String(row.mirrorPercent);
    const data = { version: v.name };
    // Standard-mode canary versions are named within the app (v1, v2): the app prefixes them.
    const name = `${isStandardCanary(release) ? `${release.name}-` : ""}${v.name}-weight-config`;
    return {
        id: `ConfigMap/${name}`,
        dependsOn: [],
        role: "weight-config",
        version: v.name,
        manifest: {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: meta(
                release,
                name,
                dict(v.labels, { "app.kubernetes.io/component": "weight-config" }),
                dict(v.annotations, traffic),
            ),
            data,
        },
    };
}

function appHosts(release: ResolvedRelease): string[] {
    const base = `${release.name}.${release.namespace}`;
    return [base, `${base}.svc`, `${base}.svc.cluster.local`];
}

/** The port of the app's Service on the Gateway API back-end: clients call `<app>.<ns>:80`. */
const APP_PORT = 80;

function entryObject(release: ResolvedRelease): PlannedObject {
    const labels = dict(release.labels, { "app.kubernetes.io/component": "routing" });
    if (release.backend === "gateway-api") {
        // GAMMA attaches routes to a Service with a cluster IP (the sidecar captures its address),
        // not to an ExternalName. No selector: requests reach versions only through the HTTPRoute.
        return {
            id: `Service/${release.name}`,
            dependsOn: [],
            role: "entry",
            manifest: {
                apiVersion: "v1",
                kind: "Service",
                metadata: meta(release, release.name, labels, release.annotations),
                spec: {
                    type: "ClusterIP",
                    ports: [{ name: "http", port: APP_PORT, protocol: "TCP" }],
                    sessionAffinity: "None",
                },
            },
        };
    }
    if (release.environment === "kserve-modelmesh") {
        return {
            id: `ServiceEntry/${release.name}`,
            dependsOn: [],
            role: "entry",
            manifest: {
                apiVersion: "networking.istio.io/v1",
                kind: "ServiceEntry",
                metadata: meta(release, release.name, labels, release.annotations),
                spec: {
                    hosts: appHosts(release),
                    location: "MESH_INTERNAL",
                    ports: [{ number: release.modelMesh.port, name: "grpc", protocol: "GRPC" }],
                    resolution: "STATIC",
                    workloadSelector: { labels: { "modelmesh-service": release.modelMesh.service } },
                },
            },
        };
    }
    return {
        id: `Service/${release.name}`,
        dependsOn: [],
        role: "entry",
        manifest: {
            apiVersion: "v1",
            kind: "Service",
            metadata: meta(release, release.name, labels, release.annotations),
            spec: {
                type: "ExternalName",
                externalName: release.entryTarget,
                // A declared port makes Istio register the host with an HTTP listener.
                ports: [{ name: "http", port: 80, protocol: "TCP" }],
                sessionAffinity: "None",
            },
        },
    };
}

type Route = Record<string, unknown>;

function predictorHost(release: ResolvedRelease, v: ResolvedVersion): string {
    return `${predictorServiceName(release.name, release.strategy, v)}.${release.namespace}.svc.cluster.local`;
}

/** The split gateway; validation sets it wherever the plan needs it (Knative, or a configured one). */
function splitGatewayOf(release: ResolvedRelease): SplitGateway {
    if (!release.splitGateway) {
        throw new Error(`release ${release.key}: a weighted KServe split needs routing.splitGateway`);
    }
    return release.splitGateway;
}

/** Where a version's requests go on their last hop, with the headers that select it. */
function destinationOf(release: ResolvedRelease, v: ResolvedVersion): Route {
    const response = { set: { "app-version": v.name } };
    switch (release.environment) {
        case "kserve":
            return {
                destination: { host: splitGatewayOf(release).service, port: { number: 80 } },
                headers: { request: { set: { Host: predictorHost(release, v) }, remove: [BRANCH_HEADER] }, response },
            };
        case "kserve-raw":
            return {
                destination: { host: predictorHost(release, v), port: { number: 80 } },
                headers: { request: { remove: [BRANCH_HEADER] }, response },
            };
        case "kserve-modelmesh":
            return {
                destination: {
                    host: `${release.modelMesh.service}.${release.modelMesh.namespace}.svc.cluster.local`,
                    port: { number: release.modelMesh.port },
                },
                headers: { request: { set: { "mm-vmodel-id": v.name } }, response },
            };
        case "deployment":
            return {
                destination: {
                    host: `${v.name}.${release.namespace}.svc.cluster.local`,
                    port: { number: servicePort(v) },
                },
                headers: { response },
            };
    }
}

/**
 * Routes that deliver requests to one version. KServe serves a model under its InferenceService
 * name, so requests for the app's model (`/v1/models/<app>...`, `/v2/models/<app>/...`) are
 * rewritten to the version's name; other paths (health, metadata) pass unchanged. Iter8 instead
 * rewrote every path to `/v2/.../infer`, which broke the v1 protocol (iter8 #1654).
 */
function terminalRoutes(release: ResolvedRelease, v: ResolvedVersion, matches: HttpMatch[]): Route[] {
    const destination = { ...destinationOf(release, v), weight: 100 };
    // A Standard-mode canary serves the model under the app's own name (one InferenceService).
    const rewritten =
        release.environment === "kserve" || (release.environment === "kserve-raw" && !isStandardCanary(release));
    if (rewritten) {
        const modelPath = `^/(v1|v2)/models/${release.name}([:/].*)?$`;
        const pathMatches =
            matches.length > 0
                ? matches.map((m) => ({ ...matchCopy(m), uri: { regex: modelPath } }))
                : [{ uri: { regex: modelPath } }];
        const routes: Route[] = [
            {
                name: `${v.name}-model`,
                match: pathMatches,
                rewrite: { uriRegexRewrite: { match: modelPath, rewrite: `/\\1/models/${v.name}\\2` } },
                route: [clone(destination)],
            },
        ];
        const other: Route = { name: v.name, route: [clone(destination)] };
        if (matches.length > 0) {
            other.match = matches.map(matchCopy);
        }
        routes.push(other);
        return routes;
    }
    const route: Route = { name: v.name, route: [destination] };
    if (matches.length > 0) {
        route.match = matches.map(matchCopy);
    }
    return [route];
}

/**
 * A candidate's canary rules. They come before the primary's route, so a rule that selects every
 * request would hand the candidate all traffic: refused here too, whoever built the release.
 */
function canaryMatches(release: ResolvedRelease, c: ResolvedVersion): HttpMatch[] {
    if (c.match.length === 0 || !c.match.every(constrains)) {
        throw new Error(
            `release ${release.key}: canary candidate ${c.name} has a match that constrains nothing (${JSON.stringify(c.match)}); it would receive every request`,
        );
    }
    return c.match;
}

function httpRoutes(release: ResolvedRelease, traffic: TrafficRow[]): { http: Route[]; twoHop: boolean } {
    const [primary, ...candidates] = release.versions;
    switch (release.strategy) {
        case "none":
            return { http: terminalRoutes(release, primary, []), twoHop: false };
        case "canary":
            return {
                http: [
                    ...candidates.flatMap((c) => terminalRoutes(release, c, canaryMatches(release, c))),
                    ...terminalRoutes(release, primary, []),
                ],
                twoHop: false,
            };
        case "mirror": {
            const [candidate] = candidates;
            const mirrorPercent = traffic[1].mirrorPercent ?? 100;
            const route: Route = {
                name: release.name,
                route: [{ ...destinationOf(release, primary), weight: 100 }],
                mirror: destinationOf(release, candidate).destination,
                mirrorPercentage: { value: mirrorPercent },
            };
            return { http: [route], twoHop: false };
        }
        case "blue-green": {
            const served = release.versions.filter((_, i) => traffic[i].percent > 0);
            if (served.length === 1) {
                return { http: terminalRoutes(release, served[0], []), twoHop: false };
            }
            if (release.environment === "deployment" || release.environment === "kserve-modelmesh") {
                const route: Route = {
                    name: release.name,
                    route: served.map((v) => ({ ...destinationOf(release, v), weight: traffic[v.index].percent })),
                };
                return { http: [route], twoHop: false };
            }
            // KServe: the path rewrite is per route, not per destination, so the weighted choice
            // happens first (tagging the request with the chosen version) and the request then
            // passes the split gateway a second time to be rewritten for that version.
            const branches = served.flatMap((v) =>
                terminalRoutes(release, v, [{ headers: { [BRANCH_HEADER]: { exact: v.name } } }]),
            );
            const split: Route = {
                name: "split",
                route: served.map((v) => ({
                    destination: { host: splitGatewayOf(release).service, port: { number: 80 } },
                    weight: traffic[v.index].percent,
                    headers: {
                        request: { set: { [BRANCH_HEADER]: v.name, Host: `${release.name}.${release.namespace}` } },
                        response: { set: { "app-version": v.name } },
                    },
                })),
            };
            return { http: [...branches, split], twoHop: true };
        }
        case "kserve-canary": {
            if (!isStandardCanary(release)) return { http: [], twoHop: false };
            // One hop: every predictor serves the model under the app's name, nothing to rewrite.
            const served = release.versions.filter((_, i) => traffic[i].percent > 0);
            if (served.length === 1) {
                return { http: terminalRoutes(release, served[0], []), twoHop: false };
            }
            const route: Route = {
                name: release.name,
                route: served.map((v) => ({ ...destinationOf(release, v), weight: traffic[v.index].percent })),
            };
            return { http: [route], twoHop: false };
        }
    }
}

function virtualService(release: ResolvedRelease, traffic: TrafficRow[]): PlannedObject {
    const { http, twoHop } = httpRoutes(release, traffic);
    const gateways = ["mesh", ...release.gateways];
    // The split gateway needs this VirtualService bound whenever traffic reaches it: for the second
    // hop of a split, and whenever the entry Service points at it (one served version too, or the
    // gateway would answer 404 for the app's host).
    const entersThroughSplit =
        release.splitGateway !== undefined && release.entryTarget === release.splitGateway.service;
    if ((twoHop || entersThroughSplit) && !gateways.includes(splitGatewayOf(release).gateway)) {
        gateways.push(splitGatewayOf(release).gateway);
    }
    return {
        id: `VirtualService/${release.name}`,
        dependsOn: [],
        role: "routing",
        manifest: {
            apiVersion: "networking.istio.io/v1",
            kind: "VirtualService",
            metadata: meta(
                release,
                release.name,
                dict(release.labels, { "app.kubernetes.io/component": "routing" }),
                release.annotations,
            ),
            spec: { hosts: appHosts(release), gateways, http },
        },
    };
}

/** Where a version's requests go on the Gateway API back-end. */
function backendTargetOf(release: ResolvedRelease, v: ResolvedVersion): BackendTarget {
    return release.environment === "deployment"
        ? { name: v.name, port: servicePort(v) }
        : { name: predictorServiceName(release.name, release.strategy, v), port: 80 };
}

function httpRoute(release: ResolvedRelease, traffic: TrafficRow[]): PlannedObject {
    if (release.strategy === "canary") release.versions.slice(1).forEach((c) => canaryMatches(release, c));
    return {
        id: `HTTPRoute/${release.name}`,
        dependsOn: [],
        role: "routing",
        manifest: {
            apiVersion: "gateway.networking.k8s.io/v1",
            kind: "HTTPRoute",
            metadata: meta(
                release,
                release.name,
                dict(release.labels, { "app.kubernetes.io/component": "routing" }),
                release.annotations,
            ),
            spec: {
                parentRefs: parentRefs(release, APP_PORT),
                hostnames: appHosts(release),
                rules: httpRouteRules(
                    release,
                    traffic.map((row) => row.percent),
                    (v) => backendTargetOf(release, v),
                ),
            },
        },
    };
}

/**
 * Which roles an object waits for. Routing waits for every version, so traffic only moves once
 * the versions it goes to are Ready, and on removal the routing is updated before the removed
 * version is deleted (Pulumi deletes dependents first). Weight ConfigMaps record the applied
 * routing, so they wait for it: a refused or failed routing change leaves them as they were.
 */
const WAITS_FOR: Record<ObjectRole, ObjectRole[]> = {
    credentials: [],
    workload: ["credentials"],
    "readiness-gate": ["workload"],
    service: [],
    entry: [],
    routing: ["workload", "readiness-gate", "service", "entry"],
    "weight-config": ["routing"],
};

/** Plans every object of a validated release. */
export function planRelease(release: ResolvedRelease): ReleasePlan {
    const traffic = planTraffic(release);
    const objects: PlannedObject[] = [...credentialObjects(release)];
    const standardCanary = isStandardCanary(release);
    if (standardCanary) {
        objects.push(standardCanaryInferenceService(release, traffic));
        for (const v of release.versions) {
            if (traffic[v.index].percent > 0) objects.push(standardReadinessGate(release, v));
        }
    } else {
        for (const v of release.versions) {
            objects.push(...(isKServe(release) ? [inferenceService(release, v)] : deploymentObjects(release, v)));
        }
    }
    // Knative's canary is routed by KServe (Knative revisions); every other strategy by the release.
    const nativeCanary = release.strategy === "kserve-canary" && !standardCanary;
    if (!nativeCanary) {
        objects.push(entryObject(release));
        objects.push(
            release.backend === "gateway-api" ? httpRoute(release, traffic) : virtualService(release, traffic),
        );
        if (release.strategy === "blue-green" || release.strategy === "mirror" || standardCanary) {
            release.versions.forEach((v, i) => objects.push(weightConfig(release, v, traffic[i])));
        }
    }
    for (const object of objects) {
        object.dependsOn = objects.filter((o) => WAITS_FOR[object.role].includes(o.role)).map((o) => o.id);
    }
    const hosts = nativeCanary ? [] : appHosts(release);
    // With the native canary KServe owns the routing; its cluster-local address is the host.
    const host = nativeCanary ? `${release.versions[0].name}.${release.namespace}.svc.cluster.local` : hosts[2];
    return {
        key: release.key,
        name: release.name,
        namespace: release.namespace,
        environment: release.environment,
        strategy: release.strategy,
        host,
        hosts,
        traffic,
        objects,
    };
}
