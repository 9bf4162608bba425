import { ResourceValidationPolicy } from "@pulumi/policy";

import { INFERENCE_SERVICE_TYPE, canariesOf, canaryLabel, isPercent, objectName } from "../lib";

/**
 * Every entry of an InferenceService's spec.canary (KServe v0.20, Standard mode) sets its
 * trafficPercent explicitly, as an integer from 0 to 100 (0 pins a canary without traffic), and
 * the canaries take at most 100% together: the stable predictor serves the rest.
 */
export const isvcCanaryPercent: ResourceValidationPolicy = {
    name: "isvc-canary-percent",
    description:
        "InferenceService spec.canary trafficPercent values are integers from 0 to 100 that sum to at most 100.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (args.type !== INFERENCE_SERVICE_TYPE) return;
        const canaries = canariesOf(args.props);
        if (canaries.length === 0) return;
        const isvc = objectName(args.props, args.name);
        for (const c of canaries) {
            if (c.trafficPercent === undefined || c.trafficPercent === null) {
                reportViolation(
                    `InferenceService ${isvc} ${canaryLabel(c)} has no trafficPercent; set an integer from 0 to 100 (0 keeps the canary pinned without traffic).`,
                );
            } else if (!isPercent(c.trafficPercent)) {
                reportViolation(
                    `InferenceService ${isvc} ${canaryLabel(c)} has trafficPercent ${JSON.stringify(c.trafficPercent)}; use an integer from 0 to 100.`,
                );
            }
        }
        const valid = canaries.filter((c) => isPercent(c.trafficPercent));
        const total = valid.reduce((sum, c) => sum + (c.trafficPercent as number), 0);
        if (total > 100) {
            const parts = valid.map((c) => `${canaryLabel(c)} ${String(c.trafficPercent)}`).join(", ");
            reportViolation(
                `InferenceService ${isvc} gives its canaries ${total}% in total (${parts}); the canaries' trafficPercent must sum to at most 100 (the stable predictor serves the rest): lower them.`,
            );
        }
    },
};
