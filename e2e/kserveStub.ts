/**
 * Plays the KServe controller on a cluster where none runs: marks InferenceServices Ready
 * (status conditions for the current generation) so that `pulumi.com/waitFor: condition=Ready`
 * completes. Names listed in `neverReady` are left alone, to test a candidate that never becomes
 * Ready.
 */
import { LocalCluster } from "./cluster";

interface InferenceService {
    metadata: { name: string; namespace: string; generation?: number };
    status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] };
}

export class KServeStub {
    private timer?: NodeJS.Timeout;
    private running = false;
    /** Names (`<namespace>/<name>`) never marked Ready. */
    readonly neverReady = new Set<string>();
    /** How many status updates were written. */
    marked = 0;

    constructor(private readonly cluster: LocalCluster) {}

    start(intervalMs = 200): void {
        this.timer = setInterval(() => void this.tick(), intervalMs);
    }

    stop(): void {
        if (this.timer) clearInterval(this.timer);
        this.timer = undefined;
    }

    private async tick(): Promise<void> {
        if (this.running) return;
        this.running = true;
        try {
            const list = await this.cluster.get<{ items: InferenceService[] }>(
                "/apis/serving.kserve.io/v1beta1/inferenceservices",
            );
            for (const isvc of list?.items ?? []) {
                const { name, namespace, generation } = isvc.metadata;
                if (this.neverReady.has(`${namespace}/${name}`)) continue;
                const ready = isvc.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
                if (ready && isvc.status?.observedGeneration === generation) continue;
                const now = new Date().toISOString();
                const condition = (type: string) => ({ type, status: "True", lastTransitionTime: now });
                const res = await this.cluster.request(
                    "PATCH",
                    `/apis/serving.kserve.io/v1beta1/namespaces/${namespace}/inferenceservices/${name}/status`,
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
                if (res.status === 200) this.marked += 1;
            }
        } catch {
            // The cluster may be stopping; the next tick retries.
        } finally {
            this.running = false;
        }
    }
}
