import { ResourceValidationPolicy } from "@pulumi/policy";

import {
    BackendRef,
    backendRefLabel,
    backendRefsOf,
    effectiveWeight,
    gatewayRuleLabel,
    gatewayRules,
    isHttpRoute,
    metadataOf,
    objectName,
    ruleMirrors,
} from "../lib";

/** The object a backendRef names, with the defaults filled in. */
function identity(ref: BackendRef, namespace: string): string {
    const group = ref.group === "core" ? "" : (ref.group ?? "");
    return `${group}/${ref.kind ?? "Service"}/${ref.namespace ?? namespace}/${ref.name}`;
}

/**
 * An HTTPRoute rule never mirrors to one of its own weighted backends (weight above 0, an omitted
 * weight counting as 1): that version would get the mirrored requests a second time. The mirror
 * names the candidate, not the primary. A RequestMirror filter names a backendRef.
 */
export const httpRouteMirrorTarget: ResourceValidationPolicy = {
    name: "http-route-mirror-target",
    description: "An HTTPRoute rule does not mirror to one of its own weighted backendRefs.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (!isHttpRoute(args.type)) return;
        const route = objectName(args.props, args.name);
        const namespace = metadataOf(args.props).namespace ?? "default";
        gatewayRules(args.props).forEach((rule, i) => {
            const label = `HTTPRoute ${route} ${gatewayRuleLabel(rule, i)}`;
            for (const m of ruleMirrors(rule)) {
                const where = m.where === "rule" ? "" : ` (on ${m.where})`;
                if (!m.backendRef?.name) {
                    reportViolation(
                        `${label} has a RequestMirror filter${where} without a backendRef name; name the candidate's Service.`,
                    );
                    continue;
                }
                const target = identity(m.backendRef, namespace);
                const same = backendRefsOf(rule).find(
                    (ref) => identity(ref, namespace) === target && effectiveWeight(ref) > 0,
                );
                if (same) {
                    reportViolation(
                        `${label} mirrors${where} to ${backendRefLabel(m.backendRef)}, which it also routes to (weight ${effectiveWeight(same)}); it would get those requests twice: mirror to the candidate's Service.`,
                    );
                }
            }
        });
    },
};
