/** The accepted enumerations and the defaults applied to a release (public, used by plan and CLI). */
import { Environment, HttpMatch, ProtocolVersion, SplitGateway, Strategy } from "../types";

// The closed sets are the const objects of components/types.ts, in their declaration order.
export const ENVIRONMENTS: readonly Environment[] = Object.values(Environment);
export const STRATEGIES: readonly Strategy[] = Object.values(Strategy);
export const PROTOCOL_VERSIONS: readonly ProtocolVersion[] = Object.values(ProtocolVersion);

/** Header that selects a version on the second hop of a weighted KServe split. */
export const BRANCH_HEADER = "x-model-release-version";

export const DEFAULT_TIMEOUT_SECONDS = 600;
export const DEFAULT_PORT = 80;
export const DEFAULT_CANARY_MATCH: readonly HttpMatch[] = [{ headers: { traffic: { exact: "test" } } }];
export const DEFAULT_KNATIVE_GATEWAY: SplitGateway = {
    gateway: "knative-serving/knative-local-gateway",
    service: "knative-local-gateway.istio-system.svc.cluster.local",
};
export const DEFAULT_DEPLOYMENT_ENTRY_TARGET = "istio-ingressgateway.istio-system.svc.cluster.local";
