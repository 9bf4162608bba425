import { ResourceValidationPolicy } from "@pulumi/policy";

import {
    DEFAULT_MIN_REPLICAS,
    DEPLOYMENT_MODE,
    INFERENCE_SERVICE_TYPE,
    WAIT_FOR,
    canariesOf,
    canariesWaitedFor,
    canaryLabel,
    canaryListOf,
    isPercent,
    metadataOf,
    objectName,
    predictorOf,
    waitForExpressions,
} from "../lib";

/** Fields the KServe v0.20 webhook refuses on a canary predictor: canaries are sized from the stable. */
/** The annotation that picks a predictor's autoscaler; `none` makes KServe write computed replicas. */
const AUTOSCALER_CLASS = "serving.kserve.io/autoscalerClass";

export const CANARY_FORBIDDEN_FIELDS = ["maxReplicas", "scaleTarget", "scaleMetric", "autoScaling", "workerSpec"];

/**
 * What KServe v0.20 accepts in spec.canary: only with serving.kserve.io/deploymentMode exactly
 * "Standard" (the webhook refuses the legacy "RawDeployment", and Knative mode splits with
 * canaryTrafficPercent), every entry a predictor without maxReplicas, scaleTarget, scaleMetric,
 * autoScaling or workerSpec, and a canary's minReplicas at most the stable predictor's (default
 * 1). A readiness gate (pulumi.com/waitFor) that waits for a canary it does not have, or for one
 * that gets no replica (autoscalerClass none, and trafficPercent 0 with no minReplicas:
 * ceil(stable min x percent / 100) = 0; under the default HPA it keeps one), would never hold, so the update would time out: refused too.
 */
export const isvcCanarySpec: ResourceValidationPolicy = {
    name: "isvc-canary-spec",
    description:
        'InferenceService spec.canary is used only in deploymentMode "Standard", without autoscaling fields, with minReplicas at most the stable\'s, and waited for only when it can become ready.',
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
        /** Replicas KServe gives each named canary, and why, when known. */
        const replicas = new Map<string, { count: number; why: string } | undefined>();
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
            if (typeof c.name === "string") {
                const count =
                    typeof min === "number"
                        ? { count: min, why: `minReplicas ${min}` }
                        : isPercent(c.trafficPercent)
                          ? {
                                count: Math.ceil((stableMin * c.trafficPercent) / 100),
                                why: `no minReplicas, and ceil(${stableMin} x trafficPercent ${c.trafficPercent} / 100) = ${Math.ceil((stableMin * c.trafficPercent) / 100)}`,
                            }
                          : undefined;
                if (!replicas.has(c.name)) replicas.set(c.name, count);
            }
        }
        for (const name of new Set(canariesWaitedFor(waitForExpressions(annotations)))) {
            if (!replicas.has(name)) {
                reportViolation(
                    `InferenceService ${isvc} waits (${WAIT_FOR}) for canary "${name}" to be ready, but spec.canary has no canary "${name}"; the wait would never hold and the update would time out: drop that expression or add the canary.`,
                );
            } else {
                const sized = replicas.get(name);
                // Only with autoscalerClass none does KServe write the computed replicas; under the
                // default HPA the Deployment keeps at least one.
                if (sized?.count === 0 && annotations[AUTOSCALER_CLASS] === "none") {
                    reportViolation(
                        `InferenceService ${isvc} waits (${WAIT_FOR}) for canary "${name}" to be ready, but KServe gives it 0 replicas (${sized.why}, with autoscalerClass none), so it never becomes ready and the update would time out: drop that expression while the canary is pinned, or give the canary replicas (minReplicas) or traffic.`,
                    );
                }
            }
        }
    },
};
