import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { CheckResult, Judgement } from "../../automation/analysis";
import * as ops from "../../automation/operations";
import type { OperationPlan, ReleaseStatus } from "../../automation/releases";
import { RefusedError } from "../../automation/releases";
import { RolloutRefusedError, RolloutRunner, RolloutStateError, RolloutTarget } from "../../automation/rollout";
import { FileRolloutStore, RolloutJob, processOwner } from "../../automation/rolloutJobs";
import { ReleaseConfig, RolloutArgs } from "../../components/types";
import { validateReleases } from "../../components/validate";
import { appVersion, httpbin, modelVersion, wisdom } from "../components/fixtures";

/**
 * A rollout target over an in-memory config of record: every operation is the pure edit the
 * ReleaseManager would preview and apply, recorded in `history`. Intervals are shrunk to ms.
 */
class ConfigTarget implements RolloutTarget {
    readonly stack = "dev";
    readonly release = "wisdom";
    readonly maxStep = 25;
    history: { operation: string; percent: number }[] = [];
    ready = true;
    /** Makes the next step fail like a failed update (nothing changes). */
    failNextStep?: Error;
    intervalMs = 30;

    constructor(public config: ops.ReleasesConfig) {}

    async recorded() {
        const [resolved] = validateReleases({ wisdom: this.config.wisdom }, "default");
        if (resolved.rollout) resolved.rollout.intervalSeconds = this.intervalMs / 1000;
        return { config: structuredClone(this.config), resolved };
    }

    private apply(operation: string, next: ops.ReleasesConfig): OperationPlan {
        this.config = next;
        const percent = next.wisdom ? ops.candidatePercent(next, "wisdom") : 0;
        this.history.push({ operation, percent });
        return {
            operation,
            release: "wisdom",
            operationId: `op-${this.history.length}`,
            changes: {},
            steps: [],
            trafficBefore: [],
            trafficAfter: [],
            applied: true,
        };
    }

    async step(percent: number) {
        if (this.failNextStep) {
            const error = this.failNextStep;
            this.failNextStep = undefined;
            throw error;
        }
        if (!this.ready) {
            throw new RefusedError("refused: candidate default/wisdom-green is not Ready; promote it once it serves", {
                operation: "rollout-step",
                release: "wisdom",
                changes: {},
                steps: [],
                trafficBefore: [],
                trafficAfter: [],
                applied: false,
            });
        }
        return this.apply("rollout-step", ops.rolloutStep(this.config, "wisdom", percent, { maxStep: this.maxStep }));
    }

    async abort() {
        return this.apply("rollout-rollback", ops.rolloutAbort(this.config, "wisdom"));
    }

    async promote() {
        return this.apply("promote", ops.promote(this.config, "wisdom"));
    }

    async status(): Promise<ReleaseStatus> {
        const versions = this.config.wisdom.versions;
        const percents = ops.percentages(this.config, "wisdom");
        return {
            release: "wisdom",
            drift: false,
            traffic: versions.map((v, i) => ({
                version: v.name ?? `wisdom-${i}`,
                role: i === 0 ? "primary" : "candidate",
                percent: percents[i] ?? 0,
                ready: i === 0 ? true : this.ready,
            })) as ReleaseStatus["traffic"],
        };
    }
}

const check = (outcome: CheckResult["outcome"], value?: number): CheckResult => ({
    name: "success-rate",
    kind: "prometheus",
    outcome,
    ...(value !== undefined ? { value, min: 0.99 } : {}),
    reason: outcome === "pass" ? `${value} within min 0.99` : outcome === "fail" ? `${value} < min 0.99` : "no data",
});

/** Judgements in order (the last one repeats), and how many were asked for. */
function scripted(...outcomes: CheckResult["outcome"][]) {
    const calls: number[] = [];
    const judge = async (): Promise<Judgement> => {
        const outcome = outcomes[Math.min(calls.length, outcomes.length - 1)];
        calls.push(Date.now());
        return {
            outcome,
            checks: [check(outcome, outcome === "pass" ? 0.999 : outcome === "fail" ? 0.93 : undefined)],
        };
    };
    return { judge, calls };
}

function blueGreen(rollout: RolloutArgs, candidateWeight = 0): ops.ReleasesConfig {
    const release: ReleaseConfig = wisdom(
        [
            modelVersion("v0", { name: "wisdom-blue", weight: 100 - candidateWeight }),
            modelVersion("v1", { name: "wisdom-green", weight: candidateWeight }),
        ],
        { strategy: "blue-green", rollout },
    );
    return { wisdom: release };
}

describe("RolloutRunner", function () {
    let dir: string;
    let store: FileRolloutStore;
    const runners: RolloutRunner[] = [];
    const runner = (judge: ReturnType<typeof scripted>["judge"]) => {
        const r = new RolloutRunner({
            store,
            judge,
            notify: async () => [],
            heartbeatMs: 20,
            busyRetryMs: 20,
        });
        runners.push(r);
        return r;
    };

    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-"));
        store = new FileRolloutStore(dir);
    });
    afterEach(async () => {
        await Promise.all(runners.splice(0).map((r) => r.close()));
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("keeps at most one heartbeat in flight on a slow store, and none writes after the job ends", async () => {
        let inFlight = 0;
        let most = 0;
        let touches = 0;
        const slow = new (class extends FileRolloutStore {
            override async touch(id: string, owner: string) {
                inFlight += 1;
                most = Math.max(most, inFlight);
                touches += 1;
                try {
                    await new Promise((resolve) => setTimeout(resolve, 60));
                    return await super.touch(id, owner);
                } finally {
                    inFlight -= 1;
                }
            }
        })(dir);
        const r = new RolloutRunner({
            store: slow,
            judge: scripted("pass").judge,
            notify: async () => [],
            heartbeatMs: 20,
        });
        runners.push(r);
        const target = new ConfigTarget(blueGreen({ steps: [10, 25, 50], interval: "1s" }));
        // A drive of about a second: several beats of a 60 ms store fit in it even on a loaded
        // machine (at the default 30 ms intervals the whole drive can fit in one beat).
        target.intervalMs = 300;
        const job = await r.drive(await r.create(target, "alice"), target);
        assert.equal(job.status, "promoted");
        assert.ok(touches >= 2, `the job was touched ${touches} times`);
        assert.equal(most, 1, "one beat at a time");
        assert.equal(inFlight, 0, "no beat outlives the drive");
        const after = touches;
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.equal(touches, after, "no beat after the job ended");
    });

    it("steps a healthy candidate 10 -> 25 -> 50, judging each step after its interval, then promotes", async () => {
        const target = new ConfigTarget(blueGreen({ steps: [10, 25, 50], interval: "1s" }));
        const { judge, calls } = scripted("pass");
        const r = runner(judge);
        const started = Date.now();
        const job = await r.drive(await r.create(target, "alice"), target);
        assert.equal(job.status, "promoted");
        assert.deepEqual(target.history, [
            { operation: "rollout-step", percent: 10 },
            { operation: "rollout-step", percent: 25 },
            { operation: "rollout-step", percent: 50 },
            { operation: "promote", percent: 0 },
        ]);
        assert.equal(calls.length, 3);
        // Each judgement waited out its interval after its step.
        assert.ok(Date.now() - started >= 3 * target.intervalMs);
        assert.deepEqual(
            target.config.wisdom.versions.map((v) => v.name),
            ["wisdom-green"],
        );
        const stored = (await store.get(job.id)) as RolloutJob;
        assert.equal(stored.status, "promoted");
        assert.deepEqual(
            stored.events.map((e) => e.event),
            ["started", "step", "judged", "step", "judged", "step", "judged", "promoted"],
        );
        assert.deepEqual(
            stored.events.filter((e) => e.event === "step").map((e) => e.operationId),
            ["op-1", "op-2", "op-3"],
        );
    });

    it("rolls back to 100% primary in one step when checks fail failureLimit times, keeping the candidate", async () => {
        const target = new ConfigTarget(blueGreen({ steps: [10, 25, 50], interval: "1s", failureLimit: 2 }));
        const { judge, calls } = scripted("pass", "fail", "fail");
        const job = await runner(judge).drive(await runner(judge).create(target, "alice"), target);
        assert.equal(job.status, "rolled-back");
        assert.equal(calls.length, 3, "one failed judgement is judged again after an interval, the second rolls back");
        assert.deepEqual(
            target.history.map((h) => `${h.operation}:${h.percent}`),
            ["rollout-step:10", "rollout-step:25", "rollout-rollback:0"],
        );
        assert.deepEqual(
            target.config.wisdom.versions.map((v) => [v.name, v.weight]),
            [
                ["wisdom-blue", 100],
                ["wisdom-green", 0],
            ],
        );
        assert.match(
            job.reason ?? "",
            /2 failed judgement\(s\) \(limit 2\) at step 2 \(25%\): success-rate: 0.93 < min 0.99/,
        );
        assert.equal(job.checks?.[0].value, 0.93);
    });

    it("pauses on inconclusive checks (no promotion on missing data) and goes on when data returns", async () => {
        const target = new ConfigTarget(blueGreen({ steps: [10, 20], interval: "1s" }));
        const { judge } = scripted("pass", "inconclusive", "inconclusive", "pass");
        const events: string[] = [];
        const r = new RolloutRunner({
            store,
            judge,
            notify: async () => [],
            heartbeatMs: 20,
            onEvent: (_job, e) => events.push(e.event),
        });
        runners.push(r);
        const job = await r.drive(await r.create(target, "alice"), target);
        assert.equal(job.status, "promoted");
        assert.deepEqual(events, [
            "started",
            "step",
            "judged",
            "step",
            "paused",
            "paused",
            "judged",
            "resumed",
            "promoted",
        ]);
        // While paused, traffic stayed at the step's planned percent.
        assert.deepEqual(
            target.history.map((h) => h.percent),
            [10, 20, 0],
        );
    });

    it("rolls back when the candidate stops being Ready", async () => {
        const target = new ConfigTarget(blueGreen({ steps: [10, 25], interval: "1s" }));
        const { judge } = scripted("pass");
        const r = runner(judge);
        const job = await r.create(target, "alice");
        const done = r.drive(job, target);
        while (target.history.length < 1) await new Promise((res) => setTimeout(res, 5));
        target.ready = false;
        const last = await done;
        assert.equal(last.status, "rolled-back");
        assert.match(last.reason ?? "", /wisdom-green stopped being Ready at step 1 \(10%\)/);
        assert.deepEqual(
            target.history.map((h) => `${h.operation}:${h.percent}`),
            ["rollout-step:10", "rollout-rollback:0"],
        );
    });

    it("holds at the last step with onSuccess: hold, and promotes on request from another process", async () => {
        const target = new ConfigTarget(blueGreen({ steps: [10], interval: "1s", onSuccess: "hold" }));
        const r = runner(scripted("pass").judge);
        const job = await r.create(target, "alice");
        const done = r.drive(job, target);
        while ((await store.get(job.id))?.status !== "holding") await new Promise((res) => setTimeout(res, 10));
        // Only a holding rollout is promoted; the request goes through the store (as another replica's).
        const other = new RolloutRunner({ store, owner: "elsewhere:1" });
        await other.request(job.id, "promote", "bob");
        const last = await done;
        assert.equal(last.status, "promoted");
        assert.match(last.reason ?? "", /promoted by bob/);
        await assert.rejects(other.request(job.id, "promote", "bob"), RolloutStateError);
    });

    it("cancels: traffic back to the primary, status cancelled, naming who", async () => {
        const target = new ConfigTarget(blueGreen({ steps: [10, 25, 50], interval: "1s" }));
        target.intervalMs = 60_000;
        const r = runner(scripted("pass").judge);
        const job = await r.create(target, "alice");
        const done = r.drive(job, target);
        while (target.history.length < 1) await new Promise((res) => setTimeout(res, 5));
        await r.request(job.id, "cancel", "carol");
        const last = await done;
        assert.equal(last.status, "cancelled");
        assert.match(last.reason ?? "", /^cancelled by carol; all traffic back on wisdom-blue/);
        assert.deepEqual(
            target.history.map((h) => h.percent),
            [10, 0],
        );
    });

    it("refuses to start a rollout whose steps exceed the step limit, or with no candidate, or twice", async () => {
        const r = runner(scripted("pass").judge);
        await assert.rejects(
            r.create(new ConfigTarget(blueGreen({ steps: [10, 50], interval: "1s" })), "alice"),
            (e: unknown) =>
                e instanceof RolloutRefusedError &&
                /rollout.steps\[1\] moves the candidate from 10% to 50%, more than the 25-point limit/.test(e.message),
        );
        const single = new ConfigTarget({
            wisdom: wisdom([modelVersion("v0")], { strategy: "blue-green", rollout: { steps: [10] } }),
        });
        await assert.rejects(r.create(single, "alice"), /needs a primary and one candidate/);
        const target = new ConfigTarget(blueGreen({ steps: [10], interval: "1s" }));
        await r.create(target, "alice");
        await assert.rejects(r.create(target, "bob"), /already has an active rollout/);
    });

    it("a job whose process died is resumed by another from its planned step, never re-stepping past it", async () => {
        const target = new ConfigTarget(blueGreen({ steps: [10, 25, 50], interval: "1s" }));
        // The dead process had applied step 2 (25%) and was waiting to judge it.
        const dead = spawnSync(process.execPath, ["-e", "process.exit(0)"]).pid;
        const first = new RolloutRunner({ store, owner: `${os.hostname()}:${dead}` });
        const job = await first.create(target, "alice");
        target.config = ops.rolloutStep(ops.rolloutStep(target.config, "wisdom", 10), "wisdom", 25);
        await store.save(
            { ...job, step: 1, percent: 25, phase: "wait", waitUntil: new Date().toISOString() },
            first.owner,
        );

        const { judge } = scripted("pass");
        const second = runner(judge);
        assert.notEqual(second.owner, first.owner);
        assert.equal(second.owner, processOwner());
        const claimed = await second.claim(job.id);
        assert.ok(claimed, "a dead owner's job is claimable");
        const last = await second.drive(claimed, target);
        assert.equal(last.status, "promoted");
        assert.deepEqual(
            target.history.map((h) => `${h.operation}:${h.percent}`),
            ["rollout-step:50", "promote:0"],
        );
        assert.ok(last.events.some((e) => e.event === "resumed"));
    });

    it("re-applies the step a dead process had not committed (config still at the step before)", async () => {
        const target = new ConfigTarget(blueGreen({ steps: [10, 25], interval: "1s" }));
        const dead = spawnSync(process.execPath, ["-e", "process.exit(0)"]).pid;
        const first = new RolloutRunner({ store, owner: `${os.hostname()}:${dead}` });
        const job = await first.create(target, "alice");
        target.config = ops.rolloutStep(target.config, "wisdom", 10);
        await store.save({ ...job, step: 1, percent: 10, phase: "apply" }, first.owner);
        const second = runner(scripted("pass").judge);
        const last = await second.drive((await second.claim(job.id)) as RolloutJob, target);
        assert.equal(last.status, "promoted");
        assert.deepEqual(
            target.history.map((h) => h.percent),
            [25, 0],
        );
    });

    it("aborts without touching traffic when the config holds a percent the rollout did not plan", async () => {
        const target = new ConfigTarget(blueGreen({ steps: [10, 25, 50], interval: "1s" }));
        const dead = spawnSync(process.execPath, ["-e", "process.exit(0)"]).pid;
        const first = new RolloutRunner({ store, owner: `${os.hostname()}:${dead}` });
        const job = await first.create(target, "alice");
        await store.save({ ...job, step: 1, percent: 25, phase: "wait" }, first.owner);
        target.config = ops.setWeights(target.config, "wisdom", [85, 15]);
        const second = runner(scripted("pass").judge);
        const last = await second.drive((await second.claim(job.id)) as RolloutJob, target);
        assert.equal(last.status, "aborted");
        assert.match(last.reason ?? "", /candidate at 15%, which this rollout did not plan \(expected 10% or 25%\)/);
        assert.deepEqual(target.history, []);
    });

    it("a live owner's job is not claimable", async () => {
        const target = new ConfigTarget(blueGreen({ steps: [10], interval: "1s" }));
        const first = runner(scripted("pass").judge);
        const job = await first.create(target, "alice");
        const other = new RolloutRunner({ store, owner: `${os.hostname()}:${process.pid}x` });
        assert.equal(await other.claim(job.id), undefined);
    });

    it("a failed update stops the rollout at the last applied step", async () => {
        const target = new ConfigTarget(blueGreen({ steps: [10, 25], interval: "1s" }));
        const r = runner(scripted("pass").judge);
        const job = await r.create(target, "alice");
        const done = r.drive(job, target);
        while (target.history.length < 1) await new Promise((res) => setTimeout(res, 5));
        target.failNextStep = new Error("update failed: deadline exceeded");
        const last = await done;
        assert.equal(last.status, "failed");
        assert.match(
            last.reason ?? "",
            /step 2 \(25%\) did not apply: the update failed: update failed: deadline exceeded; traffic stays at 10%/,
        );
        assert.equal(ops.candidatePercent(target.config, "wisdom"), 10);
    });

    it("decrypts secret receiver URLs for the POSTs only; an undecryptable one aborts before any step", async () => {
        const secret = "[secret:0123456789abcdef]";
        const config = blueGreen({ steps: [10], interval: "1s", notify: [{ webhook: secret }] });
        const target = Object.assign(new ConfigTarget(config), {
            secret: async (p: string) => {
                assert.equal(p, "rollout.notify[0].webhook");
                return "https://hooks.example.com/services/T0K3N";
            },
        });
        const posted: string[][] = [];
        const r = new RolloutRunner({
            store,
            judge: scripted("pass").judge,
            notify: async (urls) => {
                posted.push(urls);
                return urls.map((url) => ({ url, ok: true }));
            },
            heartbeatMs: 20,
        });
        runners.push(r);
        const job = await r.drive(await r.create(target, "alice"), target);
        assert.equal(job.status, "promoted");
        assert.ok(posted.length >= 3 && posted.every((u) => u[0] === "https://hooks.example.com/services/T0K3N"));
        assert.ok(!JSON.stringify(await store.get(job.id)).includes("T0K3N"));

        const broken = Object.assign(new ConfigTarget(config), {
            secret: async () => "ftp://user:T0K3N@example.com/",
        });
        const r2 = runner(scripted("pass").judge);
        const failed = await r2.drive(await r2.create(broken, "alice"), broken);
        assert.equal(failed.status, "aborted");
        assert.match(failed.reason ?? "", /releases.wisdom.rollout.notify\[0\].webhook is not an http\(s\) URL/);
        assert.ok(!JSON.stringify(failed).includes("T0K3N"));
        assert.deepEqual(broken.history, []);
    });

    it("gates a canary release: judged `iterations` times, then promoted (no traffic steps)", async () => {
        const config: ops.ReleasesConfig = {
            wisdom: wisdom(
                [modelVersion("v0", { name: "wisdom-blue" }), modelVersion("v1", { name: "wisdom-green" })],
                {
                    strategy: "canary",
                    rollout: { iterations: 2, interval: "1s" },
                },
            ),
        };
        const target = new ConfigTarget(config);
        const { judge, calls } = scripted("pass");
        const r = runner(judge);
        const last = await r.drive(await r.create(target, "alice"), target);
        assert.equal(last.status, "promoted");
        assert.equal(calls.length, 2);
        assert.deepEqual(
            target.history.map((h) => h.operation),
            ["promote"],
        );
    });

    it("rolls a failing canary back: its candidate then answers only the inspection header", async () => {
        const config: ops.ReleasesConfig = {
            wisdom: wisdom(
                [modelVersion("v0", { name: "wisdom-blue" }), modelVersion("v1", { name: "wisdom-green" })],
                {
                    strategy: "canary",
                    rollout: { iterations: 2, interval: "1s" },
                },
            ),
        };
        const target = new ConfigTarget(config);
        const r = runner(scripted("fail").judge);
        const last = await r.drive(await r.create(target, "alice"), target);
        assert.equal(last.status, "rolled-back");
        assert.equal(target.config.wisdom.strategy, "canary");
        assert.deepEqual(target.config.wisdom.versions[1].match, [
            { headers: { [ops.INSPECT_HEADER]: { exact: "wisdom" } } },
        ]);
        assert.deepEqual(target.config.wisdom.rollout, { iterations: 2, interval: "1s" });
    });

    it("rolls a failing mirror back to mirrorPercent 0", async () => {
        const config: ops.ReleasesConfig = {
            wisdom: httpbin(
                [appVersion({ name: "wisdom-blue" }), appVersion({ name: "wisdom-green", mirrorPercent: 50 })],
                { strategy: "mirror", rollout: { interval: "1s" } },
            ),
        };
        const target = new ConfigTarget(config);
        const r = runner(scripted("fail").judge);
        const last = await r.drive(await r.create(target, "alice"), target);
        assert.equal(last.status, "rolled-back");
        assert.equal(target.config.wisdom.versions[1].mirrorPercent, 0);
    });
});
