import { StackValidationPolicy } from "@pulumi/policy";

import {
    Destination,
    INFERENCE_SERVICE_TYPE,
    SERVICE_TYPE,
    Workload,
    allRoutes,
    anyRouteLabel,
    hostsOf,
    isObject,
    isVirtualService,
    keyOf,
    metadataOf,
    objectName,
    predictorServiceHint,
    predictorServiceIndex,
    resolveDestination,
    workloadPredictor,
} from "../lib";

/**
 * Every destination of a VirtualService, in http, tcp and tls routes and http mirrors, resolves to
 * a version object of this stack (an InferenceService, a Service, or the InferenceService a
 * ModelMesh `mm-vmodel-id` names). A predictor Service host resolves when an InferenceService of
 * the stack has it: `<isvc>-predictor` (a stable predictor without a name) or, KServe v0.20,
 * `<isvc>-<name>-predictor` (the stable's predictor.name, or a spec.canary entry's). An object
 * being deleted in this update is no longer in the stack, so routing to it is refused too.
 */
export const vsDestinationsResolve: StackValidationPolicy = {
    name: "vs-destinations-resolve",
    description:
        "VirtualService destinations resolve to InferenceServices (their stable or canary predictors) or Services in the stack that are not being deleted.",
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
        const present = new Set<string>();
        for (const r of args.resources) {
            const meta = metadataOf(r.props);
            if (r.type === INFERENCE_SERVICE_TYPE) present.add(`InferenceService:${keyOf(meta.namespace, meta.name)}`);
            if (r.type === SERVICE_TYPE) present.add(`Service:${keyOf(meta.namespace, meta.name)}`);
        }
        const predictors = predictorServiceIndex(args.resources);
        /** Why a workload does not resolve, or undefined when it does. */
        const problem = (w: Workload): string | undefined => {
            const gone = `which is not in the stack (or is being deleted); keep the version until no route uses it`;
            if (w.service === undefined) {
                return present.has(`${w.kind}:${w.namespace}/${w.name}`)
                    ? undefined
                    : `${w.kind} ${w.namespace}/${w.name}, ${gone}`;
            }
            if (workloadPredictor(predictors, w)) return undefined;
            const hint = predictorServiceHint(args.resources, w.namespace, w.service);
            return hint === undefined
                ? `InferenceService ${w.namespace}/${w.name}, ${gone}`
                : `Service ${w.namespace}/${w.service}, which no InferenceService of the stack serves: ${hint}; route to a predictor the InferenceService has`;
        };
        for (const r of args.resources.filter((x) => isVirtualService(x.type))) {
            const namespace = metadataOf(r.props).namespace ?? "default";
            const hosts = hostsOf(r.props);
            const vs = objectName(r.props, r.name);
            for (const ref of allRoutes(r.props)) {
                const { route } = ref;
                const mirrors = [
                    ...(route.mirror ? [{ destination: route.mirror }] : []),
                    ...(route.mirrors ?? []).filter(isObject).map((m) => m as Destination),
                ];
                const targets = [...(route.route ?? []), ...(ref.kind === "http" ? mirrors : [])];
                for (const d of targets) {
                    const res = resolveDestination(namespace, hosts, d);
                    if (res.kind === "unresolved") {
                        reportViolation(
                            `VirtualService ${vs} ${anyRouteLabel(ref)} sends traffic to ${res.what}, which is no version object of this stack; route to an InferenceService or Service the stack creates.`,
                            r.urn,
                        );
                    } else if (res.kind === "workload") {
                        const why = problem(res.workload);
                        if (why) {
                            reportViolation(
                                `VirtualService ${vs} ${anyRouteLabel(ref)} sends traffic to ${why}.`,
                                r.urn,
                            );
                        }
                    }
                }
            }
        }
    },
};
