import { ResourceValidationPolicy } from "@pulumi/policy";

import {
    INFERENCE_SERVICE_TYPE,
    MAX_NAME_LENGTH,
    PREDICTOR_NAME_PATTERN,
    canariesOf,
    canaryLabel,
    metadataOf,
    objectName,
    predictorOf,
    predictorServiceName,
} from "../lib";

/**
 * The canaries of an InferenceService (KServe v0.20 spec.canary) are told apart by
 * predictor.name, which names their Deployment and Service `<isvc>-<name>-predictor`: every canary
 * has one, matching ^[a-z]([-a-z0-9]*[a-z0-9])?$, unique, and different from the stable's
 * spec.predictor.name; each such name (the stable's too when set) fits Kubernetes' 63 characters.
 */
export const isvcCanaryNames: ResourceValidationPolicy = {
    name: "isvc-canary-names",
    description:
        "InferenceService canaries have unique valid predictor names, unlike the stable's, and every <isvc>-<name>-predictor fits 63 characters.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (args.type !== INFERENCE_SERVICE_TYPE) return;
        const isvcName = metadataOf(args.props).name ?? args.name;
        const isvc = objectName(args.props, args.name);
        const fits = (what: string, name: string) => {
            const service = predictorServiceName(isvcName, name);
            if (service.length > MAX_NAME_LENGTH) {
                reportViolation(
                    `InferenceService ${isvc} ${what} gets Deployment and Service ${service}, ${service.length} characters; Kubernetes allows at most ${MAX_NAME_LENGTH}: shorten the InferenceService or predictor name.`,
                );
            }
        };
        const stable = predictorOf(args.props).name;
        if (stable !== undefined) {
            if (typeof stable !== "string" || !PREDICTOR_NAME_PATTERN.test(stable)) {
                reportViolation(
                    `InferenceService ${isvc} names its stable predictor ${JSON.stringify(stable)}; a predictor name must match ${PREDICTOR_NAME_PATTERN.source} (lowercase letters, digits and '-', starting with a letter): rename it.`,
                );
            } else {
                fits(`stable predictor "${stable}"`, stable);
            }
        }
        const seen = new Map<string, number>();
        for (const c of canariesOf(args.props)) {
            const label = canaryLabel(c);
            if (c.name === undefined || c.name === null || c.name === "") {
                reportViolation(
                    `InferenceService ${isvc} ${label} has no predictor.name; KServe v0.20 requires one (it names the canary's Deployment and Service <isvc>-<name>-predictor): name it, e.g. after its version.`,
                );
                continue;
            }
            if (typeof c.name !== "string" || !PREDICTOR_NAME_PATTERN.test(c.name)) {
                reportViolation(
                    `InferenceService ${isvc} canary #${c.index} is named ${JSON.stringify(c.name)}; a canary name must match ${PREDICTOR_NAME_PATTERN.source} (lowercase letters, digits and '-', starting with a letter): rename it.`,
                );
                continue;
            }
            const first = seen.get(c.name);
            if (first !== undefined) {
                reportViolation(
                    `InferenceService ${isvc} canaries #${first} and #${c.index} are both named "${c.name}"; canary names must be unique (each names its own Deployment and Service): rename one.`,
                );
                continue;
            }
            seen.set(c.name, c.index);
            if (c.name === stable) {
                reportViolation(
                    `InferenceService ${isvc} ${label} has the stable predictor's name; both would be ${predictorServiceName(isvcName, c.name)}: give the canary a name of its own.`,
                );
                continue;
            }
            fits(label, c.name);
        }
    },
};
