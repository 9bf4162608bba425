import { ResourceValidationPolicy } from "@pulumi/policy";

import { httpRoutes, isVirtualService, objectName, routeLabel, versionOf, weightRecordOf } from "../lib";

export interface MaxCandidatePercentConfig {
    /** Highest share of requests a candidate (any destination but a split's first) may get. */
    maxPercent: number;
}

/**
 * Guard rail: a candidate gets at most `maxPercent` of the traffic (default 100: off). A resource
 * rule, so it refuses the VirtualService before it is sent to the cluster even without a preview.
 */
export const maxCandidatePercent: ResourceValidationPolicy = {
    name: "max-candidate-percent",
    description: "A candidate version receives at most the configured percentage of traffic.",
    enforcementLevel: "mandatory",
    configSchema: {
        properties: { maxPercent: { type: "integer", minimum: 0, maximum: 100, default: 100 } },
    },
    validateResource: (args, reportViolation) => {
        const { maxPercent } = args.getConfig<MaxCandidatePercentConfig>();
        if (isVirtualService(args.type)) {
            httpRoutes(args.props).forEach((route, i) => {
                const [, ...candidates] = route.route ?? [];
                for (const d of candidates) {
                    if (typeof d.weight === "number" && d.weight > maxPercent) {
                        reportViolation(
                            `VirtualService ${objectName(args.props, args.name)} ${routeLabel(route, i)} gives candidate ${versionOf(d) ?? d.destination?.host} ${d.weight}%, above the maximum of ${maxPercent}%; move it in smaller steps.`,
                        );
                    }
                }
            });
        }
        const record = weightRecordOf(args.type, args.props);
        if (record?.role === "candidate" && Number(record.percent) > maxPercent) {
            reportViolation(
                `ConfigMap ${objectName(args.props, args.name)} records ${record.percent}% for candidate ${record.version}, above the maximum of ${maxPercent}%.`,
            );
        }
    },
};
