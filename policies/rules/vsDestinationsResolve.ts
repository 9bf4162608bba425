import { StackValidationPolicy } from "@pulumi/policy";

import {
    Destination,
    INFERENCE_SERVICE_TYPE,
    SERVICE_TYPE,
    allRoutes,
    anyRouteLabel,
    hostsOf,
    isObject,
    isVirtualService,
    keyOf,
    metadataOf,
    objectName,
    resolveDestination,
} from "../lib";

/**
 * Every destination of a VirtualService, in http, tcp and tls routes and http mirrors, resolves to
 * a version object of this stack (an InferenceService, a Service, or the InferenceService a
 * ModelMesh `mm-vmodel-id` names). An object being deleted in this update is no longer in the
 * stack, so routing to it is refused too.
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
                        const { kind, namespace: ns, name } = res.workload;
                        if (!present.has(`${kind}:${ns}/${name}`)) {
                            reportViolation(
                                `VirtualService ${vs} ${anyRouteLabel(ref)} sends traffic to ${kind} ${ns}/${name}, which is not in the stack (or is being deleted); keep the version until no route uses it.`,
                                r.urn,
                            );
                        }
                    }
                }
            }
        }
    },
};
