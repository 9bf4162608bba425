/**
 * The plain sections of a release: `routing` (Istio gateways, the split gateway of weighted
 * KServe splits, the entry target, the ModelMesh Serving Service), `readiness` and
 * `storageCredentials`. Defaults apply to what is unset; wrong values keep their default.
 */
import { DeploymentReadiness, Environment, RoutingBackend, SplitGateway } from "../types";
import { Checker, DNS1035_LABEL, DNS1123_LABEL, DNS1123_SUBDOMAIN, isObject } from "./checker";
import { DEFAULT_TIMEOUT_SECONDS } from "./defaults";
import { ONLY_IN, STORAGE_CREDENTIALS_FIX } from "./tables";
import { gatewayRef } from "./fields";
import { show } from "./issues";
import { rangeOf, settingsOf } from "./settings";

const ROUTING_KEYS = settingsOf("RoutingArgs");

/**
 * Routing knobs; splitGateway, entryTarget and modelMesh.namespace default later, from the app's
 * environment (only Knative mode has a gateway to default to).
 */
export interface Routing {
    backend: RoutingBackend;
    mesh: boolean;
    /** The routing keys the user set (rules refuse the ones a back-end does not read). */
    keys: string[];
    gateways: string[];
    splitGateway?: SplitGateway;
    entryTarget?: string;
    modelMesh: { service: string; namespace?: string; port: number };
}

/** `gateways`: Istio Gateway references; `mesh` (always bound) is dropped. */
function gatewaysOf(checker: Checker, path: string, value: unknown): string[] | undefined {
    return checker
        .list(path, value, undefined, 'write e.g. ["istio-system/public-gateway"]')
        ?.map((gateway, index) => (gateway === "mesh" ? "mesh" : gatewayRef(checker, `${path}[${index}]`, gateway)))
        .filter((gateway): gateway is string => gateway !== undefined && gateway !== "mesh");
}

/** `splitGateway`: both the Gateway and its Service host, or undefined. */
function splitGatewayOf(checker: Checker, path: string, value: unknown): SplitGateway | undefined {
    if (!isObject(value)) {
        checker.add(
            path,
            `must be {gateway, service}, got ${show(value)}`,
            "name the Istio Gateway and its Service host",
        );
        return undefined;
    }
    checker.unknownKeys(path, value, settingsOf("SplitGateway"));
    const gateway = gatewayRef(checker, `${path}.gateway`, value.gateway);
    const service = checker.dnsName(`${path}.service`, value.service, DNS1123_SUBDOMAIN, 253, "a Service host name");
    if (value.gateway === undefined || value.service === undefined) {
        checker.add(path, "needs both gateway and service", "set both keys");
    }
    return gateway && service ? { gateway, service } : undefined;
}

/** `modelMesh`: the ModelMesh Serving Service apps route to; wrong keys keep their defaults. */
function modelMeshOf(
    checker: Checker,
    path: string,
    value: unknown,
    defaults: Routing["modelMesh"],
): Routing["modelMesh"] {
    if (!isObject(value)) {
        checker.add(path, `must be an object, got ${show(value)}`, "use keys service, namespace, port");
        return defaults;
    }
    checker.unknownKeys(path, value, settingsOf("ModelMeshServiceArgs"));
    const service =
        value.service === undefined
            ? undefined
            : checker.dnsName(`${path}.service`, value.service, DNS1035_LABEL, 63, "a Service name");
    const namespace =
        value.namespace === undefined
            ? undefined
            : checker.dnsName(`${path}.namespace`, value.namespace, DNS1123_LABEL, 63, "a namespace name");
    const port = checker.integer(
        `${path}.port`,
        value.port,
        ...rangeOf("ModelMeshServiceArgs", "port"),
        "use the ModelMesh gRPC port, 8033 by default",
    );
    return { service: service ?? defaults.service, namespace, port: port ?? defaults.port };
}

/** The routing section with its defaults; wrong values are reported and left at their default. */
export function routingOf(checker: Checker, path: string, value: unknown): Routing {
    const routing: Routing = {
        backend: "istio",
        mesh: true,
        keys: [],
        gateways: [],
        modelMesh: { service: "modelmesh-serving", port: 8033 },
    };
    if (value === undefined) {
        return routing;
    }
    if (!isObject(value)) {
        checker.add(path, `must be an object, got ${show(value)}`, `use keys ${ROUTING_KEYS.join(", ")}`);
        return routing;
    }
    checker.unknownKeys(path, value, ROUTING_KEYS);
    routing.keys = Object.keys(value).filter((key) => value[key] !== undefined);
    routing.backend = checker.oneOf(`${path}.backend`, value.backend, Object.values(RoutingBackend)) ?? routing.backend;
    if (value.mesh !== undefined) routing.mesh = checker.boolean(`${path}.mesh`, value.mesh) ?? routing.mesh;
    if (value.gateways !== undefined) {
        routing.gateways = gatewaysOf(checker, `${path}.gateways`, value.gateways) ?? routing.gateways;
    }
    if (value.splitGateway !== undefined) {
        routing.splitGateway = splitGatewayOf(checker, `${path}.splitGateway`, value.splitGateway);
    }
    if (value.entryTarget !== undefined) {
        const entryTarget = checker.dnsName(
            `${path}.entryTarget`,
            value.entryTarget,
            DNS1123_SUBDOMAIN,
            253,
            "a Service host name",
        );
        if (entryTarget !== undefined) routing.entryTarget = entryTarget;
    }
    if (value.modelMesh !== undefined) {
        routing.modelMesh = modelMeshOf(checker, `${path}.modelMesh`, value.modelMesh, routing.modelMesh);
    }
    return routing;
}

/** `readiness`: how long to wait for the versions, and how Deployments are awaited. */
export function readinessOf(
    checker: Checker,
    path: string,
    value: unknown,
): { timeoutSeconds: number; deploymentReadiness: "rollout" | "available" } {
    const readiness = { timeoutSeconds: DEFAULT_TIMEOUT_SECONDS, deploymentReadiness: "rollout" as const };
    if (value === undefined) {
        return readiness;
    }
    if (!isObject(value)) {
        checker.add(path, `must be an object, got ${show(value)}`, "use readiness: {timeoutSeconds: 600}");
        return readiness;
    }
    checker.unknownKeys(path, value, settingsOf("ReadinessArgs"));
    const timeoutSeconds = checker.integer(
        `${path}.timeoutSeconds`,
        value.timeoutSeconds,
        ...rangeOf("ReadinessArgs", "timeoutSeconds"),
        "use a number of seconds, e.g. 600",
    );
    const deploymentReadiness = checker.oneOf(
        `${path}.deployment`,
        value.deployment,
        Object.values(DeploymentReadiness),
    );
    return {
        timeoutSeconds: timeoutSeconds ?? readiness.timeoutSeconds,
        deploymentReadiness: deploymentReadiness ?? readiness.deploymentReadiness,
    };
}

/** `storageCredentials`: the Secret's data (required) and annotations; refused where unused. */
export function storageCredentialsOf(
    checker: Checker,
    path: string,
    value: unknown,
    environment: Environment | undefined,
): { annotations: Record<string, string> } | undefined {
    if (value === undefined) {
        return undefined;
    }
    if (!isObject(value)) {
        checker.add(
            path,
            `must be {data, annotations}, got ${show(value)}`,
            "see the README's storage credentials section",
        );
        return undefined;
    }
    checker.unknownKeys(path, value, settingsOf("StorageCredentialsArgs"));
    const data = checker.stringMap(`${path}.data`, value.data, "plain");
    if (data !== undefined && Object.keys(data).length === 0) {
        checker.add(`${path}.data`, "is empty", "add the credential keys, e.g. AWS_ACCESS_KEY_ID");
    }
    if (value.data === undefined) {
        checker.add(`${path}.data`, "is required", "add the credential keys with pulumi config set --secret --path");
    }
    const annotations = checker.stringMap(`${path}.annotations`, value.annotations, "annotation") ?? {};
    if (environment !== undefined && !ONLY_IN.storageCredentials.includes(environment)) {
        checker.add(
            path,
            `cannot be used with environment ${environment}`,
            STORAGE_CREDENTIALS_FIX[environment] ?? "remove it",
        );
    }
    return { annotations };
}
