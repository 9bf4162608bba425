import { ResourceValidationPolicy } from "@pulumi/policy";

import {
    DEFAULT_MIN_REPLICAS,
    DEPLOYMENT_MODE,
    INFERENCE_SERVICE_TYPE,
    SKIP_AWAIT,
    WAIT_FOR,
    canariesOf,
    canaryLabel,
    canaryListOf,
    metadataOf,
    objectName,
    predictorOf,
    waitForExpressions,
} from "../lib";

/** Fields the KServe v0.20 webhook refuses on a canary predictor: canaries are sized from the stable. */
export const CANARY_FORBIDDEN_FIELDS = ["maxReplicas", "scaleTarget", "scaleMetric", "autoScaling", "workerSpec"];

/**
 * What KServe v0.20 accepts in spec.canary: only with serving.kserve.io/deploymentMode exactly
 * "Standard" (the webhook refuses the legacy "RawDeployment", and Knative mode splits with
 * canaryTrafficPercent), every entry a predictor without maxReplicas, scaleTarget, scaleMetric,
 * autoScaling or workerSpec, and a canary's minReplicas at most the stable predictor's (default
 * 1). An InferenceService with canaries is not awaited itself (pulumi.com/waitFor): its
 * status.observedGeneration is the stable Deployment's (kserve#6081), so the wait would stall,
 * and the update time out, after any change that leaves that Deployment alone (a canary added, a
 * percent moved); its predictors are gated by PodDisruptionBudgets over their pods instead.
 */
export const isvcCanarySpec: ResourceValidationPolicy = {
    name: "isvc-canary-spec",
    description:
        'InferenceService spec.canary is used only in deploymentMode "Standard", without autoscaling fields, with minReplicas at most the stable\'s, and without a waitFor on the InferenceService (kserve#6081).',
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (args.type !== INFERENCE_SERVICE_TYPE) return;
        const isvc = objectName(args.props, args.name);
        const list = canaryListOf(args.props);
        if (list !== undefined && list !== null && !Array.isArray(list)) {
            reportViolation(
                `InferenceService ${isvc} has spec.canary ${JSON.stringify(list)}; it is a list of {predictor, trafficPercent}: write it as one.`,
            );
        }
        const canaries = canariesOf(args.props);
        const annotations = metadataOf(args.props).annotations ?? {};
        if (canaries.length > 0) {
            const mode = annotations[DEPLOYMENT_MODE];
            if (mode !== "Standard") {
                const why =
                    mode === undefined
                        ? `without the ${DEPLOYMENT_MODE} annotation`
                        : mode === "RawDeployment"
                          ? `in deploymentMode "RawDeployment", the legacy name the KServe v0.20 webhook refuses with canaries`
                          : `in deploymentMode ${JSON.stringify(mode)}`;
                reportViolation(
                    `InferenceService ${isvc} sets spec.canary ${why}; KServe v0.20 accepts spec.canary only in Standard mode: set ${DEPLOYMENT_MODE}: Standard${mode === "Knative" || mode === "Serverless" ? " (Knative mode splits with canaryTrafficPercent instead)" : ""}.`,
                );
            }
        }
        const stable = predictorOf(args.props);
        const stableMin = typeof stable.minReplicas === "number" ? stable.minReplicas : DEFAULT_MIN_REPLICAS;
        for (const c of canaries) {
            const label = `InferenceService ${isvc} ${canaryLabel(c)}`;
            if (!c.hasPredictor) {
                reportViolation(
                    `${label} has no predictor; each canary is {predictor: {name, model...}, trafficPercent}.`,
                );
                continue;
            }
            const set = CANARY_FORBIDDEN_FIELDS.filter((f) => c.predictor[f] !== undefined && c.predictor[f] !== null);
            if (set.length > 0) {
                reportViolation(
                    `${label} sets ${set.join(", ")}; KServe v0.20 refuses ${set.length > 1 ? "them" : "it"} on a canary (a canary's replicas follow its minReplicas, else the stable's minReplicas and its trafficPercent): remove ${set.length > 1 ? "them" : "it"}.`,
                );
            }
            const min = c.predictor.minReplicas;
            if (typeof min === "number" && min > stableMin) {
                reportViolation(
                    `${label} has minReplicas ${min}, above the stable predictor's ${stableMin}${typeof stable.minReplicas === "number" ? "" : " (the default)"}; KServe v0.20 refuses it: lower the canary's minReplicas or raise the stable's.`,
                );
            }
        }
        const waits = waitForExpressions(annotations);
        if (canaries.length > 0 && waits.length > 0 && annotations[SKIP_AWAIT] !== "true") {
            reportViolation(
                `InferenceService ${isvc} has canaries and waits for ${waits.join(", ")} (${WAIT_FOR}); KServe reports the stable Deployment's observedGeneration as its own (kserve#6081), so after a change that leaves that Deployment alone (a canary added, a percent moved) the wait never holds and the update times out: drop ${WAIT_FOR}, set ${SKIP_AWAIT}: "true", and gate each predictor that gets traffic with a PodDisruptionBudget over its pods (app: isvc.<predictor Service>) awaited on condition=DisruptionAllowed.`,
            );
        }
    },
};
