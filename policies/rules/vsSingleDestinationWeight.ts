import { ResourceValidationPolicy } from "@pulumi/policy";

import { httpRoutes, isVirtualService, objectName, routeLabel } from "../lib";

/** A route with one destination gives it weight 100 or no weight (Istio ignores anything else). */
export const vsSingleDestinationWeight: ResourceValidationPolicy = {
    name: "vs-single-destination-weight",
    description: "A VirtualService route with a single destination gives it weight 100 or none.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (!isVirtualService(args.type)) return;
        const vs = objectName(args.props, args.name);
        httpRoutes(args.props).forEach((route, i) => {
            const destinations = route.route ?? [];
            if (destinations.length === 1 && destinations[0].weight !== undefined && destinations[0].weight !== 100) {
                reportViolation(
                    `VirtualService ${vs} ${routeLabel(route, i)} has one destination with weight ${JSON.stringify(destinations[0].weight)}; Istio sends it all traffic anyway, so set 100 or remove the weight.`,
                );
            }
        });
    },
};
