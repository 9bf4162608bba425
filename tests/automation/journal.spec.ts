import * as assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { LockBusyError, STALE_MS, StackFiles, ownerAlive, processAlive, staleMs } from "../../automation/journal";

const ROOT = path.resolve(__dirname, "..", "..");

/** Another process that takes the stack's lock and a journal, then waits to be killed. */
function holder(workDir: string, staleMs: number): Promise<ChildProcess> {
    const script = `
        const { StackFiles } = require("./automation/journal");
        const files = new StackFiles(${JSON.stringify(workDir)}, "dev", ${staleMs});
        files.lock(() => undefined).then(() => {
            files.begin("promote", "wisdom", "ops@example");
            process.stdout.write("locked\\n");
            setInterval(() => undefined, 1000);
        });`;
    const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", script], {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "inherit"],
    });
    return new Promise((resolve, reject) => {
        child.stdout?.on("data", (c: Buffer) => c.toString().includes("locked") && resolve(child));
        child.on("exit", (code) => reject(new Error(`holder exited ${code}`)));
    });
}

describe("stack lock, journal and operations log", function () {
    this.timeout(30_000);
    let workDir: string;
    beforeEach(() => {
        workDir = fs.mkdtempSync(path.join(os.tmpdir(), "journal-"));
    });

    it("one holder across processes: the other gets busy naming the running operation", async () => {
        const child = await holder(workDir, 2000);
        try {
            const files = new StackFiles(workDir, "dev", 2000);
            await assert.rejects(
                files.lock(() => undefined),
                (e: unknown) => {
                    assert.ok(e instanceof LockBusyError);
                    assert.match(e.message, new RegExp(`promote of wisdom by ops@example \\(pid ${child.pid} `));
                    return true;
                },
            );
        } finally {
            child.kill("SIGKILL");
        }
    });

    it("a holder killed with SIGKILL cannot keep the lock; its journal is left for recovery", async () => {
        const child = await holder(workDir, 2000);
        child.kill("SIGKILL");
        await new Promise((resolve) => child.once("exit", resolve));
        const files = new StackFiles(workDir, "dev", 2000);
        const started = Date.now();
        let unlock: (() => Promise<void>) | undefined;
        while (!unlock) {
            unlock = await files
                .lock(() => undefined)
                .catch((e: unknown) => {
                    assert.ok(e instanceof LockBusyError);
                    return undefined;
                });
            if (!unlock) await new Promise((resolve) => setTimeout(resolve, 200));
            assert.ok(Date.now() - started < 10_000, "the stale lock is taken over within 10 s");
        }
        const left = files.readJournal();
        assert.equal(left?.operation, "promote");
        assert.equal(left?.pid, child.pid);
        assert.equal(ownerAlive(left!), false);
        await unlock();
    });

    it("journal phases, end, and a flushed operations log", async () => {
        const files = new StackFiles(workDir, "org/proj/dev");
        const entry = files.begin("step", "wisdom", "cli@host");
        assert.equal(files.readJournal()?.phase, "edit");
        files.advance(entry, "up");
        assert.deepEqual(files.readJournal(), { ...entry, phase: "up" });
        assert.ok(files.journalFile.endsWith(path.join(".model-release", "dev.journal.json")));
        files.end();
        assert.equal(files.readJournal(), undefined);
        files.log({ id: entry.id, operation: "step", release: "wisdom", principal: "cli@host", event: "started" });
        files.log({ id: entry.id, operation: "step", release: "wisdom", principal: "cli@host", event: "finished" });
        assert.deepEqual(
            files.records().map((r) => `${r.event} ${r.stack} ${r.operation}`),
            ["started org/proj/dev step", "finished org/proj/dev step"],
        );
        assert.equal(fs.statSync(files.logFile).mode & 0o777, 0o600);
    });

    it("a torn journal still counts as an interrupted operation", () => {
        const files = new StackFiles(workDir, "dev");
        fs.mkdirSync(files.dir, { recursive: true });
        fs.writeFileSync(files.journalFile, '{"id": "x", "oper');
        assert.equal(files.readJournal()?.operation, "unknown");
    });

    it("tells live processes from dead ones; another host's counts as alive", () => {
        assert.equal(processAlive(process.pid, os.hostname()), true);
        assert.equal(processAlive(0, os.hostname()), false);
        assert.equal(processAlive(2 ** 22 + 12345, os.hostname()), false);
        assert.equal(processAlive(2 ** 22 + 12345, "another-host"), true);
    });

    it("takes the stale time from MODEL_RELEASE_LOCK_STALE_MS, refusing nonsense by name", () => {
        assert.equal(staleMs({}), STALE_MS);
        assert.equal(staleMs({ MODEL_RELEASE_LOCK_STALE_MS: "4000" }), 4000);
        for (const bad of ["abc", "1000", "-5000", "4e3", "700000"]) {
            assert.throws(() => staleMs({ MODEL_RELEASE_LOCK_STALE_MS: bad }), /MODEL_RELEASE_LOCK_STALE_MS/);
        }
    });
});
