import { ResourceValidationPolicy } from "@pulumi/policy";

import { allRoutes, anyRouteLabel, isCatchAll, isVirtualService, objectName } from "../lib";

/**
 * Istio takes the first route that matches. A catch-all route (no match, or a match entry that
 * constrains nothing, such as `{}` or `{headers: {}}`) therefore makes every route after it
 * unreachable: placed before a canary route it silently sends every request to one version.
 * HTTP routes end with exactly one catch-all, so that every request has a destination; TCP routes
 * may have none, but at most one and last. TLS routes always match on SNI and have no default.
 */
export const vsRouteOrder: ResourceValidationPolicy = {
    name: "vs-route-order",
    description: "VirtualService routes with a match come before the one catch-all route, which is last.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (!isVirtualService(args.type)) return;
        const vs = objectName(args.props, args.name);
        const routes = allRoutes(args.props);
        if (routes.length === 0) {
            reportViolation(`VirtualService ${vs} has no http, tcp or tls routes; give it at least one route.`);
            return;
        }
        for (const kind of ["http", "tcp"] as const) {
            const ofKind = routes.filter((r) => r.kind === kind);
            if (ofKind.length === 0) continue;
            const catchAlls = ofKind.filter((r) => isCatchAll(r.route));
            if (kind === "http" && catchAlls.length !== 1) {
                reportViolation(
                    `VirtualService ${vs} has ${catchAlls.length} default (unmatched) routes; it needs exactly one, last, so that every request has a destination.`,
                );
                if (catchAlls.length === 0) continue;
            }
            for (const r of catchAlls) {
                if (r.index === ofKind.length - 1) continue;
                const what =
                    Array.isArray(r.route.match) && r.route.match.length > 0
                        ? "has a match that constrains nothing"
                        : "has no match";
                reportViolation(
                    `VirtualService ${vs} ${anyRouteLabel(r)} ${what} but is not last; it takes every ${kind === "http" ? "request" : "connection"}, so the routes after it are unreachable: move it to the end or give it a condition.`,
                );
            }
        }
    },
};
