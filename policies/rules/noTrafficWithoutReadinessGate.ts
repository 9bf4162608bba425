import { StackValidationPolicy } from "@pulumi/policy";

import {
    DEPLOYMENT_TYPE,
    INFERENCE_SERVICE_TYPE,
    SKIP_AWAIT,
    WAIT_FOR,
    Workload,
    allRoutes,
    anyRouteLabel,
    awaitedPodGates,
    backendRefsOf,
    backendWorkload,
    canariesOf,
    effectiveWeight,
    gatewayRuleLabel,
    gatewayRules,
    hostsOf,
    isHttpRoute,
    isVirtualService,
    keyOf,
    metadataOf,
    objectName,
    predictorPodApp,
    predictorServiceIndex,
    resolveDestination,
    workloadPredictor,
} from "../lib";

/**
 * A version without a readiness gate gets 0%: the update would otherwise move traffic before the
 * version can serve. InferenceServices need `pulumi.com/waitFor`; Deployments are awaited by the
 * provider unless `pulumi.com/skipAwait` is "true". Checked for VirtualService destinations and
 * HTTPRoute backendRefs alike (a backendRef gets traffic when its weight, 1 when omitted, is
 * above 0; `<isvc>-predictor` is InferenceService `<isvc>`, and so is `<isvc>-<name>-predictor`
 * when `<name>` is its stable predictor's name or a canary's). An InferenceService with KServe
 * v0.20 canaries (`spec.canary`) cannot be gated by its own waitFor: its Ready condition leaves the
 * canaries out, and in Standard mode its status.observedGeneration is the stable Deployment's
 * (kserve#6081), so a waitFor stalls after any change that leaves that Deployment alone. Traffic
 * to each of its predictors needs a gate on the predictor's own pods: an awaited
 * PodDisruptionBudget (`condition=DisruptionAllowed`) selecting `app: isvc.<predictor Service>`.
 */
export const noTrafficWithoutReadinessGate: StackValidationPolicy = {
    name: "no-traffic-without-readiness-gate",
    description:
        "Versions without a readiness gate receive no traffic; a predictor of an InferenceService with canaries gets traffic only behind an awaited PodDisruptionBudget over its pods.",
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
        const ungated = new Set<string>();
        /** InferenceServices with canaries, by `<namespace>/<name>`: gated per predictor only. */
        const withCanaries = new Set<string>();
        const podGates = awaitedPodGates(args.resources);
        for (const r of args.resources) {
            const meta = metadataOf(r.props);
            const annotations = meta.annotations ?? {};
            if (r.type === INFERENCE_SERVICE_TYPE) {
                if (canariesOf(r.props).length > 0) withCanaries.add(keyOf(meta.namespace, meta.name));
                if (!annotations[WAIT_FOR] || annotations[SKIP_AWAIT] === "true") {
                    ungated.add(`InferenceService:${keyOf(meta.namespace, meta.name)}`);
                }
            }
            if (r.type === DEPLOYMENT_TYPE && annotations[SKIP_AWAIT] === "true" && !annotations[WAIT_FOR]) {
                // A version's Service is named like its Deployment.
                ungated.add(`Service:${keyOf(meta.namespace, meta.name)}`);
            }
        }
        const predictors = predictorServiceIndex(args.resources);
        /** Why traffic to a workload is not gated, or undefined when it is; `zero` is how the fix says "no traffic". */
        const problem = (w: Workload, zero: string): string | undefined => {
            const predictor = workloadPredictor(predictors, w);
            const { kind, namespace, name } = predictor
                ? { kind: "InferenceService", namespace: predictor.namespace, name: predictor.isvc }
                : w;
            const what = `${kind} ${namespace}/${name}${predictor?.canary === undefined ? "" : ` (canary "${predictor.canary}")`}`;
            if (predictor) {
                // A gate on the predictor's own pods is always enough, and the only gate of an
                // InferenceService with canaries.
                const app = predictorPodApp(predictor.service);
                if (podGates.has(keyOf(namespace, app))) return undefined;
                if (withCanaries.has(keyOf(namespace, name))) {
                    return `predictor ${predictor.service} of ${what}, which has no readiness gate on its pods (the InferenceService's own waitFor cannot gate it: Ready leaves canaries out, and KServe reports the stable Deployment's observedGeneration, kserve#6081); add a PodDisruptionBudget with selector app: ${app} and ${WAIT_FOR}: condition=DisruptionAllowed, or give it ${zero}`;
                }
            }
            if (ungated.has(`${kind}:${namespace}/${name}`)) {
                return `${what}, which has no readiness gate; add ${WAIT_FOR} (or drop ${SKIP_AWAIT}) or give it ${zero}`;
            }
            return undefined;
        };
        for (const r of args.resources.filter((x) => isVirtualService(x.type))) {
            const namespace = metadataOf(r.props).namespace ?? "default";
            const hosts = hostsOf(r.props);
            allRoutes(r.props).forEach((ref) => {
                const destinations = ref.route.route ?? [];
                for (const d of destinations) {
                    const gets = destinations.length === 1 || (typeof d.weight === "number" && d.weight > 0);
                    const res = resolveDestination(namespace, hosts, d);
                    if (!gets || res.kind !== "workload") continue;
                    const why = problem(res.workload, "0%");
                    if (why) {
                        reportViolation(
                            `VirtualService ${objectName(r.props, r.name)} ${anyRouteLabel(ref)} sends traffic to ${why}.`,
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
                    const why = problem(workload, "weight 0");
                    if (why) {
                        reportViolation(
                            `HTTPRoute ${objectName(r.props, r.name)} ${gatewayRuleLabel(rule, i)} sends traffic to ${why}.`,
                            r.urn,
                        );
                    }
                }
            });
        }
    },
};
