import { ResourceValidationPolicy } from "@pulumi/policy";

import { httpRoutes, isVirtualService, objectName, requestHeader, routeLabel } from "../lib";

/** The authority is set once: rewrite.authority and a Host / :authority header are not combined. */
export const vsAuthorityOnce: ResourceValidationPolicy = {
    name: "vs-authority-once",
    description: "A VirtualService route does not override the host twice (rewrite.authority and a Host header).",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (!isVirtualService(args.type)) return;
        const vs = objectName(args.props, args.name);
        httpRoutes(args.props).forEach((route, i) => {
            if (!route.rewrite?.authority) return;
            (route.route ?? []).forEach((d, j) => {
                if (requestHeader(d, "host") !== undefined || requestHeader(d, ":authority") !== undefined) {
                    reportViolation(
                        `VirtualService ${vs} ${routeLabel(route, i)} sets rewrite.authority and a Host header on destination #${j}; Istio rejects "authority header cannot be set multiple times": keep one.`,
                    );
                }
            });
        });
    },
};
