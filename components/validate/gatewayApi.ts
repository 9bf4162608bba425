/**
 * Rules of the Gateway API routing back-end (`routing.backend: gateway-api`): what the standard
 * channel (v1.6.1) and Istio's implementation of it cannot express is refused here, with the
 * reason and the config path, never dropped from the rendered HTTPRoute.
 */
import { HTTP_ROUTE_LIMITS, inexpressible, modelRuleCount } from "../gatewayApi";
import { Environment, RoutingBackend, Strategy } from "../types";
import { Checker } from "./checker";
import { ResolvedVersion, servedShares } from "./version";

/** What the Gateway API rules read of a release being validated. */
export interface GatewayApiContext {
    path: string;
    environment: Environment;
    strategy: Strategy;
    versions: ResolvedVersion[];
    backend: RoutingBackend;
    /** Whether the route attaches to the app's Service (GAMMA). */
    mesh: boolean;
    gateways: string[];
    hasRollout: boolean;
    /** Routing settings the user set, by key. */
    routingKeys: string[];
}

const ISTIO_FIX = "or set routing.backend: istio (the default)";

/** Adds an issue for every part of the release the Gateway API back-end cannot render. */
export function gatewayApiRules(checker: Checker, context: GatewayApiContext): void {
    const { path, environment, strategy, versions } = context;
    const backendPath = `${path}.routing.backend`;
    if (context.backend !== "gateway-api") {
        if (context.routingKeys.includes("mesh")) {
            checker.add(
                `${path}.routing.mesh`,
                "has no effect with routing.backend istio: a VirtualService is always bound to the mesh",
                "remove it, or set routing.backend: gateway-api",
            );
        }
        return;
    }
    // Knative's canary is routed by KServe; routing settings are refused elsewhere.
    if (strategy === "kserve-canary" && environment === "kserve") return;
    if (environment === "kserve") {
        checker.add(
            backendPath,
            "gateway-api is not offered with environment kserve (Knative mode): Knative-mode predictors are reached through knative-local-gateway in istio-system with a per-version Host header, a Service that an HTTPRoute in the app namespace may reference only with a ReferenceGrant in istio-system, and which Knative's own networking layer owns",
            `use environment kserve-raw (KServe Standard mode, which KServe itself routes with the Gateway API), ${ISTIO_FIX}`,
        );
        return;
    }
    if (environment === "kserve-modelmesh") {
        checker.add(
            backendPath,
            "gateway-api is not offered with environment kserve-modelmesh: ModelMesh apps are gRPC, declared by a ServiceEntry, and selected by a per-version mm-vmodel-id header; model-release renders no GRPCRoute for them yet",
            `use routing.backend: istio (the default)`,
        );
        return;
    }
    for (const key of ["splitGateway", "entryTarget"]) {
        if (context.routingKeys.includes(key)) {
            checker.add(
                `${path}.routing.${key}`,
                `has no effect with routing.backend gateway-api: the HTTPRoute routes in one hop and attaches to the app's Service and routing.gateways`,
                `remove it, ${ISTIO_FIX}`,
            );
        }
    }
    if (!context.mesh && context.gateways.length === 0) {
        checker.add(
            `${path}.routing.mesh`,
            "is false and routing.gateways is empty: the HTTPRoute would attach to nothing and route no request",
            "keep routing.mesh true (the default), or list a Gateway in routing.gateways",
        );
    }
    if (environment === "kserve-raw" && strategy === "blue-green") standardModeSplit(checker, context);
    if (strategy === "canary") {
        versions.slice(1).forEach((version) => {
            version.match.forEach((match, j) => {
                for (const [field, why] of inexpressible(match)) {
                    checker.add(
                        `${path}.versions[${version.index}].match[${j}].${field}`,
                        `cannot be expressed with routing.backend gateway-api: ${why}`,
                        `remove it, ${ISTIO_FIX}`,
                    );
                }
            });
        });
    }
    const rules = ruleCount(context);
    if (rules > HTTP_ROUTE_LIMITS.rules) {
        checker.add(
            `${path}.versions`,
            `render ${rules} HTTPRoute rules, and an HTTPRoute holds at most ${HTTP_ROUTE_LIMITS.rules}`,
            "use fewer canary candidates or fewer match alternatives per candidate",
        );
    }
}

/**
 * Standard mode, blue-green: each version's model path is rewritten by its own rule, so only one
 * version can be served at a time (a backendRef-level URLRewrite is Extended, and Istio refuses it).
 */
function standardModeSplit(checker: Checker, context: GatewayApiContext): void {
    const { path, versions } = context;
    const why =
        "a weighted KServe split needs a per-version model path rewrite per backend, which Gateway API offers only as a backendRef URLRewrite (an Extended feature Istio refuses as an unsupported filter type)";
    const fix = `use strategy canary (by header), give one version all the weight, ${ISTIO_FIX} with routing.splitGateway`;
    if (context.hasRollout && versions.length >= 2) {
        checker.add(
            `${path}.routing.backend`,
            `cannot run the rollout's steps: ${why}`,
            fix.replace("give one version all the weight, ", "remove the rollout, "),
        );
        return;
    }
    const served = servedShares(versions);
    if (served.length >= 2) {
        checker.add(`${path}.routing.backend`, `cannot route the split ${served.join(" / ")}: ${why}`, fix);
    }
}

/** How many HTTPRoute rules the release renders. */
function ruleCount(context: GatewayApiContext): number {
    const candidates = context.strategy === "canary" ? context.versions.slice(1) : [];
    if (context.strategy === "kserve-canary") return 1;
    if (context.environment === "kserve-raw") {
        return modelRuleCount(0) + candidates.reduce((sum, c) => sum + modelRuleCount(c.match.length), 0);
    }
    return 1 + candidates.length;
}
