import { StackValidationPolicy } from "@pulumi/policy";

import {
    INFERENCE_SERVICE_TYPE,
    hostnamesOf,
    hostsOf,
    isHttpRoute,
    isVirtualService,
    kserveOwnedHosts,
    metadataOf,
    objectName,
} from "../lib";

/**
 * No two VirtualServices claim one host (mesh-bound duplicates conflict, Istio IST0109), no
 * HTTPRoute claims a hostname another HTTPRoute or a VirtualService claims (the two would merge or
 * race for the same requests), and none claims a host KServe creates for an InferenceService: its
 * predictor Services (including `<isvc>-<name>-predictor` of named predictors and canaries, KServe
 * v0.20) and, outside Standard mode, `<isvc>` (see kserveOwnedHosts).
 */
export const uniqueHosts: StackValidationPolicy = {
    name: "unique-hosts",
    description:
        "VirtualService hosts and HTTPRoute hostnames are unique in the stack and never a host KServe owns (<isvc>-predictor.<ns>, <isvc>-<name>-predictor.<ns>, and <isvc>.<ns> outside Standard mode).",
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
        const owned = new Map<string, string>();
        for (const r of args.resources.filter((x) => x.type === INFERENCE_SERVICE_TYPE)) {
            const meta = metadataOf(r.props);
            for (const host of kserveOwnedHosts(r.props)) {
                owned.set(host, `${meta.namespace ?? "default"}/${meta.name}`);
            }
        }
        const claimed = new Map<string, { kind: string; name: string }>();
        const routing = args.resources.flatMap((r) =>
            isVirtualService(r.type)
                ? [{ r, kind: "VirtualService", hosts: hostsOf(r.props) }]
                : isHttpRoute(r.type)
                  ? [{ r, kind: "HTTPRoute", hosts: hostnamesOf(r.props) }]
                  : [],
        );
        // VirtualServices first: their messages stay as they were whatever the resource order.
        routing.sort((a, b) => Number(a.kind === "HTTPRoute") - Number(b.kind === "HTTPRoute"));
        for (const { r, kind, hosts } of routing) {
            const name = objectName(r.props, r.name);
            for (const host of hosts) {
                const other = claimed.get(host);
                if (other !== undefined && (other.kind !== kind || other.name !== name)) {
                    reportViolation(
                        other.kind === "VirtualService" && kind === "VirtualService"
                            ? `VirtualServices ${other.name} and ${name} both claim host ${host} (Istio conflict IST0109); give each app its own name.`
                            : `${other.kind} ${other.name} and ${kind} ${name} both claim host ${host}; one routing object per host: give each app its own name, and render either a VirtualService or an HTTPRoute for it.`,
                        r.urn,
                    );
                }
                claimed.set(host, { kind, name });
                const isvc = owned.get(host);
                if (isvc !== undefined) {
                    reportViolation(
                        `${kind} ${name} claims host ${host}, which KServe owns for InferenceService ${isvc}; use an app host that is not an InferenceService name.`,
                        r.urn,
                    );
                }
            }
        }
    },
};
