// Atomic, recoverable release operations on the real engine: one operation per stack across
// processes, recovery after kill -9 at each phase (config = state = cluster afterwards, with an
// operations-log trail), status that reads the live routing, and reads that never create stacks.
import * as assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

import { ReleaseManager } from "../../automation/releases";
import { ReleaseStack, UnknownStackError, changes } from "../../automation/stack";
import { LocalCluster } from "../../e2e/cluster";
import { engineEnv } from "../../e2e/engine";
import { Authenticator, TokenTable, sha256Hex } from "../../automation/auth";
import { buildServer } from "../../automation/server";
import { POLICY_PACK, defaultRouteWeights, fixture, killTree, runProcess, service, tokenOf } from "./helpers";

const NS = "operations";
const MODEL = "gs://seldon-models/sklearn/mms/lr_model";
const v = (label: string, weight: number) => ({
    storageUri: MODEL,
    weight,
    labels: { "app.kubernetes.io/version": label },
});
const CLI = path.resolve(__dirname, "..", "..", "cli", "model-release.js");
const LOCK_STALE_MS = "4000";

describe("e2e: atomic and recoverable operations (real engine)", function () {
    this.timeout(30 * 60 * 1000);
    let cluster: LocalCluster;
    let stack: ReleaseStack;
    let manager: ReleaseManager;
    let bin: string;
    const split = async () => (await defaultRouteWeights(cluster, NS, "wisdom")).map(([, w]) => w);

    function cliEnv(): NodeJS.ProcessEnv {
        // A shorter stale time than the default 10 s: a killed holder's lock is taken over sooner.
        return {
            ...process.env,
            ...engineEnv(bin, stack.backendDir, cluster.kubeconfig),
            MODEL_RELEASE_LOCK_STALE_MS: LOCK_STALE_MS,
        };
    }
    function cliArgs(command: string, ...rest: string[]): string[] {
        const workDir = stack.stack.workspace.workDir;
        return [CLI, command, "--stack", NS, "--release", "wisdom", "--work-dir", workDir, ...rest];
    }
    /** A CLI process in its own process group, so that kill -9 takes its pulumi children too. */
    function startCli(...args: string[]): ChildProcess {
        return spawn(process.execPath, args, { env: cliEnv(), detached: true, stdio: "ignore" });
    }
    /** Waits until the running operation's journal reaches a phase. */
    async function journalPhase(phase: string, timeoutMs = 120_000): Promise<void> {
        const started = Date.now();
        while (manager.files.readJournal()?.phase !== phase) {
            assert.ok(Date.now() - started < timeoutMs, `the operation reached ${phase}`);
            await new Promise((resolve) => setTimeout(resolve, 20));
        }
    }
    function killGroup(child: ChildProcess): Promise<void> {
        killTree(child.pid as number, { group: true });
        return new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once("exit", () => resolve())));
    }
    /** Runs the CLI until it is not busy (a killed holder's lock goes stale within seconds). */
    async function cliWhenFree(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
        for (let attempt = 0; ; attempt++) {
            const result = await runProcess(process.execPath, args, cliEnv());
            if (result.status !== 4 || attempt >= 20) return result;
            await new Promise((resolve) => setTimeout(resolve, 1000));
        }
    }
    /** Config of record, state and cluster agree: no drift, no change to preview, nothing pending. */
    async function assertAgree(expected: number[]): Promise<void> {
        const status = await manager.status("wisdom");
        assert.deepEqual(
            status.traffic.map((r) => r.percent),
            expected,
            "config",
        );
        assert.deepEqual(await split(), expected, "cluster");
        assert.equal(status.drift, false);
        assert.equal(status.operation, undefined, "no operation in flight");
        const preview = await stack.preview({ policyPacks: [POLICY_PACK] });
        assert.deepEqual(changes(preview.changeSummary), {}, `state = config:\n${preview.stdout}`);
        const exported = JSON.stringify(await stack.stack.exportStack());
        assert.ok(!/"pending_operations":\s*\[\s*\{/.test(exported), "no pending operations in state");
    }

    let savedStale: string | undefined;
    before(async function () {
        // This process's managers use the same stale time as the CLI processes.
        savedStale = process.env.MODEL_RELEASE_LOCK_STALE_MS;
        process.env.MODEL_RELEASE_LOCK_STALE_MS = LOCK_STALE_MS;
        ({ cluster, stack, bin } = await fixture(NS));
        manager = new ReleaseManager(stack, { policyPacks: [POLICY_PACK] });
        await stack.setReleases({
            wisdom: {
                environment: "kserve",
                strategy: "blue-green",
                namespace: NS,
                modelFormat: "sklearn",
                readiness: { timeoutSeconds: 30 },
                versions: [v("v0", 50), v("v1", 50)],
            },
        });
        await stack.up({ policyPacks: [POLICY_PACK] });
        await assertAgree([50, 50]);
    });
    after(async function () {
        if (savedStale === undefined) delete process.env.MODEL_RELEASE_LOCK_STALE_MS;
        else process.env.MODEL_RELEASE_LOCK_STALE_MS = savedStale;
        await stack?.cleanup().catch(() => undefined);
    });

    it("two processes step at once: exactly one applies, the other is busy (exit 4) and changes nothing", async () => {
        const [a, b] = await Promise.all([
            runProcess(process.execPath, cliArgs("step", "--yes", "--policy-pack", POLICY_PACK, "10"), cliEnv()),
            runProcess(process.execPath, cliArgs("step", "--yes", "--policy-pack", POLICY_PACK, "10"), cliEnv()),
        ]);
        assert.deepEqual([a.status, b.status].sort(), [0, 4], `${a.stderr}\n${b.stderr}`);
        const loser = a.status === 4 ? a : b;
        assert.match(loser.stderr, /is busy/);
        await assertAgree([40, 60]);
    });

    it("the service and the CLI step at once: exactly one applies; config = state = cluster", async () => {
        const svc = service(manager, [{ name: "platform", role: "admin" }]);
        try {
            const [http, cli] = await Promise.all([
                svc.app.inject({
                    method: "POST",
                    url: `/stacks/${NS}/releases/wisdom/apply`,
                    payload: { operation: "step", points: 10 },
                    headers: { authorization: svc.auth("platform") },
                }),
                runProcess(process.execPath, cliArgs("step", "--yes", "--policy-pack", POLICY_PACK, "10"), cliEnv()),
            ]);
            const outcomes = [
                http.statusCode === 200 ? "applied" : http.statusCode === 423 ? "busy" : `http ${http.statusCode}`,
            ];
            outcomes.push(cli.status === 0 ? "applied" : cli.status === 4 ? "busy" : `cli ${cli.status}`);
            assert.deepEqual(outcomes.sort(), ["applied", "busy"], `${http.body}\n${cli.stderr}`);
            await assertAgree([30, 70]);
            const audit = fs.readFileSync(svc.auditLog, "utf8");
            assert.match(audit, http.statusCode === 200 ? /"result":"applied"/ : /"status":423|busy/);
        } finally {
            await svc.app.close();
        }
        await manager.setWeights("wisdom", [40, 60], true);
    });

    it("status reports an out-of-band weight edit as drift, with the live percentages", async () => {
        const vs = await cluster.get<{ spec: { http: { name: string; route: { weight: number }[] }[] } }>(
            `/apis/networking.istio.io/v1/namespaces/${NS}/virtualservices/wisdom`,
        );
        const http = vs?.spec.http ?? [];
        const last = http[http.length - 1];
        last.route[0].weight = 90;
        last.route[1].weight = 10;
        const patched = await cluster.request(
            "PATCH",
            `/apis/networking.istio.io/v1/namespaces/${NS}/virtualservices/wisdom`,
            { spec: { http } },
            "application/merge-patch+json",
        );
        assert.equal(patched.status, 200);
        const status = await manager.status("wisdom");
        assert.equal(status.drift, true);
        assert.deepEqual(
            status.traffic.map((r) => [r.percent, r.livePercent]),
            [
                [40, 90],
                [60, 10],
            ],
        );
        const cli = await runProcess(process.execPath, cliArgs("status", "--json"), cliEnv());
        assert.equal(cli.status, 0, cli.stderr);
        assert.equal(JSON.parse(cli.stdout).drift, true);
        // A preview says so too: the cluster differs from the config (and state) it starts from.
        const plan = await manager.step("wisdom", -10);
        assert.deepEqual(plan.drift, { "wisdom-0": 90, "wisdom-1": 10 });
        // The next operation restores the config of record (force-applied) and moves on from it.
        await manager.step("wisdom", -10, true);
        await assertAgree([50, 50]);
    });

    for (const phase of ["edit", "preview", "up"] as const) {
        it(`kill -9 during ${phase}: the next process recovers, then its operation succeeds`, async () => {
            const before = fs.readFileSync(stack.configPath, "utf8");
            const child = startCli(...cliArgs("step", "--yes", "--policy-pack", POLICY_PACK, "10"));
            if (phase === "edit") {
                // The journal is written before the config is read: kill as soon as it exists.
                while (!manager.files.readJournal()) await new Promise((resolve) => setTimeout(resolve, 2));
            } else {
                await journalPhase(phase);
                if (phase === "up") await new Promise((resolve) => setTimeout(resolve, 1500));
            }
            await killGroup(child);
            assert.equal(fs.readFileSync(stack.configPath, "utf8"), before, "the stack file was not edited");
            const status = await manager.status("wisdom");
            assert.equal(status.operation?.state, "interrupted");
            assert.deepEqual(
                status.traffic.map((r) => r.percent),
                [50, 50],
                "status shows the config of record, not the proposed traffic",
            );

            // The next operation sets the weights of record again: it must recover first, then
            // converge the cluster (the killed update may have moved it) back to 50/50.
            const next = await cliWhenFree(...cliArgs("weights", "--yes", "--policy-pack", POLICY_PACK, "50", "50"));
            assert.equal(next.status, 0, next.stderr);
            await assertAgree([50, 50]);
            const records = manager.files.records();
            const recovered = records.filter((r) => r.event === "recovered");
            assert.ok(recovered.length > 0, "the recovery is recorded");
            assert.match(recovered[recovered.length - 1].detail ?? "", new RegExp(`interrupted in (edit|preview|up)`));
            assert.equal((await manager.status("wisdom")).lastRecovery?.id, recovered[recovered.length - 1].id);
        });
    }

    it("promotes a named candidate without touching it: the old primary goes, its generation stays", async () => {
        const releases = (await stack.releases()) as Record<string, unknown>;
        releases.named = {
            environment: "kserve",
            strategy: "blue-green",
            namespace: NS,
            modelFormat: "sklearn",
            readiness: { timeoutSeconds: 30 },
            versions: [
                { ...v("v0", 100), name: "named-blue" },
                { ...v("v1", 0), name: "named-green" },
            ],
        };
        await stack.setReleases(releases);
        await stack.up({ policyPacks: [POLICY_PACK] });
        const isvc = (name: string) =>
            cluster.get<{ metadata: { generation: number; uid: string } }>(
                `/apis/serving.kserve.io/v1beta1/namespaces/${NS}/inferenceservices/${name}`,
            );
        const before = await isvc("named-green");
        assert.ok(before);
        const plan = await manager.promote("named", true);
        assert.equal(plan.applied, true);
        assert.deepEqual(
            plan.steps.filter((s) => s.name === `${NS}/named-green`),
            [],
            "no step touches the promoted candidate",
        );
        const after = await isvc("named-green");
        assert.equal(after?.metadata.uid, before.metadata.uid);
        assert.equal(after?.metadata.generation, before.metadata.generation);
        assert.equal(await isvc("named-blue"), undefined, "the old primary is removed");
        assert.deepEqual(await defaultRouteWeights(cluster, NS, "named"), [["named-green", 100]]);
        await manager.remove("named", true);
    });

    it("reads never create stacks: status of an unknown stack is an error and leaves nothing", async () => {
        const workDir = stack.stack.workspace.workDir;
        await assert.rejects(
            ReleaseStack.open({
                stackName: "no-such-stack",
                workDir,
                envVars: stack.stack.workspace.envVars,
                pulumiRoot: path.dirname(bin),
            }),
            UnknownStackError,
        );
        const cli = await runProcess(
            process.execPath,
            [CLI, "status", "--stack", "no-such-stack", "--release", "wisdom", "--work-dir", workDir],
            cliEnv(),
        );
        assert.equal(cli.status, 2, cli.stderr);
        assert.match(cli.stderr, /stack no-such-stack does not exist/);
        assert.ok(!fs.existsSync(path.join(workDir, "Pulumi.no-such-stack.yaml")));
        // The service answers 404 for a stack that does not exist, and creates none.
        const app = buildServer({
            managerFor: async (name) =>
                new ReleaseManager(
                    await ReleaseStack.open({
                        stackName: name,
                        workDir,
                        envVars: stack.stack.workspace.envVars,
                        pulumiRoot: path.dirname(bin),
                    }),
                ),
            authenticator: new Authenticator(
                new TokenTable([{ name: "viewer", role: "viewer", tokenSha256: sha256Hex(tokenOf("viewer")) }]),
            ),
            audit: path.join(workDir, "..", "audit-unknown-stack.log"),
        });
        const get = await app.inject({
            method: "GET",
            url: "/stacks/no-such-stack/releases/wisdom",
            headers: { authorization: `Bearer ${tokenOf("viewer")}` },
        });
        await app.close();
        assert.equal(get.statusCode, 404, get.body);
        assert.ok(!fs.existsSync(path.join(workDir, "Pulumi.no-such-stack.yaml")));
        const stacks = await stack.stack.workspace.listStacks();
        assert.deepEqual(
            stacks.map((s) => s.name),
            [NS],
        );
    });
});
