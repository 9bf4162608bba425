import { ResourceValidationPolicy } from "@pulumi/policy";

import {
    INFERENCE_SERVICE_TYPE,
    canariesOf,
    canaryLabel,
    deploymentMode,
    objectName,
    predictorOf,
    storageUrisIn,
} from "../lib";

/** Schemes KServe's storage initializer loads (components/validate/tables.ts has the same list: tests/policies/sharedData.spec.ts). */
export const KSERVE_SCHEMES = [
    "gs",
    "s3",
    "pvc",
    "file",
    "http",
    "https",
    "hdfs",
    "webhdfs",
    "oci",
    "oci+native",
    "oci+fetch",
    "hf",
    "modelscope",
];
/** Schemes ModelMesh loads. */
export const MODELMESH_SCHEMES = ["s3", "gs", "pvc", "http", "https"];

/** The storageUri scheme of the predictor, and of every spec.canary predictor, is one the InferenceService's mode can load. */
export const isvcStorageUri: ResourceValidationPolicy = {
    name: "isvc-storage-uri",
    description:
        "InferenceService storageUri schemes are ones its deployment mode can load (ModelMesh: s3, gs, pvc, http(s)).",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (args.type !== INFERENCE_SERVICE_TYPE) return;
        const modelMesh = deploymentMode(args.props) === "ModelMesh";
        const allowed = modelMesh ? MODELMESH_SCHEMES : KSERVE_SCHEMES;
        const predictors = [
            { who: "", predictor: predictorOf(args.props) },
            ...canariesOf(args.props).map((c) => ({ who: ` ${canaryLabel(c)}`, predictor: c.predictor })),
        ];
        for (const { who, predictor } of predictors) {
            for (const uri of storageUrisIn(predictor)) {
                const scheme = /^([a-z][a-z0-9+.-]*):\/\//.exec(uri)?.[1];
                if (scheme === undefined || !allowed.includes(scheme)) {
                    reportViolation(
                        `InferenceService ${objectName(args.props, args.name)}${who} loads ${JSON.stringify(uri)}, which ${modelMesh ? "ModelMesh" : "KServe"} cannot load; use ${allowed.map((s) => `${s}://`).join(", ")}.`,
                    );
                }
            }
        }
    },
};
