import { ResourceValidationPolicy } from "@pulumi/policy";

import { httpRoutes, isVirtualService, objectName, routeLabel } from "../lib";

/** A route never mirrors to its own destination: the primary would get every request twice. */
export const vsMirrorTarget: ResourceValidationPolicy = {
    name: "vs-mirror-target",
    description: "A VirtualService route does not mirror to one of its own destinations.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (!isVirtualService(args.type)) return;
        const vs = objectName(args.props, args.name);
        httpRoutes(args.props).forEach((route, i) => {
            const mirror = route.mirror;
            if (!mirror?.host) return;
            const same = (route.route ?? []).some(
                (d) =>
                    d.destination?.host === mirror.host &&
                    (d.destination?.port?.number ?? 0) === (mirror.port?.number ?? 0),
            );
            if (same) {
                reportViolation(
                    `VirtualService ${vs} ${routeLabel(route, i)} mirrors to ${mirror.host}, which it also routes to; mirror to the candidate's host.`,
                );
            }
        });
    },
};
