/**
 * Release operations for platform services, on the real engine: each operation edits the stack
 * config (the same edit a person would make in Pulumi.<stack>.yaml), previews it with the policy
 * pack, returns a structured plan, and applies it only when asked. A failed or refused operation
 * restores the previous config, so config and cluster never disagree.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import * as k8s from "@kubernetes/client-node";
import { EngineEvent } from "@pulumi/pulumi/automation";

import { TrafficRow, planRelease } from "../components/plan";
import { ReleaseConfig, VersionConfig } from "../components/types";
import { ResolvedRelease, isStandardCanary, validateReleases } from "../components/validate";
import { FileCoordinator, StackCoordinator } from "./coordination";
import { WorkerDiedError } from "./engineWorkers";
import { JournalEntry, LockBusyError, OperationRecord, StackFiles } from "./journal";
import * as ops from "./operations";
import {
    ReadinessProbe,
    ReadinessUnknownError,
    WorkloadKind,
    clusterReadiness,
    clusterSourceOf,
    kubeConfigFor,
    liveRouteWeights,
    liveWeights,
    readHttpRoute,
    readVirtualService,
} from "./readiness";
import { authorOf, commitMessage } from "./gitConfig";
import { PROJECT, ReleaseStack, changes } from "./stack";
import { StackConfigFile, writeFileAtomic } from "./stackConfig";

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
    /** Who runs the operations (journal and operations log); default `<user>@<host>`. */
    principal?: string;
    /**
     * The stack's lock, journal and operations log: default files beside the project (one
     * machine); a PostgreSQL coordinator for several replicas (automation/pgStore.ts).
     */
    coordinator?: StackCoordinator;
    /**
     * The git clone holding the stack config of record (the stack's project directory): each
     * operation syncs it, commits its edit as the caller and pushes before `up`; a failed `up`
     * is reverted. Default: the stack file on disk is the record.
     */
    git?: GitConfigRepo;
}

/** The git operations the manager needs (automation/gitConfig.ts ConfigRepo). */
export interface GitConfigRepo {
    /** The clone's directory (the stack's project directory). */
    readonly dir: string;
    /** Fetch, then the work tree exactly as the remote branch; the head commit. */
    sync(): Promise<string>;
    commit(files: string[], options: GitCommitOptions): Promise<string>;
    /**
     * Pushes without force; replays onto a head that moved by edits to other files only;
     * GitConflictError when one of `guarded` changed. The sha pushed.
     */
    pushGuarded(guarded: string[]): Promise<string>;
    /** A pushed commit undoing `sha` on top of the head. */
    revert(sha: string, options: GitCommitOptions): Promise<string>;
    propose(branch: string, files: string[], options: GitCommitOptions): Promise<GitProposal>;
    /** Fast-forwards the branch to a proposal if nothing changed meanwhile, and pushes it. */
    applyProposal(branch: string): Promise<{ sha: string; base: string }>;
    /** A file's text at a ref (undefined if absent). */
    readAt(ref: string, file: string): Promise<string | undefined>;
    /** A file's text at the remote branch's head, fetched now; the work tree is not touched. */
    readRecorded(file: string): Promise<string | undefined>;
    /** The commit on the remote branch carrying `Model-Release-Id: <id>`, unless already reverted. */
    commitOfOperation(id: string): Promise<string | undefined>;
}

export interface GitCommitOptions {
    author: { name: string; email: string };
    message: string;
}

/** A proposed edit pushed to a branch for review. */
export interface GitProposal {
    branch: string;
    sha: string;
    base: string;
}

/** Someone else changed the config of record first (a rejected push, a moved proposal base). */
export class ConflictError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "ConflictError";
    }
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
    /** The operation's id in the journal, the operations log and records, and git trailers. */
    operationId?: string;
    /** Change summary: create / update / delete / replace counts. */
    changes: Record<string, number>;
    steps: PlannedStep[];
    trafficBefore: TrafficRow[];
    trafficAfter: TrafficRow[];
    /**
     * Live percent per version when the cluster's routing differs from the config of record
     * (edited out of band, or a failed update): the update also restores the config of record.
     */
    drift?: Record<string, number>;
    applied: boolean;
    /** Git mode: the commit of this edit on the config of record (pushed before `up`). */
    commit?: string;
    /** Propose mode: the branch holding the edit for review, its commit and the base it is on. */
    proposal?: GitProposal;
}

/** The operation holding a busy stack, as told to callers. */
export interface RunningOperation {
    operation: string;
    release: string;
    principal: string;
    startedAt: string;
    phase?: string;
}

/** Thrown when another operation holds the stack (in this process or another). */
export class BusyError extends Error {
    constructor(
        readonly stack: string,
        detail: string,
        /** The running operation, when known. */
        readonly holder?: RunningOperation,
    ) {
        super(`stack ${stack} is busy: ${detail}; retry when the running operation has finished`);
        this.name = "BusyError";
    }

    /** What a remote caller is told: the running operation, without process ids or hosts. */
    get publicMessage(): string {
        const h = this.holder;
        const what = h
            ? `${h.operation} of ${h.release} by ${h.principal} (since ${h.startedAt}${h.phase ? `, ${h.phase}` : ""}) is running`
            : "another operation is running";
        return `stack ${this.stack} is busy: ${what}; retry when it has finished`;
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

/**
 * Whether to apply: a flag, an approval callback that sees the plan first, or (git mode)
 * "propose": push the edit to a review branch instead of applying it.
 */
export type Apply = boolean | "propose" | ((plan: OperationPlan) => Promise<boolean> | boolean);

/**
 * The object whose readiness says a version serves: its Deployment or InferenceService, or with
 * KServe's Standard-mode canary the app's InferenceService (the stable predictor, its Ready
 * condition) or one of its canary predictors (`<app>/<version>`, its canaryStatuses entry).
 */
export function workloadOf(release: ResolvedRelease, version: string): { kind: WorkloadKind; name: string } {
    if (release.environment === "deployment") return { kind: "Deployment", name: version };
    if (!isStandardCanary(release)) return { kind: "InferenceService", name: version };
    return release.versions[0].name === version
        ? { kind: "InferenceService", name: release.name }
        : { kind: "CanaryPredictor", name: `${release.name}/${version}` };
}

const WORKLOAD_TYPES = [
    "kubernetes:serving.kserve.io/v1beta1:InferenceService",
    "kubernetes:apps/v1:Deployment",
    "kubernetes:core/v1:Service",
];

/** Operations running in this process, per stack (at most one each). */
const busyStacks = new Map<string, RunningOperation>();
/** One operation to run under the stack's lock. */
interface OperationRequest {
    operation: string;
    release: string;
    apply: Apply;
    edit: (config: ops.ReleasesConfig) => ops.ReleasesConfig;
    /** Moves all traffic to candidates: they must be Ready. */
    promotion?: boolean;
    /** Removes the release (its versions may go). */
    removal?: boolean;
    /** Git mode: apply this review branch's edit instead of `edit`. */
    proposalBranch?: string;
}

/** What the operations log and the operation record say of a plan. */
function outcomeOf(plan: OperationPlan): string {
    return plan.applied ? "applied" : plan.proposal ? "proposed" : "not-applied";
}

/** A git push rejected because the branch moved (automation/gitConfig.ts GitConflictError). */
function isGitConflict(error: unknown): boolean {
    return error instanceof Error && error.name === "GitConflictError";
}

/** An error's name and first line, for the operations log. */
function summary(error: unknown): string {
    return error instanceof Error ? `${error.name}: ${error.message.split("\n")[0]}` : String(error);
}

function isLockError(error: unknown): boolean {
    return error instanceof Error && /currently locked|update is already in progress/i.test(error.message);
}

/**
 * A traffic row with what the cluster says: the version's readiness (true, false, or "unknown"
 * with the reason) and the percent of unmatched requests its live routing sends it.
 */
export type StatusRow = TrafficRow & {
    ready: boolean | "unknown";
    readinessError?: string;
    livePercent?: number | "unknown";
};

/** A release's status: configured vs live traffic, drift, and any operation in flight. */
export interface ReleaseStatus {
    release: string;
    traffic: StatusRow[];
    /** The live routing differs from the config of record (edited out of band, or mid-update). */
    drift: boolean;
    /** Why the live routing could not be compared, if it could not. */
    liveError?: string;
    /** An operation running now, or one interrupted (its process died) and not yet recovered. */
    operation?: JournalEntry & { state: "running" | "interrupted" };
    /** The latest recovery of an interrupted operation on this stack, if any. */
    lastRecovery?: OperationRecord;
}

export class ReleaseManager {
    private clusterProbe?: ReadinessProbe;
    private kubeConfig?: Promise<k8s.KubeConfig>;

    constructor(
        readonly stack: ReleaseStack,
        private readonly options: ReleaseManagerOptions = {},
    ) {}

    /** Access to the cluster the stack targets (built once). */
    private cluster(): Promise<k8s.KubeConfig> {
        this.kubeConfig ??= (async () => {
            try {
                const source = await clusterSourceOf(
                    this.stack.readConfig(),
                    this.stack.stack.workspace.envVars.KUBECONFIG,
                    async (key) => (await this.stack.stack.getConfig(key)).value,
                );
                return kubeConfigFor(source);
            } catch (error) {
                const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
                throw new ReadinessUnknownError(`the stack's cluster could not be configured: ${reason}`);
            }
        })();
        return this.kubeConfig;
    }

    /** The probe given, else one on the stack's cluster. */
    private async readiness(): Promise<ReadinessProbe> {
        if (this.options.readiness) return this.options.readiness;
        this.clusterProbe ??= clusterReadiness(await this.cluster());
        return this.clusterProbe;
    }

    private get opOptions(): ops.OperationOptions {
        return { maxStep: this.options.maxStep, defaultNamespace: this.options.defaultNamespace };
    }

    /** A release of the config, validated, and the kind of its workloads (what readiness probes). */
    private resolve(config: ops.ReleasesConfig, release: string): { resolved: ResolvedRelease } {
        const [resolved] = validateReleases(
            { [release]: ops.releaseOf(config, release) },
            this.options.defaultNamespace ?? "default",
        );
        return { resolved };
    }

    private traffic(config: ops.ReleasesConfig, release: string): TrafficRow[] {
        if (!Object.hasOwn(config, release)) return [];
        return planRelease(this.resolve(config, release).resolved).traffic;
    }

    /**
     * Versions with their configured and live percentages and readiness now, drift between the
     * config of record and the live routing, and any operation in flight. Reads only: an unknown
     * release is an error, nothing is created.
     */
    async status(release: string): Promise<ReleaseStatus> {
        const config = (await this.recordedReleases()) as ops.ReleasesConfig;
        ops.releaseOf(config, release);
        const { resolved } = this.resolve(config, release);
        const { traffic } = planRelease(resolved);
        const { live, liveError } = await this.liveTraffic(resolved);
        const rows = await Promise.all(
            traffic.map(async (row): Promise<StatusRow> => {
                const livePercent = live === undefined ? undefined : (live[row.version] ?? 0);
                const withLive = liveError !== undefined ? { livePercent: "unknown" as const } : { livePercent };
                try {
                    const probe = await this.readiness();
                    const workload = workloadOf(resolved, row.version);
                    return {
                        ...row,
                        ...withLive,
                        ready: await probe(workload.kind, resolved.namespace, workload.name),
                    };
                } catch (error) {
                    if (!(error instanceof ReadinessUnknownError)) throw error;
                    return { ...row, ...withLive, ready: "unknown", readinessError: error.message };
                }
            }),
        );
        const drift = live !== undefined && rows.some((r) => r.livePercent !== r.percent);
        const coordinator = this.coordinator;
        const left = await coordinator.readJournal();
        const status: ReleaseStatus = { release, traffic: rows, drift };
        if (liveError !== undefined) status.liveError = liveError;
        if (left) status.operation = { ...left, state: (await coordinator.running(left)) ? "running" : "interrupted" };
        const recovery = (await coordinator.records()).reverse().find((r) => r.event === "recovered");
        if (recovery) status.lastRecovery = recovery;
        return status;
    }

    /** Percent of unmatched requests per version as the live VirtualService (or HTTPRoute) routes them. */
    private async liveTraffic(
        resolved: ResolvedRelease,
    ): Promise<{ live?: Record<string, number>; liveError?: string }> {
        if (resolved.strategy === "kserve-canary" && !isStandardCanary(resolved)) return {};
        try {
            if (resolved.backend === "gateway-api") {
                const route = await readHttpRoute(await this.cluster(), resolved.namespace, resolved.name);
                if (!route) return { live: {} };
                const live = liveRouteWeights(route);
                return live ? { live } : { liveError: "the live HTTPRoute has no rule matching every request" };
            }
            const vs = await readVirtualService(await this.cluster(), resolved.namespace, resolved.name);
            if (!vs) return { live: {} };
            const live = liveWeights(vs);
            return live ? { live } : { liveError: "the live VirtualService has no catch-all route to compare" };
        } catch (error) {
            if (!(error instanceof ReadinessUnknownError)) throw error;
            return { liveError: error.message };
        }
    }

    /**
     * The releases of the config of record, for reads outside the lock: in git mode the remote
     * branch's head (another replica may have changed it), else the stack file.
     */
    private async recordedReleases(): Promise<Record<string, unknown>> {
        const git = this.options.git;
        if (!git) return this.stack.releases();
        const file = this.stack.configPath;
        const text = (await git.readRecorded(path.basename(file))) ?? "";
        return StackConfigFile.fromText(file, text, `${PROJECT}:releases`).releases();
    }

    /** The namespace of a configured release (for authorization); undefined if there is none. */
    async namespaceOf(release: string): Promise<string | undefined> {
        const config = (await this.recordedReleases()) as ops.ReleasesConfig;
        if (!Object.hasOwn(config, release)) return undefined;
        return this.resolve(config, release).resolved.namespace;
    }

    addCandidate(
        release: string,
        version: VersionConfig,
        apply: Apply = false,
        strategy?: ReleaseConfig["strategy"],
    ): Promise<OperationPlan> {
        return this.run({
            operation: "add-candidate",
            release,
            apply,
            edit: (c) => ops.addCandidate(c, release, version, { ...this.opOptions, strategy }),
        });
    }

    setWeights(release: string, weights: number[], apply: Apply = false): Promise<OperationPlan> {
        return this.run({
            operation: "weights",
            release,
            apply,
            edit: (c) => ops.setWeights(c, release, weights, this.opOptions),
        });
    }

    step(release: string, points: number, apply: Apply = false): Promise<OperationPlan> {
        return this.run({
            operation: "step",
            release,
            apply,
            edit: (c) => ops.step(c, release, points, this.opOptions),
        });
    }

    /**
     * Promotes the candidate. A KServe Standard-mode canary is promoted in two updates when the
     * stable predictor still serves requests (see ops.promotionStep): with `apply: true` both run
     * here, the rename only once the drain is applied; with a preview, an approval callback or a
     * proposal, the call covers the drain and a second promote the rename.
     */
    async promote(release: string, apply: Apply = false): Promise<OperationPlan> {
        const request = {
            operation: "promote",
            release,
            apply,
            edit: (c: ops.ReleasesConfig) => ops.promote(c, release, this.opOptions),
            promotion: true,
        };
        const plan = await this.run(request);
        // Decided from what this run applied (under the lock), not from an earlier read: a drain
        // leaves the stable predictor at 0% beside the canary that now serves everything.
        const drained =
            plan.trafficAfter.length >= 2 &&
            plan.trafficAfter[0].percent === 0 &&
            (plan.trafficBefore[0]?.percent ?? 0) > 0;
        if (apply !== true || !plan.applied || !drained) return plan;
        return this.run(request);
    }

    rollback(release: string, apply: Apply = false): Promise<OperationPlan> {
        return this.run({
            operation: "rollback",
            release,
            apply,
            edit: (c) => ops.rollback(c, release, this.opOptions),
        });
    }

    /**
     * One step of an automated rollout: the candidate gets `percent`. Held to the step limit, and
     * (like a promotion) refused unless the candidate is Ready: more traffic only to a serving one.
     */
    rolloutStep(release: string, percent: number, apply: Apply = false): Promise<OperationPlan> {
        return this.run({
            operation: "rollout-step",
            release,
            apply,
            edit: (c) => ops.rolloutStep(c, release, percent, this.opOptions),
            promotion: true,
        });
    }

    /** The rollback of an automated rollout: all traffic on the primary, the candidate kept. */
    rolloutAbort(release: string, apply: Apply = false): Promise<OperationPlan> {
        return this.run({
            operation: "rollout-rollback",
            release,
            apply,
            edit: (c) => ops.rolloutAbort(c, release, this.opOptions),
        });
    }

    /** The release in the config of record, raw and validated (read outside the lock). */
    async recorded(release: string): Promise<{ config: ops.ReleasesConfig; resolved: ResolvedRelease }> {
        const config = (await this.recordedReleases()) as ops.ReleasesConfig;
        ops.releaseOf(config, release);
        return { config, resolved: this.resolve(config, release).resolved };
    }

    /**
     * A secure value of a release's config, decrypted by the engine (`pulumi config get --path`):
     * for the runner's webhook URLs only, kept in memory, never written or logged.
     */
    async secretOf(release: string, path: string): Promise<string> {
        const key = `${PROJECT}:releases[${JSON.stringify(release)}].${path}`;
        return (await this.stack.stack.getConfig(key, true)).value;
    }

    /** Options of the pure operations (step limit, default namespace). */
    get operationOptions(): ops.OperationOptions {
        return this.opOptions;
    }

    remove(release: string, apply: Apply = false): Promise<OperationPlan> {
        return this.run({
            operation: "remove",
            release,
            apply,
            edit: (c) => ops.remove(c, release, this.opOptions),
            removal: true,
        });
    }

    /** The same manager acting for another principal (the service: one per request). */
    as(principal: string): ReleaseManager {
        const view = new ReleaseManager(this.stack, { ...this.options, principal });
        view.clusterProbe = this.clusterProbe;
        return view;
    }

    /** Who runs the operations: the option, else the local user at this host. */
    get principal(): string {
        return this.options.principal ?? `${os.userInfo().username}@${os.hostname()}`;
    }

    /** The stack's files (lock, journal, operations log) in the project directory. */
    get files(): StackFiles {
        return new StackFiles(this.stack.stack.workspace.workDir, this.stack.stack.name);
    }

    /** Where this stack's lock, journal and operations log live: the option, else the files. */
    get coordinator(): StackCoordinator {
        this.options.coordinator ??= new FileCoordinator(this.stack.stack.workspace.workDir, this.stack.stack.name);
        return this.options.coordinator;
    }

    /**
     * Applies a proposal (git mode): its branch's edit is previewed again with the policy pack
     * and the guard rails, then the main branch is fast-forwarded to it (a conflict if the branch
     * moved since it was proposed) and applied like any operation.
     */
    async applyProposal(release: string, branch: string, apply: Apply = true): Promise<OperationPlan> {
        const git = this.options.git;
        if (!git) throw new Error("proposals need the git config of record (MODEL_RELEASE_GIT_REMOTE)");
        if (apply === "propose") throw new Error("a proposal is applied or previewed, not proposed again");
        return this.run({
            operation: "apply-proposal",
            release,
            apply,
            edit: (config) => config,
            promotion: true,
            removal: false,
            proposalBranch: branch,
        });
    }

    /**
     * One operation: the stack's lock (shared by every process on this machine, or by every
     * replica with a PostgreSQL coordinator) is taken before the config is read and held until
     * the operation has ended; a journal records it meanwhile, and one left by a dead process is
     * recovered first.
     */
    private async run(request: OperationRequest): Promise<OperationPlan> {
        const { operation, release } = request;
        if (request.apply === "propose" && !this.options.git) {
            throw new Error("propose needs the git config of record (MODEL_RELEASE_GIT_REMOTE)");
        }
        const key = `${this.stack.backendDir}|${this.stack.stack.workspace.workDir}|${this.stack.stack.name}`;
        const running = busyStacks.get(key);
        if (running !== undefined) {
            const { operation: o, release: r, principal: p, startedAt } = running;
            throw new BusyError(this.stack.stack.name, `${o} of ${r} by ${p} (since ${startedAt}) is running`, running);
        }
        busyStacks.set(key, { operation, release, principal: this.principal, startedAt: new Date().toISOString() });
        const coordinator = this.coordinator;
        let lost: Error | undefined;
        let unlock: () => Promise<void>;
        try {
            unlock = await coordinator.lock((error) => (lost = error));
        } catch (error) {
            busyStacks.delete(key);
            if (error instanceof LockBusyError) throw new BusyError(this.stack.stack.name, error.message, error.holder);
            throw error;
        }
        try {
            await this.recover(coordinator);
            const entry = await coordinator.begin(operation, release, this.principal);
            const base = { id: entry.id, operation, release, principal: this.principal };
            await coordinator.log({ ...base, event: "started" });
            try {
                const plan = await this.runLocked(request, entry.id, async (phase) => {
                    if (lost) throw new Error(`the stack lock was lost (${lost.message}); nothing committed`);
                    await coordinator.advance(entry, phase);
                });
                await coordinator.log({ ...base, event: "finished", detail: outcomeOf(plan) });
                await coordinator.end(entry, { result: outcomeOf(plan), plan });
                return plan;
            } catch (error) {
                await coordinator.log({ ...base, event: "failed", detail: summary(error) });
                if (error instanceof WorkerDiedError) {
                    // The worker and its processes are gone: recover now, while we hold the lock,
                    // so the next operation starts clean.
                    await this.recover(coordinator, entry);
                    throw error;
                }
                await coordinator.end(entry, {
                    result:
                        error instanceof RefusedError
                            ? "refused"
                            : error instanceof BusyError
                              ? "busy"
                              : error instanceof ConflictError
                                ? "conflict"
                                : "failed",
                    detail: summary(error),
                    plan: error instanceof RefusedError ? error.plan : undefined,
                });
                throw error;
            }
        } finally {
            busyStacks.delete(key);
            await unlock().catch(() => undefined);
        }
    }

    /**
     * Recovers from an operation whose process died (its journal is still there; we hold the
     * lock, so it is not running), or whose engine worker died (`ours`): proposed configs
     * removed, the backend's stale update lock cancelled, pending creates cleared by a refresh;
     * in git mode a commit it pushed is reverted (its `up` never completed). The stack file was
     * only ever replaced by a complete, applied config, so it is the config of record as it stands.
     */
    private async recover(coordinator: StackCoordinator, ours?: JournalEntry): Promise<void> {
        const left = ours ?? (await coordinator.readJournal());
        if (!left) return;
        const mine = left.pid === process.pid && left.hostname === os.hostname();
        if (!ours && !mine && (await coordinator.running(left))) {
            throw new BusyError(
                this.stack.stack.name,
                `${left.operation} by ${left.principal} (pid ${left.pid} on ${left.hostname}) holds a journal but not the lock; stop that process or wait for it`,
                left,
            );
        }
        const actions: string[] = [];
        const dir = `${this.stack.stack.workspace.workDir}/.model-release`;
        for (const name of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
            if (name.startsWith(`proposed-${left.pid}-`)) {
                fs.rmSync(`${dir}/${name}`, { force: true });
                actions.push(`removed ${name}`);
            }
        }
        if (left.phase === "up" || left.phase === "commit") {
            await this.stack.cancelStaleUpdate();
            await this.stack.run(
                "refresh",
                { clearPendingCreates: true },
                `refresh of stack ${this.stack.stack.name} (recovery)`,
            );
            actions.push(
                "cancelled the interrupted update",
                "refreshed state from the cluster (pending creates cleared)",
            );
        }
        const git = this.options.git;
        if (git && (left.phase === "push" || left.phase === "up")) {
            await git.sync();
            const sha = await git.commitOfOperation(left.id);
            if (sha !== undefined) {
                const reverted = await this.revertPushed(
                    sha,
                    left.id,
                    `${left.operation} of ${left.release} was interrupted`,
                );
                actions.push(
                    `reverted ${sha.slice(0, 12)} in git (${reverted.slice(0, 12)}): its update never completed`,
                );
            }
        }
        await coordinator.log({
            id: left.id,
            operation: left.operation,
            release: left.release,
            principal: left.principal,
            event: "recovered",
            detail: `interrupted in ${left.phase} (pid ${left.pid}, started ${left.startedAt}); recovered by ${this.principal}: ${actions.join("; ") || "nothing to undo"}`,
        });
        await coordinator.end(left, ours ? { result: "interrupted", detail: "the engine worker died" } : undefined);
    }

    /**
     * A revert commit of `sha`, pushed: git never claims a config the cluster does not run. A
     * push racing another one is retried on the new head.
     */
    private async revertPushed(sha: string, id: string, why: string): Promise<string> {
        const git = this.options.git as GitConfigRepo;
        const message = `Revert ${sha.slice(0, 12)}: ${why}\n\nThe update of this commit did not complete; the config of record returns to what the cluster runs.\n\nModel-Release-Id: ${id}-revert\n`;
        for (let attempt = 1; ; attempt++) {
            try {
                return await git.revert(sha, { author: authorOf(this.principal), message });
            } catch (error) {
                if (!isGitConflict(error) || attempt >= 5) throw error;
                await git.sync();
            }
        }
    }

    private async runLocked(
        request: OperationRequest,
        id: string,
        phase: (phase: JournalEntry["phase"]) => Promise<void>,
    ): Promise<OperationPlan> {
        const { operation, release, apply, edit, promotion, removal, proposalBranch } = request;
        const git = this.options.git;
        const label = `${operation} of ${release} (stack ${this.stack.stack.name})`;
        // Git mode: the clone becomes the remote branch's head, the config of record.
        if (git) await git.sync();
        // The stack file is read once and never decrypted; the edit is previewed and applied from
        // a proposed copy, which becomes the stack file only once the update succeeded (file
        // mode) or was pushed (git mode). A refused, failed or preview-only operation leaves
        // Pulumi.<stack>.yaml exactly as it was.
        const config = this.stack.readConfig();
        const before = config.releases() as ops.ReleasesConfig;
        let after: ops.ReleasesConfig;
        let proposedText: string;
        if (proposalBranch !== undefined) {
            const text = await (git as GitConfigRepo).readAt(
                `origin/${proposalBranch}`,
                path.basename(this.stack.configPath),
            );
            if (text === undefined) {
                throw new ConflictError(`proposal ${proposalBranch} does not exist (or holds no stack file)`);
            }
            proposedText = text;
            after = StackConfigFile.fromText(config.file, text, config.key).releases() as ops.ReleasesConfig;
        } else {
            after = edit(before);
            proposedText = config.withReleases(after);
        }
        const trafficBefore = this.traffic(before, release);
        const trafficAfter = removal ? [] : this.traffic(after, release);

        if (promotion && Object.hasOwn(before, release)) {
            await this.refuseUnready(before, release, operation, trafficBefore, trafficAfter);
        }
        // The preview compares config with state; the cluster may differ from both (an edit out
        // of band): say so in the plan. An existing release whose routing cannot be read is
        // just not compared.
        const { live } = Object.hasOwn(before, release)
            ? await this.liveTraffic(this.resolve(before, release).resolved)
            : {};
        const drifted =
            live !== undefined &&
            Object.keys(live).length > 0 &&
            trafficBefore.some((r) => (live[r.version] ?? 0) !== r.percent);

        const steps: PlannedStep[] = [];
        const onEvent = (event: EngineEvent) => {
            const meta = event.resourcePreEvent?.metadata;
            if (meta && meta.op !== "same") {
                steps.push({ op: meta.op, type: meta.type, name: meta.urn.split("::").pop() ?? meta.urn });
            }
            this.options.onEvent?.(event);
        };
        const proposed = this.stack.writeProposed(proposedText);
        try {
            await phase("preview");
            const preview = await this.stack.run(
                "preview",
                { configFile: proposed, policyPacks: this.options.policyPacks, onEvent },
                `preview: ${label}`,
            );
            const plan: OperationPlan = {
                operation,
                release,
                operationId: id,
                changes: changes(preview.changeSummary),
                steps,
                trafficBefore,
                trafficAfter,
                applied: false,
            };
            if (drifted) plan.drift = Object.fromEntries(trafficBefore.map((r) => [r.version, live[r.version] ?? 0]));
            this.guard(plan, removal === true);
            const stackFile = path.basename(this.stack.configPath);
            const commitOptions = (): GitCommitOptions => ({
                author: authorOf(this.principal),
                message: `${commitMessage({ operation, release, stack: this.stack.stack.name, trafficBefore, trafficAfter, changes: plan.changes }).trimEnd()}\nModel-Release-Id: ${id}\n`,
            });
            if (apply === "propose") {
                // The edit goes to a review branch; the config of record is not touched.
                writeFileAtomic(this.stack.configPath, proposedText);
                const branch = `model-release/${this.stack.stack.name}/${release}/${operation}-${id.slice(0, 8)}`;
                try {
                    plan.proposal = await (git as GitConfigRepo).propose(branch, [stackFile], commitOptions());
                } finally {
                    await (git as GitConfigRepo).sync();
                }
                return plan;
            }
            const approved = typeof apply === "function" ? await apply(plan) : apply;
            if (!approved) return plan;
            let sha: string | undefined;
            if (git) {
                // Git mode: the reviewed edit is pushed as the caller before the cluster changes;
                // a push rejected because someone pushed first is a conflict, never an overwrite.
                await phase("push");
                this.stack.commitProposed(proposed);
                try {
                    if (proposalBranch !== undefined) {
                        sha = (await git.applyProposal(proposalBranch)).sha;
                    } else {
                        sha = await git.commit([stackFile], commitOptions()).catch((error: unknown) => {
                            // The edit changes no config (the record already says this): nothing
                            // to push; the update still converges the cluster to the record.
                            if (error instanceof Error && error.name === "NothingToCommitError") return undefined;
                            throw error;
                        });
                        // Pushes to other stacks' files meanwhile are replayed onto; a change to
                        // this stack's file or the project is a conflict.
                        if (sha !== undefined) sha = await git.pushGuarded([stackFile, "Pulumi.yaml"]);
                    }
                } catch (error) {
                    await git.sync().catch(() => undefined);
                    if (isGitConflict(error)) {
                        throw new ConflictError(
                            `stack ${this.stack.stack.name}: the config of record changed while this ${operation} was prepared (${(error as Error).message.split("\n")[0]}); nothing was applied, retry on the new config`,
                        );
                    }
                    throw error;
                }
            }
            await phase("up");
            try {
                const up = await this.stack.run(
                    "up",
                    {
                        configFile: git ? undefined : proposed,
                        policyPacks: this.options.policyPacks,
                        onEvent: this.options.onEvent,
                    },
                    `up: ${label}`,
                );
                if (up.result !== "succeeded") throw new Error(`update ${up.result}`);
            } catch (error) {
                if (git && sha !== undefined && !(error instanceof WorkerDiedError)) {
                    // Git must not claim a config the cluster does not run.
                    await this.revertPushed(sha, id, `the update of ${operation} ${release} failed`);
                }
                throw error;
            }
            // The config of record becomes what the cluster now runs.
            await phase("commit");
            if (!git) this.stack.commitProposed(proposed);
            return { ...plan, applied: true, ...(sha !== undefined ? { commit: sha } : {}) };
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
        const { resolved } = this.resolve(before, release);
        const knativeCanary = resolved.strategy === "kserve-canary" && !isStandardCanary(resolved);
        // A Standard-mode canary at 0% may have no replica (autoscalerClass none) until a step
        // gives it traffic; the update itself then waits for it (its waitFor), so only canaries
        // that serve are checked here.
        const serving = new Set(trafficBefore.filter((row) => row.percent > 0).map((row) => row.version));
        const candidates = knativeCanary
            ? resolved.versions
            : resolved.versions.slice(1).filter((v) => !isStandardCanary(resolved) || serving.has(v.name));
        for (const v of candidates) {
            let ready: boolean;
            try {
                const workload = workloadOf(resolved, v.name);
                ready = await (await this.readiness())(workload.kind, resolved.namespace, workload.name);
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
