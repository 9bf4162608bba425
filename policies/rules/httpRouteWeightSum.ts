import { ResourceValidationPolicy } from "@pulumi/policy";

import { backendRefsOf, effectiveWeight, gatewayRuleLabel, gatewayRules, isHttpRoute, objectName } from "../lib";

export interface HttpRouteWeightSumConfig {
    /** `strict`: the weights of a rule's backendRefs sum to exactly 100, so they read as percents
     *  (one backendRef: weight 100); `relative`: only a total above 0 is required (Gateway API's
     *  own semantics: weight / sum of weights). */
    mode: "strict" | "relative";
}

/**
 * The backendRefs of an HTTPRoute rule split by weights that sum to exactly 100 (or, in relative
 * mode, at least not to 0: a rule whose backends all have weight 0 answers every request with an
 * error). An omitted weight counts as Gateway API's default of 1.
 */
export const httpRouteWeightSum: ResourceValidationPolicy = {
    name: "http-route-weight-sum",
    description: "The backendRef weights of an HTTPRoute rule sum to exactly 100 (one backendRef: weight 100).",
    enforcementLevel: "mandatory",
    configSchema: {
        properties: {
            mode: { type: "string", enum: ["strict", "relative"], default: "strict" },
        },
    },
    validateResource: (args, reportViolation) => {
        if (!isHttpRoute(args.type)) return;
        const { mode } = args.getConfig<HttpRouteWeightSumConfig>();
        const route = objectName(args.props, args.name);
        gatewayRules(args.props).forEach((rule, i) => {
            const refs = backendRefsOf(rule);
            if (refs.length === 0) return;
            const weights = refs.map(effectiveWeight);
            const total = weights.reduce((a, b) => a + b, 0);
            const label = `HTTPRoute ${route} ${gatewayRuleLabel(rule, i)}`;
            const defaulted = refs.some((r) => r.weight === undefined || r.weight === null)
                ? "; an omitted weight counts as Gateway API's default of 1"
                : "";
            if (mode === "strict" && total !== 100) {
                reportViolation(
                    refs.length === 1
                        ? `${label} has one backendRef with weight ${weights[0]}${defaulted}; give it weight 100.`
                        : `${label} splits ${weights.join("/")} (total ${total}${defaulted}); weights of a split must sum to exactly 100.`,
                );
            } else if (total <= 0) {
                reportViolation(
                    `${label} has total backendRef weight ${total}; every request it matches would fail: at least one backendRef needs a weight above 0.`,
                );
            }
        });
    },
};
