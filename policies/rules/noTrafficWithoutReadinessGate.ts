import { StackValidationPolicy } from "@pulumi/policy";

import {
    DEPLOYMENT_TYPE,
    INFERENCE_SERVICE_TYPE,
    SKIP_AWAIT,
    WAIT_FOR,
    allRoutes,
    anyRouteLabel,
    backendRefsOf,
    backendWorkload,
    effectiveWeight,
    gatewayRuleLabel,
    gatewayRules,
    hostsOf,
    isHttpRoute,
    isVirtualService,
    keyOf,
    metadataOf,
    objectName,
    resolveDestination,
} from "../lib";

/**
 * A version without a readiness gate gets 0%: the update would otherwise move traffic before the
 * version can serve. InferenceServices need `pulumi.com/waitFor`; Deployments are awaited by the
 * provider unless `pulumi.com/skipAwait` is "true". Checked for VirtualService destinations and
 * HTTPRoute backendRefs alike (a backendRef gets traffic when its weight, 1 when omitted, is
 * above 0; `<isvc>-predictor` is InferenceService `<isvc>`).
 */
export const noTrafficWithoutReadinessGate: StackValidationPolicy = {
    name: "no-traffic-without-readiness-gate",
    description: "Versions without a readiness gate receive no traffic.",
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
        const ungated = new Set<string>();
        for (const r of args.resources) {
            const meta = metadataOf(r.props);
            const annotations = meta.annotations ?? {};
            if (r.type === INFERENCE_SERVICE_TYPE && (!annotations[WAIT_FOR] || annotations[SKIP_AWAIT] === "true")) {
                ungated.add(`InferenceService:${keyOf(meta.namespace, meta.name)}`);
            }
            if (r.type === DEPLOYMENT_TYPE && annotations[SKIP_AWAIT] === "true" && !annotations[WAIT_FOR]) {
                // A version's Service is named like its Deployment.
                ungated.add(`Service:${keyOf(meta.namespace, meta.name)}`);
            }
        }
        for (const r of args.resources.filter((x) => isVirtualService(x.type))) {
            const namespace = metadataOf(r.props).namespace ?? "default";
            const hosts = hostsOf(r.props);
            allRoutes(r.props).forEach((ref) => {
                const destinations = ref.route.route ?? [];
                for (const d of destinations) {
                    const gets = destinations.length === 1 || (typeof d.weight === "number" && d.weight > 0);
                    const res = resolveDestination(namespace, hosts, d);
                    if (!gets || res.kind !== "workload") continue;
                    const { kind, namespace: ns, name } = res.workload;
                    if (ungated.has(`${kind}:${ns}/${name}`)) {
                        reportViolation(
                            `VirtualService ${objectName(r.props, r.name)} ${anyRouteLabel(ref)} sends traffic to ${kind} ${ns}/${name}, which has no readiness gate; add ${WAIT_FOR} (or drop ${SKIP_AWAIT}) or give it 0%.`,
                            r.urn,
                        );
                    }
                }
            });
        }
        for (const r of args.resources.filter((x) => isHttpRoute(x.type))) {
            const namespace = metadataOf(r.props).namespace ?? "default";
            gatewayRules(r.props).forEach((rule, i) => {
                for (const ref of backendRefsOf(rule)) {
                    const workload = backendWorkload(ref, namespace);
                    if (workload === undefined || effectiveWeight(ref) <= 0) continue;
                    const { kind, namespace: ns, name } = workload;
                    if (ungated.has(`${kind}:${ns}/${name}`)) {
                        reportViolation(
                            `HTTPRoute ${objectName(r.props, r.name)} ${gatewayRuleLabel(rule, i)} sends traffic to ${kind} ${ns}/${name}, which has no readiness gate; add ${WAIT_FOR} (or drop ${SKIP_AWAIT}) or give it weight 0.`,
                            r.urn,
                        );
                    }
                }
            });
        }
    },
};
