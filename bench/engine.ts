/**
 * The real engine and local control plane of the end-to-end suite, set up for the benchmarks:
 * stacks of this project (ReleaseStack) and raw-resource baseline stacks on one file backend.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { EngineEvent, LocalWorkspace, PreviewResult, PulumiCommand, Stack, UpResult } from "@pulumi/pulumi/automation";

import { EnginePool } from "../automation/engineWorkers";
import { PROJECT, ReleaseStack, changes } from "../automation/stack";
import { ReleasePlan } from "../components/plan";
import { LocalCluster } from "../e2e/cluster";
import { ControllerStub } from "../e2e/controllerStub";
import { engineEnv, ensureEngine, ensurePolicyPack, localStackOptions } from "../e2e/engine";
import { declareRaw } from "./workloads";

export interface EngineContext {
    bin: string;
    cluster: LocalCluster;
    stub: ControllerStub;
    /** File backend and project directories of every benchmark stack. */
    backendDir: string;
    stop(): Promise<void>;
}

/** Builds or finds the engine, starts the control plane and a fast controller stub. */
export async function startEngine(): Promise<EngineContext> {
    const bin = ensureEngine();
    ensurePolicyPack();
    const cluster = await LocalCluster.start(bin);
    const stub = new ControllerStub(cluster);
    // "Readiness satisfied immediately": the stub marks objects ready within 25 ms.
    stub.start(25);
    const backendDir = fs.mkdtempSync(path.join(os.tmpdir(), "model-release-bench-"));
    return {
        bin,
        cluster,
        stub,
        backendDir,
        async stop() {
            stub.stop();
            await cluster.stop();
            fs.rmSync(backendDir, { recursive: true, force: true });
        },
    };
}

/**
 * A stack of this project (the ModelRelease program, config-driven). `engine`: run `run()`s in
 * its worker processes; `envVars`: added to the engine environment (e.g. another backend).
 */
export function componentStack(
    ctx: EngineContext,
    stackName: string,
    extra: { engine?: EnginePool; envVars?: Record<string, string> } = {},
): Promise<ReleaseStack> {
    const options = localStackOptions(ctx.bin, ctx.cluster.kubeconfig, stackName, ctx.backendDir);
    return ReleaseStack.create({
        ...options,
        envVars: { ...options.envVars, ...extra.envVars },
        workDir: path.join(ctx.backendDir, stackName),
        engine: extra.engine,
    });
}

/** A baseline stack whose program declares the planned objects as raw resources (see declareRaw). */
export async function rawStack(
    ctx: EngineContext,
    stackName: string,
    plans: ReleasePlan[],
    grouped = false,
): Promise<Stack> {
    const workDir = path.join(ctx.backendDir, stackName);
    fs.mkdirSync(workDir, { recursive: true });
    return LocalWorkspace.createOrSelectStack(
        {
            stackName,
            projectName: PROJECT,
            program: async () => {
                declareRaw(plans, grouped);
                return {};
            },
        },
        {
            workDir,
            pulumiCommand: await PulumiCommand.get({ root: path.dirname(ctx.bin) }),
            envVars: engineEnv(ctx.bin, ctx.backendDir, ctx.cluster.kubeconfig),
            projectSettings: { name: PROJECT, runtime: "nodejs" },
        },
    );
}

/** Milliseconds an async operation takes, and its result. */
export async function timed<T>(run: () => Promise<T>): Promise<{ ms: number; result: T }> {
    const start = performance.now();
    const result = await run();
    return { ms: performance.now() - start, result };
}

/** Operations on Kubernetes objects (not the stack, components or providers) in engine events. */
export class ObjectOps {
    readonly byOp: Record<string, string[]> = {};

    readonly onEvent = (event: EngineEvent): void => {
        const meta = event.resourcePreEvent?.metadata;
        if (!meta || meta.op === "same" || !meta.type.startsWith("kubernetes:")) return;
        // `<namespace>/<name>`; the namespace is the flow's, so the name alone is shown.
        const name = meta.urn.slice(meta.urn.lastIndexOf("/") + 1);
        const kind = meta.type.slice(meta.type.lastIndexOf(":") + 1);
        (this.byOp[meta.op] ??= []).push(`${kind}/${name}`);
    };

    count(op: string): number {
        return this.byOp[op]?.length ?? 0;
    }
}

/** Change counts of a preview or update, without `same`. */
export function changeCounts(result: PreviewResult | UpResult): Record<string, number> {
    return changes("changeSummary" in result ? result.changeSummary : (result.summary.resourceChanges ?? {}));
}

/** Versions of the engine pieces (first line of each `--version`). */
export function engineVersions(bin: string): Record<string, string> {
    const first = (command: string, args: string[]) =>
        spawnSync(path.join(bin, command), args, { encoding: "utf8" }).stdout.trim().split("\n")[0] ?? "?";
    return {
        pulumi: first("pulumi", ["version"]),
        "kube-apiserver": first("kube-apiserver", ["--version"]),
        etcd: first("etcd", ["--version"]),
    };
}
