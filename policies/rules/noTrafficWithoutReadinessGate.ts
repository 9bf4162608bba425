import { StackValidationPolicy } from "@pulumi/policy";

import {
    DEPLOYMENT_TYPE,
    INFERENCE_SERVICE_TYPE,
    SKIP_AWAIT,
    WAIT_FOR,
    Workload,
    allRoutes,
    anyRouteLabel,
    backendRefsOf,
    backendWorkload,
    canariesWaitedFor,
    canaryReadyExpression,
    effectiveWeight,
    gatewayRuleLabel,
    gatewayRules,
    hostsOf,
    isHttpRoute,
    isVirtualService,
    keyOf,
    metadataOf,
    objectName,
    predictorServiceIndex,
    resolveDestination,
    waitForExpressions,
    waitsForReady,
    workloadPredictor,
} from "../lib";

/**
 * A version without a readiness gate gets 0%: the update would otherwise move traffic before the
 * version can serve. InferenceServices need `pulumi.com/waitFor`; Deployments are awaited by the
 * provider unless `pulumi.com/skipAwait` is "true". Checked for VirtualService destinations and
 * HTTPRoute backendRefs alike (a backendRef gets traffic when its weight, 1 when omitted, is
 * above 0; `<isvc>-predictor` is InferenceService `<isvc>`, and so is `<isvc>-<name>-predictor`
 * when `<name>` is its stable predictor's name or a canary's). A KServe v0.20 canary
 * (`spec.canary`) is not part of the InferenceService's Ready condition, so traffic to it needs a
 * waitFor that holds both `condition=Ready` and the canary's own readiness,
 * `jsonpath={.status.canaryStatuses[?(@.name=="<name>")].ready}=true`.
 */
export const noTrafficWithoutReadinessGate: StackValidationPolicy = {
    name: "no-traffic-without-readiness-gate",
    description:
        "Versions without a readiness gate receive no traffic; an InferenceService canary gets traffic only when waitFor also waits for its canaryStatuses readiness.",
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
        const ungated = new Set<string>();
        /** The waitFor expressions of each InferenceService, by `<namespace>/<name>`. */
        const gates = new Map<string, string[]>();
        for (const r of args.resources) {
            const meta = metadataOf(r.props);
            const annotations = meta.annotations ?? {};
            if (r.type === INFERENCE_SERVICE_TYPE) {
                gates.set(keyOf(meta.namespace, meta.name), waitForExpressions(annotations));
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
            if (ungated.has(`${kind}:${namespace}/${name}`)) {
                return `${what}, which has no readiness gate; add ${WAIT_FOR} (or drop ${SKIP_AWAIT}) or give it ${zero}`;
            }
            if (predictor?.canary === undefined) return undefined;
            const expressions = gates.get(keyOf(namespace, name)) ?? [];
            const missing = [
                ...(waitsForReady(expressions) ? [] : ["condition=Ready"]),
                ...(canariesWaitedFor(expressions).includes(predictor.canary)
                    ? []
                    : [canaryReadyExpression(predictor.canary)]),
            ];
            if (missing.length === 0) return undefined;
            return `canary "${predictor.canary}" of InferenceService ${namespace}/${name}, whose readiness gate does not wait for it (the InferenceService's Ready condition does not include canaries); add ${missing.map((m) => `'${m}'`).join(" and ")} to ${WAIT_FOR} (a JSON array of expressions) or give it ${zero}`;
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
