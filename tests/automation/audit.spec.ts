import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { AuditLog, AuditRecord, AuditWriteError } from "../../automation/audit";

const record = (n: number): Omit<AuditRecord, "time"> => ({
    requestId: `r${n}`,
    event: "intent",
    who: "ci-bot",
    method: "POST",
    path: "/stacks/dev/releases/wisdom/apply",
    stack: "dev",
    release: "wisdom",
    operation: "step",
    request: { operation: "step", points: n },
});

describe("audit log", () => {
    let dir: string;
    let file: string;

    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "audit-"));
        file = path.join(dir, "audit.log");
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("is created at open, readable by its owner only", () => {
        AuditLog.open(file);
        assert.equal(fs.statSync(file).size, 0);
        assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    });

    it("refuses to open where it cannot write", () => {
        assert.throws(() => AuditLog.open(path.join(dir, "missing", "audit.log")), AuditWriteError);
        assert.throws(() => AuditLog.open(dir), /cannot be written \(EISDIR\)/);
    });

    it("appends one JSON line per record, time first, and keeps earlier lines", async () => {
        fs.writeFileSync(file, '{"earlier":true}\n');
        const log = AuditLog.open(file);
        await log.append(record(1));
        await log.append({ ...record(2), event: "result", status: 200, result: "applied" });
        const lines = fs.readFileSync(file, "utf8").trim().split("\n");
        assert.equal(lines.length, 3);
        assert.deepEqual(JSON.parse(lines[0]), { earlier: true });
        const [first, second] = lines.slice(1).map((l) => JSON.parse(l));
        assert.deepEqual(Object.keys(first).slice(0, 3), ["time", "event", "requestId"]);
        assert.ok(Math.abs(Date.now() - Date.parse(first.time)) < 60000);
        assert.deepEqual({ ...first, time: undefined }, { ...record(1), time: undefined });
        assert.equal(second.result, "applied");
    });

    it("keeps concurrent records whole", async () => {
        const log = AuditLog.open(file);
        await Promise.all(Array.from({ length: 50 }, (_, i) => log.append(record(i))));
        const ids = fs
            .readFileSync(file, "utf8")
            .trim()
            .split("\n")
            .map((l) => (JSON.parse(l) as AuditRecord).requestId)
            .sort();
        assert.deepEqual(ids, Array.from({ length: 50 }, (_, i) => `r${i}`).sort());
    });

    it("flushes each record to disk before it resolves", async () => {
        const log = AuditLog.open(file);
        const events: string[] = [];
        const open = fs.promises.open;
        // Watches the handle the writer opens: the write must be followed by a datasync.
        fs.promises.open = (async (...args: Parameters<typeof open>) => {
            const handle = await open(...args);
            const { appendFile, datasync } = handle;
            handle.appendFile = (...a: Parameters<typeof appendFile>) => {
                events.push("write");
                return appendFile.apply(handle, a);
            };
            handle.datasync = () => {
                events.push("datasync");
                return datasync.apply(handle);
            };
            return handle;
        }) as typeof open;
        try {
            await log.append(record(1));
            events.push("resolved");
        } finally {
            fs.promises.open = open;
        }
        assert.deepEqual(events, ["write", "datasync", "resolved"]);
    });

    it("fails loudly when a record cannot be written", async () => {
        const log = AuditLog.open(file);
        fs.rmSync(dir, { recursive: true });
        await assert.rejects(log.append(record(1)), (error: Error) => {
            assert.ok(error instanceof AuditWriteError);
            assert.match(error.message, /ENOENT/);
            return true;
        });
    });

    it("follows a rotation: a renamed log is not written again", async () => {
        const log = AuditLog.open(file);
        await log.append(record(1));
        fs.renameSync(file, `${file}.1`);
        await log.append(record(2));
        assert.equal(fs.readFileSync(`${file}.1`, "utf8").trim().split("\n").length, 1);
        assert.equal(JSON.parse(fs.readFileSync(file, "utf8")).requestId, "r2");
    });
});
