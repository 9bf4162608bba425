// The service at platform scale on the real engine: two replicas (separate processes, separate
// clones) share a real PostgreSQL (Pulumi's state backend, the per-stack advisory locks, the
// operation records) and a git remote (the config of record). Different stacks run at once;
// conflicting operations on one stack apply exactly once; a person's `git pull && pulumi up`
// interleaves; a replica killed mid-update is recovered by the other; proposals are reviewed
// branches that apply by fast-forward.
import * as assert from "node:assert/strict";
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { sha256Hex } from "../../automation/auth";
import { ConfigRepo } from "../../automation/gitConfig";
import { PostgresStore } from "../../automation/pgStore";
import { ConflictError, ReleaseManager } from "../../automation/releases";
import { ReleaseStack, changes } from "../../automation/stack";
import { LocalCluster, freePort } from "../../e2e/cluster";
import { engineEnv } from "../../e2e/engine";
import { environment } from "../../e2e/environment";
import { LocalPostgres, startPostgres } from "../../e2e/postgres";
import { POLICY_PACK, defaultRouteWeights, killTree, names } from "./helpers";

const ROOT = path.resolve(__dirname, "..", "..");
const STACKS = { a: "replica-a", b: "replica-b" } as const;
const ADMIN_TOKEN = sha256Hex("model-release-e2e:replicas-admin");

/** The release config of one stack: blue-green Deployments, versions `[label, weight]`. */
function wisdom(namespace: string, versions: [string, number][]): Record<string, unknown> {
    return {
        wisdom: {
            environment: "deployment",
            strategy: "blue-green",
            namespace,
            readiness: { deployment: "available", timeoutSeconds: 60 },
            versions: versions.map(([label, weight]) => ({
                image: "kennethreitz/httpbin",
                weight,
                labels: { "app.kubernetes.io/version": label },
            })),
        },
    };
}

function git(dir: string, ...args: string[]): string {
    return execFileSync("git", args, {
        cwd: dir,
        encoding: "utf8",
        env: { ...process.env, GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" },
    }).trim();
}

/** One service replica: `npm run serve` in its own process group (kill -9 takes its workers). */
class Replica {
    private constructor(
        readonly name: string,
        readonly url: string,
        readonly child: ChildProcess,
        readonly output: string[],
    ) {}

    /** Starts a replica; a port taken meanwhile by another process is retried on a new one. */
    static async start(name: string, root: string, env: NodeJS.ProcessEnv): Promise<Replica> {
        for (let attempt = 1; ; attempt++) {
            try {
                return await Replica.startOnce(name, root, env);
            } catch (error) {
                if (attempt >= 3 || !/EADDRINUSE/.test(String(error))) throw error;
            }
        }
    }

    private static async startOnce(name: string, root: string, env: NodeJS.ProcessEnv): Promise<Replica> {
        const dir = path.join(root, name);
        fs.mkdirSync(dir, { recursive: true });
        const port = await freePort();
        const output: string[] = [];
        const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", "automation/serve.ts"], {
            cwd: ROOT,
            detached: true,
            stdio: ["ignore", "pipe", "pipe"],
            env: {
                ...env,
                PORT: String(port),
                MODEL_RELEASE_WORK_DIR: dir,
                MODEL_RELEASE_AUDIT_LOG: path.join(dir, "audit.log"),
                MODEL_RELEASE_LOG_LEVEL: "warn",
            },
        });
        child.stdout?.on("data", (c: Buffer) => output.push(c.toString()));
        child.stderr?.on("data", (c: Buffer) => output.push(c.toString()));
        const replica = new Replica(name, `http://127.0.0.1:${port}`, child, output);
        const started = Date.now();
        for (;;) {
            assert.equal(child.exitCode, null, `replica ${name} exited:\n${output.join("")}`);
            try {
                const res = await fetch(`${replica.url}/operations`, { headers: replica.headers });
                if (res.status === 200) return replica;
            } catch {
                // Not listening yet.
            }
            assert.ok(Date.now() - started < 60_000, `replica ${name} listens:\n${output.join("")}`);
            await new Promise((resolve) => setTimeout(resolve, 200));
        }
    }

    get headers(): Record<string, string> {
        return { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" };
    }

    async post(stack: string, route: string, body: object): Promise<{ status: number; body: Record<string, unknown> }> {
        const res = await fetch(`${this.url}/stacks/${stack}/releases/wisdom/${route}`, {
            method: "POST",
            headers: this.headers,
            body: JSON.stringify(body),
        });
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    }

    kill(): void {
        killTree(this.child.pid as number, { group: true });
    }

    async stop(): Promise<void> {
        if (this.child.exitCode !== null || this.child.signalCode !== null) return;
        const exited = new Promise((resolve) => this.child.once("exit", resolve));
        process.kill(-(this.child.pid as number), "SIGTERM");
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
        if (this.child.exitCode === null) this.kill();
    }
}

describe("e2e: replicas on PostgreSQL and a git remote (real engine)", function () {
    this.timeout(30 * 60 * 1000);
    let cluster: LocalCluster;
    let pg: LocalPostgres;
    let store: PostgresStore;
    let root: string;
    let remote: string;
    let person: string;
    let personEnv: Record<string, string>;
    let pulumiRoot: string;
    let serviceEnv: NodeJS.ProcessEnv;
    const replicas: Replica[] = [];
    const personStacks: Record<string, ReleaseStack> = {};

    const split = async (stack: string) => (await defaultRouteWeights(cluster, stack, "wisdom")).map(([, w]) => w);
    const deployments = (stack: string) => names(cluster, `/apis/apps/v1/namespaces/${stack}/deployments`);
    /** The release config of record: the stack file at the remote's head. */
    const recorded = (stack: string): string => git(remote, "show", `main:Pulumi.${stack}.yaml`);

    /** The person's clone at the remote's head; its stack previews no change: config = state. */
    async function assertAgree(stack: string): Promise<void> {
        git(person, "pull", "--ff-only", "-q");
        const preview = await personStacks[stack].preview({ policyPacks: [POLICY_PACK] });
        assert.deepEqual(changes(preview.changeSummary), {}, `git config = state:\n${preview.stdout}`);
    }

    before(async function () {
        const env = await environment();
        cluster = env.cluster;
        pulumiRoot = path.dirname(env.bin);
        pg = await startPostgres();
        store = await PostgresStore.connect(pg.url, pg.env);
        root = fs.mkdtempSync(path.join(os.tmpdir(), "model-release-replicas-"));
        remote = path.join(root, "remote.git");
        git(root, "init", "-q", "--bare", "-b", "main", remote);
        person = path.join(root, "person");
        git(root, "clone", "-q", remote, person);
        git(person, "config", "user.name", "Pat Person");
        git(person, "config", "user.email", "pat@example.com");

        // Pulumi's state in the same PostgreSQL (its own table), the password in env only.
        personEnv = {
            ...engineEnv(env.bin, root, cluster.kubeconfig),
            PULUMI_BACKEND_URL: pg.url,
            ...pg.env,
        };
        // The person sets up both stacks the ordinary way: stack init, config, up, commit, push.
        for (const stack of Object.values(STACKS)) {
            await cluster.createNamespace(stack);
            const s = await ReleaseStack.create({ stackName: stack, workDir: person, envVars: personEnv, pulumiRoot });
            await s.setReleases(
                wisdom(stack, [
                    ["v1", 100],
                    ["v2", 0],
                ]),
            );
            const up = await s.up({ policyPacks: [POLICY_PACK] });
            assert.equal(up.summary.result, "succeeded");
            personStacks[stack] = s;
        }
        fs.writeFileSync(path.join(person, ".gitignore"), ".model-release/\n");
        git(person, "add", ".gitignore", "Pulumi.yaml", ...Object.values(STACKS).map((s) => `Pulumi.${s}.yaml`));
        git(person, "commit", "-q", "-m", "releases: wisdom v1 with candidate v2 at 0%");
        git(person, "push", "-q", "origin", "main");

        const tokens = path.join(root, "tokens.yaml");
        fs.writeFileSync(
            tokens,
            `tokens:\n  - name: platform-admin\n    role: admin\n    tokenSha256: ${sha256Hex(ADMIN_TOKEN)}\n`,
        );
        serviceEnv = {
            ...process.env,
            ...personEnv,
            MODEL_RELEASE_TOKENS_FILE: tokens,
            MODEL_RELEASE_POLICY_PACK: POLICY_PACK,
            MODEL_RELEASE_DATABASE_URL: pg.url,
            MODEL_RELEASE_GIT_REMOTE: remote,
            MODEL_RELEASE_WORKERS: "2",
        };
        replicas.push(
            ...(await Promise.all([Replica.start("r1", root, serviceEnv), Replica.start("r2", root, serviceEnv)])),
        );
    });

    after(async function () {
        await Promise.all(replicas.map((r) => r.stop()));
        for (const s of Object.values(personStacks)) {
            await s.destroy().catch(() => undefined);
            await s.cleanup().catch(() => undefined);
        }
        await store?.close();
        await pg?.stop();
        if (root) fs.rmSync(root, { recursive: true, force: true });
    });

    it("promotes different releases in different stacks at once, through different replicas", async () => {
        const [r1, r2] = replicas;
        const [a, b] = await Promise.all([
            r1.post(STACKS.a, "apply", { operation: "promote" }),
            r2.post(STACKS.b, "apply", { operation: "promote" }),
        ]);
        // On a failure, the replica's log holds the details under the response's requestId.
        assert.equal(a.status, 200, `${JSON.stringify(a.body)}\n${r1.output.join("").slice(-4000)}`);
        assert.equal(b.status, 200, `${JSON.stringify(b.body)}\n${r2.output.join("").slice(-4000)}`);
        for (const [stack, res] of [
            [STACKS.a, a],
            [STACKS.b, b],
        ] as const) {
            assert.deepEqual(await split(stack), [100]);
            assert.match(recorded(stack), /"?app\.kubernetes\.io\/version"?: v2/);
            assert.doesNotMatch(recorded(stack), /version"?: v1/);
            // The commit is on the remote, authored by the caller.
            const commit = res.body.commit as string;
            assert.match(git(remote, "log", "--format=%an|%s", "-1", commit), /^platform-admin\|promote wisdom/);
            await assertAgree(stack);
        }
        // r1 reads stack b (its clone of b is made now; later edits by r2 make it stale).
        const seen = await fetch(`${r1.url}/stacks/${STACKS.b}/releases/wisdom`, { headers: r1.headers });
        assert.equal(seen.status, 200);
        // The operation records in PostgreSQL and each replica's audit log name the same operations.
        const ops = await store.operations({ limit: 10 });
        for (const [replica, res] of [
            [r1, a],
            [r2, b],
        ] as const) {
            const id = res.body.operationId as string;
            const record = ops.find((o) => o.id === id);
            assert.equal(record?.result, "applied");
            assert.equal(record?.principal, "platform-admin");
            const audit = fs.readFileSync(path.join(root, replica.name, "audit.log"), "utf8");
            const result = audit
                .trim()
                .split("\n")
                .map((l) => JSON.parse(l) as Record<string, unknown>)
                .find((r) => r.event === "result" && r.operationId === id);
            assert.equal(result?.result, "applied");
            assert.equal(result?.who, "platform-admin");
        }
    });

    it("applies exactly one of several conflicting operations on one stack; the others get 409", async () => {
        const [r1, r2] = replicas;
        const body = (label: string) => ({
            operation: "add-candidate",
            version: { image: "kennethreitz/httpbin", labels: { "app.kubernetes.io/version": label } },
        });
        const answers = await Promise.all([
            r1.post(STACKS.a, "apply", body("v3")),
            r2.post(STACKS.a, "apply", body("v4")),
            r2.post(STACKS.a, "apply", body("v5")),
        ]);
        const statuses = answers.map((a) => a.status).sort();
        assert.deepEqual(statuses, [200, 409, 409], JSON.stringify(answers.map((a) => a.body)));
        for (const refused of answers.filter((a) => a.status === 409)) {
            assert.ok(["busy", "conflict"].includes(refused.body.error as string), JSON.stringify(refused.body));
            if (refused.body.error === "busy") {
                assert.match(refused.body.message as string, /add-candidate of wisdom by platform-admin/);
            }
        }
        const applied = answers.find((a) => a.status === 200) as { body: Record<string, unknown> };
        const label = ((applied.body.trafficAfter as { version: string; percent: number }[])[1] ?? {}).version;
        assert.ok(label, "the applied plan has a candidate");
        // Config of record, state and cluster agree: one candidate, at 0%.
        assert.equal((recorded(STACKS.a).match(/version"?: v[345]/g) ?? []).length, 1);
        // The candidate runs and gets no traffic (a 0% destination is not routed).
        assert.deepEqual(await split(STACKS.a), [100]);
        assert.deepEqual(await deployments(STACKS.a), ["wisdom-0", "wisdom-1"]);
        await assertAgree(STACKS.a);
    });

    it("interleaves with a person's git pull && pulumi up: the service builds on the person's commit", async () => {
        git(person, "pull", "--ff-only", "-q");
        const stack = personStacks[STACKS.a];
        const releases = (await stack.releases()) as { wisdom: { versions: { weight?: number }[] } };
        releases.wisdom.versions[0].weight = 75;
        releases.wisdom.versions[1].weight = 25;
        await stack.setReleases(releases);
        assert.equal((await stack.up({ policyPacks: [POLICY_PACK] })).summary.result, "succeeded");
        git(person, "commit", "-q", "-am", "wisdom: 25% to the candidate");
        git(person, "push", "-q", "origin", "main");
        const personCommit = git(person, "rev-parse", "HEAD");
        assert.deepEqual(await split(STACKS.a), [75, 25]);

        const res = await replicas[1].post(STACKS.a, "apply", { operation: "step", points: 25 });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(git(remote, "rev-parse", `${res.body.commit as string}^`), personCommit);
        assert.deepEqual(await split(STACKS.a), [50, 50]);
        await assertAgree(STACKS.a);
    });

    it("refuses an edit whose base moved before its push (409 conflict): nothing applied, nothing overwritten", async () => {
        const clone = path.join(root, "library");
        const repo = await ConfigRepo.open({ remote, dir: clone });
        const stack = await ReleaseStack.open({ stackName: STACKS.b, workDir: clone, envVars: personEnv, pulumiRoot });
        const manager = new ReleaseManager(stack, {
            policyPacks: [POLICY_PACK],
            coordinator: store.coordinator(STACKS.b),
            git: repo,
            principal: "library-user",
        });
        const before = await split(STACKS.b);
        let personCommit = "";
        await assert.rejects(
            manager.addCandidate(
                "wisdom",
                { image: "kennethreitz/httpbin", labels: { "app.kubernetes.io/version": "v9" } },
                async () => {
                    // Someone else pushes an edit of this stack's file after the preview and
                    // before the service's push.
                    git(person, "pull", "--ff-only", "-q");
                    fs.appendFileSync(path.join(person, `Pulumi.${STACKS.b}.yaml`), "# reviewed by Pat\n");
                    git(person, "commit", "-q", "-am", "wisdom: reviewed");
                    git(person, "push", "-q", "origin", "main");
                    personCommit = git(person, "rev-parse", "HEAD");
                    return true;
                },
            ),
            (error: unknown) => {
                assert.ok(error instanceof ConflictError, String(error));
                assert.match(error.message, /config of record changed.*retry/);
                return true;
            },
        );
        assert.equal(git(remote, "rev-parse", "main"), personCommit, "the other push stands");
        assert.doesNotMatch(recorded(STACKS.b), /version"?: v9/);
        assert.deepEqual(await split(STACKS.b), before);
        const record = (await store.operations({ stack: STACKS.b, limit: 1 }))[0];
        assert.equal(record.result, "conflict");
        await assertAgree(STACKS.b);
    });

    it("recovers a replica killed with -9 in the middle of an up: the other replica serves the stack, nothing lost", async () => {
        const [r1, r2] = replicas;
        const coordinator = store.coordinator(STACKS.a);
        const killed = r1.post(STACKS.a, "apply", { operation: "step", points: 25 }).catch((e: Error) => e);
        const started = Date.now();
        while ((await coordinator.readJournal())?.phase !== "up") {
            assert.ok(Date.now() - started < 120_000, "the step reached up");
            await new Promise((resolve) => setTimeout(resolve, 25));
        }
        const pushed = git(remote, "rev-parse", "main");
        r1.kill();
        assert.ok((await killed) instanceof Error, "the killed replica answered nothing");
        // The advisory lock dies with r1's connection: r2 recovers first, then applies. PostgreSQL
        // ends r1's session once it reads the closed socket, a moment after the kill: until then
        // r2 is refused as busy.
        const deadline = Date.now() + 15_000;
        let res = await r2.post(STACKS.a, "apply", { operation: "weights", weights: [25, 75] });
        while (res.status === 409 && res.body.error === "busy" && Date.now() < deadline) {
            await new Promise((resolve) => setTimeout(resolve, 250));
            res = await r2.post(STACKS.a, "apply", { operation: "weights", weights: [25, 75] });
        }
        assert.equal(res.status, 200, JSON.stringify(res.body));
        const events = await coordinator.records();
        const recovered = events.filter((e) => e.event === "recovered").pop();
        assert.ok(recovered, "a recovery is recorded");
        assert.match(recovered.detail ?? "", /interrupted in up.*reverted/);
        // The interrupted step's commit was reverted: git never claimed 25/75 before it ran.
        assert.match(git(remote, "log", "--format=%s", "-3", "main"), new RegExp(`Revert ${pushed.slice(0, 12)}`));
        assert.deepEqual(await split(STACKS.a), [25, 75]);
        await assertAgree(STACKS.a);
        // The killed replica comes back on its old clones (stale by now) and serves again.
        replicas[0] = await Replica.start("r1", root, serviceEnv);
    });

    it("proposes an edit on a review branch, then applies it by fast-forward", async () => {
        const r2 = replicas[1];
        const mainBefore = git(remote, "rev-parse", "main");
        const proposed = await r2.post(STACKS.b, "propose", {
            operation: "add-candidate",
            version: { image: "kennethreitz/httpbin", labels: { "app.kubernetes.io/version": "v3" } },
        });
        assert.equal(proposed.status, 200, JSON.stringify(proposed.body));
        const proposal = proposed.body.proposal as { branch: string; sha: string; base: string };
        assert.equal(proposed.body.applied, false);
        assert.equal(proposal.base, mainBefore);
        assert.equal(git(remote, "rev-parse", "main"), mainBefore, "main is untouched by a proposal");
        assert.equal(git(remote, "rev-parse", proposal.branch), proposal.sha);
        assert.deepEqual(await split(STACKS.b), [100], "nothing applied");
        assert.deepEqual(await deployments(STACKS.b), ["wisdom-0"]);
        assert.match(git(remote, "show", `${proposal.sha}:Pulumi.${STACKS.b}.yaml`), /version"?: v3/);

        const applied = await r2.post(STACKS.b, "apply", { operation: "apply-proposal", branch: proposal.branch });
        assert.equal(applied.status, 200, JSON.stringify(applied.body));
        assert.equal(applied.body.commit, proposal.sha);
        assert.equal(git(remote, "rev-parse", "main"), proposal.sha, "main fast-forwarded to the proposal");
        assert.deepEqual(await split(STACKS.b), [100]);
        assert.deepEqual(await deployments(STACKS.b), ["wisdom-0", "wisdom-1"]);
        assert.match(recorded(STACKS.b), /version"?: v3/);
        // The other (restarted) replica's status reads the config of record, not its stale clone.
        const status = await fetch(`${replicas[0].url}/stacks/${STACKS.b}/releases/wisdom`, {
            headers: replicas[0].headers,
        });
        const traffic = ((await status.json()) as { traffic: { percent: number }[] }).traffic;
        assert.deepEqual(
            traffic.map((r) => r.percent),
            [100, 0],
        );
        await assertAgree(STACKS.b);
    });
});
