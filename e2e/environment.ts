/**
 * One local control plane (with the KServe stub) shared by every end-to-end test file: starting
 * it and installing the 2 MB InferenceService CRD costs seconds, so it is started once, on first
 * use, and stopped by the suite's root hook (run serially) or when the mocha worker process that
 * ran the files ends (run in parallel). Each test file works in its own namespace and stack.
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
    startedEnv = { bin, cluster, stub };
    return startedEnv;
}

/** The shared environment, started on first call. */
export function environment(): Promise<Environment> {
    started ??= start();
    return started;
}

let startedEnv: Environment | undefined;

/** The shared environment if it has been started in this process (no start otherwise). */
export function startedEnvironment(): Environment | undefined {
    return startedEnv;
}

/**
 * Kills the shared environment at once, synchronously: for a process's `exit` event, when a
 * parallel mocha worker that ran several test files ends.
 */
export function stopEnvironmentNow(): void {
    startedEnv?.stub.stop();
    startedEnv?.cluster.stopNow();
    startedEnv = undefined;
    started = undefined;
}

/** Stops the shared environment if it was started. */
export async function stopEnvironment(): Promise<void> {
    if (!started) return;
    const env = await started.catch(() => undefined);
    started = undefined;
    startedEnv = undefined;
    env?.stub.stop();
    await env?.cluster.stop();
}
