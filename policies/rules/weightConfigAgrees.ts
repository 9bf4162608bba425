import { StackValidationPolicy } from "@pulumi/policy";

import {
    defaultRoutePercents,
    hostsOf,
    httpRoutes,
    isVirtualService,
    metadataOf,
    mirrorTarget,
    objectName,
    versionsNamed,
    weightRecordOf,
} from "../lib";

/** Each weight ConfigMap records what the VirtualService of its namespace really does. */
export const weightConfigAgrees: StackValidationPolicy = {
    name: "weight-config-agrees",
    description: "Weight ConfigMaps agree with the VirtualService percentages for their version.",
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
        const services = args.resources.filter((r) => isVirtualService(r.type));
        for (const cm of args.resources) {
            const data = weightRecordOf(cm.type, cm.props);
            if (!data) continue;
            const name = objectName(cm.props, cm.name);
            const namespace = metadataOf(cm.props).namespace ?? "default";
            const version = data.version;
            const routing = services.filter(
                (vs) =>
                    (metadataOf(vs.props).namespace ?? "default") === namespace && versionsNamed(vs.props).has(version),
            );
            if (routing.length === 0) {
                if (Number(data.percent) > 0) {
                    reportViolation(
                        `ConfigMap ${name} records ${data.percent}% for ${version}, but no VirtualService in ${namespace} routes to it; update or delete the ConfigMap.`,
                        cm.urn,
                    );
                }
                continue;
            }
            for (const vs of routing) {
                const vsName = objectName(vs.props, vs.name);
                const actual = defaultRoutePercents(vs.props).get(version) ?? 0;
                if (String(actual) !== data.percent) {
                    reportViolation(
                        `ConfigMap ${name} records ${data.percent}% for ${version}, but VirtualService ${vsName} sends it ${actual}%; they must agree.`,
                        cm.urn,
                    );
                }
                if (data.mirrorPercent !== undefined) {
                    const route = httpRoutes(vs.props).find(
                        (r) => mirrorTarget(r, namespace, hostsOf(vs.props)) === version,
                    );
                    const mirrored = route ? (route.mirrorPercentage?.value ?? 100) : 0;
                    if (String(mirrored) !== data.mirrorPercent) {
                        reportViolation(
                            `ConfigMap ${name} records mirrorPercent ${data.mirrorPercent} for ${version}, but VirtualService ${vsName} mirrors ${JSON.stringify(mirrored)}%; they must agree.`,
                            cm.urn,
                        );
                    }
                }
            }
        }
    },
};
