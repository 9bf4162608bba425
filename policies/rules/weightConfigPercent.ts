import { ResourceValidationPolicy } from "@pulumi/policy";

import { CONFIG_MAP_TYPE, isObject, isPercent, objectName } from "../lib";

/** Weight ConfigMaps record integer percentages from 0 to 100. */
export const weightConfigPercent: ResourceValidationPolicy = {
    name: "weight-config-percent",
    description: "Weight ConfigMaps (<version>-weight-config) record integer percentages from 0 to 100.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (args.type !== CONFIG_MAP_TYPE || !objectName(args.props, args.name).endsWith("-weight-config")) return;
        const data = isObject(args.props.data) ? (args.props.data as Record<string, unknown>) : {};
        for (const key of ["percent", "mirrorPercent"]) {
            if (data[key] === undefined && key === "mirrorPercent") continue;
            const text = data[key];
            const value = typeof text === "string" && /^\d+$/.test(text) ? Number(text) : NaN;
            if (!isPercent(value)) {
                reportViolation(
                    `ConfigMap ${objectName(args.props, args.name)} records ${key} ${JSON.stringify(text)}; record an integer from 0 to 100.`,
                );
            }
        }
    },
};
