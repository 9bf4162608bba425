import { ResourceValidationPolicy } from "@pulumi/policy";

import {
    GATEWAY_DEFAULT_WEIGHT,
    backendRefLabel,
    backendRefsOf,
    gatewayRuleLabel,
    gatewayRules,
    isHttpRoute,
    isPercent,
    objectName,
} from "../lib";

/**
 * Every backendRef of an HTTPRoute sets its weight explicitly, as an integer percent from 0 to
 * 100. Gateway API weights are relative and default to 1, so an omitted weight silently turns a
 * 90/10 split into 90/1 (or a 0 into 1): it is refused, not assumed.
 */
export const httpRouteWeightRange: ResourceValidationPolicy = {
    name: "http-route-weight-range",
    description: "HTTPRoute backendRefs set an explicit weight, an integer from 0 to 100 (Gateway API defaults to 1).",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (!isHttpRoute(args.type)) return;
        const route = objectName(args.props, args.name);
        gatewayRules(args.props).forEach((rule, i) => {
            backendRefsOf(rule).forEach((ref, j) => {
                const label = `HTTPRoute ${route} ${gatewayRuleLabel(rule, i)} backendRef #${j} (${backendRefLabel(ref)})`;
                if (ref.weight === undefined || ref.weight === null) {
                    reportViolation(
                        `${label} has no weight; Gateway API then gives it weight ${GATEWAY_DEFAULT_WEIGHT} (a relative weight, not a percent): set an explicit integer from 0 to 100.`,
                    );
                } else if (!isPercent(ref.weight)) {
                    reportViolation(`${label} has weight ${JSON.stringify(ref.weight)}; use an integer from 0 to 100.`);
                }
            });
        });
    },
};
