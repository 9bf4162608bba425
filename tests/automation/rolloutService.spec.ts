import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import * as ops from "../../automation/operations";
import type { OperationPlan, ReleaseManager, ReleaseStatus } from "../../automation/releases";
import { RolloutRunner, targetOf } from "../../automation/rollout";
import { FileRolloutStore, RolloutJob } from "../../automation/rolloutJobs";
import { RolloutService } from "../../automation/rolloutService";
import { validateReleases } from "../../components/validate";
import { modelVersion, wisdom } from "../components/fixtures";

/**
 * The part of a ReleaseManager a rollout uses, over an in-memory config of record: each
 * operation is the pure edit the manager would preview and apply. Intervals are shrunk to ms.
 */
class ConfigManager {
    operations: string[] = [];
    readonly stack = { stack: { name: "dev" } };
    readonly operationOptions = {};

    constructor(public config: ops.ReleasesConfig) {}

    as(): this {
        return this;
    }

    async recorded(release: string) {
        const [resolved] = validateReleases({ [release]: this.config[release] }, "default");
        if (resolved.rollout) resolved.rollout.intervalSeconds = 0.03;
        return { config: structuredClone(this.config), resolved };
    }

    private apply(operation: string, next: ops.ReleasesConfig): OperationPlan {
        this.config = next;
        this.operations.push(`${operation}:${ops.candidatePercent(next, "wisdom")}`);
        return {
            operation,
            release: "wisdom",
            changes: {},
            steps: [],
            trafficBefore: [],
            trafficAfter: [],
            applied: true,
        };
    }

    async rolloutStep(release: string, percent: number) {
        return this.apply("step", ops.rolloutStep(this.config, release, percent));
    }

    async rolloutAbort(release: string) {
        return this.apply("rollback", ops.rolloutAbort(this.config, release));
    }

    async promote(release: string) {
        return this.apply("promote", ops.promote(this.config, release));
    }

    async status(release: string): Promise<ReleaseStatus> {
        const percents = ops.percentages(this.config, release);
        return {
            release,
            drift: false,
            traffic: this.config[release].versions.map((v, i) => ({
                version: v.name as string,
                role: i === 0 ? "primary" : "candidate",
                percent: percents[i],
                ready: true,
            })) as ReleaseStatus["traffic"],
        };
    }
}

const blueGreen = (onSuccess: "promote" | "hold" = "promote"): ops.ReleasesConfig => ({
    wisdom: wisdom(
        [
            modelVersion("v0", { name: "wisdom-blue", weight: 100 }),
            modelVersion("v1", { name: "wisdom-green", weight: 0 }),
        ],
        { strategy: "blue-green", rollout: { steps: [10, 20], interval: "1s", onSuccess } },
    ),
});

async function until(what: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
    const started = Date.now();
    while (!(await what())) {
        assert.ok(Date.now() - started < timeoutMs, "in time");
        await new Promise((resolve) => setTimeout(resolve, 10));
    }
}

describe("RolloutService", function () {
    let dir: string;
    let store: FileRolloutStore;
    const services: RolloutService[] = [];
    const serviceOf = (manager: ConfigManager, owner?: string) => {
        const service = new RolloutService({
            store,
            managerFor: async () => manager as unknown as ReleaseManager,
            heartbeatMs: 20,
            scanMs: 0,
        });
        if (owner) Object.assign(service.runner, { owner });
        services.push(service);
        return service;
    };

    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-service-"));
        store = new FileRolloutStore(dir);
    });
    afterEach(async () => {
        await Promise.all(services.splice(0).map((s) => s.close()));
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("starts a rollout in the background and answers at once with the job", async () => {
        const manager = new ConfigManager(blueGreen());
        const service = serviceOf(manager);
        const job = await service.start("dev", "wisdom", "alice");
        assert.equal(job.status, "running");
        assert.deepEqual(manager.operations, [], "nothing applied before the answer");
        await until(async () => (await store.get(job.id))?.status === "promoted");
        assert.deepEqual(manager.operations, ["step:10", "step:20", "promote:0"]);
        assert.deepEqual(
            (await service.list("dev", "wisdom")).map((j) => j.id),
            [job.id],
        );
        assert.equal(await service.get("dev", "other", job.id), undefined, "a job is found under its own release only");
    });

    it("a restarted service resumes the rollout its dead predecessor left at a planned step", async () => {
        const manager = new ConfigManager(blueGreen());
        const dead = spawnSync(process.execPath, ["-e", "0"]).pid;
        const before = new RolloutRunner({ store, owner: `${os.hostname()}:${dead}` });
        const job = await before.create(targetOf(manager as unknown as ReleaseManager, "wisdom", "alice", 25), "alice");
        manager.config = ops.rolloutStep(manager.config, "wisdom", 10);
        await store.save({ ...job, percent: 10, phase: "wait", waitUntil: new Date().toISOString() }, before.owner);

        const service = serviceOf(manager);
        await service.startScanning();
        await until(async () => (await store.get(job.id))?.status === "promoted");
        assert.deepEqual(manager.operations, ["step:20", "promote:0"], "step 1 is not applied twice");
        const done = (await store.get(job.id)) as RolloutJob;
        assert.ok(done.events.some((e) => e.event === "resumed"));
    });

    it("a closed service leaves its rollout active and released; another replica takes it over", async () => {
        const manager = new ConfigManager(blueGreen("hold"));
        const first = serviceOf(manager, "replica-a:1");
        const job = await first.start("dev", "wisdom", "alice");
        await until(async () => (await store.get(job.id))?.status === "holding");
        await first.close();
        const left = (await store.get(job.id)) as RolloutJob;
        assert.equal(left.status, "holding");
        assert.equal(left.owner, undefined, "released on close");

        const second = serviceOf(manager, "replica-b:1");
        await second.request("dev", "wisdom", job.id, "promote", "bob");
        await until(async () => (await store.get(job.id))?.status === "promoted");
        assert.match((await store.get(job.id))?.reason ?? "", /promoted by bob/);
        assert.deepEqual(manager.operations, ["step:10", "step:20", "promote:0"]);
    });

    it("a live replica's job is left to it: a request goes through the store", async () => {
        const manager = new ConfigManager(blueGreen("hold"));
        const first = serviceOf(manager, "replica-a:1");
        const job = await first.start("dev", "wisdom", "alice");
        await until(async () => (await store.get(job.id))?.status === "holding");
        const second = serviceOf(manager, "replica-b:1");
        await second.resumeOrphans();
        assert.deepEqual(second.runner.driving, [], "a live owner's job is not taken");
        await second.request("dev", "wisdom", job.id, "cancel", "carol");
        await until(async () => (await store.get(job.id))?.status === "cancelled");
        assert.deepEqual(second.runner.driving, []);
        assert.deepEqual(manager.operations, ["step:10", "step:20", "rollback:0"]);
        await assert.rejects(second.request("dev", "wisdom", job.id, "cancel", "carol"), /has ended/);
    });
});
