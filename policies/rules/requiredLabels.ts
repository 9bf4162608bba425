import { ResourceValidationPolicy } from "@pulumi/policy";

import { DEPLOYMENT_TYPE, INFERENCE_SERVICE_TYPE, metadataOf, objectName } from "../lib";

export interface RequiredLabelsConfig {
    /** Labels every version workload carries. */
    labels: string[];
}

/** Hygiene: version workloads carry the labels that identify app and version. */
export const requiredLabels: ResourceValidationPolicy = {
    name: "required-labels",
    description:
        "InferenceServices and Deployments carry the required labels (default app.kubernetes.io/name and app.kubernetes.io/version).",
    enforcementLevel: "advisory",
    configSchema: {
        properties: {
            labels: {
                type: "array",
                items: { type: "string" },
                default: ["app.kubernetes.io/name", "app.kubernetes.io/version"],
            },
        },
    },
    validateResource: (args, reportViolation) => {
        if (args.type !== INFERENCE_SERVICE_TYPE && args.type !== DEPLOYMENT_TYPE) return;
        const { labels } = args.getConfig<RequiredLabelsConfig>();
        const present = metadataOf(args.props).labels ?? {};
        const missing = labels.filter((l) => !present[l]);
        if (missing.length > 0) {
            reportViolation(
                `${args.type.split(":").pop()} ${objectName(args.props, args.name)} lacks label${missing.length > 1 ? "s" : ""} ${missing.join(", ")}; add them to the version or release labels.`,
            );
        }
    },
};
