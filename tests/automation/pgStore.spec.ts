import * as assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";
import { inspect } from "node:util";

import { Client } from "pg";

import { LockBusyError } from "../../automation/journal";
import { PostgresStore } from "../../automation/pgStore";
import { LocalPostgres, startPostgres } from "../../e2e/postgres";

const ROOT = path.resolve(__dirname, "..", "..");

/**
 * Another replica in another process: takes the stack's advisory lock and writes a journal with
 * `pg` directly, then waits to be killed.
 */
function holder(pg: LocalPostgres, stack: string): Promise<ChildProcess> {
    const script = `
        const { Client } = require("pg");
        const os = require("node:os");
        (async () => {
            const client = new Client({ connectionString: process.env.TEST_PG_URL });
            await client.connect();
            const { rows } = await client.query(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked", ["model-release:" + ${JSON.stringify(stack)}]);
            if (!rows[0].locked) throw new Error("lock busy");
            await client.query(
                "INSERT INTO model_release_journal (stack, id, operation, release, principal, pid, hostname, started_at, phase) " +
                "VALUES ($1, 'crashed-op', 'promote', 'wisdom', 'bob', $2, $3, now(), 'up')",
                [${JSON.stringify(stack)}, process.pid, os.hostname()]);
            process.stdout.write("locked\\n");
            setInterval(() => undefined, 1000);
        })().catch((e) => { console.error(e.message); process.exit(1); });`;
    const child = spawn(process.execPath, ["-e", script], {
        cwd: ROOT,
        env: { ...process.env, ...pg.env, TEST_PG_URL: pg.url },
        stdio: ["ignore", "pipe", "inherit"],
    });
    return new Promise((resolve, reject) => {
        child.stdout?.on("data", (c: Buffer) => c.toString().includes("locked") && resolve(child));
        child.on("exit", (code) => reject(new Error(`holder exited ${code}`)));
    });
}

/** A plain connection to the test database, for looking behind the store's back. */
async function admin(pg: LocalPostgres): Promise<Client> {
    const client = new Client({
        host: "127.0.0.1",
        port: pg.port,
        user: "model_release",
        database: "model_release",
        password: pg.env.PGPASSWORD,
    });
    client.on("error", () => undefined);
    await client.connect();
    return client;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
        promise.finally(() => clearTimeout(timer)),
        new Promise<T>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
        }),
    ]);
}

describe("PostgreSQL stack coordination (real PostgreSQL)", function () {
    this.timeout(60_000);
    let pg: LocalPostgres;
    const stores: PostgresStore[] = [];

    /** A replica: its own store (pool) on the test database. */
    async function replica(): Promise<PostgresStore> {
        const store = await PostgresStore.connect(pg.url, pg.env);
        stores.push(store);
        return store;
    }

    before(async () => {
        // No skip: without PostgreSQL this fails, naming scripts/postgres.sh --install.
        pg = await startPostgres();
    });

    after(async () => {
        await Promise.all(stores.map((s) => s.close()));
        await pg?.stop();
    });

    it("migrates idempotently, also two replicas at once", async () => {
        const [a, b] = await Promise.all([replica(), replica()]);
        await a.migrate();
        await Promise.all([a.migrate(), b.migrate()]);
        assert.deepEqual(await a.operations({ stack: "nothing-yet" }), []);
        assert.equal(a.where, `postgres 127.0.0.1:${pg.port}/model_release`);
    });

    it("one operation per stack across replicas: the other gets busy naming it; other stacks go on", async () => {
        const [a, b] = [await replica(), await replica()];
        const mine = a.coordinator("org/proj/busy");
        const release = await mine.lock(() => assert.fail("lock lost"));
        const entry = await mine.begin("promote", "wisdom", "alice");
        try {
            const theirs = b.coordinator("org/proj/busy");
            await assert.rejects(
                theirs.lock(() => undefined),
                (e: unknown) => {
                    assert.ok(e instanceof LockBusyError);
                    assert.match(
                        e.message,
                        new RegExp(
                            `^promote of wisdom by alice \\(pid ${process.pid} on ${os.hostname()}, since ${entry.startedAt}, edit\\) is running$`,
                        ),
                    );
                    assert.deepEqual(e.holder, entry);
                    return true;
                },
            );
            // The holder is alive, seen from either replica.
            assert.equal(await theirs.running(entry), true);
            assert.equal(await mine.running(entry), true);

            // Another stack locks at the same time.
            const other = await b.coordinator("org/proj/other").lock(() => assert.fail("lock lost"));
            await other();
        } finally {
            await mine.end(entry, { result: "applied" });
            await release();
        }
        // Released: the other replica gets it now.
        const theirs = await b.coordinator("org/proj/busy").lock(() => assert.fail("lock lost"));
        assert.equal(await a.coordinator("org/proj/busy").running(entry), true, "held, by b now");
        await theirs();
        assert.equal(await a.coordinator("org/proj/busy").running(entry), false, "nobody holds it");
    });

    it("journal round trip; the operation record keeps result, plan and timing", async () => {
        const store = await replica();
        const stack = "org/proj/journal";
        const coordinator = store.coordinator(stack);
        const release = await coordinator.lock(() => assert.fail("lock lost"));
        try {
            const entry = await coordinator.begin("step", "wisdom", "cli@host");
            assert.deepEqual(await coordinator.readJournal(), entry);
            await assert.rejects(
                coordinator.begin("step", "other", "eve"),
                /already has the journal of step of wisdom/,
            );

            const [running] = await store.operations({ stack });
            assert.equal(running.id, entry.id);
            assert.equal(running.result, undefined);
            assert.equal(running.finishedAt, undefined);
            assert.equal(running.replica, `${os.hostname()}:${process.pid}`);

            await coordinator.advance(entry, "up");
            assert.equal(entry.phase, "up");
            assert.deepEqual(await coordinator.readJournal(), { ...entry, phase: "up" });
            assert.equal((await store.operations({ stack }))[0].phase, "up");

            const plan = { changes: 2, steps: [{ weight: 10 }, { weight: 100 }], traffic: { before: 0, after: 10 } };
            await coordinator.end(entry, { result: "applied", detail: "ok", plan });
            assert.equal(await coordinator.readJournal(), undefined);
            const [done] = await store.operations({ stack });
            assert.deepEqual(
                { ...done, finishedAt: undefined },
                {
                    id: entry.id,
                    stack,
                    release: "wisdom",
                    operation: "step",
                    principal: "cli@host",
                    replica: `${os.hostname()}:${process.pid}`,
                    startedAt: entry.startedAt,
                    finishedAt: undefined,
                    phase: "up",
                    result: "applied",
                    detail: "ok",
                    plan,
                },
            );
            assert.ok(done.finishedAt && done.finishedAt >= done.startedAt, "finished after it started");

            // A recovery (no outcome) marks an unfinished operation interrupted.
            const crashed = await coordinator.begin("rollback", "wisdom", "bob");
            await coordinator.end(crashed);
            const [interrupted] = await store.operations({ stack, limit: 1 });
            assert.equal(interrupted.id, crashed.id);
            assert.equal(interrupted.result, "interrupted");
            assert.equal(interrupted.plan, undefined);
            assert.equal((await store.operations({ stack })).length, 2);
        } finally {
            await release();
        }
    });

    it("the operations log is per stack, oldest first, committed when log() returns", async () => {
        const [a, b] = [await replica(), await replica()];
        const stack = "org/proj/log";
        const coordinator = a.coordinator(stack);
        const base = { id: "op-1", operation: "step", release: "wisdom", principal: "cli@host" };
        const started = await coordinator.log({ ...base, event: "started" });
        assert.equal(started.stack, stack);
        assert.equal(started.detail, undefined);
        await a.coordinator("org/proj/elsewhere").log({ ...base, event: "started" });
        await coordinator.log({ ...base, event: "failed", detail: "boom" });
        await coordinator.log({ ...base, event: "recovered" });
        // Read by another replica: on the server already.
        const records = await b.coordinator(stack).records();
        assert.deepEqual(
            records.map((r) => `${r.event} ${r.stack} ${r.detail ?? "-"}`),
            [`started ${stack} -`, `failed ${stack} boom`, `recovered ${stack} -`],
        );
        assert.deepEqual(records[0], started);
        assert.ok(records.every((r, i) => i === 0 || r.time >= records[i - 1].time));
    });

    it("a replica killed with SIGKILL cannot keep the lock; its journal is left for recovery", async () => {
        const stack = "org/proj/crash";
        const store = await replica();
        const coordinator = store.coordinator(stack);
        const child = await holder(pg, stack);
        try {
            await assert.rejects(
                coordinator.lock(() => undefined),
                /promote of wisdom by bob \(pid \d+ .*, up\) is running/,
            );
            const entry = await coordinator.readJournal();
            assert.ok(entry);
            assert.equal(await coordinator.running(entry), true);
        } finally {
            child.kill("SIGKILL");
        }
        await new Promise((resolve) => child.once("exit", resolve));

        // The server drops the dead connection's lock at once (its socket closed with the process).
        const started = Date.now();
        let release: (() => Promise<void>) | undefined;
        while (!release) {
            release = await coordinator
                .lock(() => assert.fail("lock lost"))
                .catch((e: unknown) => {
                    assert.ok(e instanceof LockBusyError);
                    return undefined;
                });
            if (!release) await new Promise((resolve) => setTimeout(resolve, 100));
            assert.ok(Date.now() - started < 5_000, "the lock is free within 5 s of the kill");
        }
        const left = await coordinator.readJournal();
        try {
            assert.ok(left);
            assert.equal(left.id, "crashed-op");
            assert.equal(left.pid, child.pid);
            assert.equal(left.phase, "up");
            // We hold the lock now, and the entry is not ours: its operation is not running.
            assert.equal(await coordinator.running(left), false);
        } finally {
            await release();
        }
        // Nor is it for another replica, with nobody holding the lock; then it is recovered.
        assert.equal(await (await replica()).coordinator(stack).running(left), false);
        await coordinator.end(left);
        assert.equal(await coordinator.readJournal(), undefined);
    });

    it("calls onLost when the lock's connection is terminated; the lock is free again", async () => {
        const stack = "org/proj/lost";
        const [a, b] = [await replica(), await replica()];
        let lostError: (error: Error) => void = () => undefined;
        const lost = new Promise<Error>((resolve) => (lostError = resolve));
        const release = await a.coordinator(stack).lock((error) => lostError(error));
        const client = await admin(pg);
        try {
            const { rows } = await client.query<{ pid: number }>(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()",
            );
            assert.equal(rows.length, 1, "only our lock is held");
            await client.query("SELECT pg_terminate_backend($1)", [rows[0].pid]);
        } finally {
            await client.end();
        }
        const error = await withTimeout(lost, 10_000, "onLost");
        assert.match(error.message, /lost the lock of stack org\/proj\/lost/);
        await release(); // tolerates the dead connection
        const again = await b.coordinator(stack).lock(() => assert.fail("lock lost"));
        await again();
    });

    it("never shows the password: not in the URL, where, errors or the store", async () => {
        const password = pg.env.PGPASSWORD;
        assert.ok(password.length >= 20);
        assert.ok(!pg.url.includes(password));
        const store = await replica();
        assert.ok(!store.where.includes(password));
        assert.ok(!inspect(store, { depth: 8, showHidden: true }).includes(password));

        const coordinator = store.coordinator("org/proj/secret");
        const release = await coordinator.lock(() => undefined);
        const busy = await store
            .coordinator("org/proj/secret")
            .lock(() => undefined)
            .then(
                () => assert.fail("locked twice"),
                (e: unknown) => e as Error,
            );
        await release();
        assert.ok(!`${busy.message} ${inspect(busy)}`.includes(password));

        // Wrong password, wrong port, a password in the URL: errors that name the database only.
        const wrong = `${password}-wrong`;
        const failures = await Promise.all([
            PostgresStore.connect(pg.url, { PGPASSWORD: wrong }).then(
                () => assert.fail("connected with a wrong password"),
                (e: unknown) => e as Error,
            ),
            PostgresStore.connect(pg.url.replace(`:${pg.port}/`, ":1/"), pg.env).then(
                () => assert.fail("connected to port 1"),
                (e: unknown) => e as Error,
            ),
            PostgresStore.connect(pg.url.replace("model_release@", `model_release:${password}@`), pg.env).then(
                () => assert.fail("accepted a password in the URL"),
                (e: unknown) => e as Error,
            ),
        ]);
        assert.match(failures[0].message, /password authentication failed/);
        assert.match(failures[1].message, /ECONNREFUSED/);
        assert.match(failures[2].message, /contains a password: pass it in PGPASSWORD/);
        for (const failure of failures) {
            const shown = `${failure.message} ${inspect(failure)}`;
            assert.ok(!shown.includes(password), shown);
            assert.ok(!shown.includes(wrong), shown);
        }
    });
});
