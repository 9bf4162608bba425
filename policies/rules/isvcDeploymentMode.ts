import { ResourceValidationPolicy } from "@pulumi/policy";

import { DEPLOYMENT_MODE, INFERENCE_SERVICE_TYPE, deploymentMode, metadataOf, objectName } from "../lib";

/** The deployment mode is explicit: the cluster default varies, and hosts depend on it. */
export const isvcDeploymentMode: ResourceValidationPolicy = {
    name: "isvc-deployment-mode",
    description: "InferenceServices set the serving.kserve.io/deploymentMode annotation to a known mode.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (args.type !== INFERENCE_SERVICE_TYPE) return;
        if (deploymentMode(args.props) === undefined) {
            const value = metadataOf(args.props).annotations?.[DEPLOYMENT_MODE];
            reportViolation(
                `InferenceService ${objectName(args.props, args.name)} has ${value === undefined ? "no" : `unknown (${JSON.stringify(value)})`} ${DEPLOYMENT_MODE} annotation; set Knative, Standard or ModelMesh (or Serverless, RawDeployment on KServe <= 0.15).`,
            );
        }
    },
};
