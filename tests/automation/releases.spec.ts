import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { stringify } from "yaml";

import { WorkerDiedError } from "../../automation/engineWorkers";
import { BusyError, RefusedError, ReleaseManager } from "../../automation/releases";
import { ReadinessUnknownError } from "../../automation/readiness";
import { ReleaseStack } from "../../automation/stack";
import { StackConfigFile } from "../../automation/stackConfig";
import { modelVersion, wisdom } from "../components/fixtures";

/**
 * A ReleaseStack double over a real stack file in a temp project: enough for what happens before
 * the engine runs (lock, journal, config read, readiness). Reaching the engine is a test failure.
 */
function stackDouble(config: Record<string, unknown>): ReleaseStack {
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "releases-"));
    const file = path.join(workDir, "Pulumi.dev.yaml");
    fs.writeFileSync(file, stringify({ config }));
    const engine = () => {
        throw new Error("the engine must not run");
    };
    return {
        backendDir: "",
        configPath: file,
        readConfig: () => StackConfigFile.read(file, "model-release:releases"),
        releases: async () => StackConfigFile.read(file, "model-release:releases").releases(),
        writeProposed: engine,
        preview: engine,
        up: engine,
        stack: { name: "dev", workspace: { workDir, envVars: {} }, getConfig: engine },
    } as unknown as ReleaseStack;
}

const twoVersions = () => ({
    "model-release:releases": { wisdom: wisdom([modelVersion("v0"), modelVersion("v1")]) },
});

describe("ReleaseManager before the engine runs", () => {
    it("refuses a promotion when readiness cannot be read, naming the reason", async () => {
        const manager = new ReleaseManager(stackDouble(twoVersions()), {
            readiness: async () => {
                throw new ReadinessUnknownError(
                    "readiness of InferenceService models/wisdom-1 could not be read (ECONNREFUSED)",
                );
            },
        });
        await assert.rejects(manager.promote("wisdom", true), (e: unknown) => {
            assert.ok(e instanceof RefusedError);
            assert.match(e.message, /could not be read \(ECONNREFUSED\); a promotion needs the candidate to be Ready/);
            return true;
        });
    });

    it("by default reads the stack's cluster: an unreachable one refuses the promotion", async () => {
        const kubeconfig = stringify({
            apiVersion: "v1",
            kind: "Config",
            clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:1", "insecure-skip-tls-verify": true } }],
            users: [{ name: "u", user: { token: "t" } }],
            contexts: [{ name: "ctx", context: { cluster: "c", user: "u" } }],
            "current-context": "ctx",
        });
        const kubeconfigFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "kubeconfig-")), "config");
        fs.writeFileSync(kubeconfigFile, kubeconfig);
        const stack = stackDouble({ ...twoVersions(), "kubernetes:kubeconfig": kubeconfigFile });
        const manager = new ReleaseManager(stack);
        await assert.rejects(manager.promote("wisdom", true), (e: unknown) => {
            assert.ok(e instanceof RefusedError, String(e));
            assert.match(e.message, /wisdom-1 could not be read from the cluster \(ECONNREFUSED\)/);
            assert.ok(!e.message.includes("127.0.0.1"), e.message);
            return true;
        });
        const status = await manager.status("wisdom");
        assert.deepEqual(
            status.traffic.map((r) => [r.ready, r.livePercent]),
            [
                ["unknown", "unknown"],
                ["unknown", "unknown"],
            ],
        );
        assert.equal(status.drift, false, "unknown live routing is not reported as drift");
    });

    it("a refused operation is logged and leaves no journal; the lock is free again", async () => {
        const stack = stackDouble(twoVersions());
        const manager = new ReleaseManager(stack, { readiness: async () => false, principal: "ops@example" });
        await assert.rejects(manager.promote("wisdom", true), /wisdom-1 is not Ready/);
        assert.equal(manager.files.readJournal(), undefined);
        assert.deepEqual(
            manager.files.records().map((r) => [r.event, r.operation, r.principal]),
            [
                ["started", "promote", "ops@example"],
                ["failed", "promote", "ops@example"],
            ],
        );
        await assert.rejects(manager.promote("wisdom", true), RefusedError, "not BusyError: the lock was released");
    });

    it("an operation already running on the stack in this process is busy", async () => {
        let release: () => void = () => undefined;
        const gate = new Promise<boolean>((resolve) => (release = () => resolve(false)));
        const stack = stackDouble(twoVersions());
        const manager = new ReleaseManager(stack, { readiness: () => gate });
        const first = manager.promote("wisdom", true);
        await new Promise((resolve) => setTimeout(resolve, 50));
        await assert.rejects(manager.promote("wisdom", true), BusyError);
        release();
        await assert.rejects(first, RefusedError);
    });
});

describe("ReleaseManager when the engine worker dies", () => {
    it("reports the operation failed and recovers the stack before releasing it", async () => {
        const base = stackDouble(twoVersions());
        const calls: string[] = [];
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "proposed-"));
        const stack = Object.assign(base, {
            writeProposed: (text: string) => {
                const file = path.join(dir, "proposed-Pulumi.dev.yaml");
                fs.writeFileSync(file, text);
                return file;
            },
            run: async (kind: string, options: { clearPendingCreates?: boolean }) => {
                calls.push(`${kind}${options.clearPendingCreates ? " --clear-pending-creates" : ""}`);
                if (kind === "preview") return { changeSummary: { update: 1 } };
                if (kind === "up") throw new WorkerDiedError("up: step of wisdom (stack dev)", 4242, "signal SIGKILL");
                return { changeSummary: {} };
            },
            cancelStaleUpdate: async () => void calls.push("cancel"),
        }) as unknown as ReleaseStack;
        const manager = new ReleaseManager(stack, { readiness: async () => true, principal: "ops@example" });
        await assert.rejects(manager.step("wisdom", 10, true), WorkerDiedError);
        assert.deepEqual(calls, ["preview", "up", "cancel", "refresh --clear-pending-creates"]);
        assert.equal(manager.files.readJournal(), undefined, "recovered: no journal left");
        const records = manager.files.records();
        assert.deepEqual(
            records.map((r) => r.event),
            ["started", "failed", "recovered"],
        );
        assert.match(records[1].detail ?? "", /WorkerDiedError: .*died \(signal SIGKILL\)/);
        assert.match(records[2].detail ?? "", /interrupted in up .*cancelled the interrupted update; refreshed state/);
        // The stack file is the config of record as it was: the step was never committed.
        assert.doesNotMatch(fs.readFileSync(stack.configPath, "utf8"), /weight: 40/);
        // The lock is free: the next operation runs (and reaches the engine again).
        calls.length = 0;
        await assert.rejects(manager.step("wisdom", 10, true), WorkerDiedError);
        assert.deepEqual(calls.slice(0, 2), ["preview", "up"]);
    });
});
