import { StackValidationPolicy } from "@pulumi/policy";

import {
    BackendRef,
    INFERENCE_SERVICE_TYPE,
    SERVICE_TYPE,
    backendRefLabel,
    backendRefsOf,
    deploymentMode,
    gatewayRuleLabel,
    gatewayRules,
    isHttpRoute,
    isServiceRef,
    keyOf,
    metadataOf,
    objectName,
    ruleMirrors,
} from "../lib";

/**
 * Every backendRef of an HTTPRoute, and the backendRef of every RequestMirror filter, names a
 * Service of this stack (in its namespace, which defaults to the route's), or `<isvc>-predictor`,
 * the Service KServe creates for an InferenceService of this stack in Standard mode. An object
 * being deleted in this update is no longer in the stack, so routing to it is refused too, as is
 * a backend of another kind (no version object this stack creates).
 */
export const httpRouteBackendsResolve: StackValidationPolicy = {
    name: "http-route-backends-resolve",
    description:
        "HTTPRoute backendRefs (and mirror backendRefs) name Services in the stack, or <isvc>-predictor of a Standard-mode InferenceService in the stack.",
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
        const services = new Set<string>();
        const isvcModes = new Map<string, string>();
        for (const r of args.resources) {
            const meta = metadataOf(r.props);
            if (r.type === SERVICE_TYPE) services.add(keyOf(meta.namespace, meta.name));
            if (r.type === INFERENCE_SERVICE_TYPE) {
                isvcModes.set(keyOf(meta.namespace, meta.name), deploymentMode(r.props) ?? "an unspecified");
            }
        }
        /** Why a backendRef does not resolve, or undefined when it does. */
        const problem = (ref: BackendRef, routeNamespace: string): string | undefined => {
            if (!isServiceRef(ref)) {
                return `${backendRefLabel(ref)}, which is no version object of this stack; route to a Service or an InferenceService's -predictor Service the stack creates`;
            }
            if (!ref.name) return `a Service without a name; name a Service the stack creates`;
            const namespace = ref.namespace ?? routeNamespace;
            if (services.has(keyOf(namespace, ref.name))) return undefined;
            const isvc = /^(.*)-predictor$/.exec(ref.name)?.[1];
            const mode = isvc === undefined ? undefined : isvcModes.get(keyOf(namespace, isvc));
            if (mode === "Standard") return undefined;
            if (mode !== undefined) {
                return `Service ${namespace}/${ref.name} of InferenceService ${namespace}/${isvc}, which is in ${mode} mode; KServe creates that Service for Gateway API routing only in Standard mode: deploy it in Standard mode`;
            }
            return `Service ${namespace}/${ref.name}, which is not in the stack (or is being deleted)${isvc === undefined ? "" : `, nor is InferenceService ${namespace}/${isvc}`}; keep the version until no route uses it`;
        };
        for (const r of args.resources.filter((x) => isHttpRoute(x.type))) {
            const namespace = metadataOf(r.props).namespace ?? "default";
            const route = objectName(r.props, r.name);
            gatewayRules(r.props).forEach((rule, i) => {
                const label = `HTTPRoute ${route} ${gatewayRuleLabel(rule, i)}`;
                backendRefsOf(rule).forEach((ref, j) => {
                    const why = problem(ref, namespace);
                    if (why) reportViolation(`${label} backendRef #${j} sends traffic to ${why}.`, r.urn);
                });
                for (const m of ruleMirrors(rule)) {
                    if (!m.backendRef) continue;
                    const why = problem(m.backendRef, namespace);
                    const where = m.where === "rule" ? "" : ` (on ${m.where})`;
                    if (why) reportViolation(`${label} mirrors${where} to ${why}.`, r.urn);
                }
            });
        }
    },
};
