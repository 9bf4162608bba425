import { ResourceValidationPolicy } from "@pulumi/policy";

import { isPercent, objectName, weightRecordOf } from "../lib";

/** Weight ConfigMaps record integer percentages from 0 to 100. */
export const weightConfigPercent: ResourceValidationPolicy = {
    name: "weight-config-percent",
    description: "Weight ConfigMaps (<version>-weight-config) record integer percentages from 0 to 100.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        const record = weightRecordOf(args.type, args.props);
        if (!record) return;
        const fields: [string, string | undefined, boolean][] = [
            ["model-release.dev/percent", record.percent, true],
            ["model-release.dev/mirror-percent", record.mirrorPercent, false],
        ];
        for (const [key, text, required] of fields) {
            if (text === undefined && !required) continue;
            const value = typeof text === "string" && /^\d+$/.test(text) ? Number(text) : NaN;
            if (!isPercent(value)) {
                reportViolation(
                    `ConfigMap ${objectName(args.props, args.name)} records ${key} ${JSON.stringify(text)}; record an integer from 0 to 100.`,
                );
            }
        }
    },
};
