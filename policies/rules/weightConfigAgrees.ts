import { StackValidationPolicy } from "@pulumi/policy";

import {
    Json,
    defaultRoutePercents,
    gatewayRules,
    hostsOf,
    httpRouteDefaultPercents,
    httpRouteVersionsNamed,
    httpRoutes,
    isHttpRoute,
    isVirtualService,
    metadataOf,
    mirrorPercentOf,
    mirrorTarget,
    mirrorVersion,
    objectName,
    ruleMirrors,
    versionsNamed,
    weightRecordOf,
} from "../lib";

/** What a routing object (VirtualService or HTTPRoute) does for one version. */
interface Routing {
    kind: "VirtualService" | "HTTPRoute";
    name: string;
    versions: Set<string>;
    /** Percent of unmatched requests the version gets (the default route or rule). */
    percent: (version: string) => number;
    /** Percent of requests mirrored to the version (0 when none). */
    mirrored: (version: string) => unknown;
}

function virtualServiceRouting(props: Json, name: string, namespace: string): Routing {
    return {
        kind: "VirtualService",
        name,
        versions: versionsNamed(props),
        percent: (version) => defaultRoutePercents(props).get(version) ?? 0,
        mirrored: (version) => {
            const route = httpRoutes(props).find((r) => mirrorTarget(r, namespace, hostsOf(props)) === version);
            return route ? (route.mirrorPercentage?.value ?? 100) : 0;
        },
    };
}

function httpRouteRouting(props: Json, name: string): Routing {
    return {
        kind: "HTTPRoute",
        name,
        versions: httpRouteVersionsNamed(props),
        percent: (version) => httpRouteDefaultPercents(props).get(version) ?? 0,
        mirrored: (version) => {
            const mirror = gatewayRules(props)
                .flatMap(ruleMirrors)
                .find((m) => mirrorVersion(m) === version);
            if (!mirror) return 0;
            const percent = mirrorPercentOf(mirror);
            return percent === undefined ? (mirror.percent ?? mirror.fraction) : Math.round(percent * 100) / 100;
        },
    };
}

/** Each weight ConfigMap records what the VirtualService or HTTPRoute of its namespace really does. */
export const weightConfigAgrees: StackValidationPolicy = {
    name: "weight-config-agrees",
    description: "Weight ConfigMaps agree with the VirtualService or HTTPRoute percentages for their version.",
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
        const routings = args.resources.flatMap((r) => {
            const namespace = metadataOf(r.props).namespace ?? "default";
            const name = objectName(r.props, r.name);
            const routing = isVirtualService(r.type)
                ? virtualServiceRouting(r.props, name, namespace)
                : isHttpRoute(r.type)
                  ? httpRouteRouting(r.props, name)
                  : undefined;
            return routing ? [{ namespace, routing }] : [];
        });
        for (const cm of args.resources) {
            const data = weightRecordOf(cm.type, cm.props);
            if (!data) continue;
            const name = objectName(cm.props, cm.name);
            const namespace = metadataOf(cm.props).namespace ?? "default";
            const version = data.version;
            const routing = routings
                .filter((r) => r.namespace === namespace && r.routing.versions.has(version))
                .map((r) => r.routing);
            if (routing.length === 0) {
                if (Number(data.percent) > 0) {
                    reportViolation(
                        `ConfigMap ${name} records ${data.percent}% for ${version}, but no VirtualService or HTTPRoute in ${namespace} routes to it; update or delete the ConfigMap.`,
                        cm.urn,
                    );
                }
                continue;
            }
            for (const r of routing) {
                const actual = r.percent(version);
                if (String(actual) !== data.percent) {
                    reportViolation(
                        `ConfigMap ${name} records ${data.percent}% for ${version}, but ${r.kind} ${r.name} sends it ${actual}%; they must agree.`,
                        cm.urn,
                    );
                }
                if (data.mirrorPercent !== undefined) {
                    const mirrored = r.mirrored(version);
                    if (String(mirrored) !== data.mirrorPercent) {
                        reportViolation(
                            `ConfigMap ${name} records mirrorPercent ${data.mirrorPercent} for ${version}, but ${r.kind} ${r.name} mirrors ${JSON.stringify(mirrored)}%; they must agree.`,
                            cm.urn,
                        );
                    }
                }
            }
        }
    },
};
