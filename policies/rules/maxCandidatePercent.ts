import { ResourceValidationPolicy } from "@pulumi/policy";

import {
    INFERENCE_SERVICE_TYPE,
    allRoutes,
    anyRouteLabel,
    backendRefLabel,
    backendRefsOf,
    backendVersion,
    canariesOf,
    canaryLabel,
    effectiveWeight,
    gatewayRuleLabel,
    gatewayRules,
    isHttpRoute,
    isVirtualService,
    objectName,
    predictorOf,
    versionOf,
    weightRecordOf,
} from "../lib";

export interface MaxCandidatePercentConfig {
    /** Highest share of requests a candidate (any destination but a split's first) may get. */
    maxPercent: number;
}

/**
 * Guard rail: a candidate gets at most `maxPercent` of the traffic (default 100: off), whatever
 * the strategy expresses it with: a weighted destination of any http, tcp or tls route after the
 * first, a backendRef of an HTTPRoute rule after the first (its share of the rule's total weight,
 * an omitted weight counting as Gateway API's default of 1), a weight ConfigMap's recorded percent, an InferenceService's `canaryTrafficPercent`
 * (KServe's own canary: the latest revision is the candidate), or the `trafficPercent` of each
 * entry of its `spec.canary` (KServe v0.20, Standard mode). Mirrored traffic is not counted:
 * the candidate's answers to mirrored requests are discarded, so no client is served by it. A
 * resource rule, so it refuses the object before it is sent to the cluster even without a preview.
 */
export const maxCandidatePercent: ResourceValidationPolicy = {
    name: "max-candidate-percent",
    description: "A candidate version receives at most the configured percentage of traffic.",
    enforcementLevel: "mandatory",
    configSchema: {
        properties: { maxPercent: { type: "integer", minimum: 0, maximum: 100, default: 100 } },
    },
    validateResource: (args, reportViolation) => {
        const { maxPercent } = args.getConfig<MaxCandidatePercentConfig>();
        const name = objectName(args.props, args.name);
        if (isVirtualService(args.type)) {
            for (const ref of allRoutes(args.props)) {
                const [, ...candidates] = ref.route.route ?? [];
                for (const d of candidates) {
                    if (typeof d.weight === "number" && d.weight > maxPercent) {
                        reportViolation(
                            `VirtualService ${name} ${anyRouteLabel(ref)} gives candidate ${versionOf(d) ?? d.destination?.host} ${d.weight}%, above the maximum of ${maxPercent}%; move it in smaller steps.`,
                        );
                    }
                }
            }
        }
        if (isHttpRoute(args.type)) {
            gatewayRules(args.props).forEach((rule, i) => {
                const refs = backendRefsOf(rule);
                const total = refs.reduce((sum, ref) => sum + Math.max(0, effectiveWeight(ref)), 0);
                if (total <= 0) return;
                for (const ref of refs.slice(1)) {
                    const share = Math.round((Math.max(0, effectiveWeight(ref)) * 10000) / total) / 100;
                    if (share > maxPercent) {
                        reportViolation(
                            `HTTPRoute ${name} ${gatewayRuleLabel(rule, i)} gives candidate ${backendVersion(ref) ?? backendRefLabel(ref)} ${share}%, above the maximum of ${maxPercent}%; move it in smaller steps.`,
                        );
                    }
                }
            });
        }
        if (args.type === INFERENCE_SERVICE_TYPE) {
            const percent = predictorOf(args.props).canaryTrafficPercent;
            if (typeof percent === "number" && percent > maxPercent) {
                reportViolation(
                    `InferenceService ${name} gives its latest revision (the candidate) canaryTrafficPercent ${percent}, above the maximum of ${maxPercent}%; raise it in smaller steps.`,
                );
            }
            for (const c of canariesOf(args.props)) {
                // A canary at 100% leaves the stable predictor nothing: the first half of a
                // promotion (drain, then rename), which the guard rail allows like any promotion.
                if (typeof c.trafficPercent === "number" && c.trafficPercent > maxPercent && c.trafficPercent < 100) {
                    reportViolation(
                        `InferenceService ${name} gives ${canaryLabel(c)} (a candidate) trafficPercent ${c.trafficPercent}, above the maximum of ${maxPercent}%; raise it in smaller steps.`,
                    );
                }
            }
        }
        const record = weightRecordOf(args.type, args.props);
        if (record?.role === "candidate" && Number(record.percent) > maxPercent) {
            reportViolation(
                `ConfigMap ${name} records ${record.percent}% for candidate ${record.version}, above the maximum of ${maxPercent}%.`,
            );
        }
    },
};
