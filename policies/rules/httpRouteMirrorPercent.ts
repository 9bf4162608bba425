import { ResourceValidationPolicy } from "@pulumi/policy";

import { gatewayRuleLabel, gatewayRules, isHttpRoute, isPercent, objectName, ruleMirrors } from "../lib";

const isCount = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;

/**
 * A RequestMirror filter (on a rule or a backendRef) copies 0 to 100 percent of the requests: an
 * integer `percent` from 0 to 100, or a `fraction` whose numerator is at most its denominator,
 * never both.
 */
export const httpRouteMirrorPercent: ResourceValidationPolicy = {
    name: "http-route-mirror-percent",
    description:
        "HTTPRoute RequestMirror filters mirror 0 to 100 percent: an integer percent, or a fraction up to 1, not both.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (!isHttpRoute(args.type)) return;
        const route = objectName(args.props, args.name);
        gatewayRules(args.props).forEach((rule, i) => {
            for (const m of ruleMirrors(rule)) {
                const label = `HTTPRoute ${route} ${gatewayRuleLabel(rule, i)}${m.where === "rule" ? "" : ` ${m.where}`} RequestMirror`;
                if (m.percent !== undefined && m.fraction !== undefined) {
                    reportViolation(`${label} sets both percent and fraction; keep one.`);
                }
                if (m.percent !== undefined && !isPercent(m.percent)) {
                    reportViolation(
                        `${label} mirrors percent ${JSON.stringify(m.percent)}; use an integer from 0 to 100.`,
                    );
                }
                if (m.fraction !== undefined) {
                    const { numerator, denominator = 100 } = m.fraction;
                    if (!isCount(numerator) || !isCount(denominator) || denominator < 1 || numerator > denominator) {
                        reportViolation(
                            `${label} mirrors fraction ${JSON.stringify(numerator)}/${JSON.stringify(denominator)}; use integers with 0 <= numerator <= denominator (denominator at least 1), i.e. 0 to 100 percent.`,
                        );
                    }
                }
            }
        });
    },
};
