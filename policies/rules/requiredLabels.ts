import { ResourceValidationPolicy } from "@pulumi/policy";

import {
    DEPLOYMENT_TYPE,
    INFERENCE_SERVICE_TYPE,
    Json,
    canariesOf,
    isObject,
    metadataOf,
    objectName,
    predictorOf,
    stableNameOf,
} from "../lib";

export interface RequiredLabelsConfig {
    /** Labels every version workload carries. */
    labels: string[];
}

/** A predictor spec's own labels (KServe lays them over the InferenceService's on its pods). */
function predictorLabels(predictor: Json): Record<string, unknown> {
    return isObject(predictor.labels) ? predictor.labels : {};
}

/**
 * Hygiene: version workloads carry the labels that identify app and version. An InferenceService
 * with named predictors (KServe v0.20 canaries) holds several versions: each predictor's pods get
 * the InferenceService's labels with the predictor's own laid over, and those are checked.
 */
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
        const own: Record<string, unknown> = metadataOf(args.props).labels ?? {};
        const what = `${args.type.split(":").pop()} ${objectName(args.props, args.name)}`;
        const check = (subject: string, present: Record<string, unknown>) => {
            const missing = labels.filter((l) => !present[l]);
            if (missing.length > 0) {
                reportViolation(
                    `${subject} lacks label${missing.length > 1 ? "s" : ""} ${missing.join(", ")}; add them to the version or release labels.`,
                );
            }
        };
        const canaries = canariesOf(args.props);
        const stableName = stableNameOf(args.props);
        if (args.type !== INFERENCE_SERVICE_TYPE || (canaries.length === 0 && stableName === undefined)) {
            check(what, own);
            return;
        }
        check(`${what} predictor "${stableName ?? "(unnamed)"}"`, {
            ...own,
            ...predictorLabels(predictorOf(args.props)),
        });
        for (const c of canaries) {
            if (!c.hasPredictor) continue;
            check(`${what} canary "${String(c.name ?? "(unnamed)")}"`, { ...own, ...predictorLabels(c.predictor) });
        }
    },
};
