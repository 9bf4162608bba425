import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { Client } from "pg";

import type { CheckResult } from "../../automation/analysis";
import { PostgresRolloutStore } from "../../automation/pgRollouts";
import { PostgresStore } from "../../automation/pgStore";
import {
    FileRolloutStore,
    RolloutExistsError,
    RolloutJob,
    RolloutOwnershipError,
    RolloutStatus,
    RolloutStore,
    newRolloutJob,
    ownerIsDead,
    processOwner,
} from "../../automation/rolloutJobs";
import { LocalPostgres, startPostgres } from "../../e2e/postgres";

/** Owners on other hosts: alive as far as this host can tell, so only a stale heartbeat frees their jobs. */
const A = "replica-a.example:101";
const B = "replica-b.example:202";
const C = "replica-c.example:303";
const HOUR = 3_600_000;

function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `hostname:pid` of a process of this host that has exited. */
function deadOwner(): string {
    const child = spawnSync(process.execPath, ["-e", "0"]);
    assert.ok(child.pid, "spawned a node process");
    const owner = `${os.hostname()}:${child.pid}`;
    assert.ok(ownerIsDead(owner), `${owner} is dead`);
    return owner;
}

function newJob(stack: string, release = "wisdom", createdAt?: string): RolloutJob {
    const job = newRolloutJob({
        stack,
        release,
        principal: "alice@example.com",
        steps: [10, 50, 100],
        iterations: 3,
        percent: 0,
    });
    return createdAt ? { ...job, createdAt } : job;
}

/** The document as its writer gave it: without what the store sets (owner, heartbeat, updatedAt). */
function doc(job: RolloutJob): Partial<RolloutJob> {
    const copy: Partial<RolloutJob> = { ...job };
    delete copy.owner;
    delete copy.heartbeatAt;
    delete copy.updatedAt;
    return copy;
}

/** The fulfilled values and the rejection reasons of settled promises. */
function settled<T>(results: PromiseSettledResult<T>[]): { won: T[]; lost: unknown[] } {
    return {
        won: results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : [])),
        lost: results.flatMap((r) => (r.status === "rejected" ? [r.reason] : [])),
    };
}

function isOwnershipError(owner: string | undefined) {
    return (e: unknown) => {
        assert.ok(e instanceof RolloutOwnershipError, String(e));
        assert.match(e.message, new RegExp(`is driven by ${owner ?? "nobody"}, not by this process$`));
        return true;
    };
}

describe("rollout job stores", function () {
    this.timeout(30_000);
    let pg: LocalPostgres;
    /** Two replicas' connections to the one test database. */
    let replicas: PostgresStore[] = [];
    const dirs: string[] = [];

    before(async () => {
        // No skip: without PostgreSQL this fails, naming scripts/postgres.sh --install.
        pg = await startPostgres();
        replicas = await Promise.all([PostgresStore.connect(pg.url, pg.env), PostgresStore.connect(pg.url, pg.env)]);
    });

    after(async () => {
        await Promise.all(replicas.map((r) => r.close()));
        await pg?.stop();
        for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
    });

    /** Two processes' views of one store (for PostgreSQL: two replicas, each with its own pool). */
    function open(kind: "file" | "postgres"): [RolloutStore, RolloutStore] {
        if (kind === "postgres") return [new PostgresRolloutStore(replicas[0]), new PostgresRolloutStore(replicas[1])];
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-store-"));
        dirs.push(dir);
        return [new FileRolloutStore(dir), new FileRolloutStore(dir)];
    }

    for (const kind of ["file", "postgres"] as const) {
        describe(kind === "file" ? "FileRolloutStore" : "PostgresRolloutStore (real PostgreSQL)", () => {
            let a: RolloutStore;
            let b: RolloutStore;
            /** A stack of this test only (the PostgreSQL database is shared by all tests). */
            let stack: string;

            beforeEach(() => {
                [a, b] = open(kind);
                stack = `org/proj/${randomUUID().slice(0, 8)}`;
            });

            it("create, then get: owner and heartbeat set by the store, the document (events, steps, checks) round-trips", async () => {
                const checks: CheckResult[] = [
                    {
                        name: "error-rate",
                        kind: "prometheus",
                        outcome: "pass",
                        value: 0.001,
                        max: 0.01,
                        query: 'sum(rate(errors{release="wisdom"}[5m]))',
                        reason: "0.001 <= max 0.01",
                    },
                    {
                        name: "smoke",
                        kind: "webhook",
                        outcome: "inconclusive",
                        status: 503,
                        reason: "HTTP 503 – “ünïcode”",
                    },
                ];
                const job: RolloutJob = {
                    ...newJob(stack),
                    phase: "wait",
                    step: 1,
                    percent: 50,
                    startPercent: 5,
                    failures: 1,
                    waitUntil: "2030-01-01T00:00:30.000Z",
                    checks,
                    events: [
                        { time: "2030-01-01T00:00:00.000Z", event: "started", detail: "steps 10, 50, 100" },
                        { time: "2030-01-01T00:00:01.000Z", event: "step", step: 1, percent: 10, operationId: "op-1" },
                        { time: "2030-01-01T00:00:02.000Z", event: "judged", step: 1, percent: 10, checks },
                    ],
                    // Not the writer's to set: the store's.
                    owner: "somebody-else:1",
                    heartbeatAt: "2000-01-01T00:00:00.000Z",
                };
                const before = Date.now();
                const created = await a.create(job, A);
                const after = Date.now();
                assert.equal(created.owner, A);
                assert.ok(created.heartbeatAt);
                const beat = Date.parse(created.heartbeatAt);
                assert.ok(beat >= before - 1_000 && beat <= after + 1_000, `heartbeat ${created.heartbeatAt} is now`);
                assert.deepEqual(doc(created), doc(job));

                // Another process reads the same.
                assert.deepEqual(await b.get(job.id), created);
                assert.equal(await b.get(randomUUID()), undefined);
            });

            it("list filters by stack, release and active (stacking), newest first", async () => {
                const other = `${stack}-other`;
                const at = (s: number) => new Date(Date.UTC(2030, 0, 1, 0, 0, s)).toISOString();
                const old = await a.create(newJob(stack, "wisdom", at(1)), A);
                await a.save({ ...old, status: "promoted", phase: "done" }, A);
                const current = await a.create(newJob(stack, "wisdom", at(2)), A);
                const sibling = await a.create(newJob(stack, "folly", at(3)), B);
                const elsewhere = await a.create(newJob(other, "wisdom", at(4)), A);
                const ids = async (filter?: Parameters<RolloutStore["list"]>[0]) =>
                    (await b.list(filter)).map((j) => j.id);

                assert.deepEqual(await ids({ stack }), [sibling.id, current.id, old.id]);
                assert.deepEqual(await ids({ stack, active: false }), [sibling.id, current.id, old.id]);
                assert.deepEqual(await ids({ stack, release: "wisdom" }), [current.id, old.id]);
                assert.deepEqual(await ids({ stack, active: true }), [sibling.id, current.id]);
                assert.deepEqual(await ids({ stack, release: "wisdom", active: true }), [current.id]);
                assert.deepEqual(await ids({ stack, release: "nothing" }), []);
                assert.deepEqual(await ids({ stack: other }), [elsewhere.id]);

                // A release filter alone spans stacks; no filter lists everything.
                const wisdom = await ids({ release: "wisdom" });
                for (const id of [elsewhere.id, current.id, old.id]) assert.ok(wisdom.includes(id));
                assert.ok(!wisdom.includes(sibling.id));
                const all = await ids();
                for (const id of [elsewhere.id, sibling.id, current.id, old.id]) assert.ok(all.includes(id));

                // Whole jobs, as get() has them: owner and heartbeat too.
                const [folly] = await b.list({ stack, release: "folly" });
                assert.equal(folly.owner, B);
                assert.deepEqual(folly, await b.get(sibling.id));
                assert.equal((await b.list({ stack, release: "wisdom" }))[1].status, "promoted");
            });

            it("one active rollout per release: a second create is refused naming the first, until it ends", async () => {
                const first = await a.create(newJob(stack), A);
                await assert.rejects(b.create(newJob(stack), B), (e: unknown) => {
                    assert.ok(e instanceof RolloutExistsError, String(e));
                    assert.equal(e.existing.id, first.id);
                    assert.equal(e.existing.owner, A);
                    assert.match(
                        e.message,
                        new RegExp(`of stack ${stack} already has an active rollout ${first.id} \\(running, step 1\\)`),
                    );
                    return true;
                });
                // Paused and holding are active as well.
                await a.save({ ...first, status: "holding" }, A);
                await assert.rejects(b.create(newJob(stack), B), (e: unknown) => {
                    assert.ok(e instanceof RolloutExistsError, String(e));
                    assert.equal(e.existing.status, "holding");
                    return true;
                });
                // Other releases of the stack, and the release in other stacks, are independent.
                await b.create(newJob(stack, "folly"), B);
                await b.create(newJob(`${stack}-other`), B);

                // Once it ended, the release gets a new rollout.
                await a.save({ ...first, status: "promoted", phase: "done" }, A);
                const second = await b.create(newJob(stack), B);
                assert.equal(second.owner, B);
                assert.deepEqual(
                    (await a.list({ stack, release: "wisdom", active: true })).map((j) => j.id),
                    [second.id],
                );
                assert.equal((await a.list({ stack, release: "wisdom" })).length, 2);
                assert.equal((await a.get(first.id))?.status, "promoted");
            });

            it("two concurrent creates for one release: exactly one succeeds, the other names it", async () => {
                for (let round = 0; round < 5; round++) {
                    const release = `race-${round}`;
                    const { won, lost } = settled(
                        await Promise.allSettled([
                            a.create(newJob(stack, release), A),
                            b.create(newJob(stack, release), B),
                        ]),
                    );
                    assert.equal(won.length, 1, `round ${round}: ${won.length} creates succeeded (${String(lost)})`);
                    assert.ok(lost[0] instanceof RolloutExistsError, String(lost[0]));
                    assert.equal(lost[0].existing.id, won[0].id);
                    assert.deepEqual(
                        (await a.list({ stack, release, active: true })).map((j) => j.id),
                        [won[0].id],
                    );
                }
            });

            it("save: refused for a non-owner; the owner's save writes status, document and heartbeat", async () => {
                const created = await a.create(newJob(stack), A);
                await assert.rejects(b.save({ ...created, status: "cancelled" }, B), isOwnershipError(A));
                assert.deepEqual(await a.get(created.id), created, "unchanged by the refused save");

                await sleep(15);
                const next: RolloutJob = {
                    ...created,
                    status: "paused",
                    phase: "judge",
                    step: 1,
                    percent: 10,
                    failures: 1,
                    reason: "waiting for a person",
                    events: [{ time: new Date().toISOString(), event: "paused", step: 2, detail: "paused by bob" }],
                    // The owner argument counts, and the store's clock.
                    owner: B,
                    heartbeatAt: "2000-01-01T00:00:00.000Z",
                };
                const saved = await a.save(next, A);
                assert.equal(saved.owner, A);
                assert.ok(saved.heartbeatAt && created.heartbeatAt);
                assert.ok(saved.heartbeatAt > created.heartbeatAt, `${saved.heartbeatAt} > ${created.heartbeatAt}`);
                assert.ok(saved.updatedAt > created.updatedAt, `${saved.updatedAt} > ${created.updatedAt}`);
                assert.deepEqual(doc(saved), doc(next));
                assert.deepEqual(await b.get(created.id), saved);
                assert.deepEqual(
                    (await b.list({ stack, active: true })).map((j) => j.status),
                    ["paused"],
                );

                // touch() is the owner's heartbeat too.
                await sleep(15);
                assert.equal(await a.touch(created.id, A), undefined);
                const touched = await b.get(created.id);
                assert.ok(touched?.heartbeatAt && touched.heartbeatAt > saved.heartbeatAt, "touch moved the heartbeat");
                assert.deepEqual(doc(touched), doc(saved));
            });

            it("request and touch: the owner sees a request until it records handling it; its older copies keep it", async () => {
                const created = await a.create(newJob(stack), A);
                assert.equal(await b.request(randomUUID(), "cancel", "bob"), undefined, "unknown job");
                assert.equal(await a.touch(created.id, A), undefined, "nothing requested yet");
                await assert.rejects(b.touch(created.id, B), isOwnershipError(A));
                await assert.rejects(b.touch(randomUUID(), B), isOwnershipError(undefined));

                const before = Date.now();
                const requested = await b.request(created.id, "cancel", "bob");
                assert.ok(requested?.requested);
                const cancel = requested.requested;
                assert.equal(cancel.action, "cancel");
                assert.equal(cancel.by, "bob");
                assert.ok(Date.parse(cancel.at) >= before - 1_000 && Date.parse(cancel.at) <= Date.now() + 1_000);
                assert.equal(requested.owner, A, "a request does not take the job");
                assert.equal(requested.status, "running");
                assert.deepEqual((await a.get(created.id))?.requested, cancel);
                assert.deepEqual(await a.touch(created.id, A), cancel);

                // The owner saves its copy from before the request: the request survives ...
                const stale = await a.save({ ...created, step: 1, percent: 10 }, A);
                assert.equal(stale.step, 1);
                assert.deepEqual(stale.requested, cancel);
                // ... and an older one in the owner's copy loses to it.
                const older = await a.save(
                    { ...stale, requested: { action: "promote", by: "eve", at: "2000-01-01T00:00:00.000Z" } },
                    A,
                );
                assert.deepEqual(older.requested, cancel);
                assert.deepEqual((await b.get(created.id))?.requested, cancel);
                assert.deepEqual(await a.touch(created.id, A), cancel, "not handled yet");

                // Handled: no longer pending.
                const handled = await a.save({ ...older, handledRequestAt: cancel.at, status: "paused" }, A);
                assert.equal(handled.handledRequestAt, cancel.at);
                assert.equal(await a.touch(created.id, A), undefined);

                // A newer request is pending again (also on a paused job).
                await sleep(5);
                const promote = (await b.request(created.id, "promote", "carol"))?.requested;
                assert.ok(promote && promote.at > cancel.at, "a newer request");
                assert.equal(promote.action, "promote");
                assert.deepEqual(await a.touch(created.id, A), promote);

                // Once ended, requests are refused and the last one stays.
                await a.save({ ...handled, handledRequestAt: promote.at, status: "promoted", phase: "done" }, A);
                assert.equal(await b.request(created.id, "cancel", "bob"), undefined, "ended job");
                const ended = await b.get(created.id);
                assert.deepEqual(ended?.requested, promote);
                assert.equal(ended?.status, "promoted");
                await assert.rejects(b.touch(created.id, B), isOwnershipError(A));
            });

            it("claim: not while a live owner's heartbeat is fresh; once stale, the claimer is the only owner", async () => {
                const created = await a.create(newJob(stack), A);
                assert.equal(await b.claim(created.id, B, 60_000), undefined);
                assert.equal((await b.get(created.id))?.owner, A);

                await sleep(60);
                assert.equal(await b.claim(created.id, B, 60_000), undefined, "still within staleMs");
                const claimed = await b.claim(created.id, B, 30);
                assert.ok(claimed, "a heartbeat older than staleMs is claimable");
                assert.equal(claimed.owner, B);
                assert.ok(claimed.heartbeatAt && created.heartbeatAt && claimed.heartbeatAt > created.heartbeatAt);
                assert.deepEqual(doc(claimed), doc(created));
                assert.deepEqual(await a.get(created.id), claimed);

                // The old owner is out: no save, no heartbeat, no release, no claiming back.
                await assert.rejects(a.save({ ...created, step: 1 }, A), isOwnershipError(B));
                await assert.rejects(a.touch(created.id, A), isOwnershipError(B));
                await a.release(created.id, A);
                assert.equal(await a.claim(created.id, A, 60_000), undefined);
                assert.equal((await a.get(created.id))?.owner, B);

                // The new one drives it; claiming its own job again is fine.
                assert.equal(await b.touch(created.id, B), undefined);
                const saved = await b.save({ ...claimed, step: 1 }, B);
                assert.equal(saved.step, 1);
                assert.equal(saved.owner, B);
                assert.equal((await b.claim(created.id, B, 60_000))?.owner, B);
            });

            it("claim: a job of a dead process on this host at once, not one of a live one", async () => {
                const dead = deadOwner();
                const orphan = await a.create(newJob(stack), dead);
                const alive = await a.create(newJob(stack, "folly"), processOwner());
                assert.equal(await b.claim(alive.id, B, HOUR), undefined, "this process is alive");
                const claimed = await b.claim(orphan.id, B, HOUR);
                assert.equal(claimed?.owner, B);
                await assert.rejects(a.save(orphan, dead), isOwnershipError(B));
            });

            it("release: only by the owner; the job stays active, ownerless and claimable by anyone", async () => {
                const created = await a.create(newJob(stack), A);
                await b.release(created.id, B);
                assert.equal((await b.get(created.id))?.owner, A, "not B's to release");

                await a.release(created.id, A);
                const released = await b.get(created.id);
                assert.ok(released);
                assert.ok(!("owner" in released), "no owner");
                assert.equal(released.status, "running");
                assert.deepEqual(doc(released), doc(created));
                assert.deepEqual(
                    (await b.list({ stack, active: true })).map((j) => j.id),
                    [created.id],
                );
                await assert.rejects(a.save(created, A), isOwnershipError(undefined));
                await assert.rejects(a.touch(created.id, A), isOwnershipError(undefined));
                // Still the active rollout of its release.
                await assert.rejects(b.create(newJob(stack), B), RolloutExistsError);

                assert.equal((await b.claim(created.id, B, HOUR))?.owner, B);
                assert.equal((await b.save({ ...created, step: 2 }, B)).step, 2);
            });

            it("terminal jobs are never claimable: not ownerless, not a dead process's, not by their owner", async () => {
                const dead = deadOwner();
                const ended: RolloutStatus[] = ["promoted", "rolled-back", "cancelled", "failed", "aborted"];
                for (const status of ended) {
                    const released = await a.create(newJob(stack, `${status}-released`), A);
                    await a.save({ ...released, status, phase: "done" }, A);
                    await a.release(released.id, A);
                    const orphan = await a.create(newJob(stack, `${status}-orphan`), dead);
                    await a.save({ ...orphan, status, phase: "done" }, dead);

                    assert.equal(await b.claim(released.id, B, 0), undefined, `${status}, released`);
                    assert.equal(await b.claim(orphan.id, B, 0), undefined, `${status}, of a dead process`);
                    assert.equal(await a.claim(orphan.id, dead, 0), undefined, `${status}, by its owner`);
                    assert.equal((await a.get(released.id))?.owner, undefined);
                    assert.equal((await a.get(orphan.id))?.owner, dead);
                }
                assert.equal(await b.claim(randomUUID(), B, 0), undefined, "unknown job");
                assert.deepEqual(await a.list({ stack, active: true }), []);
            });

            it("two concurrent claims of a claimable job: exactly one gets it", async () => {
                const dead = deadOwner();
                for (let round = 0; round < 6; round++) {
                    // Ownerless (released) or of a dead process, by turns.
                    const job = await a.create(newJob(stack, `race-${round}`), round % 2 ? dead : A);
                    if (round % 2 === 0) await a.release(job.id, A);
                    const claims = await Promise.all([a.claim(job.id, C, HOUR), b.claim(job.id, B, HOUR)]);
                    const winners = claims.filter((c): c is RolloutJob => c !== undefined);
                    assert.equal(winners.length, 1, `round ${round}: ${winners.map((w) => w.owner).join(", ")}`);
                    const winner = winners[0].owner;
                    assert.ok(winner === B || winner === C);
                    assert.equal((await a.get(job.id))?.owner, winner);
                    const loser = winner === B ? C : B;
                    await assert.rejects((loser === B ? b : a).save(job, loser), isOwnershipError(winner));
                }
            });
        });
    }

    describe("PostgresRolloutStore rows", () => {
        let store: PostgresRolloutStore;
        let admin: Client;
        let stack: string;

        before(async () => {
            admin = new Client({
                host: "127.0.0.1",
                port: pg.port,
                user: "model_release",
                database: "model_release",
                password: pg.env.PGPASSWORD,
            });
            admin.on("error", () => undefined);
            await admin.connect();
        });
        after(async () => {
            await admin?.end().catch(() => undefined);
        });
        beforeEach(() => {
            store = new PostgresRolloutStore(replicas[0]);
            stack = `org/proj/${randomUUID().slice(0, 8)}`;
        });

        interface RawRow {
            stack: string;
            release: string;
            status: string;
            owner: string | null;
            heartbeat_at: Date | null;
            created_at: Date;
            doc: Record<string, unknown>;
        }
        async function raw(id: string): Promise<RawRow> {
            const { rows } = await admin.query<RawRow>(
                "SELECT stack, release, status, owner, heartbeat_at, created_at, doc FROM model_release_rollouts WHERE id = $1",
                [id],
            );
            assert.equal(rows.length, 1);
            return rows[0];
        }

        it("owner and heartbeat live in columns (the server's clock), status in its column for the unique index", async () => {
            const job = await store.create(
                { ...newJob(stack), owner: "x:1", heartbeatAt: "2000-01-01T00:00:00.000Z" },
                A,
            );
            let row = await raw(job.id);
            assert.equal(row.owner, A);
            assert.equal(row.heartbeat_at?.toISOString(), job.heartbeatAt);
            assert.equal(row.created_at.toISOString(), job.createdAt);
            assert.deepEqual([row.stack, row.release, row.status], [stack, "wisdom", "running"]);
            assert.ok(!("owner" in row.doc) && !("heartbeatAt" in row.doc), JSON.stringify(row.doc));
            assert.equal(row.doc.id, job.id);

            await store.save({ ...job, status: "holding" }, A);
            row = await raw(job.id);
            assert.equal(row.status, "holding");
            assert.equal(row.doc.status, "holding");

            // What get() shows is the row's, changed behind the store's back: an hour-old heartbeat
            // (by the server's clock) of another owner, stale for staleMs of a minute.
            await admin.query(
                "UPDATE model_release_rollouts SET owner = 'replica-z.example:9', heartbeat_at = now() - interval '1 hour' WHERE id = $1",
                [job.id],
            );
            const moved = await store.get(job.id);
            assert.equal(moved?.owner, "replica-z.example:9");
            assert.ok(moved?.heartbeatAt && Math.abs(Date.now() - HOUR - Date.parse(moved.heartbeatAt)) < 60_000);
            assert.equal(await store.claim(job.id, B, 61 * 60_000), undefined, "fresher than 61 minutes");
            assert.equal((await store.claim(job.id, B, 60_000))?.owner, B);
            row = await raw(job.id);
            assert.equal(row.owner, B);
            assert.ok(row.heartbeat_at && Date.now() - row.heartbeat_at.getTime() < 60_000, "claim beat");

            // Released: the owner column is emptied.
            await store.release(job.id, B);
            assert.equal((await raw(job.id)).owner, null);
        });

        it("a save of a job that is not stored is refused", async () => {
            const job = newJob(stack);
            await assert.rejects(store.save(job, A), isOwnershipError(undefined));
            assert.equal(await store.get(job.id), undefined);
        });
    });
});
