import { ResourceValidationPolicy } from "@pulumi/policy";

import { httpRoutes, isVirtualService, objectName, routeLabel } from "../lib";

/** Routes with a match come first and exactly one default (unmatched) route closes the list. */
export const vsRouteOrder: ResourceValidationPolicy = {
    name: "vs-route-order",
    description: "VirtualService routes with a match come before the one default route.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (!isVirtualService(args.type)) return;
        const vs = objectName(args.props, args.name);
        const routes = httpRoutes(args.props);
        const defaults = routes
            .map((r, i) => ({ r, i }))
            .filter(({ r }) => !Array.isArray(r.match) || r.match.length === 0);
        if (defaults.length !== 1) {
            reportViolation(
                `VirtualService ${vs} has ${defaults.length} default (unmatched) routes; it needs exactly one, last, so that every request has a destination.`,
            );
            return;
        }
        const [{ r, i }] = defaults;
        if (i !== routes.length - 1) {
            reportViolation(
                `VirtualService ${vs} ${routeLabel(r, i)} has no match but is not last; the routes after it are unreachable: move it to the end.`,
            );
        }
    },
};
