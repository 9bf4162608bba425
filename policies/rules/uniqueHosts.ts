import { StackValidationPolicy } from "@pulumi/policy";

import { INFERENCE_SERVICE_TYPE, hostsOf, isVirtualService, kserveOwnedHosts, metadataOf, objectName } from "../lib";

/**
 * No two VirtualServices claim one host (mesh-bound duplicates conflict, Istio IST0109), and none
 * claims a host KServe creates for an InferenceService.
 */
export const uniqueHosts: StackValidationPolicy = {
    name: "unique-hosts",
    description:
        "VirtualService hosts are unique in the stack and never a host KServe owns (<isvc>.<ns>, <isvc>-predictor.<ns>).",
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
        const owned = new Map<string, string>();
        for (const r of args.resources.filter((x) => x.type === INFERENCE_SERVICE_TYPE)) {
            const meta = metadataOf(r.props);
            for (const host of kserveOwnedHosts(meta.name ?? "", meta.namespace ?? "default")) {
                owned.set(host, `${meta.namespace ?? "default"}/${meta.name}`);
            }
        }
        const claimed = new Map<string, string>();
        for (const r of args.resources.filter((x) => isVirtualService(x.type))) {
            const vs = objectName(r.props, r.name);
            for (const host of hostsOf(r.props)) {
                const other = claimed.get(host);
                if (other !== undefined && other !== vs) {
                    reportViolation(
                        `VirtualServices ${other} and ${vs} both claim host ${host} (Istio conflict IST0109); give each app its own name.`,
                        r.urn,
                    );
                }
                claimed.set(host, vs);
                const isvc = owned.get(host);
                if (isvc !== undefined) {
                    reportViolation(
                        `VirtualService ${vs} claims host ${host}, which KServe owns for InferenceService ${isvc}; use an app host that is not an InferenceService name.`,
                        r.urn,
                    );
                }
            }
        }
    },
};
