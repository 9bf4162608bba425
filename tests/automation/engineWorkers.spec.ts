import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import type { EngineEvent } from "@pulumi/pulumi/automation";

import {
    EnginePool,
    EngineQueueFullError,
    EngineRequest,
    WorkerDiedError,
    WorkerRunError,
} from "../../automation/engineWorkers";

/**
 * A stand-in worker entry (the real one runs the Pulumi engine): the stack name says what to do,
 * e.g. `sleep:300`, `fail`, `die`, `orphan` (start a grandchild, then die by SIGKILL).
 */
function fakeWorker(dir: string): string {
    const file = path.join(dir, "worker.js");
    fs.writeFileSync(
        file,
        `
const { spawn } = require("node:child_process");
process.once("message", (request) => {
    const [what, arg] = request.stack.stackName.split(":");
    const started = Date.now();
    if (what === "sleep") {
        process.send({ type: "event", event: { sequence: 1, timestamp: 0, pid: process.pid } });
        setTimeout(() => {
            process.send({ type: "result", result: { changeSummary: { update: 1 }, result: "succeeded", started } }, () => process.exit(0));
        }, Number(arg));
    } else if (what === "fail") {
        process.send({ type: "error", name: "CommandError", message: "the stack is currently locked" }, () => process.exit(0));
    } else if (what === "die") {
        process.kill(process.pid, "SIGKILL");
    } else if (what === "orphan") {
        const child = spawn("sleep", ["60"], { stdio: "ignore", detached: true });
        child.unref();
        require("node:fs").writeFileSync(arg, String(child.pid));
        setTimeout(() => process.kill(process.pid, "SIGKILL"), 100);
    }
});
`,
    );
    return file;
}

function request(stackName: string): EngineRequest {
    return { kind: "up", stack: { stackName } };
}

/** Whether a process runs (a zombie, killed but not yet reaped by its new parent, does not). */
function alive(pid: number): boolean {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return !/^\d+ \(.*\) [ZX]/.test(stat);
    } catch {
        return false;
    }
}

describe("automation/engineWorkers", () => {
    let dir: string;
    let entry: string;

    const pools: EnginePool[] = [];
    /** A pool closed after each test (its spare workers too). */
    const newPool = (options: ConstructorParameters<typeof EnginePool>[0]) => {
        const created = new EnginePool(options);
        pools.push(created);
        return created;
    };

    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "engine-workers-"));
        entry = fakeWorker(dir);
    });
    afterEach(() => pools.splice(0).forEach((p) => p.close()));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("runs each request in its own process and streams its events", async () => {
        const pool = newPool({ size: 2, entry });
        const events: EngineEvent[] = [];
        const [a, b] = await Promise.all([
            pool.run(request("sleep:50"), "a", (e) => events.push(e)),
            pool.run(request("sleep:50"), "b", (e) => events.push(e)),
        ]);
        assert.deepEqual(a.changeSummary, { update: 1 });
        assert.equal(b.result, "succeeded");
        const pids = events.map((e) => (e as unknown as { pid: number }).pid);
        assert.equal(pids.length, 2);
        assert.notEqual(pids[0], pids[1]);
        assert.ok(!pids.includes(process.pid));
    });

    it("keeps a spare worker started ahead of need; a run takes it, and each worker runs once", async () => {
        const pool = newPool({ size: 1, entry, spares: 1 }).warm();
        const [spare] = pool.idle();
        assert.ok(spare > 0);
        const pids: number[] = [];
        await pool.run(request("sleep:1"), "a", (e) => pids.push((e as unknown as { pid: number }).pid));
        assert.deepEqual(pids, [spare], "the run went to the spare");
        const [next] = pool.idle();
        assert.ok(next > 0 && next !== spare, "a new spare replaces it");
        pool.close();
        assert.deepEqual(pool.idle(), []);
        const none = newPool({ size: 1, entry, spares: 0 }).warm();
        assert.deepEqual(none.idle(), []);
    });

    it("runs up to `size` at once and queues the rest in order, with positions", async () => {
        const positions: Record<string, number[]> = {};
        const pool = newPool({
            size: 2,
            queueLimit: 5,
            entry,
            onQueued: (job) => (positions[job.label] ??= []).push(job.position ?? 0),
        });
        const t0 = Date.now();
        const runs = ["a", "b", "c", "d"].map((label) => pool.run(request("sleep:600"), label));
        await new Promise((resolve) => setTimeout(resolve, 200));
        const snap = pool.snapshot();
        assert.deepEqual(
            snap.map((j) => [j.label, j.state, j.position]),
            [
                ["a", "running", undefined],
                ["b", "running", undefined],
                ["c", "queued", 1],
                ["d", "queued", 2],
            ],
        );
        await Promise.all(runs);
        const elapsed = Date.now() - t0;
        // Two waves of 600 ms: not four (serial), not one (unbounded).
        assert.ok(elapsed >= 1_200, `took ${elapsed} ms`);
        assert.ok(elapsed < 2_400 + 3_000, `took ${elapsed} ms`);
        assert.deepEqual(positions.d, [2, 1]);
        assert.deepEqual(pool.snapshot(), []);
    });

    it("refuses a run at once when the queue is full", async () => {
        const pool = newPool({ size: 1, queueLimit: 1, entry });
        const first = pool.run(request("sleep:300"), "first");
        const second = pool.run(request("sleep:10"), "second");
        await assert.rejects(pool.run(request("sleep:10"), "third"), (error: unknown) => {
            assert.ok(error instanceof EngineQueueFullError);
            assert.match(error.message, /all 1 engine workers are busy and 1 runs are queued.*MODEL_RELEASE_WORKERS/);
            return true;
        });
        await Promise.all([first, second]);
    });

    it("passes the worker's error with its name and message", async () => {
        const pool = newPool({ size: 1, entry });
        await assert.rejects(pool.run(request("fail"), "x"), (error: unknown) => {
            assert.ok(error instanceof WorkerRunError);
            assert.equal(error.name, "CommandError");
            assert.match(error.message, /currently locked/);
            return true;
        });
    });

    it("reports a worker that dies, frees its slot, and kills what it started", async () => {
        const pool = newPool({ size: 1, entry });
        await assert.rejects(pool.run(request("die"), "up of stack dev"), (error: unknown) => {
            assert.ok(error instanceof WorkerDiedError);
            assert.match(error.message, /running up of stack dev died \(signal SIGKILL\)/);
            return true;
        });
        const pidFile = path.join(dir, "orphan.pid");
        await assert.rejects(pool.run(request(`orphan:${pidFile}`), "orphan"), WorkerDiedError);
        const orphan = Number(fs.readFileSync(pidFile, "utf8"));
        // The grandchild left its process group (detached) but still carries the worker's mark.
        for (let i = 0; i < 50 && alive(orphan); i++) await new Promise((resolve) => setTimeout(resolve, 20));
        assert.equal(alive(orphan), false, `process ${orphan} outlived its worker`);
        // The slot is free again.
        assert.equal((await pool.run(request("sleep:1"), "after")).result, "succeeded");
    });
});
