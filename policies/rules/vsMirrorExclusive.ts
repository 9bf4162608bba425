import { ResourceValidationPolicy } from "@pulumi/policy";

import { httpRoutes, isVirtualService, objectName, routeLabel } from "../lib";

/** `mirror` and `mirrors` are not combined (Istio rejects it). */
export const vsMirrorExclusive: ResourceValidationPolicy = {
    name: "vs-mirror-exclusive",
    description: "A VirtualService route sets mirror or mirrors, not both.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (!isVirtualService(args.type)) return;
        const vs = objectName(args.props, args.name);
        httpRoutes(args.props).forEach((route, i) => {
            if (route.mirror !== undefined && route.mirrors !== undefined) {
                reportViolation(`VirtualService ${vs} ${routeLabel(route, i)} sets both mirror and mirrors; keep one.`);
            }
        });
    },
};
