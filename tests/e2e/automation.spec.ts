// The release operations library (automation/releases.ts) on the real engine: preview-only plans,
// applied operations, guard rails, rollback of config after a failed update, and concurrency.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";

import { LocalWorkspace } from "@pulumi/pulumi/automation";

import { BusyError, RefusedError, ReleaseManager } from "../../automation/releases";
import { ReleaseStack } from "../../automation/stack";
import { LocalCluster } from "../../e2e/cluster";
import { ControllerStub } from "../../e2e/controllerStub";
import { engineEnv } from "../../e2e/engine";
import { ReleaseConfigError } from "../../components/validate";
import { POLICY_PACK, defaultRouteWeights, fixture, names, runProcess, service } from "./helpers";

const NS = "automation";
const MODEL = "gs://seldon-models/sklearn/mms/lr_model";
const v = (label: string) => ({ storageUri: MODEL, labels: { "app.kubernetes.io/version": label } });

describe("e2e: release operations library (real engine)", function () {
    this.timeout(40 * 60 * 1000);
    let cluster: LocalCluster;
    let stub: ControllerStub;
    let stack: ReleaseStack;
    let manager: ReleaseManager;
    let bin: string;
    const isvcs = () => names(cluster, `/apis/serving.kserve.io/v1beta1/namespaces/${NS}/inferenceservices`);
    const split = async () => (await defaultRouteWeights(cluster, NS, "wisdom")).map(([, w]) => w);

    before(async function () {
        ({ cluster, stub, stack, bin } = await fixture(NS));
        manager = new ReleaseManager(stack, {
            policyPacks: [POLICY_PACK],
            readiness: async (_kind, namespace, name) => {
                const live = await cluster.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
                    `/apis/serving.kserve.io/v1beta1/namespaces/${namespace}/inferenceservices/${name}`,
                );
                return Boolean(live?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
            },
        });
        await stack.setReleases({
            wisdom: {
                environment: "kserve",
                strategy: "blue-green",
                namespace: NS,
                modelFormat: "sklearn",
                readiness: { timeoutSeconds: 15 },
                versions: [v("v0")],
            },
        });
        await stack.up({ policyPacks: [POLICY_PACK] });
    });
    after(async function () {
        stub?.neverReady.clear();
        await stack?.cleanup().catch(() => undefined);
    });

    it("plans without applying: add-candidate previews creates at weight 0 (no traffic moves), config untouched", async () => {
        const before = await stack.releases();
        const plan = await manager.addCandidate("wisdom", v("v1"));
        assert.equal(plan.applied, false);
        assert.deepEqual(plan.changes, { create: 2, update: 1 });
        assert.deepEqual(plan.steps.map((s) => `${s.op} ${s.name}`).sort(), [
            "create automation/wisdom-1",
            "create automation/wisdom-1-weight-config",
            "update automation/wisdom-0-weight-config",
        ]);
        assert.deepEqual(
            plan.trafficBefore.map((r) => r.percent),
            [100],
        );
        assert.deepEqual(
            plan.trafficAfter.map((r) => r.percent),
            [100, 0],
        );
        assert.deepEqual(await stack.releases(), before);
        assert.deepEqual(await isvcs(), ["wisdom-0"]);
    });

    it("applies add-candidate: wisdom-1 created, all traffic still on wisdom-0", async () => {
        const plan = await manager.addCandidate("wisdom", v("v1"), true);
        assert.equal(plan.applied, true);
        assert.deepEqual(await isvcs(), ["wisdom-0", "wisdom-1"]);
        assert.deepEqual(await split(), [100]);
    });

    it("sets weights within the limit: 75/25, then 50/50", async () => {
        // Every CLI command the operation runs, by its first two arguments (through the
        // command's internal run(), which every Automation API call of the CLI goes through).
        type Run = (args: string[], ...rest: unknown[]) => Promise<unknown>;
        const command = (stack.stack.workspace as LocalWorkspace).pulumiCommand as unknown as { run: Run };
        const run = command.run.bind(command);
        const ran: string[] = [];
        command.run = (args, ...rest) => {
            ran.push(args.slice(0, 2).join(" "));
            return run(args, ...rest);
        };
        let plan;
        try {
            plan = await manager.setWeights("wisdom", [75, 25], true);
        } finally {
            command.run = run;
        }
        assert.deepEqual(plan.changes, { update: 3 });
        assert.deepEqual(await split(), [75, 25]);
        // The update took its counts from the run's own summary event: no CLI run read the
        // outputs or the history back, and the backend recorded the same update.
        assert.ok(
            ran.some((c) => c.startsWith("up ")),
            ran.join(", "),
        );
        assert.deepEqual(
            ran.filter((c) => /^stack (output|history)/.test(c)),
            [],
            ran.join(", "),
        );
        const [recorded] = await stack.stack.history(1);
        assert.equal(recorded.result, "succeeded");
        assert.equal(recorded.resourceChanges?.update, 3);
        await manager.setWeights("wisdom", [50, 50], true);
        assert.deepEqual(await split(), [50, 50]);
    });

    it("the CLI steps with --yes and reports status as JSON, on the same stack", async () => {
        const cli = path.resolve(__dirname, "..", "..", "cli", "model-release.js");
        const env = { ...process.env, ...engineEnv(bin, stack.backendDir, cluster.kubeconfig) };
        const workDir = stack.stack.workspace.workDir;
        const common = ["--stack", NS, "--release", "wisdom", "--work-dir", workDir, "--policy-pack", POLICY_PACK];
        const step = await runProcess(process.execPath, [cli, "step", ...common, "--yes", "10"], env);
        assert.equal(step.status, 0, step.stderr);
        assert.match(step.stdout, /wisdom-1\s+50%\s+60%/);
        assert.match(step.stdout, /applied/);
        assert.deepEqual(await split(), [40, 60]);
        const tooBig = await runProcess(process.execPath, [cli, "step", ...common, "--yes", "40"], env);
        assert.equal(tooBig.status, 2);
        assert.match(tooBig.stderr, /25-point limit/);
        // status takes no --policy-pack (flags of other commands are usage errors).
        const target = common.slice(0, common.indexOf("--policy-pack"));
        const status = await runProcess(process.execPath, [cli, "status", ...target, "--json"], env);
        assert.equal(status.status, 0, status.stderr);
        assert.deepEqual(
            JSON.parse(status.stdout).traffic.map((r: { percent: number }) => r.percent),
            [40, 60],
        );
        await manager.setWeights("wisdom", [50, 50], true);
    });

    it("refuses a step above the 25-point limit, naming the limit", async () => {
        await assert.rejects(
            manager.step("wisdom", 30, true),
            (error: unknown) => error instanceof ReleaseConfigError && /25-point limit/.test(error.message),
        );
        assert.deepEqual(await split(), [50, 50]);
    });

    it("steps 20 points with an approval callback that sees the plan", async () => {
        let seen: number[] = [];
        const plan = await manager.step("wisdom", 20, (p) => {
            seen = p.trafficAfter.map((r) => r.percent);
            return true;
        });
        assert.deepEqual(seen, [30, 70]);
        assert.equal(plan.applied, true);
        assert.deepEqual(await split(), [30, 70]);
    });

    it("refuses to promote a candidate that is not Ready", async () => {
        stub.neverReady.add(`${NS}/wisdom-1`);
        const patched = await cluster.request(
            "PATCH",
            `/apis/serving.kserve.io/v1beta1/namespaces/${NS}/inferenceservices/wisdom-1/status`,
            { status: { conditions: [{ type: "Ready", status: "False", reason: "RevisionMissing" }] } },
            "application/merge-patch+json",
        );
        assert.equal(patched.status, 200);
        await assert.rejects(
            manager.promote("wisdom", true),
            (error: unknown) => error instanceof RefusedError && /wisdom-1 is not Ready/.test(error.message),
        );
        stub.neverReady.clear();
    });

    it("restores the config when an update fails (a candidate that never becomes Ready)", async () => {
        const before = await stack.releases();
        stub.neverReady.add(`${NS}/wisdom-2`);
        await assert.rejects(manager.addCandidate("wisdom", v("v2"), true), /wisdom-2/);
        assert.deepEqual(await stack.releases(), before, "config is back to the last applied state");
        stub.neverReady.clear();
        // The failed candidate object is cleaned up by the next update of the restored config.
        await stack.up({ policyPacks: [POLICY_PACK] });
        assert.deepEqual(await isvcs(), ["wisdom-0", "wisdom-1"]);
    });

    it("two concurrent operations on one release: one runs, the other is busy", async () => {
        const results = await Promise.allSettled([manager.step("wisdom", 10, true), manager.step("wisdom", -10, true)]);
        const busy = results.filter((r) => r.status === "rejected" && r.reason instanceof BusyError);
        const done = results.filter((r) => r.status === "fulfilled");
        assert.equal(busy.length, 1);
        assert.equal(done.length, 1);
        assert.deepEqual(await split(), [20, 80]);
    });

    it("the HTTP service applies a step on the real engine and audits it under the caller's principal", async () => {
        const { app, auditLog, auth } = service(manager, [{ name: "e2e", role: "admin" }]);
        const unauthorized = await app.inject({ method: "GET", url: `/stacks/${NS}/releases/wisdom` });
        assert.equal(unauthorized.statusCode, 401);
        const res = await app.inject({
            method: "POST",
            url: `/stacks/${NS}/releases/wisdom/apply`,
            payload: { operation: "step", points: 10 },
            headers: { authorization: auth("e2e"), "x-actor": "someone-else" },
        });
        assert.equal(res.statusCode, 200, res.body);
        assert.deepEqual(await split(), [10, 90]);
        const records = fs
            .readFileSync(auditLog, "utf8")
            .trim()
            .split("\n")
            .map((l) => JSON.parse(l));
        const result = records.find((r) => r.event === "result");
        assert.deepEqual([result.who, result.operation, result.result], ["e2e", "step", "applied"]);
        assert.deepEqual(
            result.trafficBefore.map((r: { percent: number }) => r.percent),
            [20, 80],
        );
        assert.deepEqual(
            result.trafficAfter.map((r: { percent: number }) => r.percent),
            [10, 90],
        );
        const journal = manager.files.records().filter((r) => r.event === "finished");
        assert.equal(journal[journal.length - 1].principal, "e2e", "the operations log names the principal");
        await app.close();
    });

    it("promotes: wisdom-0 takes v1, wisdom-1 is deleted", async () => {
        const plan = await manager.promote("wisdom", true);
        assert.deepEqual(plan.changes, { update: 3, delete: 2 });
        assert.deepEqual(await isvcs(), ["wisdom-0"]);
        const status = await manager.status("wisdom");
        assert.deepEqual(status.traffic, [
            { version: "wisdom-0", role: "primary", weight: 1, percent: 100, livePercent: 100, ready: true },
        ]);
        assert.equal(status.drift, false);
    });

    it("rolls back a candidate: it is deleted and the primary keeps all traffic", async () => {
        await manager.addCandidate("wisdom", v("v2"), true);
        assert.deepEqual(await isvcs(), ["wisdom-0", "wisdom-1"]);
        const plan = await manager.rollback("wisdom", true);
        assert.deepEqual(
            plan.trafficAfter.map((r) => r.percent),
            [100],
        );
        assert.deepEqual(await isvcs(), ["wisdom-0"]);
    });

    it("removes the release", async () => {
        const plan = await manager.remove("wisdom", true);
        assert.equal(plan.applied, true);
        assert.deepEqual(await isvcs(), []);
    });
});
