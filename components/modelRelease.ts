import * as k8s from "@pulumi/kubernetes";
import * as kx from "@pulumi/kubernetesx";
import * as pulumi from "@pulumi/pulumi";

import { PlannedObject, ReleasePlan, TrafficRow, planRelease } from "./plan";
import { ReleaseFields } from "./types";
import { ReleaseConfigError, validateRelease } from "./validate";

/** Storage credentials whose values may be secret Pulumi inputs. */
export interface ModelReleaseCredentials {
    /** Secret data, e.g. AWS_ACCESS_KEY_ID; stored encrypted, never output in plaintext. */
    data: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /** Annotations of the Secret, e.g. `serving.kserve.io/s3-endpoint`. */
    annotations?: Record<string, string>;
}

/** Arguments of a ModelRelease: a release description (see `ReleaseArgs`). */
export interface ModelReleaseArgs extends ReleaseFields {
    /** Storage credentials for the predictors (a Secret and a ServiceAccount). */
    storageCredentials?: ModelReleaseCredentials;
}

/** Options of a ModelRelease beyond the usual component options. */
export interface ModelReleaseOptions extends pulumi.ComponentResourceOptions {
    /** Config path used in validation messages; default `releases.<name>`. */
    configPath?: string;
    /** Namespace when the release sets none; default `kubernetes:namespace` config or `default`. */
    defaultNamespace?: string;
}

/**
 * What a ModelRelease was built from and into, kept beside the instance: the component provider's
 * schema inference takes every property of the class for an output, and these two are for
 * TypeScript callers only (the plan holds raw manifests, the resources are live objects).
 */
const built = new WeakMap<
    ModelRelease,
    { plan: ReleasePlan; resources: Readonly<Record<string, pulumi.CustomResource>> }
>();

function builtOf(release: ModelRelease) {
    const entry = built.get(release);
    if (!entry) throw new Error("ModelRelease: read plan or resources after its constructor returned");
    return entry;
}

/**
 * A model release: the versions of one application (InferenceServices or Deployments), the Istio
 * routing in front of them and the per-version weight config, planned from a plain description.
 *
 * Invalid descriptions throw a ReleaseConfigError before anything is registered. Routing objects
 * depend on every version, and each version waits until it is Ready, so a version that never
 * becomes Ready fails the update while the routing keeps its last applied state.
 */
export class ModelRelease extends pulumi.ComponentResource {
    /** The app host clients call, `<app>.<namespace>.svc.cluster.local`. */
    public readonly host!: pulumi.Output<string>;
    /** Namespace of every object. */
    public readonly namespace!: pulumi.Output<string>;
    /** Who gets which share of the requests. */
    public readonly traffic!: pulumi.Output<TrafficRow[]>;
    /** The plan the resources were created from (TypeScript only: not a component output). */
    get plan(): ReleasePlan {
        return builtOf(this).plan;
    }
    /** The created Kubernetes resources, by `<kind>/<name>` (TypeScript only: not a component output). */
    get resources(): Readonly<Record<string, pulumi.CustomResource>> {
        return builtOf(this).resources;
    }

    constructor(name: string, args: ModelReleaseArgs, opts: ModelReleaseOptions = {}) {
        const { configPath, defaultNamespace, ...componentOpts } = opts;
        // Plan before super(): a bad description must fail before anything is registered.
        const plan = planModelRelease(name, args, configPath ?? `releases.${name}`, defaultNamespace);
        // The args are not passed on: they may hold credentials, which must not land in state.
        super("model-release:index:ModelRelease", name, {}, componentOpts);

        const created: Record<string, pulumi.CustomResource> = {};
        // The plan lists objects after the objects they depend on.
        for (const object of plan.objects) {
            const dependsOn = object.dependsOn.map((id) => created[id]);
            created[object.id] = this.createObject(object, args, dependsOn);
        }
        built.set(this, { plan, resources: created });
        this.host = pulumi.output(plan.host);
        this.namespace = pulumi.output(plan.namespace);
        this.traffic = pulumi.output(plan.traffic);
        this.registerOutputs({ host: this.host, namespace: this.namespace, traffic: this.traffic });
    }

    private createObject(
        object: PlannedObject,
        args: ModelReleaseArgs,
        dependsOn: pulumi.Resource[],
    ): pulumi.CustomResource {
        const { manifest } = object;
        const name = `${manifest.metadata.namespace}/${manifest.metadata.name}`;
        const opts: pulumi.CustomResourceOptions = { parent: this, dependsOn };
        switch (`${manifest.apiVersion}/${manifest.kind}`) {
            case "apps/v1/Deployment": {
                const spec = object.podSpec
                    ? new kx.PodBuilder(object.podSpec).asDeploymentSpec({ replicas: 1 })
                    : (manifest.spec as k8s.types.input.apps.v1.DeploymentSpec);
                return new kx.Deployment(name, { metadata: manifest.metadata, spec }, opts);
            }
            case "v1/Service":
                return new k8s.core.v1.Service(
                    name,
                    { metadata: manifest.metadata, spec: manifest.spec as k8s.types.input.core.v1.ServiceSpec },
                    opts,
                );
            case "v1/ConfigMap":
                return new k8s.core.v1.ConfigMap(
                    name,
                    { metadata: manifest.metadata, data: manifest.data as Record<string, string> },
                    opts,
                );
            case "v1/Secret": {
                const data = args.storageCredentials?.data ?? {};
                return new k8s.core.v1.Secret(
                    name,
                    { metadata: manifest.metadata, type: manifest.type as string, stringData: pulumi.secret(data) },
                    { ...opts, additionalSecretOutputs: ["data", "stringData"] },
                );
            }
            case "policy/v1/PodDisruptionBudget":
                return new k8s.policy.v1.PodDisruptionBudget(
                    name,
                    {
                        metadata: manifest.metadata,
                        spec: manifest.spec as k8s.types.input.policy.v1.PodDisruptionBudgetSpec,
                    },
                    opts,
                );
            case "v1/ServiceAccount":
                return new k8s.core.v1.ServiceAccount(
                    name,
                    { metadata: manifest.metadata, secrets: manifest.secrets as { name: string }[] },
                    opts,
                );
            default:
                // InferenceService, VirtualService, ServiceEntry.
                return new k8s.apiextensions.CustomResource(name, manifest, opts);
        }
    }
}

function isPlainStringMap(value: unknown): boolean {
    return (
        typeof value === "object" &&
        value !== null &&
        !pulumi.Output.isInstance(value) &&
        !(value instanceof Promise) &&
        Object.values(value).every((v) => typeof v === "string")
    );
}

/** Validates and plans a release; throws ReleaseConfigError listing every problem. */
export function planModelRelease(
    name: string,
    args: ModelReleaseArgs,
    configPath: string,
    defaultNamespace?: string,
): ReleasePlan {
    const credentials = args.storageCredentials;
    // Secret inputs cannot be inspected before deployment; only their presence is validated.
    const description: Record<string, unknown> = { ...args };
    if (credentials !== undefined) {
        description.storageCredentials = {
            ...credentials,
            data: isPlainStringMap(credentials.data) ? credentials.data : { "(secret)": "(secret)" },
        };
    }
    const namespace = defaultNamespace ?? new pulumi.Config("kubernetes").get("namespace") ?? "default";
    const { release, issues } = validateRelease(name, description, { path: configPath, defaultNamespace: namespace });
    if (!release) {
        throw new ReleaseConfigError(issues);
    }
    return planRelease(release);
}
