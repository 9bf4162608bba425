/**
 * Release operations for platform services, on the real engine: each operation edits the stack
 * config (the same edit a person would make in Pulumi.<stack>.yaml), previews it with the policy
 * pack, returns a structured plan, and applies it only when asked. A failed or refused operation
 * restores the previous config, so config and cluster never disagree.
 */
import * as fs from "node:fs";

import { EngineEvent } from "@pulumi/pulumi/automation";

import { TrafficRow, planRelease } from "../components/plan";
import { ReleaseArgs, VersionArgs } from "../components/types";
import { ResolvedRelease, validateReleases } from "../components/validate";
import * as ops from "./operations";
import {
    ReadinessProbe,
    ReadinessUnknownError,
    WorkloadKind,
    clusterReadiness,
    clusterSourceOf,
    kubeConfigFor,
} from "./readiness";
import { ReleaseStack, changes } from "./stack";

export { ReadinessProbe, WorkloadKind };

export interface ReleaseManagerOptions {
    /** Policy packs (absolute paths) passed to every preview and update. */
    policyPacks?: string[];
    /** Largest move of one operation, in points; default 25. */
    maxStep?: number;
    /** Namespace of releases that set none. */
    defaultNamespace?: string;
    /**
     * Reports whether an existing version is Ready. Default: read from the cluster the stack
     * targets (its `kubernetes:kubeconfig`/`kubernetes:context` config, else KUBECONFIG).
     */
    readiness?: ReadinessProbe;
    /** Receives every engine event of previews and updates. */
    onEvent?: (event: EngineEvent) => void;
}

/** One resource step of a plan. */
export interface PlannedStep {
    op: string;
    type: string;
    name: string;
}

/** What an operation would do (and, if applied, did). */
export interface OperationPlan {
    operation: string;
    release: string;
    /** Change summary: create / update / delete / replace counts. */
    changes: Record<string, number>;
    steps: PlannedStep[];
    trafficBefore: TrafficRow[];
    trafficAfter: TrafficRow[];
    applied: boolean;
}

/** Thrown when another operation holds the stack (in this process or another). */
export class BusyError extends Error {
    constructor(stack: string, detail: string) {
        super(`stack ${stack} is busy: ${detail}; retry when the running operation has finished`);
        this.name = "BusyError";
    }
}

/** Thrown when a plan is refused by a guard rail; nothing was applied. */
export class RefusedError extends Error {
    constructor(
        message: string,
        readonly plan: OperationPlan,
    ) {
        super(message);
        this.name = "RefusedError";
    }
}

/** Whether to apply: a flag, or an approval callback that sees the plan first. */
export type Apply = boolean | ((plan: OperationPlan) => Promise<boolean> | boolean);

const WORKLOAD_TYPES = [
    "kubernetes:serving.kserve.io/v1beta1:InferenceService",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:core/v1:Service",
];

/** Operations on one stack; at most one runs at a time per stack in this process. */
const busyStacks = new Set<string>();
/** Inline programs share their process's Pulumi runtime: engine runs are serialized here. */
let engineQueue: Promise<unknown> = Promise.resolve();

function serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = engineQueue.then(fn, fn);
    engineQueue = run.catch(() => undefined);
    return run;
}

function isLockError(error: unknown): boolean {
    return error instanceof Error && /currently locked|update is already in progress/i.test(error.message);
}

/** A traffic row with the version's readiness: true, false, or "unknown" (with the reason). */
export type StatusRow = TrafficRow & { ready: boolean | "unknown"; readinessError?: string };

export class ReleaseManager {
    private clusterProbe?: ReadinessProbe;

    constructor(
        readonly stack: ReleaseStack,
        private readonly options: ReleaseManagerOptions = {},
    ) {}

    /** The probe given, else one on the stack's cluster (built once; errors become "unknown"). */
    private async readiness(): Promise<ReadinessProbe> {
        if (this.options.readiness) return this.options.readiness;
        if (!this.clusterProbe) {
            try {
                const source = await clusterSourceOf(
                    this.stack.readConfig(),
                    this.stack.stack.workspace.envVars.KUBECONFIG,
                    async (key) => (await this.stack.stack.getConfig(key)).value,
                );
                this.clusterProbe = clusterReadiness(kubeConfigFor(source));
            } catch (error) {
                const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
                throw new ReadinessUnknownError(`the stack's cluster could not be configured: ${reason}`);
            }
        }
        return this.clusterProbe;
    }

    private get opOptions(): ops.OperationOptions {
        return { maxStep: this.options.maxStep, defaultNamespace: this.options.defaultNamespace };
    }

    /** A release of the config, validated, and the kind of its workloads (what readiness probes). */
    private resolve(config: ops.ReleasesConfig, release: string): { resolved: ResolvedRelease; kind: WorkloadKind } {
        const [resolved] = validateReleases({ [release]: config[release] }, this.options.defaultNamespace ?? "default");
        return { resolved, kind: resolved.environment === "deployment" ? "Deployment" : "InferenceService" };
    }

    private traffic(config: ops.ReleasesConfig, release: string): TrafficRow[] {
        if (!config[release]) return [];
        return planRelease(this.resolve(config, release).resolved).traffic;
    }

    /** Versions, configured weights and effective percentages, and each version's readiness now. */
    async status(release: string): Promise<{ release: string; traffic: StatusRow[] }> {
        const config = (await this.stack.releases()) as ops.ReleasesConfig;
        ops.releaseOf(config, release);
        const traffic = this.traffic(config, release);
        const { resolved, kind } = this.resolve(config, release);
        const rows = await Promise.all(
            traffic.map(async (row): Promise<StatusRow> => {
                try {
                    const probe = await this.readiness();
                    return { ...row, ready: await probe(kind, resolved.namespace, row.version) };
                } catch (error) {
                    if (!(error instanceof ReadinessUnknownError)) throw error;
                    return { ...row, ready: "unknown", readinessError: error.message };
                }
            }),
        );
        return { release, traffic: rows };
    }

    addCandidate(
        release: string,
        version: VersionArgs,
        apply: Apply = false,
        strategy?: ReleaseArgs["strategy"],
    ): Promise<OperationPlan> {
        return this.run("add-candidate", release, apply, (c) =>
            ops.addCandidate(c, release, version, { ...this.opOptions, strategy }),
        );
    }

    setWeights(release: string, weights: number[], apply: Apply = false): Promise<OperationPlan> {
        return this.run("weights", release, apply, (c) => ops.setWeights(c, release, weights, this.opOptions));
    }

    step(release: string, points: number, apply: Apply = false): Promise<OperationPlan> {
        return this.run("step", release, apply, (c) => ops.step(c, release, points, this.opOptions));
    }

    promote(release: string, apply: Apply = false): Promise<OperationPlan> {
        return this.run("promote", release, apply, (c) => ops.promote(c, release, this.opOptions), true);
    }

    rollback(release: string, apply: Apply = false): Promise<OperationPlan> {
        return this.run("rollback", release, apply, (c) => ops.rollback(c, release, this.opOptions));
    }

    remove(release: string, apply: Apply = false): Promise<OperationPlan> {
        return this.run("remove", release, apply, (c) => ops.remove(c, release, this.opOptions), false, true);
    }

    private async run(
        operation: string,
        release: string,
        apply: Apply,
        edit: (config: ops.ReleasesConfig) => ops.ReleasesConfig,
        promotion = false,
        removal = false,
    ): Promise<OperationPlan> {
        const key = `${this.stack.backendDir}|${this.stack.stack.name}`;
        if (busyStacks.has(key)) {
            throw new BusyError(this.stack.stack.name, "another operation is running in this process");
        }
        busyStacks.add(key);
        try {
            return await serialized(() => this.runLocked(operation, release, apply, edit, promotion, removal));
        } finally {
            busyStacks.delete(key);
        }
    }

    private async runLocked(
        operation: string,
        release: string,
        apply: Apply,
        edit: (config: ops.ReleasesConfig) => ops.ReleasesConfig,
        promotion: boolean,
        removal: boolean,
    ): Promise<OperationPlan> {
        // The stack file is read once and never decrypted; the edit is previewed and applied from
        // a proposed copy, which becomes the stack file only once the update succeeded. A refused,
        // failed or preview-only operation leaves Pulumi.<stack>.yaml exactly as it was.
        const config = this.stack.readConfig();
        const before = config.releases() as ops.ReleasesConfig;
        const after = edit(before);
        const trafficBefore = this.traffic(before, release);
        const trafficAfter = removal ? [] : this.traffic(after, release);

        if (promotion && Object.hasOwn(before, release)) {
            await this.refuseUnready(before, release, operation, trafficBefore, trafficAfter);
        }

        const steps: PlannedStep[] = [];
        const onEvent = (event: EngineEvent) => {
            const meta = event.resourcePreEvent?.metadata;
            if (meta && meta.op !== "same") {
                steps.push({ op: meta.op, type: meta.type, name: meta.urn.split("::").pop() ?? meta.urn });
            }
            this.options.onEvent?.(event);
        };
        const proposed = this.stack.writeProposed(config.withReleases(after));
        try {
            const preview = await this.stack.preview({
                configFile: proposed,
                policyPacks: this.options.policyPacks,
                onEvent,
            });
            const plan: OperationPlan = {
                operation,
                release,
                changes: changes(preview.changeSummary),
                steps,
                trafficBefore,
                trafficAfter,
                applied: false,
            };
            this.guard(plan, removal);
            const approved = typeof apply === "function" ? await apply(plan) : apply;
            if (!approved) return plan;
            const up = await this.stack.up({
                configFile: proposed,
                policyPacks: this.options.policyPacks,
                onEvent: this.options.onEvent,
            });
            if (up.summary.result !== "succeeded") throw new Error(`update ${up.summary.result}`);
            // The config of record becomes what the cluster now runs.
            this.stack.commitProposed(proposed);
            return { ...plan, applied: true };
        } catch (error) {
            if (isLockError(error)) {
                throw new BusyError(this.stack.stack.name, "the backend lock is held by another update");
            }
            throw error;
        } finally {
            fs.rmSync(proposed, { force: true });
        }
    }

    /** Refuses replacing any version object, and deleting one that keeps traffic. */
    private guard(plan: OperationPlan, removal: boolean): void {
        const replaced = plan.steps.filter((s) => /replace/.test(s.op) && WORKLOAD_TYPES.includes(s.type));
        if (replaced.length > 0) {
            throw new RefusedError(
                `refused: the plan would replace ${replaced.map((s) => s.name).join(", ")}; serving objects are only updated in place`,
                plan,
            );
        }
        if (removal) return;
        const served = new Set(
            plan.trafficAfter
                .filter((r) => r.percent > 0 || (r.match?.length ?? 0) > 0 || (r.mirrorPercent ?? 0) > 0)
                .map((r) => r.version),
        );
        const deleted = plan.steps.filter(
            (s) => s.op === "delete" && WORKLOAD_TYPES.includes(s.type) && served.has(s.name.split("/").pop() ?? ""),
        );
        if (deleted.length > 0) {
            throw new RefusedError(
                `refused: the plan would delete ${deleted.map((s) => s.name).join(", ")}, which still receives traffic`,
                plan,
            );
        }
    }

    /** A promotion moves all traffic to the candidate: it must be Ready now, as read from the cluster. */
    private async refuseUnready(
        before: ops.ReleasesConfig,
        release: string,
        operation: string,
        trafficBefore: TrafficRow[],
        trafficAfter: TrafficRow[],
    ): Promise<void> {
        const refuse = (reason: string) =>
            new RefusedError(`refused: ${reason}`, {
                operation,
                release,
                changes: {},
                steps: [],
                trafficBefore,
                trafficAfter,
                applied: false,
            });
        const { resolved, kind } = this.resolve(before, release);
        const candidates = resolved.strategy === "kserve-canary" ? resolved.versions : resolved.versions.slice(1);
        for (const v of candidates) {
            let ready: boolean;
            try {
                ready = await (await this.readiness())(kind, resolved.namespace, v.name);
            } catch (error) {
                if (!(error instanceof ReadinessUnknownError)) throw error;
                throw refuse(`${error.message}; a promotion needs the candidate to be Ready`);
            }
            if (!ready) {
                throw refuse(`candidate ${resolved.namespace}/${v.name} is not Ready; promote it once it serves`);
            }
        }
    }
}
