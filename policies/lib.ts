/**
 * Helpers shared by the rules: reading Istio, KServe and Kubernetes objects from resource
 * properties. Independent of the component's planner on purpose: the rules check what reaches
 * the cluster, whoever wrote it.
 */

export const VIRTUAL_SERVICE_TYPES = [
    "kubernetes:networking.istio.io/v1:VirtualService",
    "kubernetes:networking.istio.io/v1beta1:VirtualService",
    "kubernetes:networking.istio.io/v1alpha3:VirtualService",
];
export const INFERENCE_SERVICE_TYPE = "kubernetes:serving.kserve.io/v1beta1:InferenceService";
export const CONFIG_MAP_TYPE = "kubernetes:core/v1:ConfigMap";
export const SERVICE_TYPE = "kubernetes:core/v1:Service";
export const DEPLOYMENT_TYPE = "kubernetes:apps/v1:Deployment";
export const PDB_TYPE = "kubernetes:policy/v1:PodDisruptionBudget";

/** Annotations that gate a workload on readiness (the provider's await logic). */
export const WAIT_FOR = "pulumi.com/waitFor";
export const SKIP_AWAIT = "pulumi.com/skipAwait";
export const DEPLOYMENT_MODE = "serving.kserve.io/deploymentMode";

export type Json = Record<string, unknown>;

export interface Destination {
    destination?: { host?: string; port?: { number?: number } };
    weight?: unknown;
    headers?: { request?: { set?: Record<string, string>; add?: Record<string, string> } };
}

/** An http route; tcp and tls routes share `match` and `route`. */
export interface HttpRoute {
    name?: string;
    match?: Json[];
    route?: Destination[];
    rewrite?: { authority?: string };
    mirror?: { host?: string; port?: { number?: number } };
    mirrors?: Json[];
    mirrorPercentage?: { value?: unknown };
    mirrorPercent?: unknown;
}

export interface ObjectMeta {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
}

export function isObject(value: unknown): value is Json {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function metadataOf(props: Json): ObjectMeta {
    return isObject(props.metadata) ? (props.metadata as ObjectMeta) : {};
}

/** `<namespace>/<name>` of an object, for messages. */
export function objectName(props: Json, fallback: string): string {
    const meta = metadataOf(props);
    return meta.name ? `${meta.namespace ?? "default"}/${meta.name}` : fallback;
}

export function isVirtualService(type: string): boolean {
    return VIRTUAL_SERVICE_TYPES.includes(type);
}

/** The HTTP routes of a VirtualService's props (empty when unknown). */
export function httpRoutes(props: Json): HttpRoute[] {
    return routesOfKind(props, "http");
}

/** The three kinds of VirtualService route; tcp and tls routes have `match` and `route` too. */
export type RouteKind = "http" | "tcp" | "tls";
export const ROUTE_KINDS: readonly RouteKind[] = ["http", "tcp", "tls"];

/** A route of any kind, with its index in its own list. */
export interface AnyRoute {
    kind: RouteKind;
    index: number;
    route: HttpRoute;
}

function routesOfKind(props: Json, kind: RouteKind): HttpRoute[] {
    const spec = isObject(props.spec) ? props.spec : {};
    const list = spec[kind];
    return Array.isArray(list) ? (list.filter(isObject) as HttpRoute[]) : [];
}

/** Every route of a VirtualService: http, then tcp, then tls. */
export function allRoutes(props: Json): AnyRoute[] {
    return ROUTE_KINDS.flatMap((kind) => routesOfKind(props, kind).map((route, index) => ({ kind, index, route })));
}

/** How a route of any kind is named in messages: http as routeLabel, others `tcp route #0`. */
export function anyRouteLabel(r: AnyRoute): string {
    return r.kind === "http" ? routeLabel(r.route, r.index) : `${r.kind} route #${r.index}`;
}

/** Match fields that select nothing on their own (names, logging, case handling). */
const NON_CONDITIONS = new Set(["name", "ignoreUriCase", "statPrefix"]);

/**
 * Whether one match entry (HTTPMatchRequest, L4MatchAttributes or TLSMatchAttributes) selects
 * every request: it has no condition, only empty ones, or a URI prefix of "" or "/" (every path).
 */
export function matchesEverything(entry: unknown): boolean {
    if (!isObject(entry)) return false;
    return Object.entries(entry).every(([key, value]) => {
        if (NON_CONDITIONS.has(key) || value === undefined || value === null) return true;
        if (key === "uri" && isObject(value) && Object.keys(value).length === 1) {
            return value.prefix === "" || value.prefix === "/";
        }
        if (Array.isArray(value)) return value.length === 0;
        if (isObject(value)) return Object.keys(value).length === 0;
        return value === "";
    });
}

/**
 * Whether a route takes every request that reaches it: no match list, an empty one, or an entry
 * that matches everything (entries are alternatives, so one such entry is enough).
 */
export function isCatchAll(route: HttpRoute): boolean {
    return !Array.isArray(route.match) || route.match.length === 0 || route.match.some(matchesEverything);
}

export function hostsOf(props: Json): string[] {
    const spec = isObject(props.spec) ? props.spec : {};
    return Array.isArray(spec.hosts) ? (spec.hosts as string[]) : [];
}

/** How a route is named in messages: its name, else its index. */
export function routeLabel(route: HttpRoute, index: number): string {
    return route.name ? `route "${route.name}"` : `route #${index}`;
}

/** Headers set on a request, case-insensitively. */
export function requestHeader(d: Destination, name: string): string | undefined {
    const sets = { ...(d.headers?.request?.add ?? {}), ...(d.headers?.request?.set ?? {}) };
    const key = Object.keys(sets).find((k) => k.toLowerCase() === name.toLowerCase());
    return key === undefined ? undefined : sets[key];
}

/** The deployment mode of an InferenceService, normalized to Knative, Standard or ModelMesh. */
export function deploymentMode(props: Json): "Knative" | "Standard" | "ModelMesh" | undefined {
    const value = metadataOf(props).annotations?.[DEPLOYMENT_MODE];
    switch (value) {
        case "Knative":
        case "Serverless":
            return "Knative";
        case "Standard":
        case "RawDeployment":
            return "Standard";
        case "ModelMesh":
            return "ModelMesh";
        default:
            return undefined;
    }
}

/** The predictor of an InferenceService's props. */
export function predictorOf(props: Json): Json {
    const spec = isObject(props.spec) ? props.spec : {};
    return isObject(spec.predictor) ? spec.predictor : {};
}

/** Every storageUri one predictor spec (the stable's or a canary's) names. */
export function storageUrisIn(predictor: Json): string[] {
    const uris: string[] = [];
    for (const value of Object.values(predictor)) {
        if (isObject(value) && typeof value.storageUri === "string") {
            uris.push(value.storageUri);
        }
    }
    return uris;
}

export function isPercent(value: unknown): value is number {
    return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 100;
}

/**
 * The cluster-local hosts KServe owns for an InferenceService: `<isvc>-predictor` and its other
 * predictor Services (`<isvc>-<name>-predictor` of a named stable predictor and of each canary,
 * KServe v0.20) and, outside Standard mode, `<isvc>` itself (Knative mode's ExternalName
 * Service). In Standard mode KServe creates no Service named `<isvc>` (its Ingress or HTTPRoute
 * hosts are in the ingress domain), so the app's own entry Service may take that name.
 */
export function kserveOwnedHosts(props: Json): string[] {
    const meta = metadataOf(props);
    const isvc = meta.name ?? "";
    const namespace = meta.namespace ?? "default";
    const services = predictorServicesOf(props).map((s) => s.service);
    const top = deploymentMode(props) === "Standard" ? [] : [isvc];
    const names = [...new Set([...top, `${isvc}-predictor`, ...services])];
    return names.flatMap((n) => [`${n}.${namespace}`, `${n}.${namespace}.svc`, `${n}.${namespace}.svc.cluster.local`]);
}

/** A version object a route can send traffic to. */
export interface Workload {
    kind: "InferenceService" | "Service";
    namespace: string;
    name: string;
    /**
     * The Service the destination names when it names a predictor Service (`<x>-predictor`);
     * `name` is then `<x>`, which is the InferenceService unless `<x>` is `<isvc>-<predictor name>`
     * (KServe v0.20 named predictors and canaries: see predictorServiceIndex).
     */
    service?: string;
}

/** Where a destination sends requests: a version object, another pass through this VS, or unknown. */
export type Resolution =
    { kind: "workload"; workload: Workload } | { kind: "hop" } | { kind: "unresolved"; what: string };

const SVC_HOST = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.svc(\.cluster\.local)?)?$/;

function hostName(host: string, defaultNamespace: string): { name: string; namespace: string } | undefined {
    if (!host.includes(".")) return { name: host, namespace: defaultNamespace };
    const m = SVC_HOST.exec(host);
    return m ? { name: m[1], namespace: m[3] } : undefined;
}

function fromServiceHost(host: string, namespace: string): Workload | undefined {
    const parsed = hostName(host, namespace);
    if (!parsed) return undefined;
    const predictor = /^(.*)-predictor$/.exec(parsed.name);
    return predictor
        ? { kind: "InferenceService", namespace: parsed.namespace, name: predictor[1], service: parsed.name }
        : { kind: "Service", namespace: parsed.namespace, name: parsed.name };
}

/**
 * Resolves a destination of a VirtualService in `namespace` with `hosts`: ModelMesh routes by
 * the `mm-vmodel-id` header, Knative routes by the Host header (`<isvc>-predictor.<ns>...`), a
 * split hop sets Host to one of the VirtualService's own hosts, anything else by destination host.
 */
export function resolveDestination(
    namespace: string,
    hosts: string[],
    d: { destination?: { host?: string } } & Destination,
): Resolution {
    const modelId = requestHeader(d, "mm-vmodel-id");
    if (modelId !== undefined) {
        return { kind: "workload", workload: { kind: "InferenceService", namespace, name: modelId } };
    }
    const host = requestHeader(d, "host") ?? requestHeader(d, ":authority");
    if (host !== undefined) {
        if (hosts.includes(host)) return { kind: "hop" };
        const workload = fromServiceHost(host, namespace);
        return workload ? { kind: "workload", workload } : { kind: "unresolved", what: `Host ${host}` };
    }
    const target = d.destination?.host;
    if (!target) return { kind: "unresolved", what: "a destination without host" };
    const workload = fromServiceHost(target, namespace);
    return workload ? { kind: "workload", workload } : { kind: "unresolved", what: target };
}

/** The version a destination answers as (its `app-version` response header). */
export function versionOf(
    d: Destination & { headers?: { response?: { set?: Record<string, string>; add?: Record<string, string> } } },
): string | undefined {
    const response = { ...(d.headers?.response?.add ?? {}), ...(d.headers?.response?.set ?? {}) };
    return response["app-version"];
}

/**
 * Percent of unmatched requests each version gets, from the default route of a VirtualService:
 * the first catch-all route (Istio takes the first route that matches).
 */
export function defaultRoutePercents(props: Json): Map<string, number> {
    const percents = new Map<string, number>();
    const route = httpRoutes(props).find(isCatchAll);
    const destinations = route?.route ?? [];
    for (const d of destinations) {
        const version = versionOf(d);
        if (version === undefined) continue;
        const weight =
            destinations.length === 1 && d.weight === undefined ? 100 : typeof d.weight === "number" ? d.weight : 0;
        percents.set(version, (percents.get(version) ?? 0) + weight);
    }
    return percents;
}

/** `<namespace>/<name>` key. */
export function keyOf(namespace: string | undefined, name: string | undefined): string {
    return `${namespace ?? "default"}/${name ?? ""}`;
}

/** Versions a VirtualService routes or mirrors to (by `app-version` header or mirror target name). */
export function versionsNamed(props: Json): Set<string> {
    const namespace = metadataOf(props).namespace ?? "default";
    const names = new Set<string>();
    for (const route of httpRoutes(props)) {
        for (const d of route.route ?? []) {
            const v = versionOf(d);
            if (v !== undefined) names.add(v);
        }
        const mirrored = mirrorTarget(route, namespace, hostsOf(props));
        if (mirrored !== undefined) names.add(mirrored);
    }
    return names;
}

/** Name of the version object a route mirrors to. */
export function mirrorTarget(route: HttpRoute, namespace: string, hosts: string[]): string | undefined {
    if (!route.mirror) return undefined;
    const res = resolveDestination(namespace, hosts, { destination: route.mirror });
    return res.kind === "workload" ? res.workload.name : undefined;
}

/** What a weight ConfigMap (`<version>-weight-config`) records, from its annotations. */
export interface WeightRecord {
    version: string;
    role?: string;
    percent?: string;
    mirrorPercent?: string;
}

/** Reads a weight ConfigMap; undefined for other ConfigMaps. */
export function weightRecordOf(type: string, props: Json): WeightRecord | undefined {
    const meta = metadataOf(props);
    if (type !== CONFIG_MAP_TYPE || !meta.name?.endsWith("-weight-config")) return undefined;
    const annotations = meta.annotations ?? {};
    const data = isObject(props.data) ? (props.data as Record<string, string>) : {};
    return {
        version: data.version ?? meta.name.slice(0, -"-weight-config".length),
        role: annotations["model-release.dev/role"],
        percent: annotations["model-release.dev/percent"],
        mirrorPercent: annotations["model-release.dev/mirror-percent"],
    };
}

// --- Gateway API (gateway.networking.k8s.io) HTTPRoutes ---------------------------------------

export const HTTP_ROUTE_TYPES = [
    "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
    "kubernetes:gateway.networking.k8s.io/v1beta1:HTTPRoute",
];

export function isHttpRoute(type: string): boolean {
    return HTTP_ROUTE_TYPES.includes(type);
}

/** The weight Gateway API gives a backendRef that sets none. */
export const GATEWAY_DEFAULT_WEIGHT = 1;

/** A backendRef of an HTTPRoute rule, or the backendRef of a RequestMirror filter. */
export interface BackendRef {
    group?: string;
    kind?: string;
    name?: string;
    namespace?: string;
    port?: number;
    weight?: unknown;
    filters?: unknown[];
}

/** An HTTPRouteRule. */
export interface GatewayRule {
    name?: string;
    matches?: unknown[];
    filters?: unknown[];
    backendRefs?: BackendRef[];
}

/** A RequestMirror filter, with where it sits in its rule (for messages). */
export interface MirrorFilter {
    backendRef?: BackendRef;
    percent?: unknown;
    fraction?: { numerator?: unknown; denominator?: unknown };
    /** "rule" for a rule-level filter, else `backendRef #j`. */
    where: string;
}

/** The rules of an HTTPRoute's props (empty when unknown). */
export function gatewayRules(props: Json): GatewayRule[] {
    const spec = isObject(props.spec) ? props.spec : {};
    return Array.isArray(spec.rules) ? (spec.rules.filter(isObject) as GatewayRule[]) : [];
}

/** The backendRefs of a rule (objects only). */
export function backendRefsOf(rule: GatewayRule): BackendRef[] {
    return Array.isArray(rule.backendRefs) ? (rule.backendRefs.filter(isObject) as BackendRef[]) : [];
}

/** How a rule is named in messages: its name, else its index. */
export function gatewayRuleLabel(rule: GatewayRule, index: number): string {
    return rule.name ? `rule "${rule.name}"` : `rule #${index}`;
}

/** How a backendRef is named in messages: `Service httpbin-0:80`, with its namespace when it sets one. */
export function backendRefLabel(ref: BackendRef): string {
    const kind = ref.kind ?? "Service";
    const group = ref.group ?? "";
    const name = `${ref.namespace ? `${ref.namespace}/` : ""}${ref.name ?? "(unnamed)"}`;
    return `${group === "" || group === "core" ? "" : `${group}/`}${kind} ${name}${ref.port !== undefined ? `:${ref.port}` : ""}`;
}

/** Whether a backendRef names a core Service (group "" or core, kind Service; both are the defaults). */
export function isServiceRef(ref: BackendRef): boolean {
    const group = ref.group ?? "";
    return (group === "" || group === "core") && (ref.kind ?? "Service") === "Service";
}

/** The weight the cluster applies to a backendRef: its own, or Gateway API's default of 1. */
export function effectiveWeight(ref: BackendRef): number {
    if (ref.weight === undefined || ref.weight === null) return GATEWAY_DEFAULT_WEIGHT;
    return typeof ref.weight === "number" && Number.isFinite(ref.weight) ? ref.weight : 0;
}

/** Header set or added by a header-modifier filter list ({set, add}: lists of {name, value}). */
function modifierHeader(modifier: unknown, name: string): string | undefined {
    if (!isObject(modifier)) return undefined;
    for (const list of [modifier.set, modifier.add]) {
        if (!Array.isArray(list)) continue;
        const entry = list.find((e) => isObject(e) && typeof e.name === "string" && e.name.toLowerCase() === name);
        if (isObject(entry) && typeof entry.value === "string") return entry.value;
    }
    return undefined;
}

/**
 * The version a backendRef answers as: the `app-version` response header its filters set, else
 * the Service it names (`<isvc>-predictor` answers as InferenceService `<isvc>`).
 */
export function backendVersion(ref: BackendRef): string | undefined {
    for (const f of Array.isArray(ref.filters) ? ref.filters : []) {
        if (!isObject(f)) continue;
        const header = modifierHeader(f.responseHeaderModifier, "app-version");
        if (header !== undefined) return header;
    }
    if (!isServiceRef(ref) || !ref.name) return undefined;
    return /^(.*)-predictor$/.exec(ref.name)?.[1] ?? ref.name;
}

/** The version object a Service backendRef sends requests to (`<isvc>-predictor`: the InferenceService). */
export function backendWorkload(ref: BackendRef, routeNamespace: string): Workload | undefined {
    if (!isServiceRef(ref) || !ref.name) return undefined;
    const namespace = ref.namespace ?? routeNamespace;
    const predictor = /^(.*)-predictor$/.exec(ref.name);
    return predictor
        ? { kind: "InferenceService", namespace, name: predictor[1], service: ref.name }
        : { kind: "Service", namespace, name: ref.name };
}

function mirrorOf(filter: unknown, where: string): MirrorFilter | undefined {
    if (!isObject(filter) || filter.type !== "RequestMirror") return undefined;
    const m = isObject(filter.requestMirror) ? filter.requestMirror : {};
    return {
        backendRef: isObject(m.backendRef) ? (m.backendRef as BackendRef) : undefined,
        percent: m.percent,
        fraction: isObject(m.fraction) ? (m.fraction as MirrorFilter["fraction"]) : undefined,
        where,
    };
}

/** Every RequestMirror filter of a rule: rule-level ones, then those on its backendRefs. */
export function ruleMirrors(rule: GatewayRule): MirrorFilter[] {
    const found: MirrorFilter[] = [];
    for (const f of Array.isArray(rule.filters) ? rule.filters : []) {
        const m = mirrorOf(f, "rule");
        if (m) found.push(m);
    }
    backendRefsOf(rule).forEach((ref, j) => {
        for (const f of Array.isArray(ref.filters) ? ref.filters : []) {
            const m = mirrorOf(f, `backendRef #${j}`);
            if (m) found.push(m);
        }
    });
    return found;
}

/**
 * The percent of requests a RequestMirror filter copies: `percent`, or `fraction` (denominator
 * defaults to 100) as a percent, or 100 when neither is set; undefined when unreadable.
 */
export function mirrorPercentOf(m: MirrorFilter): number | undefined {
    if (m.percent !== undefined) return typeof m.percent === "number" ? m.percent : undefined;
    if (m.fraction !== undefined) {
        const { numerator, denominator = 100 } = m.fraction;
        if (typeof numerator !== "number" || typeof denominator !== "number" || denominator <= 0) return undefined;
        return (numerator / denominator) * 100;
    }
    return 100;
}

/** Whether a path match selects every path: absent, or PathPrefix (the default type) of "/" (the default value). */
function everyPath(path: unknown): boolean {
    if (path === undefined || path === null) return true;
    if (!isObject(path)) return false;
    return (path.type ?? "PathPrefix") === "PathPrefix" && (path.value ?? "/") === "/";
}

/** Whether one HTTPRouteMatch selects every request: every path and no header, query or method condition. */
export function gatewayMatchesEverything(entry: unknown): boolean {
    if (!isObject(entry)) return false;
    return Object.entries(entry).every(([key, value]) => {
        if (key === "path") return everyPath(value);
        if (value === undefined || value === null) return true;
        if (Array.isArray(value)) return value.length === 0;
        return false;
    });
}

/**
 * Whether a rule takes the requests no other rule matches: no matches (Gateway API defaults them
 * to PathPrefix "/"), or a match that selects every request (matches are alternatives).
 */
export function isDefaultRule(rule: GatewayRule): boolean {
    return !Array.isArray(rule.matches) || rule.matches.length === 0 || rule.matches.some(gatewayMatchesEverything);
}

/** The hostnames of an HTTPRoute's props. */
export function hostnamesOf(props: Json): string[] {
    const spec = isObject(props.spec) ? props.spec : {};
    return Array.isArray(spec.hostnames) ? (spec.hostnames.filter((h) => typeof h === "string") as string[]) : [];
}

/** Percent (share of the rule's total weight) per version of an HTTPRoute's first default rule. */
export function httpRouteDefaultPercents(props: Json): Map<string, number> {
    const percents = new Map<string, number>();
    const rule = gatewayRules(props).find(isDefaultRule);
    const refs = rule ? backendRefsOf(rule) : [];
    const total = refs.reduce((sum, ref) => sum + Math.max(0, effectiveWeight(ref)), 0);
    for (const ref of refs) {
        const version = backendVersion(ref);
        if (version === undefined) continue;
        const share = total > 0 ? (Math.max(0, effectiveWeight(ref)) * 100) / total : 0;
        percents.set(version, Math.round(((percents.get(version) ?? 0) + share) * 100) / 100);
    }
    return percents;
}

/** The version a RequestMirror filter copies requests to (by the Service it names). */
export function mirrorVersion(m: MirrorFilter): string | undefined {
    return m.backendRef ? backendVersion({ ...m.backendRef, filters: undefined }) : undefined;
}

/** Versions an HTTPRoute routes or mirrors to. */
export function httpRouteVersionsNamed(props: Json): Set<string> {
    const names = new Set<string>();
    for (const rule of gatewayRules(props)) {
        for (const ref of backendRefsOf(rule)) {
            const v = backendVersion(ref);
            if (v !== undefined) names.add(v);
        }
        for (const m of ruleMirrors(rule)) {
            const v = mirrorVersion(m);
            if (v !== undefined) names.add(v);
        }
    }
    return names;
}

// --- KServe v0.20 canaries (spec.canary, Standard mode) and readiness gates -------------------

/** Pattern KServe v0.20 requires of a canary's predictor.name (a DNS-1035 label). */
export const PREDICTOR_NAME_PATTERN = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
/** Longest Service or Deployment name Kubernetes accepts (a DNS label). */
export const MAX_NAME_LENGTH = 63;
/** The minReplicas KServe gives a predictor that sets none. */
export const DEFAULT_MIN_REPLICAS = 1;

/** One entry of an InferenceService's spec.canary, as written. */
export interface Canary {
    index: number;
    /** The entry's predictor (empty when it has none). */
    predictor: Json;
    /** Whether the entry has a predictor object at all. */
    hasPredictor: boolean;
    /** predictor.name, as written (KServe v0.20 requires a string matching PREDICTOR_NAME_PATTERN). */
    name: unknown;
    trafficPercent: unknown;
}

/** The raw spec.canary of an InferenceService's props (undefined when absent). */
export function canaryListOf(props: Json): unknown {
    const spec = isObject(props.spec) ? props.spec : {};
    return spec.canary;
}

/** The entries of spec.canary (empty when absent or not a list). */
export function canariesOf(props: Json): Canary[] {
    const list = canaryListOf(props);
    if (!Array.isArray(list)) return [];
    return list.map((entry: unknown, index) => {
        const e = isObject(entry) ? entry : {};
        const predictor = isObject(e.predictor) ? e.predictor : {};
        return {
            index,
            predictor,
            hasPredictor: isObject(e.predictor),
            name: predictor.name,
            trafficPercent: e.trafficPercent,
        };
    });
}

/** How a canary is named in messages: `canary "v2"`, or `canary #1` when it has no usable name. */
export function canaryLabel(c: Canary): string {
    return typeof c.name === "string" && c.name !== "" ? `canary "${c.name}"` : `canary #${c.index}`;
}

/** The stable predictor's name (spec.predictor.name) when it sets one. */
export function stableNameOf(props: Json): string | undefined {
    const name = predictorOf(props).name;
    return typeof name === "string" && name !== "" ? name : undefined;
}

/**
 * The name KServe gives a predictor's Deployment and Service: `<isvc>-<name>-predictor` for a
 * named predictor (a canary, or a stable that sets predictor.name), else `<isvc>-predictor`.
 */
export function predictorServiceName(isvc: string, name?: string): string {
    return name === undefined ? `${isvc}-predictor` : `${isvc}-${name}-predictor`;
}

/** A predictor Service KServe creates for an InferenceService. */
export interface PredictorService {
    namespace: string;
    isvc: string;
    service: string;
    /** The canary's name; undefined for the stable predictor. */
    canary?: string;
    /** The InferenceService's deployment mode (normalized), undefined when unknown. */
    mode: ReturnType<typeof deploymentMode>;
}

/** The predictor Services of one InferenceService: the stable's, then each named canary's. */
export function predictorServicesOf(props: Json): PredictorService[] {
    const meta = metadataOf(props);
    if (!meta.name) return [];
    const base = { namespace: meta.namespace ?? "default", isvc: meta.name, mode: deploymentMode(props) };
    const services: PredictorService[] = [{ ...base, service: predictorServiceName(meta.name, stableNameOf(props)) }];
    for (const c of canariesOf(props)) {
        if (typeof c.name !== "string" || c.name === "") continue;
        services.push({ ...base, service: predictorServiceName(meta.name, c.name), canary: c.name });
    }
    return services;
}

/** The predictor Services of every InferenceService of a stack, by `<namespace>/<service>`. */
export function predictorServiceIndex(resources: { type: string; props: Json }[]): Map<string, PredictorService> {
    const index = new Map<string, PredictorService>();
    for (const r of resources) {
        if (r.type !== INFERENCE_SERVICE_TYPE) continue;
        for (const s of predictorServicesOf(r.props)) {
            const key = keyOf(s.namespace, s.service);
            if (!index.has(key)) index.set(key, s);
        }
    }
    return index;
}

/** The predictor a workload reaches when it names a predictor Service one of the stack's InferenceServices has. */
export function workloadPredictor(index: Map<string, PredictorService>, w: Workload): PredictorService | undefined {
    return w.kind === "InferenceService" && w.service !== undefined
        ? index.get(keyOf(w.namespace, w.service))
        : undefined;
}

/**
 * Why `<namespace>/<service>` (a `...-predictor` name) is none of the stack's predictor Services,
 * when an InferenceService of the stack explains it: `<isvc>-predictor` of an InferenceService
 * whose stable predictor is named, or `<isvc>-<name>-predictor` of one without predictor or
 * canary `<name>`. Undefined when no InferenceService of the stack matches the name.
 */
export function predictorServiceHint(
    resources: { type: string; props: Json }[],
    namespace: string,
    service: string,
): string | undefined {
    const base = /^(.*)-predictor$/.exec(service)?.[1];
    if (base === undefined) return undefined;
    const isvcs = resources
        .filter((r) => r.type === INFERENCE_SERVICE_TYPE && (metadataOf(r.props).namespace ?? "default") === namespace)
        .map((r) => ({ name: metadataOf(r.props).name ?? "", props: r.props }))
        .filter((i) => i.name !== "");
    const same = isvcs.find((i) => i.name === base);
    const stable = same ? stableNameOf(same.props) : undefined;
    if (same && stable !== undefined) {
        return `InferenceService ${namespace}/${base} names its predictor "${stable}", so KServe serves it as Service ${predictorServiceName(base, stable)}, not ${service}`;
    }
    const owner = isvcs.filter((i) => base.startsWith(`${i.name}-`)).sort((a, b) => b.name.length - a.name.length)[0];
    if (owner === undefined) return undefined;
    const served = predictorServicesOf(owner.props).map((s) => s.service);
    return `InferenceService ${namespace}/${owner.name} has no predictor or canary named "${base.slice(owner.name.length + 1)}" (it serves ${served.join(", ")})`;
}

/**
 * The expressions of a `pulumi.com/waitFor` annotation, as the provider reads it: a JSON array of
 * strings (all must hold), else the whole value as one expression. Empty when absent.
 */
export function waitForExpressions(annotations: Record<string, string> | undefined): string[] {
    const value = annotations?.[WAIT_FOR];
    if (typeof value !== "string" || value === "") return [];
    try {
        const parsed: unknown = JSON.parse(value);
        if (Array.isArray(parsed) && parsed.every((e) => typeof e === "string")) return parsed as string[];
    } catch {
        // Not JSON: one expression.
    }
    return [value];
}

/**
 * The pod selectors (`app` label values) of the stack's awaited PodDisruptionBudgets: each one,
 * awaited until `condition=DisruptionAllowed`, holds an update until at least one pod it selects
 * is Ready (the disruption controller allows a disruption only above the budget's minimum, which
 * is 0 or more). By `<namespace>/<app label>`.
 */
export function awaitedPodGates(resources: { type: string; props: Json }[]): Set<string> {
    const gates = new Set<string>();
    for (const r of resources) {
        if (r.type !== PDB_TYPE) continue;
        const meta = metadataOf(r.props);
        const annotations = meta.annotations ?? {};
        if (annotations[SKIP_AWAIT] === "true") continue;
        if (!waitForExpressions(annotations).some((e) => /^condition=DisruptionAllowed(=True)?$/i.test(e))) continue;
        const spec = isObject(r.props.spec) ? r.props.spec : {};
        const selector = isObject(spec.selector) ? spec.selector : {};
        const labels = isObject(selector.matchLabels) ? selector.matchLabels : {};
        if (
            typeof labels.app === "string" &&
            Object.keys(labels).length === 1 &&
            selector.matchExpressions === undefined
        ) {
            gates.add(keyOf(meta.namespace, labels.app));
        }
    }
    return gates;
}

/** The `app` label KServe puts on a Standard-mode predictor's pods. */
export function predictorPodApp(service: string): string {
    return `isvc.${service}`;
}
