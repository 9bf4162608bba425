import { StackValidationPolicy } from "@pulumi/policy";

import {
    INFERENCE_SERVICE_TYPE,
    SERVICE_TYPE,
    httpRoutes,
    hostsOf,
    isVirtualService,
    keyOf,
    metadataOf,
    objectName,
    resolveDestination,
    routeLabel,
} from "../lib";

/**
 * Every destination of a VirtualService resolves to a version object of this stack (an
 * InferenceService, a Service, or the InferenceService a ModelMesh `mm-vmodel-id` names). An
 * object being deleted in this update is no longer in the stack, so routing to it is refused too.
 */
export const vsDestinationsResolve: StackValidationPolicy = {
    name: "vs-destinations-resolve",
    description:
        "VirtualService destinations resolve to InferenceServices or Services in the stack that are not being deleted.",
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
        const present = new Set<string>();
        for (const r of args.resources) {
            const meta = metadataOf(r.props);
            if (r.type === INFERENCE_SERVICE_TYPE) present.add(`InferenceService:${keyOf(meta.namespace, meta.name)}`);
            if (r.type === SERVICE_TYPE) present.add(`Service:${keyOf(meta.namespace, meta.name)}`);
        }
        for (const r of args.resources.filter((x) => isVirtualService(x.type))) {
            const namespace = metadataOf(r.props).namespace ?? "default";
            const hosts = hostsOf(r.props);
            const vs = objectName(r.props, r.name);
            httpRoutes(r.props).forEach((route, i) => {
                const targets = [...(route.route ?? []), ...(route.mirror ? [{ destination: route.mirror }] : [])];
                targets.forEach((d) => {
                    const res = resolveDestination(namespace, hosts, d);
                    if (res.kind === "unresolved") {
                        reportViolation(
                            `VirtualService ${vs} ${routeLabel(route, i)} sends traffic to ${res.what}, which is no version object of this stack; route to an InferenceService or Service the stack creates.`,
                            r.urn,
                        );
                    } else if (res.kind === "workload") {
                        const { kind, namespace: ns, name } = res.workload;
                        if (!present.has(`${kind}:${ns}/${name}`)) {
                            reportViolation(
                                `VirtualService ${vs} ${routeLabel(route, i)} sends traffic to ${kind} ${ns}/${name}, which is not in the stack (or is being deleted); keep the version until no route uses it.`,
                                r.urn,
                            );
                        }
                    }
                });
            });
        }
    },
};
