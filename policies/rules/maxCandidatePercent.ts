import { StackValidationPolicy } from "@pulumi/policy";

import { CONFIG_MAP_TYPE, isObject, isVirtualService, objectName, httpRoutes, routeLabel, versionOf } from "../lib";

export interface MaxCandidatePercentConfig {
    /** Highest share of unmatched requests a candidate (any version but the primary) may get. */
    maxPercent: number;
}

/** Guard rail: a candidate gets at most `maxPercent` of the traffic (default 100: off). */
export const maxCandidatePercent: StackValidationPolicy = {
    name: "max-candidate-percent",
    description: "A candidate version receives at most the configured percentage of traffic.",
    enforcementLevel: "mandatory",
    configSchema: {
        properties: { maxPercent: { type: "integer", minimum: 0, maximum: 100, default: 100 } },
    },
    validateStack: (args, reportViolation) => {
        const { maxPercent } = args.getConfig<MaxCandidatePercentConfig>();
        for (const r of args.resources) {
            if (isVirtualService(r.type)) {
                httpRoutes(r.props).forEach((route, i) => {
                    const [, ...candidates] = route.route ?? [];
                    for (const d of candidates) {
                        if (typeof d.weight === "number" && d.weight > maxPercent) {
                            reportViolation(
                                `VirtualService ${objectName(r.props, r.name)} ${routeLabel(route, i)} gives candidate ${versionOf(d) ?? d.destination?.host} ${d.weight}%, above the maximum of ${maxPercent}%; move it in smaller steps.`,
                                r.urn,
                            );
                        }
                    }
                });
            }
            if (r.type === CONFIG_MAP_TYPE && isObject(r.props.data)) {
                const data = r.props.data as Record<string, string>;
                if (data.role === "candidate" && Number(data.percent) > maxPercent) {
                    reportViolation(
                        `ConfigMap ${objectName(r.props, r.name)} records ${data.percent}% for candidate ${data.version}, above the maximum of ${maxPercent}%.`,
                        r.urn,
                    );
                }
            }
        }
    },
};
