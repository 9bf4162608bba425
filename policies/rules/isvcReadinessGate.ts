import { ResourceValidationPolicy } from "@pulumi/policy";

import { INFERENCE_SERVICE_TYPE, SKIP_AWAIT, WAIT_FOR, canariesOf, metadataOf, objectName, stableNameOf } from "../lib";

/**
 * InferenceServices carry a readiness gate; custom resources are not awaited otherwise, so an
 * update would succeed (and routing move) before the model is loaded. The stack rule
 * `no-traffic-without-readiness-gate` refuses traffic to ungated versions. One with KServe v0.20
 * canaries or a named stable predictor (the shape of kserve-canary in Standard mode) is gated per
 * predictor instead (PodDisruptionBudgets, which that stack rule checks; see `isvc-canary-spec`).
 */
export const isvcReadinessGate: ResourceValidationPolicy = {
    name: "isvc-readiness-gate",
    description: "InferenceServices are gated on readiness (pulumi.com/waitFor, e.g. condition=Ready).",
    enforcementLevel: "advisory",
    validateResource: (args, reportViolation) => {
        if (args.type !== INFERENCE_SERVICE_TYPE) return;
        if (canariesOf(args.props).length > 0 || stableNameOf(args.props) !== undefined) return;
        const annotations = metadataOf(args.props).annotations ?? {};
        if (!annotations[WAIT_FOR] || annotations[SKIP_AWAIT] === "true") {
            reportViolation(
                `InferenceService ${objectName(args.props, args.name)} has no readiness gate; add annotation ${WAIT_FOR}: condition=Ready (and no ${SKIP_AWAIT}).`,
            );
        }
    },
};
