import { ResourceValidationPolicy } from "@pulumi/policy";

import { httpRoutes, isVirtualService, objectName, routeLabel } from "../lib";

/** mirrorPercentage is between 0 and 100. */
export const vsMirrorPercentage: ResourceValidationPolicy = {
    name: "vs-mirror-percentage",
    description: "VirtualService mirrorPercentage is a number from 0 to 100.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (!isVirtualService(args.type)) return;
        const vs = objectName(args.props, args.name);
        httpRoutes(args.props).forEach((route, i) => {
            const value = route.mirrorPercentage?.value;
            if (route.mirrorPercentage !== undefined && (typeof value !== "number" || value < 0 || value > 100)) {
                reportViolation(
                    `VirtualService ${vs} ${routeLabel(route, i)} mirrors ${JSON.stringify(value)}%; use a value from 0 to 100.`,
                );
            }
        });
    },
};
