/**
 * Plays KServe's controller, which the Go module proxy does not serve (the other controllers are
 * real: kube-controller-manager, kube-scheduler and kwok run beside the API server, see
 * cluster.ts). Every 200 ms it lists InferenceServices, Deployments and Services once, and writes
 * only what differs:
 * - KServe Knative (or Serverless) and ModelMesh modes, and InferenceServices without a
 *   deploymentMode annotation: marks them Ready (IngressReady, PredictorReady, Ready) for their
 *   current generation. This is the one remaining emulation of readiness: no Knative runs.
 * - KServe Standard mode (`serving.kserve.io/deploymentMode: Standard`, or its legacy name
 *   `RawDeployment`), following KServe v0.20.0 components/predictor.go (reconcileRawDeployment,
 *   reconcileCanaryDeployments), with the names, labels and rules of kserveStandard.ts:
 *   - keeps the stable predictor's Deployment and ClusterIP Service,
 *     `{isvc}-{spec.predictor.name}-predictor` (or `{isvc}-predictor`), and one pair per
 *     `spec.canary[i]`, `{isvc}-{canary.predictor.name}-predictor`: labels
 *     `serving.kserve.io/inferenceservice: <isvc>`, `component: predictor`,
 *     `app: isvc.<object name>` (the selector), the isvc's and predictor's labels and annotations,
 *     port 80 -> 8080, a controller ownerReference to the InferenceService (the real garbage
 *     collector deletes them with it), and the predictor's image (or a placeholder: kwok runs no
 *     containers); a predictor spec change rolls the Deployment (new generation), which the real
 *     deployment controller rolls out;
 *   - replicas as KServe and its autoscaler leave them: a canary gets its predictor's minReplicas,
 *     else ceil(stable minReplicas (default 1) x trafficPercent / 100); a set stable minReplicas
 *     is lowered by the canaries' (to at least 1); then autoscaler class `none` keeps the count
 *     (0 for a 0% canary) while the default `hpa` raises it to at least 1 (see
 *     kserveStandard.ts deploymentReplicas);
 *   - deletes the predictor Deployments and Services labeled for the InferenceService whose names
 *     are no longer expected (a renamed stable predictor: promotion; a removed canary);
 *   - status for the current generation, recomputed every tick from the Deployments' real status:
 *     PredictorReady, IngressReady and Ready True only once the stable Deployment is Available for
 *     its generation with an available replica (canaries never count for Ready); `canaryStatuses`
 *     [{name, ready: availableReplicas > 0, trafficPercent}] and CanaryPredictorReady True
 *     (AllCanariesReady) / False (CanariesNotReady) when there are canaries, both cleared when
 *     there are none. The stable rule is stricter than KServe, which copies the Deployment's
 *     Available condition whatever its generation; the canary rule is KServe's.
 *   Not emulated: serving runtimes and the pods built from them, HPAs and other autoscaler
 *   objects, Ingresses or HTTPRoutes, the `serving.kserve.io/stop` annotation, multi-node
 *   workers, transformers and explainers, KServe's admission webhooks.
 * `neverReady` (`<namespace>/<name>` of InferenceServices): a Knative or ModelMesh one is left
 * alone, a Standard-mode one gets its predictor objects but is never Ready. Deployments that never
 * become Ready are real: their pods run NEVER_READY_IMAGE, which kwok leaves Pending.
 */
import { LocalCluster } from "./cluster";
import {
    Deployment,
    InferenceService,
    Manifest,
    ObjectMeta,
    deploymentDiffers,
    desiredPredictors,
    isStandardMode,
    orphans,
    serviceDiffers,
    standardStatus,
    statusPatch,
} from "./kserveStandard";

interface Conditioned {
    metadata: ObjectMeta;
    spec?: {
        replicas?: number;
        selector?: Record<string, string>;
        type?: string;
        clusterIP?: string;
        clusterIPs?: string[];
        ports?: { name?: string; port: number; targetPort?: number | string }[];
        [field: string]: unknown;
    };
    status?: {
        observedGeneration?: number;
        availableReplicas?: number;
        conditions?: { type: string; status: string; reason?: string }[];
    };
}

const ISVC_API = "/apis/serving.kserve.io/v1beta1";

/** The objects one tick works on, listed once and kept current with the stub's own writes. */
class Snapshot {
    readonly deployments = new Map<string, Conditioned>();
    readonly services = new Map<string, Conditioned>();

    constructor(deployments: Conditioned[], services: Conditioned[]) {
        for (const d of deployments) this.deployments.set(Snapshot.key(d.metadata), d);
        for (const s of services) this.services.set(Snapshot.key(s.metadata), s);
    }

    static key(m: { namespace: string; name: string }): string {
        return `${m.namespace}/${m.name}`;
    }

    /** A namespace's Deployments by name. */
    deploymentsIn(namespace: string): Map<string, Deployment> {
        const out = new Map<string, Deployment>();
        for (const d of this.deployments.values()) {
            if (d.metadata.namespace === namespace) out.set(d.metadata.name, d as Deployment);
        }
        return out;
    }
}

export class ControllerStub {
    private timer?: NodeJS.Timeout;
    private running = false;
    /** Objects (`<namespace>/<name>`) never reported ready. */
    readonly neverReady = new Set<string>();

    constructor(private readonly cluster: LocalCluster) {}

    start(intervalMs = 200): void {
        this.timer = setInterval(() => void this.tick(), intervalMs);
    }

    stop(): void {
        if (this.timer) clearInterval(this.timer);
        this.timer = undefined;
    }

    private isCurrent(o: Conditioned, type: string): boolean {
        const ok = o.status?.conditions?.some((c) => c.type === type && c.status === "True");
        return Boolean(ok) && o.status?.observedGeneration === o.metadata.generation;
    }

    /** A request that must succeed; its response body. */
    private async write<T>(method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
        const res = await this.cluster.request<T>(method, path, body, contentType);
        if (res.status >= 300 && !(method === "DELETE" && res.status === 404)) {
            throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
        }
        return res.body;
    }

    private async patchStatus<T = unknown>(path: string, status: Record<string, unknown>): Promise<T> {
        return this.write<T>("PATCH", `${path}/status`, { status }, "application/merge-patch+json");
    }

    private async list(path: string): Promise<Conditioned[]> {
        return (await this.cluster.get<{ items: Conditioned[] }>(path))?.items ?? [];
    }

    private async tick(): Promise<void> {
        if (this.running) return;
        this.running = true;
        try {
            const now = new Date().toISOString();
            const isvcs = (await this.list(`${ISVC_API}/inferenceservices`)) as unknown as InferenceService[];
            const snapshot = new Snapshot(
                await this.list("/apis/apps/v1/deployments"),
                await this.list("/api/v1/services"),
            );
            for (const o of isvcs) {
                // Being deleted (a foreground delete waits for the garbage collector to remove its
                // predictors): KServe's reconciler leaves it alone, and so does the stub, or it
                // would recreate what the collector deletes.
                if ((o.metadata as { deletionTimestamp?: string }).deletionTimestamp !== undefined) continue;
                const { name, namespace, generation } = o.metadata;
                if (isStandardMode(o)) {
                    try {
                        await this.reconcileStandard(o, snapshot, now);
                    } catch {
                        // One InferenceService's failure (e.g. a conflict) is retried next tick.
                    }
                    continue;
                }
                if (this.neverReady.has(`${namespace}/${name}`) || this.isCurrent(o as Conditioned, "Ready")) continue;
                const condition = (type: string) => ({ type, status: "True", lastTransitionTime: now });
                await this.cluster.request(
                    "PATCH",
                    `${ISVC_API}/namespaces/${namespace}/inferenceservices/${name}/status`,
                    {
                        status: {
                            observedGeneration: generation,
                            url: `http://${name}.${namespace}.example.com`,
                            address: { url: `http://${name}.${namespace}.svc.cluster.local` },
                            conditions: [condition("IngressReady"), condition("PredictorReady"), condition("Ready")],
                        },
                    },
                    "application/merge-patch+json",
                );
            }
        } catch {
            // The cluster may be stopping; the next tick retries.
        } finally {
            this.running = false;
        }
    }

    private async deleteDeployment(o: Conditioned, snapshot: Snapshot): Promise<void> {
        const { name, namespace } = o.metadata;
        await this.write("DELETE", `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`);
        snapshot.deployments.delete(Snapshot.key(o.metadata));
    }

    private async deleteService(o: Conditioned, snapshot: Snapshot): Promise<void> {
        const { name, namespace } = o.metadata;
        await this.write("DELETE", `/api/v1/namespaces/${namespace}/services/${name}`);
        snapshot.services.delete(Snapshot.key(o.metadata));
    }

    /** KServe v0.20 Standard mode for one InferenceService: predictor objects, cleanup, status. */
    private async reconcileStandard(isvc: InferenceService, snapshot: Snapshot, now: string): Promise<void> {
        const { name, namespace } = isvc.metadata;
        const predictors = desiredPredictors(isvc);
        for (const p of predictors) {
            await this.applyDeployment(p.deployment, snapshot);
            await this.applyService(p.service, snapshot);
        }
        const expected = new Set(predictors.map((p) => p.name));
        for (const d of orphans(isvc, [...snapshot.deployments.values()], expected)) {
            await this.deleteDeployment(d, snapshot);
        }
        for (const s of orphans(isvc, [...snapshot.services.values()], expected)) {
            await this.deleteService(s, snapshot);
        }
        const desired = standardStatus(isvc, snapshot.deploymentsIn(namespace), {
            neverReady: this.neverReady.has(`${namespace}/${name}`),
        });
        const patch = statusPatch(isvc.status, desired, now);
        if (patch) await this.patchStatus(`${ISVC_API}/namespaces/${namespace}/inferenceservices/${name}`, patch);
    }

    /**
     * Creates or updates (when its spec differs) a predictor Deployment; the real controllers roll
     * it out on kwok's node.
     */
    private async applyDeployment(desired: Manifest, snapshot: Snapshot): Promise<void> {
        const key = Snapshot.key(desired.metadata);
        const live = snapshot.deployments.get(key);
        const base = `/apis/apps/v1/namespaces/${desired.metadata.namespace}/deployments`;
        let written: Conditioned;
        if (!live) {
            written = await this.write<Conditioned>("POST", base, desired);
        } else if (deploymentDiffers(live, desired)) {
            written = await this.write<Conditioned>("PUT", `${base}/${desired.metadata.name}`, {
                ...desired,
                metadata: { ...desired.metadata, resourceVersion: live.metadata.resourceVersion },
            });
        } else {
            return;
        }
        snapshot.deployments.set(key, written);
    }

    /** Creates or updates (when its ports or selector differ) a predictor Service. */
    private async applyService(desired: Manifest, snapshot: Snapshot): Promise<void> {
        const key = Snapshot.key(desired.metadata);
        const live = snapshot.services.get(key);
        const base = `/api/v1/namespaces/${desired.metadata.namespace}/services`;
        let written: Conditioned;
        if (!live) {
            written = await this.write<Conditioned>("POST", base, desired);
        } else if (serviceDiffers(live, desired)) {
            written = await this.write<Conditioned>("PUT", `${base}/${desired.metadata.name}`, {
                ...desired,
                metadata: { ...desired.metadata, resourceVersion: live.metadata.resourceVersion },
                spec: { ...desired.spec, clusterIP: live.spec?.clusterIP, clusterIPs: live.spec?.clusterIPs },
            });
        } else {
            return;
        }
        snapshot.services.set(key, written);
    }
}
