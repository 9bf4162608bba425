/**
 * What the benchmarks deploy: N releases of the seed 000 shape (KServe, blue-green, two versions
 * with a 90/10 split), and the same Kubernetes objects declared directly as raw
 * `@pulumi/kubernetes` resources, the baseline a hand-written program would pay.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

import { ReleasePlan, planRelease } from "../components/plan";
import { validateReleases } from "../components/validate";

const MODEL = "gs://seldon-models/sklearn/mms/lr_model";

/** `count` releases named model-0000, model-0001, ... in `namespace`, as stack config holds them. */
export function benchReleases(count: number, namespace: string): Record<string, unknown> {
    const releases: Record<string, unknown> = {};
    for (let i = 0; i < count; i++) {
        const app = `model-${String(i).padStart(4, "0")}`;
        releases[app] = {
            environment: "kserve",
            strategy: "blue-green",
            namespace,
            labels: { "app.kubernetes.io/name": app },
            modelFormat: "sklearn",
            runtime: "kserve-mlserver",
            versions: [
                { labels: { "app.kubernetes.io/version": "v0" }, storageUri: MODEL, weight: 90 },
                { labels: { "app.kubernetes.io/version": "v1" }, storageUri: MODEL, weight: 10 },
            ],
        };
    }
    return releases;
}

/** The plans of the releases (validated as the stack program validates them). */
export function plansOf(releases: Record<string, unknown>): ReleasePlan[] {
    return validateReleases(releases, "default").map(planRelease);
}

/** Number of Kubernetes objects the plans declare. */
export function objectCount(plans: ReleasePlan[]): number {
    return plans.reduce((sum, p) => sum + p.objects.length, 0);
}

/** An empty component: what grouping a release's objects costs, without ModelRelease's work. */
class RawGroup extends pulumi.ComponentResource {
    constructor(name: string) {
        super("model-release:bench:RawGroup", name);
        this.registerOutputs({});
    }
}

/**
 * Declares the planned objects as raw resources: same types, names, inputs and dependencies as
 * ModelRelease registers, without the component, validation or planning. `grouped` parents each
 * release's objects under an empty component, to tell the cost of the grouping itself apart.
 */
export function declareRaw(plans: ReleasePlan[], grouped = false): pulumi.CustomResource[] {
    const all: pulumi.CustomResource[] = [];
    for (const plan of plans) {
        const created: Record<string, pulumi.CustomResource> = {};
        const group = grouped ? new RawGroup(plan.key) : undefined;
        for (const object of plan.objects) {
            const { manifest } = object;
            const name = `${manifest.metadata.namespace}/${manifest.metadata.name}`;
            const opts = { parent: group, dependsOn: object.dependsOn.map((id) => created[id]) };
            let resource: pulumi.CustomResource;
            switch (manifest.kind) {
                case "Service":
                    resource = new k8s.core.v1.Service(
                        name,
                        { metadata: manifest.metadata, spec: manifest.spec as k8s.types.input.core.v1.ServiceSpec },
                        opts,
                    );
                    break;
                case "ConfigMap":
                    resource = new k8s.core.v1.ConfigMap(
                        name,
                        { metadata: manifest.metadata, data: manifest.data as Record<string, string> },
                        opts,
                    );
                    break;
                case "InferenceService":
                case "VirtualService":
                    resource = new k8s.apiextensions.CustomResource(name, manifest, opts);
                    break;
                default:
                    throw new Error(`the benchmark workload has no ${manifest.kind}`);
            }
            created[object.id] = resource;
            all.push(resource);
        }
    }
    return all;
}
