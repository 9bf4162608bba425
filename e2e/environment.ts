/**
 * One local control plane (with the KServe stub) shared by every end-to-end test file: starting
 * it and installing the 2 MB InferenceService CRD costs seconds, so it is started once, on first
 * use, and stopped by the suite's root hook. Each test file works in its own namespace and stack.
 */
import { LocalCluster } from "./cluster";
import { ensureEngine, ensurePolicyPack } from "./engine";
import { ControllerStub } from "./controllerStub";

export interface Environment {
    bin: string;
    cluster: LocalCluster;
    stub: ControllerStub;
}

let started: Promise<Environment> | undefined;

async function start(): Promise<Environment> {
    const bin = ensureEngine();
    ensurePolicyPack();
    const cluster = await LocalCluster.start(bin);
    const stub = new ControllerStub(cluster);
    stub.start();
    return { bin, cluster, stub };
}

/** The shared environment, started on first call. */
export function environment(): Promise<Environment> {
    started ??= start();
    return started;
}

/** Stops the shared environment if it was started. */
export async function stopEnvironment(): Promise<void> {
    if (!started) return;
    const env = await started.catch(() => undefined);
    started = undefined;
    env?.stub.stop();
    await env?.cluster.stop();
}
