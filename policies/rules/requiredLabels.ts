import { StackValidationPolicy } from "@pulumi/policy";

import { DEPLOYMENT_TYPE, INFERENCE_SERVICE_TYPE, metadataOf, objectName } from "../lib";

export interface RequiredLabelsConfig {
    /** Labels every version workload carries. */
    labels: string[];
}

/** Hygiene: version workloads carry the labels that identify app and version. */
export const requiredLabels: StackValidationPolicy = {
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
    validateStack: (args, reportViolation) => {
        const { labels } = args.getConfig<RequiredLabelsConfig>();
        for (const r of args.resources.filter((x) => x.type === INFERENCE_SERVICE_TYPE || x.type === DEPLOYMENT_TYPE)) {
            const present = metadataOf(r.props).labels ?? {};
            const missing = labels.filter((l) => !present[l]);
            if (missing.length > 0) {
                reportViolation(
                    `${r.type.split(":").pop()} ${objectName(r.props, r.name)} lacks label${missing.length > 1 ? "s" : ""} ${missing.join(", ")}; add them to the version or release labels.`,
                    r.urn,
                );
            }
        }
    },
};
