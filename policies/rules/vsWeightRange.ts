import { ResourceValidationPolicy } from "@pulumi/policy";

import { allRoutes, anyRouteLabel, isPercent, isVirtualService, objectName } from "../lib";

/** Every destination weight of a VirtualService (http, tcp and tls routes) is an integer from 0 to 100. */
export const vsWeightRange: ResourceValidationPolicy = {
    name: "vs-weight-range",
    description: "VirtualService destination weights are integers from 0 to 100.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (!isVirtualService(args.type)) return;
        const vs = objectName(args.props, args.name);
        allRoutes(args.props).forEach((ref) => {
            (ref.route.route ?? []).forEach((d, j) => {
                if (d.weight !== undefined && !isPercent(d.weight)) {
                    reportViolation(
                        `VirtualService ${vs} ${anyRouteLabel(ref)} destination #${j} (${d.destination?.host}) has weight ${JSON.stringify(d.weight)}; use an integer from 0 to 100.`,
                    );
                }
            });
        });
    },
};
