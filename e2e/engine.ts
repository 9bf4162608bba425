/**
 * Locates the engine pieces (Pulumi CLI, Kubernetes provider, kube-apiserver, etcd), building
 * them with scripts/engine.sh when they are missing. Progress goes to stderr.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";

const SCRIPT = path.resolve(__dirname, "..", "scripts", "engine.sh");

/** Returns the engine's bin directory, building what is missing; throws if that fails. */
export function ensureEngine(): string {
    const result = spawnSync("bash", [SCRIPT], { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });
    if (result.status !== 0) {
        throw new Error(
            `the engine could not be built (scripts/engine.sh exited ${result.status}); ` +
                "the end-to-end tests need the Pulumi CLI, the Kubernetes provider, kube-apiserver and etcd",
        );
    }
    const lines = result.stdout.trim().split("\n");
    return lines[lines.length - 1];
}

/** Environment for Pulumi CLI runs on this machine: offline, engine on PATH. */
export function engineEnv(bin: string, backendDir: string, kubeconfig: string): Record<string, string> {
    return {
        PATH: `${bin}:${process.env.PATH ?? ""}`,
        PULUMI_BACKEND_URL: `file://${backendDir}`,
        PULUMI_CONFIG_PASSPHRASE: "model-release-e2e",
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        PULUMI_DISABLE_REGISTRY_RESOLVE: "true",
        PULUMI_HOME: path.join(backendDir, ".pulumi-home"),
        KUBECONFIG: kubeconfig,
    };
}

/** Options for a ReleaseStack on the local engine and cluster (local backend in `backendDir`). */
export function localStackOptions(
    bin: string,
    kubeconfig: string,
    stackName: string,
    backendDir: string,
): { stackName: string; backendDir: string; envVars: Record<string, string>; pulumiRoot: string } {
    return { stackName, backendDir, envVars: engineEnv(bin, backendDir, kubeconfig), pulumiRoot: path.dirname(bin) };
}
