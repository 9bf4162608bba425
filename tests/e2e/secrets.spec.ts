// Secret config on the real engine: a storage credential set with `pulumi config set --secret
// --path` must stay ciphertext through every release operation (applied, refused, failed,
// preview-only), and must never show in the stack file, the state, a child process's argv, the
// engine's event stream, the CLI's output or the status; the cluster's Secret keeps the value.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { EngineEvent } from "@pulumi/pulumi/automation";

import { RefusedError, ReleaseManager } from "../../automation/releases";
import { ReleaseStack } from "../../automation/stack";
import { LocalCluster } from "../../e2e/cluster";
import { ControllerStub } from "../../e2e/controllerStub";
import { engineEnv, localStackOptions } from "../../e2e/engine";
import { environment } from "../../e2e/environment";
import { POLICY_PACK, runProcess, service } from "./helpers";

const NS = "secrets";
const SECRET = "s3cr3t-Wk9vQm5x";
const SECRET_B64 = Buffer.from(SECRET).toString("base64");
const KEY_PATH = "releases.wisdom.storageCredentials.data.AWS_SECRET_ACCESS_KEY";
const MODEL = "gs://seldon-models/sklearn/mms/lr_model";
const v = (label: string) => ({ storageUri: MODEL, labels: { "app.kubernetes.io/version": label } });

/** Every file under a directory, recursively. */
function filesUnder(dir: string): string[] {
    if (!fs.existsSync(dir)) return [];
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const full = path.join(dir, e.name);
        return e.isDirectory() ? filesUnder(full) : [full];
    });
}

/**
 * A `pulumi` that appends its argv to a log, then runs the real one: every command line the
 * library and the CLI start is recorded.
 */
function argvRecorder(bin: string, log: string): string {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-argv-"));
    fs.mkdirSync(path.join(root, "bin"));
    const shim = path.join(root, "bin", "pulumi");
    fs.writeFileSync(shim, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec '${path.join(bin, "pulumi")}' "$@"\n`);
    fs.chmodSync(shim, 0o755);
    return root;
}

describe("e2e: secret config stays encrypted through every operation (real engine)", function () {
    this.timeout(30 * 60 * 1000);
    let cluster: LocalCluster;
    let stub: ControllerStub;
    let stack: ReleaseStack;
    let manager: ReleaseManager;
    let bin: string;
    let backendDir: string;
    let argvLog: string;
    let shimRoot: string;
    let secureLine: string;
    let svc: ReturnType<typeof service>;
    const captured: string[] = [];
    const capture = (event: EngineEvent) => captured.push(JSON.stringify(event));

    /** No trace of the secret anywhere we can look; the cluster's Secret still holds it. */
    async function assertNoPlaintext(after: string, secretExpected = true): Promise<void> {
        const places: [string, string][] = [
            ["stack file", fs.readFileSync(stack.configPath, "utf8")],
            ["argv of pulumi runs", fs.existsSync(argvLog) ? fs.readFileSync(argvLog, "utf8") : ""],
            ["engine events and outputs", captured.join("\n")],
            ["audit log", fs.existsSync(svc.auditLog) ? fs.readFileSync(svc.auditLog, "utf8") : ""],
            ["service logs", svc.logs.join("")],
            [
                "operations log",
                fs.existsSync(manager.files.logFile) ? fs.readFileSync(manager.files.logFile, "utf8") : "",
            ],
            ...filesUnder(backendDir)
                .filter((f) => !f.includes(".pulumi-home"))
                .map((f): [string, string] => [`state ${path.relative(backendDir, f)}`, fs.readFileSync(f, "latin1")]),
        ];
        for (const [where, text] of places) {
            assert.ok(!text.includes(SECRET), `after ${after}: plaintext secret in ${where}`);
            assert.ok(!text.includes(SECRET_B64), `after ${after}: base64 of the secret in ${where}`);
        }
        assert.equal(
            fs.readFileSync(stack.configPath, "utf8").split("\n").includes(secureLine),
            secretExpected,
            secretExpected
                ? `after ${after}: the secure value is the same ciphertext, byte for byte`
                : `after ${after}: the secure value left with its release`,
        );
        const secret = await cluster.get<{ data: Record<string, string> }>(
            `/api/v1/namespaces/${NS}/secrets/wisdom-storage`,
        );
        if (secretExpected) {
            assert.equal(secret?.data.AWS_SECRET_ACCESS_KEY, SECRET_B64, `after ${after}: the cluster's Secret`);
        } else {
            assert.equal(secret, undefined, `after ${after}: the Secret is gone`);
        }
    }

    /** Runs the model-release CLI with the argv-recording pulumi first on PATH. */
    async function cli(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
        const entry = path.resolve(__dirname, "..", "..", "cli", "model-release.js");
        const env = { ...process.env, ...engineEnv(bin, backendDir, cluster.kubeconfig) };
        env.PATH = `${path.join(shimRoot, "bin")}:${env.PATH}`;
        const common = ["--stack", NS, "--release", "wisdom", "--work-dir", stack.stack.workspace.workDir];
        const result = await runProcess(
            process.execPath,
            [entry, ...args.slice(0, 1), ...common, ...args.slice(1)],
            env,
        );
        captured.push(result.stdout, result.stderr);
        return result;
    }

    before(async function () {
        const env = await environment();
        ({ cluster, stub, bin } = env);
        await cluster.createNamespace(NS);
        backendDir = fs.mkdtempSync(path.join(os.tmpdir(), `model-release-${NS}-`));
        argvLog = path.join(backendDir, "..", `${path.basename(backendDir)}-argv.log`);
        shimRoot = argvRecorder(bin, argvLog);
        const options = localStackOptions(bin, cluster.kubeconfig, NS, backendDir);
        stack = await ReleaseStack.create({ ...options, pulumiRoot: shimRoot });
        await stack.setReleases({
            wisdom: {
                environment: "kserve",
                strategy: "blue-green",
                namespace: NS,
                modelFormat: "sklearn",
                readiness: { timeoutSeconds: 8 },
                versions: [v("v0")],
            },
        });
        // As a person would, but with the value on stdin rather than on the command line.
        await stack.setSecret(KEY_PATH, SECRET);
        secureLine = fs
            .readFileSync(stack.configPath, "utf8")
            .split("\n")
            .find((l) => /^\s+secure: v1:/.test(l)) as string;
        assert.ok(secureLine, "the credential is stored as a secure value");
        manager = new ReleaseManager(stack, { policyPacks: [POLICY_PACK], maxStep: 100, onEvent: capture });
        svc = service(manager, [{ name: "ops", role: "admin" }]);
        // The Automation API's own stack, so the raw engine events are captured, unfiltered.
        await stack.stack.up({ policyPacks: [POLICY_PACK], onEvent: capture });
        await assertNoPlaintext("the first update");
    });
    after(async function () {
        await svc?.app.close();
        stub?.neverReady.clear();
        await stack?.cleanup().catch(() => undefined);
    });

    it("preview-only add-candidate: the stack file is not touched at all", async () => {
        const before = fs.readFileSync(stack.configPath, "utf8");
        const plan = await manager.addCandidate("wisdom", v("v1"));
        assert.equal(plan.applied, false);
        assert.equal(fs.readFileSync(stack.configPath, "utf8"), before);
        await assertNoPlaintext("a preview-only add-candidate");
    });

    it("add-candidate, weights and a CLI step keep the credential encrypted", async () => {
        assert.equal((await manager.addCandidate("wisdom", v("v1"), true)).applied, true);
        await assertNoPlaintext("add-candidate");
        const weights = await svc.app.inject({
            method: "POST",
            url: `/stacks/${NS}/releases/wisdom/apply`,
            payload: { operation: "weights", weights: [80, 20] },
            headers: { authorization: svc.auth("ops") },
        });
        assert.equal(weights.statusCode, 200, weights.body);
        captured.push(weights.body);
        await assertNoPlaintext("weights through the service");
        const step = await cli("step", "--yes", "--max-step", "100", "--policy-pack", POLICY_PACK, "10");
        assert.equal(step.status, 0, step.stderr);
        await assertNoPlaintext("a CLI step");
        const status = await cli("status", "--json");
        assert.equal(status.status, 0, status.stderr);
        const httpStatus = await svc.app.inject({
            method: "GET",
            url: `/stacks/${NS}/releases/wisdom`,
            headers: { authorization: svc.auth("ops") },
        });
        assert.equal(httpStatus.statusCode, 200, httpStatus.body);
        captured.push(httpStatus.body);
        assert.deepEqual(
            JSON.parse(status.stdout).traffic.map((r: { percent: number }) => r.percent),
            [70, 30],
        );
        await assertNoPlaintext("status");
    });

    it("rollback, a step over the limit refused, a failed update and a refused promotion", async () => {
        assert.equal((await manager.rollback("wisdom", true)).applied, true);
        await assertNoPlaintext("rollback");

        stub.neverReady.add(`${NS}/wisdom-1`);
        const before = fs.readFileSync(stack.configPath, "utf8");
        await assert.rejects(manager.addCandidate("wisdom", v("v3"), true), /wisdom-1/);
        assert.equal(fs.readFileSync(stack.configPath, "utf8"), before, "a failed update leaves the config of record");
        await assertNoPlaintext("a failed update");

        // The candidate is in config (as a person would add it) but not Ready: promotion is refused
        // on what the cluster reports, with no probe passed to the manager.
        const single = await stack.releases();
        const withCandidate = structuredClone(single) as { wisdom: { versions: unknown[] } };
        withCandidate.wisdom.versions.push(v("v3"));
        await stack.setReleases(withCandidate);
        await assert.rejects(manager.promote("wisdom", true), (e: unknown) => {
            assert.ok(e instanceof RefusedError);
            assert.match(e.message, /secrets\/wisdom-1 is not Ready/);
            return true;
        });
        const cliPromote = await cli("promote", "--yes", "--policy-pack", POLICY_PACK);
        assert.equal(cliPromote.status, 3, cliPromote.stderr);
        assert.match(cliPromote.stderr, /wisdom-1 is not Ready/);
        const httpPromote = await svc.app.inject({
            method: "POST",
            url: `/stacks/${NS}/releases/wisdom/apply`,
            payload: { operation: "promote" },
            headers: { authorization: svc.auth("ops") },
        });
        captured.push(httpPromote.body);
        assert.equal(httpPromote.statusCode, 409, httpPromote.body);
        assert.match(httpPromote.body, /wisdom-1 is not Ready/);
        const refusedStep = await cli("step", "--yes", "--max-step", "5", "--policy-pack", POLICY_PACK, "10");
        assert.equal(refusedStep.status, 2, refusedStep.stderr);
        assert.match(refusedStep.stderr, /5-point limit/);
        await assertNoPlaintext("a refused promotion and a refused step");
        await stack.setReleases(single);
        stub.neverReady.clear();
        await stack.refresh({ clearPendingCreates: true });
        await stack.up({ policyPacks: [POLICY_PACK], onEvent: capture });
    });

    it("promote of a Ready candidate, then remove", async () => {
        await manager.addCandidate("wisdom", v("v4"), true);
        const promoted = await manager.promote("wisdom", true);
        assert.equal(promoted.applied, true);
        await assertNoPlaintext("promote");
        await manager.remove("wisdom", true);
        await assertNoPlaintext("remove", false);
    });
});
