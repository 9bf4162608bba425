import { StackValidationPolicy } from "@pulumi/policy";

import {
    BackendRef,
    SERVICE_TYPE,
    backendRefLabel,
    backendRefsOf,
    gatewayRuleLabel,
    gatewayRules,
    isHttpRoute,
    isServiceRef,
    keyOf,
    metadataOf,
    objectName,
    predictorServiceHint,
    predictorServiceIndex,
    ruleMirrors,
} from "../lib";

/**
 * Every backendRef of an HTTPRoute, and the backendRef of every RequestMirror filter, names a
 * Service of this stack (in its namespace, which defaults to the route's), or a predictor Service
 * KServe creates for an InferenceService of this stack in Standard mode: `<isvc>-predictor` (a
 * stable predictor without a name) or, KServe v0.20, `<isvc>-<name>-predictor` (the stable's
 * predictor.name, or a spec.canary entry's). An object being deleted in this update is no longer
 * in the stack, so routing to it is refused too, as is a backend of another kind (no version
 * object this stack creates).
 */
export const httpRouteBackendsResolve: StackValidationPolicy = {
    name: "http-route-backends-resolve",
    description:
        "HTTPRoute backendRefs (and mirror backendRefs) name Services in the stack, or <isvc>-predictor / <isvc>-<name>-predictor (a named stable or canary) of a Standard-mode InferenceService in the stack.",
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
        const services = new Set<string>();
        for (const r of args.resources) {
            const meta = metadataOf(r.props);
            if (r.type === SERVICE_TYPE) services.add(keyOf(meta.namespace, meta.name));
        }
        const predictors = predictorServiceIndex(args.resources);
        /** Why a backendRef does not resolve, or undefined when it does. */
        const problem = (ref: BackendRef, routeNamespace: string): string | undefined => {
            if (!isServiceRef(ref)) {
                return `${backendRefLabel(ref)}, which is no version object of this stack; route to a Service or an InferenceService's -predictor Service the stack creates`;
            }
            if (!ref.name) return `a Service without a name; name a Service the stack creates`;
            const namespace = ref.namespace ?? routeNamespace;
            if (services.has(keyOf(namespace, ref.name))) return undefined;
            const predictor = predictors.get(keyOf(namespace, ref.name));
            if (predictor?.mode === "Standard") return undefined;
            if (predictor !== undefined) {
                return `Service ${namespace}/${ref.name} of InferenceService ${namespace}/${predictor.isvc}, which is in ${predictor.mode ?? "an unspecified"} mode; KServe creates that Service for Gateway API routing only in Standard mode: deploy it in Standard mode`;
            }
            const hint = predictorServiceHint(args.resources, namespace, ref.name);
            if (hint !== undefined) {
                return `Service ${namespace}/${ref.name}, which is not in the stack (or is being deleted): ${hint}; route to a predictor the InferenceService has`;
            }
            const isvc = /^(.*)-predictor$/.exec(ref.name)?.[1];
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
