import { ResourceValidationPolicy } from "@pulumi/policy";

import { gatewayRuleLabel, gatewayRules, isDefaultRule, isHttpRoute, objectName } from "../lib";

/**
 * An HTTPRoute has exactly one default rule: a rule without matches, or with a match that selects
 * every request (path PathPrefix "/", or none, and no header, query or method condition). Gateway
 * API picks rules by precedence, not order, so position does not matter, but with none some
 * requests have no destination, and with several it is the implementation's tie-break, not the
 * release, that decides which version takes unmatched traffic.
 */
export const httpRouteDefaultRule: ResourceValidationPolicy = {
    name: "http-route-default-rule",
    description: "An HTTPRoute has exactly one default rule (no matches, or a match of every request).",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (!isHttpRoute(args.type)) return;
        const route = objectName(args.props, args.name);
        const rules = gatewayRules(args.props);
        if (rules.length === 0) {
            reportViolation(`HTTPRoute ${route} has no rules; give it at least a default rule with backendRefs.`);
            return;
        }
        const defaults = rules.map((rule, i) => ({ rule, i })).filter(({ rule }) => isDefaultRule(rule));
        if (defaults.length !== 1) {
            const which =
                defaults.length > 0 ? ` (${defaults.map(({ rule, i }) => gatewayRuleLabel(rule, i)).join(", ")})` : "";
            reportViolation(
                `HTTPRoute ${route} has ${defaults.length} default rules${which}; it needs exactly one (no matches, or path PathPrefix "/" and no other condition), so that every request has a destination and one rule decides which version takes unmatched traffic.`,
            );
        }
    },
};
