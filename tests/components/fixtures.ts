// Small builders for release descriptions used across the tests.
import * as assert from "node:assert/strict";

import { Manifest, ReleasePlan, planRelease } from "../../components/plan";
import { Environment, ReleaseArgs, Strategy, VersionArgs } from "../../components/types";
import { ConfigIssue, ResolvedRelease, validateRelease } from "../../components/validate";

export const GS_MODEL = "gs://seldon-models/sklearn/mms/lr_model";
export const S3_MODEL = "s3://modelmesh-example-models/sklearn/mnist-svm.joblib";

/** A version of the seed 000 `wisdom` model, labelled with its model version. */
export function modelVersion(modelVersionLabel: string, extra: Partial<VersionArgs> = {}): VersionArgs {
    return { labels: { "app.kubernetes.io/version": modelVersionLabel }, storageUri: GS_MODEL, ...extra };
}

/** A version of the seed 001 httpbin application. */
export function appVersion(extra: Partial<VersionArgs> = {}): VersionArgs {
    return { image: "kennethreitz/httpbin", ...extra };
}

/** The seed 000 release (`wisdom` on KServe) with the given versions. */
export function wisdom(versions: VersionArgs[], extra: Partial<ReleaseArgs> = {}): ReleaseArgs {
    return {
        environment: "kserve",
        strategy: "blue-green",
        labels: { "app.kubernetes.io/name": "wisdom" },
        modelFormat: { name: "sklearn" },
        runtime: "kserve-mlserver",
        versions,
        ...extra,
    };
}

/** The seed 002 release (`wisdom` on ModelMesh). */
export function wisdomModelMesh(versions: VersionArgs[], extra: Partial<ReleaseArgs> = {}): ReleaseArgs {
    return {
        environment: "kserve-modelmesh",
        strategy: "canary",
        namespace: "modelmesh-serving",
        labels: { "app.kubernetes.io/name": "wisdom" },
        annotations: { "serving.kserve.io/secretKey": "localMinIO" },
        modelFormat: { name: "sklearn" },
        versions,
        ...extra,
    };
}

/** The seed 001 release (`httpbin` Deployments). */
export function httpbin(versions: VersionArgs[], extra: Partial<ReleaseArgs> = {}): ReleaseArgs {
    return { environment: "deployment", strategy: "blue-green", versions, ...extra };
}

/** The seed 003/004 release (`sklearn-iris`, KServe native canary). */
export function sklearnIris(storageUri: string, extra: Partial<ReleaseArgs> = {}): ReleaseArgs {
    return {
        environment: "kserve",
        strategy: "kserve-canary",
        namespace: "kserve-test",
        versions: [{ storageUri, modelFormat: { name: "sklearn" } }],
        ...extra,
    };
}

/**
 * A version of a KServe Standard-mode canary release: a named predictor, with its trafficPercent
 * when it is a canary (a later version).
 */
export function canaryVersion(name: string, trafficPercent?: number, extra: Partial<VersionArgs> = {}): VersionArgs {
    return {
        name,
        storageUri: `${GS_MODEL}-${name}`,
        ...(trafficPercent === undefined ? {} : { trafficPercent }),
        ...extra,
    };
}

/** The `wisdom` model released with KServe v0.20's Standard-mode canary (spec.canary). */
export function standardCanary(versions: VersionArgs[], extra: Partial<ReleaseArgs> = {}): ReleaseArgs {
    return wisdom(versions, { environment: "kserve-raw", strategy: "kserve-canary", namespace: "models", ...extra });
}

/** An Istio gateway for the second hop of Standard-mode weighted splits. */
export const RAW_SPLIT_GATEWAY = {
    gateway: "istio-system/model-split",
    service: "istio-ingressgateway.istio-system.svc.cluster.local",
};

/** A release of each environment with two versions, for the environment x strategy matrix. */
export function releaseFor(environment: Environment, strategy: Strategy): ReleaseArgs {
    const two = (make: (i: number) => VersionArgs): VersionArgs[] => [make(0), make(1)];
    switch (environment) {
        case "deployment":
            return httpbin(strategy === "kserve-canary" ? [appVersion()] : two(() => appVersion()), { strategy });
        case "kserve-modelmesh":
            return wisdomModelMesh(
                two((i) => ({ storageUri: S3_MODEL, labels: { "app.kubernetes.io/version": `v${i + 1}` } })),
                {
                    strategy,
                },
            );
        default:
            if (environment === "kserve-raw" && strategy === "kserve-canary") {
                return standardCanary([canaryVersion("v1"), canaryVersion("v2", 10)]);
            }
            return wisdom(strategy === "kserve-canary" ? [modelVersion("v0")] : two((i) => modelVersion(`v${i}`)), {
                environment,
                strategy,
                // A weighted split in Standard mode needs a gateway of its own (no Knative there).
                ...(environment === "kserve-raw" && strategy === "blue-green"
                    ? { routing: { splitGateway: RAW_SPLIT_GATEWAY } }
                    : {}),
            });
    }
}

/** Validates a description that must be valid. */
export function resolve(args: unknown, key = "wisdom", defaultNamespace = "default"): ResolvedRelease {
    const { release, issues } = validateRelease(key, args, { path: `releases.${key}`, defaultNamespace });
    assert.deepEqual(issues, [], "expected a valid release");
    assert.ok(release);
    return release;
}

/** Plans a description that must be valid. */
export function plan(args: unknown, key = "wisdom"): ReleasePlan {
    return planRelease(resolve(args, key));
}

/** The issues of a description that must be invalid. */
export function issuesOf(args: unknown, key = "wisdom"): ConfigIssue[] {
    const { release, issues } = validateRelease(key, args, { path: `releases.${key}`, defaultNamespace: "default" });
    assert.equal(release, undefined, "expected an invalid release");
    return issues;
}

/** The manifest of a planned object, by `<kind>/<name>`. */
export function manifestOf(p: ReleasePlan, id: string): Manifest {
    const object = p.objects.find((o) => o.id === id);
    assert.ok(object, `no object ${id}; have ${p.objects.map((o) => o.id).join(", ")}`);
    return object.manifest;
}

/** The VirtualService spec of a plan. */
export function vsSpec(p: ReleasePlan): { hosts: string[]; gateways: string[]; http: Route[] } {
    return manifestOf(p, `VirtualService/${p.name}`).spec as { hosts: string[]; gateways: string[]; http: Route[] };
}

export interface Destination {
    destination: { host: string; port?: { number: number } };
    weight?: number;
    headers?: {
        request?: { set?: Record<string, string>; remove?: string[] };
        response?: { set?: Record<string, string> };
    };
}

export interface Route {
    name: string;
    match?: Record<string, unknown>[];
    rewrite?: { uriRegexRewrite: { match: string; rewrite: string } };
    route: Destination[];
    mirror?: { host: string; port?: { number: number } };
    mirrorPercentage?: { value: number };
}

/** Percent per version as the weighted destinations of a plan express it. */
export function trafficOf(p: ReleasePlan): Record<string, number> {
    return Object.fromEntries(p.traffic.map((row) => [row.version, row.percent]));
}
