/**
 * Release operations for platform services, on the real engine: each operation edits the stack
 * config (the same edit a person would make in Pulumi.<stack>.yaml), previews it with the policy
 * pack, returns a structured plan, and applies it only when asked. A failed or refused operation
 * restores the previous config, so config and cluster never disagree.
 */
import { EngineEvent } from "@pulumi/pulumi/automation";

import { TrafficRow, planRelease } from "../components/plan";
import { ReleaseArgs, VersionArgs } from "../components/types";
import { ResolvedRelease, validateReleases } from "../components/validate";
import * as ops from "./operations";
import { ReleaseStack, changes } from "./stack";

/** A version object and whether it is Ready now (used to refuse traffic to unready versions). */
/** The kind of object that serves a version. */
export type WorkloadKind = "InferenceService" | "Deployment";

export type ReadinessProbe = (kind: WorkloadKind, namespace: string, name: string) => Promise<boolean>;

export interface ReleaseManagerOptions {
    /** Policy packs (absolute paths) passed to every preview and update. */
    policyPacks?: string[];
    /** Largest move of one operation, in points; default 25. */
    maxStep?: number;
    /** Namespace of releases that set none. */
    defaultNamespace?: string;
    /** Reports whether an existing version is Ready; without it, readiness is not checked. */
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

export class ReleaseManager {
    constructor(
        readonly stack: ReleaseStack,
        private readonly options: ReleaseManagerOptions = {},
    ) {}

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

    /** Versions, configured weights and effective percentages, with readiness when a probe is set. */
    async status(release: string): Promise<{ release: string; traffic: (TrafficRow & { ready?: boolean })[] }> {
        const config = (await this.stack.releases()) as ops.ReleasesConfig;
        ops.releaseOf(config, release);
        const traffic = this.traffic(config, release);
        const probe = this.options.readiness;
        if (!probe) return { release, traffic };
        const { resolved, kind } = this.resolve(config, release);
        const rows = await Promise.all(
            traffic.map(async (row) => ({ ...row, ready: await probe(kind, resolved.namespace, row.version) })),
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
        const before = (await this.stack.releases()) as ops.ReleasesConfig;
        const after = edit(before);
        const trafficBefore = this.traffic(before, release);
        const trafficAfter = removal ? [] : this.traffic(after, release);

        if (promotion && this.options.readiness && before[release]) {
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
        await this.stack.setReleases(after);
        let plan: OperationPlan;
        try {
            const preview = await this.stack.preview({ policyPacks: this.options.policyPacks, onEvent });
            plan = {
                operation,
                release,
                changes: changes(preview.changeSummary),
                steps,
                trafficBefore,
                trafficAfter,
                applied: false,
            };
            this.guard(plan, removal);
        } catch (error) {
            await this.stack.setReleases(before);
            if (isLockError(error)) {
                throw new BusyError(this.stack.stack.name, "the backend lock is held by another update");
            }
            throw error;
        }

        const approved = typeof apply === "function" ? await apply(plan) : apply;
        if (!approved) {
            await this.stack.setReleases(before);
            return plan;
        }
        try {
            const up = await this.stack.up({ policyPacks: this.options.policyPacks, onEvent: this.options.onEvent });
            if (up.summary.result !== "succeeded") throw new Error(`update ${up.summary.result}`);
        } catch (error) {
            // The stack config goes back to what the cluster last applied successfully.
            await this.stack.setReleases(before);
            if (isLockError(error)) {
                throw new BusyError(this.stack.stack.name, "the backend lock is held by another update");
            }
            throw error;
        }
        return { ...plan, applied: true };
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

    /** A promotion moves all traffic to the candidate: it must be Ready now. */
    private async refuseUnready(
        before: ops.ReleasesConfig,
        release: string,
        operation: string,
        trafficBefore: TrafficRow[],
        trafficAfter: TrafficRow[],
    ): Promise<void> {
        const probe = this.options.readiness;
        if (!probe) return;
        const { resolved, kind } = this.resolve(before, release);
        const candidates = resolved.strategy === "kserve-canary" ? resolved.versions : resolved.versions.slice(1);
        for (const v of candidates) {
            if (!(await probe(kind, resolved.namespace, v.name))) {
                throw new RefusedError(
                    `refused: candidate ${resolved.namespace}/${v.name} is not Ready; promote it once it serves`,
                    {
                        operation,
                        release,
                        changes: {},
                        steps: [],
                        trafficBefore,
                        trafficAfter,
                        applied: false,
                    },
                );
            }
        }
    }
}
