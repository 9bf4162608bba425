/**
 * Locates the engine pieces (Pulumi CLI, Kubernetes provider, kube-apiserver, etcd), building
 * them with scripts/engine.sh when they are missing. Progress goes to stderr.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const ROOT = path.resolve(__dirname, "..");
const SCRIPT = path.join(ROOT, "scripts", "engine.sh");

/** The policy pack directory (what `--policy-pack` and `policyPacks` name). */
export const POLICY_PACK = path.join(ROOT, "policies");

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

/** Newest modification time of the TypeScript sources and configs under a directory. */
function newestSource(dir: string): number {
    let newest = 0;
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) {
            if (entry.name !== "bin" && entry.name !== "node_modules") newest = Math.max(newest, newestSource(full));
        } else if (entry.name.endsWith(".ts") || entry.name.endsWith(".json")) {
            newest = Math.max(newest, fs.statSync(full).mtimeMs);
        }
    }
    return newest;
}

/**
 * Compiles the policy pack (`npm run build`) when its JavaScript is missing or older than its
 * sources. The engine runs a TypeScript pack through ts-node with type-checking on every preview
 * (seconds); the compiled pack starts in a fraction of that.
 */
export function ensurePolicyPack(): string {
    const main = path.join(POLICY_PACK, "bin", "index.js");
    if (fs.existsSync(main) && fs.statSync(main).mtimeMs >= newestSource(POLICY_PACK)) {
        return POLICY_PACK;
    }
    const tsc = require.resolve("typescript/bin/tsc");
    const result = spawnSync(process.execPath, [tsc, "-p", path.join(POLICY_PACK, "tsconfig.build.json")], {
        stdio: ["ignore", "inherit", "inherit"],
    });
    if (result.status !== 0) {
        throw new Error(`the policy pack did not compile (tsc exited ${result.status})`);
    }
    return POLICY_PACK;
}
