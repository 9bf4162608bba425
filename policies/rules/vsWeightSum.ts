import { ResourceValidationPolicy } from "@pulumi/policy";

import { allRoutes, anyRouteLabel, isVirtualService, objectName } from "../lib";

export interface WeightSumConfig {
    /** `strict`: weights of a split sum to exactly 100 (valid on every Istio, required by <= 1.14);
     *  `istio-1.15`: only a non-zero total is required (Istio >= 1.15). */
    mode: "strict" | "istio-1.15";
}

/** A route (http, tcp or tls) with several destinations splits by weights that sum to 100 (or at least not to 0). */
export const vsWeightSum: ResourceValidationPolicy = {
    name: "vs-weight-sum",
    description: "A VirtualService route with several destinations has weights that sum to exactly 100.",
    enforcementLevel: "mandatory",
    configSchema: {
        properties: {
            mode: { type: "string", enum: ["strict", "istio-1.15"], default: "strict" },
        },
    },
    validateResource: (args, reportViolation) => {
        if (!isVirtualService(args.type)) return;
        const { mode } = args.getConfig<WeightSumConfig>();
        const vs = objectName(args.props, args.name);
        allRoutes(args.props).forEach((ref) => {
            const destinations = ref.route.route ?? [];
            if (destinations.length < 2) return;
            const weights = destinations.map((d) => (typeof d.weight === "number" ? d.weight : 0));
            const total = weights.reduce((a, b) => a + b, 0);
            const label = `VirtualService ${vs} ${anyRouteLabel(ref)}`;
            if (mode === "strict" && total !== 100) {
                reportViolation(
                    `${label} splits ${weights.join("/")} (total ${total}); weights of a split must sum to exactly 100.`,
                );
            } else if (total <= 0) {
                reportViolation(
                    `${label} has total destination weight ${total}; at least one destination needs a weight above 0.`,
                );
            }
        });
    },
};
