import { StackValidationPolicy } from "@pulumi/policy";

import { metadataOf, objectName } from "../lib";

export interface AllowedNamespacesConfig {
    /** Namespaces releases may use; empty allows any. */
    namespaces: string[];
}

/** Guard rail: Kubernetes objects only go to the allowed namespaces. */
export const allowedNamespaces: StackValidationPolicy = {
    name: "allowed-namespaces",
    description: "Kubernetes objects are created only in the allowed namespaces (empty list: any).",
    enforcementLevel: "mandatory",
    configSchema: {
        properties: { namespaces: { type: "array", items: { type: "string" }, default: [] } },
    },
    validateStack: (args, reportViolation) => {
        const { namespaces } = args.getConfig<AllowedNamespacesConfig>();
        if (namespaces.length === 0) return;
        for (const r of args.resources) {
            if (!r.type.startsWith("kubernetes:") || r.type.startsWith("pulumi:providers:")) continue;
            const namespace = metadataOf(r.props).namespace ?? "default";
            if (!namespaces.includes(namespace)) {
                reportViolation(
                    `${r.type.split(":").pop()} ${objectName(r.props, r.name)} is in namespace ${namespace}, which is not allowed (allowed: ${namespaces.join(", ")}); set the release namespace.`,
                    r.urn,
                );
            }
        }
    },
};
