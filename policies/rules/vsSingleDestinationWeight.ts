import { ResourceValidationPolicy } from "@pulumi/policy";

import { allRoutes, anyRouteLabel, isVirtualService, objectName } from "../lib";

/** A route (http, tcp or tls) with one destination gives it weight 100 or none (Istio ignores anything else). */
export const vsSingleDestinationWeight: ResourceValidationPolicy = {
    name: "vs-single-destination-weight",
    description: "A VirtualService route with a single destination gives it weight 100 or none.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (!isVirtualService(args.type)) return;
        const vs = objectName(args.props, args.name);
        allRoutes(args.props).forEach((ref) => {
            const destinations = ref.route.route ?? [];
            if (destinations.length === 1 && destinations[0].weight !== undefined && destinations[0].weight !== 100) {
                reportViolation(
                    `VirtualService ${vs} ${anyRouteLabel(ref)} has one destination with weight ${JSON.stringify(destinations[0].weight)}; Istio sends it all traffic anyway, so set 100 or remove the weight.`,
                );
            }
        });
    },
};
