// Small builders for the resources the policy rules see (HTTPRoutes, InferenceServices, weight
// ConfigMaps, Services, ...): raw resources, including ones the component would never produce.
import { TestResource } from "./helpers";

export const HTTP_ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute";
export const HTTP_ROUTE_V1BETA1 = "kubernetes:gateway.networking.k8s.io/v1beta1:HTTPRoute";
export const VS = "kubernetes:networking.istio.io/v1:VirtualService";
export const ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService";
export const CM = "kubernetes:core/v1:ConfigMap";
export const SVC = "kubernetes:core/v1:Service";
export const DEPLOYMENT = "kubernetes:apps/v1:Deployment";
export const PDB = "kubernetes:policy/v1:PodDisruptionBudget";

type Obj = Record<string, unknown>;

/** The match of every request, as the component writes it. */
export const EVERY_PATH: Obj = { path: { type: "PathPrefix", value: "/" } };

/** A canary match: every path, with an exact header. */
export function headerMatch(name = "traffic", value = "test"): Obj {
    return { ...EVERY_PATH, headers: [{ name, type: "Exact", value }] };
}

/**
 * A Service backendRef on port 80 answering as `version` (its `app-version` response header,
 * default: the Service name). `weight: null` leaves the weight out.
 */
export function backend(
    name: string,
    weight: number | null | unknown,
    extra: { namespace?: string; group?: string; kind?: string; version?: string; filters?: Obj[] } = {},
): Obj {
    const ref: Obj = { group: extra.group ?? "", kind: extra.kind ?? "Service", name, port: 80 };
    if (extra.namespace !== undefined) ref.namespace = extra.namespace;
    if (weight !== null) ref.weight = weight;
    ref.filters = [
        {
            type: "ResponseHeaderModifier",
            responseHeaderModifier: { set: [{ name: "app-version", value: extra.version ?? name }] },
        },
        ...(extra.filters ?? []),
    ];
    return ref;
}

/** A RequestMirror filter to Service `name`, with `percent` or `fraction` (or neither: 100%). */
export function mirror(
    name: string,
    amount: { percent?: unknown; fraction?: { numerator?: unknown; denominator?: unknown } } = {},
): Obj {
    return {
        type: "RequestMirror",
        requestMirror: { backendRef: { group: "", kind: "Service", name, port: 80 }, ...amount },
    };
}

/** An HTTPRouteRule: `matches` default to every request; `matches: null` leaves them out. */
export function rule(backendRefs: Obj[], opts: { matches?: Obj[] | null; filters?: Obj[]; name?: string } = {}): Obj {
    const r: Obj = {};
    if (opts.name !== undefined) r.name = opts.name;
    if (opts.matches !== null) r.matches = opts.matches ?? [{ ...EVERY_PATH }];
    if (opts.filters !== undefined) r.filters = opts.filters;
    r.backendRefs = backendRefs;
    return r;
}

/** An HTTPRoute `name` in `namespace`, attached to its own Service (GAMMA), with the app's hostnames. */
export function httpRoute(
    rules: Obj[],
    opts: { name?: string; namespace?: string; hostnames?: string[]; type?: string } = {},
): TestResource {
    const name = opts.name ?? "app";
    const namespace = opts.namespace ?? "default";
    const base = `${name}.${namespace}`;
    return {
        type: opts.type ?? HTTP_ROUTE,
        name: `${namespace}/${name}`,
        props: {
            apiVersion: "gateway.networking.k8s.io/v1",
            kind: "HTTPRoute",
            metadata: { name, namespace },
            spec: {
                parentRefs: [{ group: "", kind: "Service", name, port: 80 }],
                hostnames: opts.hostnames ?? [base, `${base}.svc`, `${base}.svc.cluster.local`],
                rules,
            },
        },
    };
}

/** A blue-green split of Services `a` and `b`: one default rule. */
export function splitRoute(weightA: number | null, weightB: number | null, opts: { name?: string } = {}): TestResource {
    return httpRoute([rule([backend("a", weightA), backend("b", weightB)])], opts);
}

/** A canary: requests with `traffic: test` go to `b`, every other request to `a`. */
export function canaryRoute(): TestResource {
    return httpRoute([rule([backend("b", 100)], { matches: [headerMatch()] }), rule([backend("a", 100)])]);
}

/** A mirror: every request to `a`, `percent` of them copied to `b`. */
export function mirrorRoute(amount: Parameters<typeof mirror>[1] = { percent: 20 }): TestResource {
    return httpRoute([rule([backend("a", 100)], { filters: [mirror("b", amount)] })]);
}

/**
 * A KServe Standard-mode route to InferenceService `isvc` (Service `<isvc>-predictor`): model path
 * rules with a rule-level URLRewrite, then the rule for every other request.
 */
export function kserveRoute(isvc: string, app = "app"): TestResource {
    const ref = () => [backend(`${isvc}-predictor`, 100, { version: isvc })];
    return httpRoute(
        [
            rule(ref(), {
                matches: [{ path: { type: "PathPrefix", value: `/v2/models/${app}` } }],
                filters: [
                    {
                        type: "URLRewrite",
                        urlRewrite: {
                            path: { type: "ReplacePrefixMatch", replacePrefixMatch: `/v2/models/${isvc}` },
                        },
                    },
                ],
            }),
            rule(ref(), {
                matches: [{ path: { type: "Exact", value: `/v1/models/${app}:predict` } }],
                filters: [
                    {
                        type: "URLRewrite",
                        urlRewrite: {
                            path: { type: "ReplaceFullPath", replaceFullPath: `/v1/models/${isvc}:predict` },
                        },
                    },
                ],
            }),
            rule(ref()),
        ],
        { name: app },
    );
}

export function service(name: string, namespace = "default"): TestResource {
    return {
        type: SVC,
        name: `${namespace}/${name}`,
        props: { metadata: { name, namespace }, spec: { selector: { app: name }, ports: [{ port: 80 }] } },
    };
}

/** A Deployment version; `skipAwait` turns off the provider's readiness await. */
export function deployment(name: string, opts: { skipAwait?: boolean } = {}): TestResource {
    const annotations: Record<string, string> = opts.skipAwait ? { "pulumi.com/skipAwait": "true" } : {};
    return {
        type: DEPLOYMENT,
        name: `default/${name}`,
        props: {
            metadata: {
                name,
                namespace: "default",
                labels: { "app.kubernetes.io/name": "app", "app.kubernetes.io/version": name },
                annotations,
            },
        },
    };
}

/** The predictor of a minimal InferenceService: one sklearn model. */
export const SKLEARN_PREDICTOR: Obj = { model: { modelFormat: { name: "sklearn" }, storageUri: "gs://m" } };

/**
 * InferenceService `namespace/name` (namespace `default`) with `spec` and `annotations`, labelled
 * as version `name` of app `app` unless `labels` are given.
 */
export function isvcResource(
    name: string,
    spec: Obj,
    opts: { annotations?: Record<string, string>; labels?: Record<string, string>; namespace?: string } = {},
): TestResource {
    const namespace = opts.namespace ?? "default";
    return {
        type: ISVC,
        name: `${namespace}/${name}`,
        props: {
            apiVersion: "serving.kserve.io/v1beta1",
            kind: "InferenceService",
            metadata: {
                name,
                namespace,
                labels: opts.labels ?? { "app.kubernetes.io/name": "app", "app.kubernetes.io/version": name },
                annotations: opts.annotations ?? {},
            },
            spec,
        },
    };
}

/** An InferenceService in `mode`, gated on readiness unless `gated: false`. */
export function inferenceService(
    name: string,
    opts: { mode?: string; gated?: boolean; namespace?: string } = {},
): TestResource {
    const annotations: Record<string, string> = { "serving.kserve.io/deploymentMode": opts.mode ?? "Standard" };
    if (opts.gated !== false) annotations["pulumi.com/waitFor"] = "condition=Ready";
    return isvcResource(name, { predictor: SKLEARN_PREDICTOR }, { annotations, namespace: opts.namespace });
}

/**
 * The weight ConfigMap of `version`: `<version>-weight-config` unless `name` is given, strategy
 * blue-green (mirror with a mirror percent) unless `strategy` is given, role candidate.
 */
export function weightConfig(
    version: string,
    traffic: { percent: string; mirrorPercent?: string; role?: string; strategy?: string },
    opts: { name?: string; namespace?: string } = {},
): TestResource {
    const annotations: Record<string, string> = {
        "model-release.dev/strategy":
            traffic.strategy ?? (traffic.mirrorPercent === undefined ? "blue-green" : "mirror"),
        "model-release.dev/role": traffic.role ?? "candidate",
        "model-release.dev/percent": traffic.percent,
    };
    if (traffic.mirrorPercent !== undefined) annotations["model-release.dev/mirror-percent"] = traffic.mirrorPercent;
    const name = opts.name ?? `${version}-weight-config`;
    const namespace = opts.namespace ?? "default";
    return {
        type: CM,
        name: `${namespace}/${name}`,
        props: { metadata: { name, namespace, annotations }, data: { version } },
    };
}

/** VirtualService `namespace/name` (namespace `default`) bound to the mesh, with `spec` (hosts, routes). */
export function vsResource(name: string, spec: Obj, namespace = "default"): TestResource {
    return {
        type: VS,
        name: `${namespace}/${name}`,
        props: {
            apiVersion: "networking.istio.io/v1",
            kind: "VirtualService",
            metadata: { name, namespace },
            spec: { gateways: ["mesh"], ...spec },
        },
    };
}

/** A VirtualService claiming `hosts`, routing to Service `a`. */
export function virtualService(name: string, hosts: string[]): TestResource {
    return vsResource(name, {
        hosts,
        http: [{ route: [{ destination: { host: "a.default.svc.cluster.local", port: { number: 80 } } }] }],
    });
}

/** Services and gated Deployments for versions `a` and `b`. */
export function deploymentVersions(): TestResource[] {
    return [service("a"), service("b"), deployment("a"), deployment("b")];
}
