import { ResourceValidationPolicy } from "@pulumi/policy";

import { httpRoutes, isPercent, isVirtualService, objectName, routeLabel } from "../lib";

/** Every destination weight of a VirtualService is an integer from 0 to 100. */
export const vsWeightRange: ResourceValidationPolicy = {
    name: "vs-weight-range",
    description: "VirtualService destination weights are integers from 0 to 100.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (!isVirtualService(args.type)) return;
        const vs = objectName(args.props, args.name);
        httpRoutes(args.props).forEach((route, i) => {
            (route.route ?? []).forEach((d, j) => {
                if (d.weight !== undefined && !isPercent(d.weight)) {
                    reportViolation(
                        `VirtualService ${vs} ${routeLabel(route, i)} destination #${j} (${d.destination?.host}) has weight ${JSON.stringify(d.weight)}; use an integer from 0 to 100.`,
                    );
                }
            });
        });
    },
};
