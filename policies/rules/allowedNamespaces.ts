import { ResourceValidationPolicy } from "@pulumi/policy";

import { metadataOf, objectName } from "../lib";

export interface AllowedNamespacesConfig {
    /** Namespaces releases may use; empty allows any. */
    namespaces: string[];
}

/** Guard rail: Kubernetes objects only go to the allowed namespaces. */
export const allowedNamespaces: ResourceValidationPolicy = {
    name: "allowed-namespaces",
    description: "Kubernetes objects are created only in the allowed namespaces (empty list: any).",
    enforcementLevel: "mandatory",
    configSchema: {
        properties: { namespaces: { type: "array", items: { type: "string" }, default: [] } },
    },
    validateResource: (args, reportViolation) => {
        const { namespaces } = args.getConfig<AllowedNamespacesConfig>();
        if (namespaces.length === 0 || !args.type.startsWith("kubernetes:") || args.type.startsWith("pulumi:")) return;
        const meta = metadataOf(args.props);
        if (meta.name === undefined) return;
        const namespace = meta.namespace ?? "default";
        if (!namespaces.includes(namespace)) {
            reportViolation(
                `${args.type.split(":").pop()} ${objectName(args.props, args.name)} is in namespace ${namespace}, which is not allowed (allowed: ${namespaces.join(", ")}); set the release namespace.`,
            );
        }
    },
};
