/**
 * Release operations as pure edits of the `releases` stack config: what a platform service asks
 * for ("add a candidate", "move 10% more", "promote", "roll back") turned into the same config a
 * person would write in Pulumi.<stack>.yaml. Every result is validated with the component's own
 * rules and messages before it is returned. No Pulumi imports, no I/O.
 */
import { planTraffic } from "../components/plan";
import { ReleaseConfig, VersionConfig } from "../components/types";
import { ConfigIssue, ReleaseConfigError, isStandardCanary, validateReleases } from "../components/validate";

/** The `releases` config: release name to release description. */
export type ReleasesConfig = Record<string, ReleaseConfig>;

/**
 * The default largest move of one operation, in percentage points. Every operation that moves
 * traffic between versions (`addCandidate`, also when it switches the strategy, `setWeights`,
 * `step`) stays within it. `promote` and `rollback` are exempt: they are the explicit finish and
 * abort of a release (a promotion is also gated on the candidate being Ready), and `remove`
 * deletes the release's routing altogether.
 */
export const DEFAULT_MAX_STEP = 25;

export interface OperationOptions {
    /** Namespace of releases that set none (the provider's). */
    defaultNamespace?: string;
    /** Largest move of one `addCandidate`, `setWeights` or `step`, in points; default 25. */
    maxStep?: number;
}

function fail(path: string, problem: string, fix: string): never {
    throw new ReleaseConfigError([{ path, problem, fix }]);
}

function copyOf(config: ReleasesConfig): ReleasesConfig {
    return structuredClone(config);
}

/** A release that is not in the config (the CLI exits 2, the service answers 404). */
export class UnknownReleaseError extends ReleaseConfigError {
    constructor(config: ReleasesConfig, release: string) {
        super([
            {
                path: `releases.${release}`,
                problem: "does not exist",
                fix: `use one of: ${Object.keys(config).join(", ") || "(none configured)"}`,
            },
        ]);
        this.name = "UnknownReleaseError";
    }
}

/** The release of that name, own keys only (a release named `constructor` is not Object's). */
export function releaseOf(config: ReleasesConfig, release: string): ReleaseConfig {
    if (!Object.hasOwn(config, release)) throw new UnknownReleaseError(config, release);
    return config[release];
}

/** Whether a release runs KServe v0.20's Standard-mode canary (versions are spec.canary predictors). */
function standardCanary(r: ReleaseConfig): boolean {
    return isStandardCanary({ strategy: r.strategy, environment: r.environment });
}

/** Validates a whole config, throwing every issue at once. */
export function validated(config: ReleasesConfig, options: OperationOptions = {}): ReleasesConfig {
    validateReleases(config, options.defaultNamespace ?? "default");
    return config;
}

/** Current integer percentages per version of a release (validated). */
export function percentages(config: ReleasesConfig, release: string, options: OperationOptions = {}): number[] {
    const [resolved] = validateReleases(
        { [release]: releaseOf(config, release) },
        options.defaultNamespace ?? "default",
    );
    return planTraffic(resolved).map((row) => row.percent);
}

/**
 * Percent of the app's unmatched requests each version serves, one number per version. Unlike
 * percentages(), a kserve-canary release's two revisions count as its one version.
 */
function percentPerVersion(config: ReleasesConfig, release: string, options: OperationOptions): number[] {
    const [resolved] = validateReleases(
        { [release]: releaseOf(config, release) },
        options.defaultNamespace ?? "default",
    );
    const rows = planTraffic(resolved);
    return resolved.versions.map((v) =>
        rows.filter((row) => row.version === v.name).reduce((sum, row) => sum + row.percent, 0),
    );
}

/**
 * Adds a candidate version; `strategy` switches the release's strategy at the same time (e.g.
 * none -> canary). In a blue-green release the candidate starts at weight 0 unless one is given,
 * and versions without a weight get their current percentage as weight, so adding a candidate
 * moves no traffic by itself (an equal split would move 50 points at once). Whatever moves is
 * held to the step limit.
 */
export function addCandidate(
    config: ReleasesConfig,
    release: string,
    version: VersionConfig,
    options: OperationOptions & { strategy?: ReleaseConfig["strategy"] } = {},
): ReleasesConfig {
    const next = copyOf(config);
    const r = releaseOf(next, release);
    const before = percentPerVersion(config, release, options);
    if (options.strategy !== undefined) r.strategy = options.strategy;
    const candidate = structuredClone(version);
    // A Standard-mode canary starts without traffic unless a share is given, like a blue-green weight.
    if (standardCanary(r) && candidate.trafficPercent === undefined) candidate.trafficPercent = 0;
    const weighted = r.versions.some((v) => v.weight !== undefined);
    if ((weighted || r.strategy === "blue-green") && candidate.weight === undefined) {
        candidate.weight = 0;
    }
    if (r.strategy === "blue-green" && !weighted) {
        r.versions.forEach((v, i) => (v.weight = before[i]));
    }
    r.versions = [...r.versions, candidate];
    validated(next, options);
    checkStep(release, before, percentPerVersion(next, release, options), options, r.strategy === "blue-green");
    return next;
}

/** Sets the weights of a blue-green release (one per version, in order), within the step limit. */
export function setWeights(
    config: ReleasesConfig,
    release: string,
    weights: number[],
    options: OperationOptions = {},
): ReleasesConfig {
    const next = copyOf(config);
    const r = releaseOf(next, release);
    if (r.strategy !== "blue-green") {
        fail(
            `releases.${release}.strategy`,
            `is ${r.strategy ?? "none"}, and weights only apply to blue-green`,
            "set strategy: blue-green first",
        );
    }
    if (weights.length !== r.versions.length) {
        fail(
            `releases.${release}.versions`,
            `has ${r.versions.length} versions but ${weights.length} weights were given`,
            "give one weight per version, primary first",
        );
    }
    const before = percentages(config, release, options);
    r.versions.forEach((v, i) => (v.weight = weights[i]));
    validated(next, options);
    checkStep(release, before, percentages(next, release, options), options, true);
    return next;
}

/** Moves `points` percentage points from the primary to the candidate (negative: back). */
export function step(
    config: ReleasesConfig,
    release: string,
    points: number,
    options: OperationOptions = {},
): ReleasesConfig {
    const r = releaseOf(config, release);
    if (r.strategy !== "blue-green" || r.versions.length !== 2) {
        fail(
            `releases.${release}`,
            "needs strategy blue-green with exactly a primary and one candidate to step",
            "add a candidate or set weights directly",
        );
    }
    if (!Number.isInteger(points) || points === 0) {
        fail(
            "step",
            `must be a non-zero whole number of points, got ${points}`,
            "e.g. 10 to move 10% to the candidate",
        );
    }
    const [primary, candidate] = percentages(config, release, options);
    const target = Math.min(100, Math.max(0, candidate + points));
    return setWeights(config, release, [primary + candidate - target, target], options);
}

/** Refuses a change that moves any version's share by more than the step limit. */
function checkStep(
    release: string,
    before: number[],
    after: number[],
    options: OperationOptions,
    weighted: boolean,
): void {
    const maxStep = options.maxStep ?? DEFAULT_MAX_STEP;
    const issues: ConfigIssue[] = [];
    after.forEach((p, i) => {
        const moved = Math.abs(p - (before[i] ?? 0));
        if (moved > maxStep) {
            issues.push({
                path: `releases.${release}.versions[${i}]${weighted ? ".weight" : ""}`,
                problem: `would move ${moved} points (${before[i] ?? 0}% -> ${p}%), more than the ${maxStep}-point limit of one operation`,
                fix: weighted
                    ? `move in steps of at most ${maxStep} points`
                    : `first move the traffic in steps of at most ${maxStep} points (weights, step), then change the strategy`,
            });
        }
    });
    if (issues.length > 0) throw new ReleaseConfigError(issues);
}

/**
 * Promotes the candidate. A named candidate becomes the only version as it is (the old primary
 * and other candidates are removed); with a generated candidate name the primary takes the
 * candidate's spec under its own name (updated in place). For kserve-canary,
 * canaryTrafficPercent is removed.
 * Not held to the step limit: promotion is the explicit finish of a release, and ReleaseManager
 * (library, CLI, service) refuses it unless the candidate is Ready.
 */
export function promote(config: ReleasesConfig, release: string, options: OperationOptions = {}): ReleasesConfig {
    const next = copyOf(config);
    const r = releaseOf(next, release);
    if (standardCanary(r)) return promoteStandardCanary(next, release, options);
    if (r.strategy === "kserve-canary") {
        if (r.canaryTrafficPercent === undefined) {
            fail(
                `releases.${release}.canaryTrafficPercent`,
                "is not set: there is no canary to promote",
                "roll out a canary first",
            );
        }
        delete r.canaryTrafficPercent;
        return validated(next, options);
    }
    if (r.versions.length < 2) {
        fail(`releases.${release}.versions`, "has no candidate to promote", "add a candidate first");
    }
    const [primary, candidate] = r.versions;
    const promoted: VersionConfig = structuredClone(candidate);
    delete promoted.weight;
    delete promoted.match;
    delete promoted.mirrorPercent;
    // A candidate the user named (e.g. wisdom-green) stays the object it is: the old primary is
    // removed and the candidate, already Ready, is left untouched. A generated name
    // (<app>-<index>) would change with its index, so there the primary's object takes the
    // candidate's spec in place and keeps its name.
    if (candidate.name === undefined) {
        if (primary.name !== undefined) promoted.name = primary.name;
        else delete promoted.name;
    }
    r.versions = [promoted];
    singleVersionStrategy(r);
    return validated(next, options);
}

/**
 * Which step a promotion of a KServe Standard-mode canary takes next: `drain` while the stable
 * predictor still serves requests, then `rename`. KServe promotes by renaming the stable predictor
 * to the canary's name and deletes the old stable Deployment in that same reconcile, before the
 * routing can follow; so the stable's share moves to the canary first (one update), and the
 * rename happens once the stable serves nothing. Undefined for other releases.
 */
export function promotionStep(
    config: ReleasesConfig,
    release: string,
    options: OperationOptions = {},
): "drain" | "rename" | undefined {
    const r = releaseOf(config, release);
    if (!standardCanary(r) || r.versions.length < 2) return undefined;
    return percentages(config, release, options)[0] > 0 ? "drain" : "rename";
}

function promoteStandardCanary(next: ReleasesConfig, release: string, options: OperationOptions): ReleasesConfig {
    const r = releaseOf(next, release);
    if (r.versions.length < 2) {
        fail(`releases.${release}.versions`, "has no canary to promote", "add a canary first");
    }
    const step = promotionStep(next, release, options);
    const [, candidate, ...others] = r.versions;
    if (step === "drain") {
        const rest = others.reduce((sum, v) => sum + (v.trafficPercent ?? 0), 0);
        candidate.trafficPercent = 100 - rest;
        return validated(next, options);
    }
    const promoted: VersionConfig = structuredClone(candidate);
    delete promoted.trafficPercent;
    r.versions = [promoted, ...others];
    return validated(next, options);
}

/**
 * Rolls back: drops the candidates, or pins a kserve-canary release to its previous revision.
 * Not held to the step limit: a rollback is the explicit abort, it must be able to take all
 * traffic off a bad candidate at once.
 */
export function rollback(config: ReleasesConfig, release: string, options: OperationOptions = {}): ReleasesConfig {
    const next = copyOf(config);
    const r = releaseOf(next, release);
    if (standardCanary(r)) return pinStandardCanaries(next, release, options);
    if (r.strategy === "kserve-canary") {
        r.canaryTrafficPercent = 0;
        return validated(next, options);
    }
    if (r.versions.length < 2) {
        fail(`releases.${release}.versions`, "has no candidate to roll back", "nothing to do");
    }
    const primary = structuredClone(r.versions[0]);
    delete primary.weight;
    r.versions = [primary];
    singleVersionStrategy(r);
    return validated(next, options);
}

/**
 * Standard-mode canary rollback: every canary pinned at 0% (no traffic), all traffic
 * on the stable predictor, as Knative's rollback pins the previous revision. The canaries stay in
 * the config for a later retry; removing them is a separate edit.
 */
function pinStandardCanaries(next: ReleasesConfig, release: string, options: OperationOptions): ReleasesConfig {
    const r = releaseOf(next, release);
    if (r.versions.length < 2) {
        fail(`releases.${release}.versions`, "has no canary to roll back", "nothing to do");
    }
    r.versions.slice(1).forEach((v) => (v.trafficPercent = 0));
    return validated(next, options);
}

/** Canary and mirror need a candidate; with the primary alone the release routes with `none`. */
function singleVersionStrategy(r: ReleaseConfig): void {
    if (r.strategy === "canary" || r.strategy === "mirror") r.strategy = "none";
}

/** Removes a release (all its objects are deleted on apply). */
export function remove(config: ReleasesConfig, release: string, options: OperationOptions = {}): ReleasesConfig {
    const next = copyOf(config);
    releaseOf(next, release);
    delete next[release];
    return validated(next, options);
}

/** The candidate's share in a rollout: its percent (blue-green) or canaryTrafficPercent. */
export function candidatePercent(config: ReleasesConfig, release: string, options: OperationOptions = {}): number {
    const r = releaseOf(config, release);
    if (r.strategy === "kserve-canary" && !standardCanary(r)) return r.canaryTrafficPercent ?? 100;
    const shares = percentPerVersion(config, release, options);
    return shares.length < 2 ? 0 : shares[shares.length - 1];
}

/**
 * One step of an automated rollout: the candidate gets `percent` (blue-green: weights
 * [100 - percent, percent]; kserve-canary: canaryTrafficPercent), held to the step limit like a
 * manual move.
 */
export function rolloutStep(
    config: ReleasesConfig,
    release: string,
    percent: number,
    options: OperationOptions = {},
): ReleasesConfig {
    const r = releaseOf(config, release);
    if (!Number.isInteger(percent) || percent < 0 || percent > 100) {
        fail("percent", `must be a whole number from 0 to 100, got ${percent}`, "give the candidate's percent");
    }
    if (standardCanary(r)) {
        if (r.versions.length !== 2) {
            fail(
                `releases.${release}.versions`,
                `has ${r.versions.length} version(s); a stepped rollout needs the stable version and one canary`,
                "add one canary (model-release add-candidate)",
            );
        }
        const before = candidatePercent(config, release, options);
        const next = copyOf(config);
        releaseOf(next, release).versions[1].trafficPercent = percent;
        validated(next, options);
        checkStep(release, [before], [percent], options, false);
        return next;
    }
    if (r.strategy === "kserve-canary") {
        const before = candidatePercent(config, release, options);
        const next = copyOf(config);
        releaseOf(next, release).canaryTrafficPercent = percent;
        validated(next, options);
        checkStep(release, [before], [percent], options, false);
        return next;
    }
    if (r.strategy !== "blue-green" || r.versions.length !== 2) {
        fail(
            `releases.${release}`,
            `is ${r.strategy ?? "none"} with ${r.versions.length} version(s); a stepped rollout needs blue-green with a primary and one candidate, or kserve-canary`,
            "add a candidate (model-release add-candidate) with strategy blue-green",
        );
    }
    return setWeights(config, release, [100 - percent, percent], options);
}

/** The header that still reaches a canary candidate after its rollout was rolled back. */
export const INSPECT_HEADER = "x-model-release-inspect";

/**
 * The rollback of an automated rollout: all traffic back on the primary in one step, the
 * candidate kept for inspection: blue-green at weight 0, kserve-canary with the previous revision
 * pinned (canaryTrafficPercent 0), mirror with mirrorPercent 0, canary matched only by requests
 * that carry `x-model-release-inspect: <release>` (nobody's traffic by accident). The strategy
 * and the rollout spec stay as reviewed. Not held to the step limit, like `rollback`.
 */
export function rolloutAbort(config: ReleasesConfig, release: string, options: OperationOptions = {}): ReleasesConfig {
    const next = copyOf(config);
    const r = releaseOf(next, release);
    if (standardCanary(r)) return pinStandardCanaries(next, release, options);
    if (r.strategy === "kserve-canary") {
        r.canaryTrafficPercent = 0;
        return validated(next, options);
    }
    if (r.versions.length !== 2) {
        fail(
            `releases.${release}.versions`,
            `has ${r.versions.length} version(s); a rollout rolls back a primary and one candidate`,
            "roll back by hand (model-release rollback)",
        );
    }
    const candidate = r.versions[1];
    if (r.strategy === "mirror") candidate.mirrorPercent = 0;
    else if (r.strategy === "canary") candidate.match = [{ headers: { [INSPECT_HEADER]: { exact: release } } }];
    else r.versions.forEach((v, i) => (v.weight = i === 0 ? 100 : 0));
    return validated(next, options);
}
