import { ResourceValidationPolicy } from "@pulumi/policy";

import { INFERENCE_SERVICE_TYPE, deploymentMode, isPercent, objectName, predictorOf } from "../lib";

/** canaryTrafficPercent is an integer from 0 to 100, and only used in Knative mode. */
export const isvcCanaryTrafficPercent: ResourceValidationPolicy = {
    name: "isvc-canary-traffic-percent",
    description:
        "InferenceService canaryTrafficPercent is an integer from 0 to 100 and only set in Knative (Serverless) mode.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (args.type !== INFERENCE_SERVICE_TYPE) return;
        const value = predictorOf(args.props).canaryTrafficPercent;
        if (value === undefined) return;
        const isvc = objectName(args.props, args.name);
        if (!isPercent(value)) {
            // KServe does not validate it; Knative rejects the route later ("Traffic targets sum to ...").
            reportViolation(
                `InferenceService ${isvc} has canaryTrafficPercent ${JSON.stringify(value)}; use an integer from 0 to 100.`,
            );
        }
        const mode = deploymentMode(args.props);
        if (mode !== "Knative") {
            reportViolation(
                `InferenceService ${isvc} sets canaryTrafficPercent in ${mode ?? "an unspecified"} mode; KServe only reads it in Knative (Serverless) mode: set serving.kserve.io/deploymentMode: Knative or split with a VirtualService.`,
            );
        }
    },
};
