/**
 * Plays the controllers that a bare kube-apiserver lacks, so that the provider's readiness gates
 * complete as on a real cluster:
 * - KServe: marks InferenceServices Ready for their current generation;
 * - Deployments: reports them Available with their replicas updated;
 * - Endpoints: gives every Service with a selector one ready address.
 * Objects named in `neverReady` (`<namespace>/<name>`) are left alone, to test a version that
 * never becomes Ready.
 */
import { LocalCluster } from "./cluster";

interface Meta {
    name: string;
    namespace: string;
    generation?: number;
}
interface Conditioned {
    metadata: Meta;
    spec?: {
        replicas?: number;
        selector?: Record<string, string>;
        type?: string;
        clusterIP?: string;
        ports?: { name?: string; port: number; targetPort?: number | string }[];
    };
    status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] };
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

    private async patchStatus(path: string, status: Record<string, unknown>): Promise<void> {
        await this.cluster.request("PATCH", `${path}/status`, { status }, "application/merge-patch+json");
    }

    private async tick(): Promise<void> {
        if (this.running) return;
        this.running = true;
        try {
            const now = new Date().toISOString();
            const isvcs = await this.cluster.get<{ items: Conditioned[] }>(
                "/apis/serving.kserve.io/v1beta1/inferenceservices",
            );
            for (const o of isvcs?.items ?? []) {
                const { name, namespace, generation } = o.metadata;
                if (this.neverReady.has(`${namespace}/${name}`) || this.isCurrent(o, "Ready")) continue;
                const condition = (type: string) => ({ type, status: "True", lastTransitionTime: now });
                await this.patchStatus(
                    `/apis/serving.kserve.io/v1beta1/namespaces/${namespace}/inferenceservices/${name}`,
                    {
                        observedGeneration: generation,
                        url: `http://${name}.${namespace}.example.com`,
                        address: { url: `http://${name}.${namespace}.svc.cluster.local` },
                        conditions: [condition("IngressReady"), condition("PredictorReady"), condition("Ready")],
                    },
                );
            }
            const deployments = await this.cluster.get<{ items: Conditioned[] }>("/apis/apps/v1/deployments");
            for (const o of deployments?.items ?? []) {
                const { name, namespace, generation } = o.metadata;
                if (this.neverReady.has(`${namespace}/${name}`) || this.isCurrent(o, "Available")) continue;
                const replicas = o.spec?.replicas ?? 1;
                await this.patchStatus(`/apis/apps/v1/namespaces/${namespace}/deployments/${name}`, {
                    observedGeneration: generation,
                    replicas,
                    updatedReplicas: replicas,
                    readyReplicas: replicas,
                    availableReplicas: replicas,
                    conditions: [
                        {
                            type: "Available",
                            status: "True",
                            reason: "MinimumReplicasAvailable",
                            lastTransitionTime: now,
                            lastUpdateTime: now,
                        },
                        {
                            type: "Progressing",
                            status: "True",
                            reason: "NewReplicaSetAvailable",
                            lastTransitionTime: now,
                            lastUpdateTime: now,
                        },
                    ],
                });
            }
            const services = await this.cluster.get<{ items: Conditioned[] }>("/api/v1/services");
            for (const o of services?.items ?? []) {
                const { name, namespace } = o.metadata;
                const selector = o.spec?.selector;
                if (
                    !selector ||
                    Object.keys(selector).length === 0 ||
                    o.spec?.type === "ExternalName" ||
                    o.spec?.clusterIP === "None"
                ) {
                    continue;
                }
                if (this.neverReady.has(`${namespace}/${name}`)) continue;
                const path = `/api/v1/namespaces/${namespace}/endpoints/${name}`;
                if (await this.cluster.get(path)) continue;
                const ports = (o.spec?.ports ?? []).map((p) => ({
                    name: p.name,
                    port: typeof p.targetPort === "number" ? p.targetPort : p.port,
                }));
                await this.cluster.request("POST", `/api/v1/namespaces/${namespace}/endpoints`, {
                    apiVersion: "v1",
                    kind: "Endpoints",
                    metadata: { name, namespace },
                    subsets: [{ addresses: [{ ip: "10.0.1.1" }], ports }],
                });
            }
        } catch {
            // The cluster may be stopping; the next tick retries.
        } finally {
            this.running = false;
        }
    }
}
