/**
 * Turns benchmark results into target checks and a markdown report. Pure: no engine, no I/O.
 */
import type { FootprintRow } from "./footprint";
import type { MockRow } from "./mockCost";
import type { PromotionResult } from "./promotion";
import type { PolicyRow, PreviewRow } from "./preview";
import type { RolloutBenchResult } from "./rollout";
import type { ScaleOutResult } from "./scaleOut";
import { Summary, TargetCheck, checkAtMost, fixed, markdownTable, perResourceGrowth, spread } from "./stats";

export interface BenchResults {
    date: string;
    machine: { cpus: number; cpuModel: string; memoryGiB: number; platform: string };
    versions: Record<string, string>;
    runs: { mocks: number; engine: number };
    mocks?: MockRow[];
    preview?: PreviewRow[];
    policy?: PolicyRow[];
    promotion?: PromotionResult;
    footprint?: FootprintRow[];
    scaleout?: ScaleOutResult;
    rollout?: RolloutBenchResult;
}

export const TARGETS = {
    msPerResource: 0.5,
    growth: 1.5,
    previewRatio: 1.1,
    policyRatio: 1.25,
    promotionRatio: 1.5,
    replaces: 0,
    /** Milliseconds an operation on one stack may slow down while another stack's update waits. */
    isolationExtraMs: 2000,
    /** This pack's preview vs. a pack of one no-op rule: what its rules cost. */
    noopPackRatio: 1.15,
    /** Seconds a rollout adds per step beyond its configured interval. */
    rolloutStepSeconds: 5,
    /** Seconds a failed check may take to put traffic back on the primary, beyond one step's up. */
    rollbackExtraSeconds: 2,
} as const;

/** Every target of the issue, checked against the results that were measured. */
export function checkTargets(r: BenchResults): TargetCheck[] {
    const checks: TargetCheck[] = [];
    const components = (r.mocks ?? []).filter((m) => m.variant === "component");
    for (const m of components) {
        checks.push(
            checkAtMost(`mocks: ms per resource, ${m.releases} releases`, m.msPerResource, TARGETS.msPerResource),
        );
    }
    const sized = components.filter((m) => m.releases >= 10);
    if (sized.length >= 2) {
        const growth = perResourceGrowth(
            sized.map((m) => ({ resources: m.resources, msPerResource: m.msPerResource })),
        );
        const span = `${sized[0].releases}→${sized[sized.length - 1].releases} releases`;
        checks.push(checkAtMost(`mocks: per-resource growth ${span} (1 = linear)`, growth, TARGETS.growth));
    }
    for (const p of r.preview ?? []) {
        checks.push(checkAtMost(`preview ratio, ${p.releases} releases`, p.ratio, TARGETS.previewRatio));
    }
    for (const p of r.policy ?? []) {
        checks.push(checkAtMost(`policy pack ratio, ${p.releases} releases`, p.ratio, TARGETS.policyRatio));
    }
    if (r.promotion) {
        checks.push(checkAtMost("promotion up / no-op up", r.promotion.ratio, TARGETS.promotionRatio));
    }
    if (r.footprint) {
        const replaces = r.footprint.reduce((sum, f) => sum + f.replace, 0);
        checks.push(checkAtMost("replaces in the seed flows", replaces, TARGETS.replaces));
    }
    if (r.scaleout) {
        const { isolation, pack } = r.scaleout;
        checks.push(checkAtMost("isolation extra latency, ms", isolation.extraMs, TARGETS.isolationExtraMs));
        for (const p of pack) {
            checks.push(
                checkAtMost(`policy pack vs no-op pack, ${p.releases} releases`, p.ratio, TARGETS.noopPackRatio),
            );
        }
    }
    if (r.rollout) {
        const { perStep, rollback, stepUp } = r.rollout;
        checks.push(
            checkAtMost("rollout: seconds per step beyond the interval", perStep.median, TARGETS.rolloutStepSeconds),
        );
        checks.push(
            checkAtMost(
                "rollout: failed check to 100% primary, seconds beyond one step's up",
                rollback.median - stepUp.median,
                TARGETS.rollbackExtraSeconds,
            ),
        );
    }
    return checks;
}

/**
 * Splits the policy pack overhead into a fixed part and a part per analyzed resource, from the
 * smallest and the largest size measured.
 */
export function overheadSlope(rows: PolicyRow[]): { perResourceMs: number; fixedMs: number } | undefined {
    if (rows.length < 2) return undefined;
    const sorted = [...rows].sort((a, b) => a.resources - b.resources);
    const [a, b] = [sorted[0], sorted[sorted.length - 1]];
    const overhead = (p: PolicyRow) => p.withPack.median - p.withoutPack.median;
    const perResourceMs = (overhead(b) - overhead(a)) / (b.resources - a.resources);
    return { perResourceMs, fixedMs: overhead(a) - perResourceMs * a.resources };
}

function mark(check: TargetCheck): string {
    return check.met ? "met" : "**missed**";
}

/** The markdown report (headings start at level 3, so it can sit under a README section). */
export function markdownReport(r: BenchResults): string {
    const out: string[] = [];
    const versions = Object.entries(r.versions)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ");
    out.push(
        `Measured ${r.date} on ${r.machine.cpus} CPUs (${r.machine.cpuModel}), ${r.machine.memoryGiB} GiB, ` +
            `${r.machine.platform}. Versions: ${versions}. Medians of ${r.runs.mocks} runs (mocks) and ` +
            `${r.runs.engine} runs (engine) after a warm-up, with (min–max).`,
    );
    out.push("", "### Targets", "");
    out.push(
        markdownTable(
            ["target", "measured", "limit", ""],
            checkTargets(r).map((c) => [c.name, fixed(c.value), fixed(c.limit), mark(c)]),
        ),
    );
    if (r.mocks) {
        out.push("", "### 1. Program cost under mocks (2 versions, blue-green, KServe)", "");
        out.push(
            markdownTable(
                ["releases", "program", "resources", "ms", "ms / resource", "peak RSS MB", "retained heap MB"],
                r.mocks.map((m) => [
                    String(m.releases),
                    m.variant === "component" ? "ModelRelease" : "raw resources",
                    String(m.resources),
                    spread(m.ms, 0),
                    fixed(m.msPerResource),
                    spread(m.peakRssMb, 0),
                    // A full GC can leave less than before the run; that is no growth.
                    fixed(Math.max(0, m.retainedHeapMb.median), 1),
                ]),
            ),
        );
    }
    if (r.preview) {
        out.push("", "### 2. `pulumi preview` of new stacks, real engine (seconds)", "");
        out.push(
            markdownTable(
                ["releases", "objects", "ModelRelease", "raw resources", "ratio", "raw + empty components", "ratio"],
                r.preview.map((p) => [
                    String(p.releases),
                    String(p.objects),
                    spread(p.component, 2, 1 / 1000),
                    spread(p.raw, 2, 1 / 1000),
                    fixed(p.ratio),
                    p.grouped ? spread(p.grouped, 2, 1 / 1000) : "-",
                    p.grouped ? fixed(p.grouped.median / p.raw.median) : "-",
                ]),
            ),
        );
    }
    if (r.policy) {
        out.push("", "### 3. Policy pack overhead, preview with and without the pack (seconds)", "");
        out.push(
            markdownTable(
                ["releases", "resources", "with the pack", "without", "ratio", "overhead"],
                r.policy.map((p) => [
                    String(p.releases),
                    String(p.resources),
                    spread(p.withPack, 2, 1 / 1000),
                    spread(p.withoutPack, 2, 1 / 1000),
                    fixed(p.ratio),
                    fixed((p.withPack.median - p.withoutPack.median) / 1000),
                ]),
            ),
        );
        const slope = overheadSlope(r.policy);
        if (slope !== undefined) {
            out.push(
                "",
                `Overhead per analyzed resource between the sizes: ${fixed(slope.perResourceMs)} ms; ` +
                    `fixed part (pack start-up): ${fixed(slope.fixedMs / 1000)} s.`,
            );
        }
    }
    if (r.promotion) {
        const p = r.promotion;
        const noopClean = p.noopChanges.every((c) => Object.keys(c).length === 0);
        out.push("", "### 4. Promotion latency, seed 000 (seconds)", "");
        out.push(
            markdownTable(
                ["promotion `up`", "no-op `up`", "ratio", "promotion changes", "no-op changes"],
                [
                    [
                        spread(p.promotion, 2, 1 / 1000),
                        spread(p.noop, 2, 1 / 1000),
                        fixed(p.ratio),
                        JSON.stringify(p.promotionChanges).replace(/"/g, ""),
                        noopClean ? "none" : p.noopChanges.map((c) => JSON.stringify(c)).join(" "),
                    ],
                ],
            ),
        );
    }
    if (r.footprint) {
        out.push("", "### 5. Change footprint of each seed step (Kubernetes objects)", "");
        out.push(
            markdownTable(
                ["seed", "step", "create", "update", "delete", "replace", "changed"],
                r.footprint.map((f) => [
                    f.seed,
                    f.step,
                    String(f.create),
                    String(f.update),
                    String(f.delete),
                    String(f.replace),
                    f.changed.join(", "),
                ]),
            ),
        );
    }
    if (r.scaleout) out.push("", ...scaleOutReport(r.scaleout));
    if (r.rollout) out.push("", ...rolloutReport(r.rollout));
    return out.join("\n") + "\n";
}

/** Section 6: isolation, throughput, state backend, and the policy pack against a no-op pack. */
function scaleOutReport(s: ScaleOutResult): string[] {
    const sec = (summary: Summary) => spread(summary, 2, 1 / 1000);
    const { isolation: i, throughput: t, backend: b } = s;
    return [
        "### 6. Scale-out (seconds)",
        "",
        `Isolation: ${i.operation} on stack B, alone and while stack A's update waits ${i.waitSeconds} s for a ` +
            `candidate that never becomes Ready (engine pool of ${i.poolSize} workers).`,
        "",
        markdownTable(
            ["B alone", "B while A waits", "extra (ms)", "A's operation (to its timeout)"],
            [[sec(i.alone), sec(i.duringA), fixed(i.extraMs, 0), sec(i.blocked)]],
        ),
        "",
        `Throughput: ${t.stacks} promotions on ${t.stacks} stacks through one engine pool of ${t.poolSize} ` +
            `workers on ${t.cpus} CPUs.`,
        "",
        markdownTable(
            ["one after another", "all at once", "ratio"],
            [[sec(t.serial), sec(t.concurrent), fixed(t.ratio)]],
        ),
        "",
        "State backend: a seed 000 weights edit, PostgreSQL vs. `file://`.",
        "",
        markdownTable(
            ["run", "PostgreSQL", "file://", "ratio"],
            [
                ["preview", sec(b.preview.postgres), sec(b.preview.file), fixed(b.preview.ratio)],
                ["up", sec(b.up.postgres), sec(b.up.file), fixed(b.up.ratio)],
            ],
        ),
        "",
        "Policy pack: preview of new stacks with this pack, with a pack of one no-op rule, and without a pack.",
        "",
        markdownTable(
            ["releases", "resources", "the pack", "no-op pack", "no pack", "pack / no-op", "pack / no pack"],
            s.pack.map((p) => [
                String(p.releases),
                String(p.resources),
                sec(p.withPack),
                sec(p.noopPack),
                sec(p.withoutPack),
                fixed(p.ratio),
                fixed(p.noPackRatio),
            ]),
        ),
    ];
}

function rolloutReport(r: RolloutBenchResult): string[] {
    const sec = (summary: Summary) => spread(summary, 2);
    return [
        "### 7. Automated rollout (seconds)",
        "",
        `A healthy rollout of steps ${r.steps.join(", ")}% with a ${r.intervalSeconds} s interval and one Prometheus ` +
            "check (real Prometheus): what each step costs beyond its interval, and its parts. Then a candidate " +
            "failing the check: from the failed judgement to the live routing at 100% primary.",
        "",
        markdownTable(
            [
                "per step beyond the interval",
                "step operation (preview + up, both with the pack)",
                "judgement",
                "runner's own",
                "rollback to primary",
                "one step's up (with the pack)",
            ],
            [
                [
                    sec(r.perStep),
                    sec(r.operation),
                    sec(r.judgement),
                    r.runnerOwn ? sec(r.runnerOwn) : "-",
                    sec(r.rollback),
                    sec(r.stepUp),
                ],
            ],
        ),
    ];
}
