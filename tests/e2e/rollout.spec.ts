// Automated progressive rollouts on the real engine and local control plane, judged on a real
// Prometheus that scrapes this test's exporter (per-version request, error and latency series
// the test steers), with a webhook check and a notification receiver served here.
import * as assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import * as path from "node:path";

import { ReleaseManager } from "../../automation/releases";
import { RolloutRunner, targetOf } from "../../automation/rollout";
import { FileRolloutStore, RolloutEvent, RolloutJob } from "../../automation/rolloutJobs";
import { RolloutService } from "../../automation/rolloutService";
import { ReleaseStack, changes } from "../../automation/stack";
import { LocalCluster } from "../../e2e/cluster";
import { engineEnv } from "../../e2e/engine";
import { MetricsExporter, startExporter } from "../../e2e/metricsExporter";
import { PrometheusServer, startPrometheus } from "../../e2e/prometheus";
import { POLICY_PACK, defaultRouteWeights, fixture, killTree, service } from "./helpers";

const NS = "rollout";
const APP = "scorer";
const CLI = path.resolve(__dirname, "..", "..", "cli", "model-release.js");
const LOCK_STALE_MS = "4000";
const HOOK_TOKEN = "T0K3N-b7f1c2d9e4";

const version = (name: string, weight: number) => ({
    name,
    image: "example.com/scorer:1",
    weight,
    labels: { "app.kubernetes.io/version": name },
});

/** A local HTTP receiver that records JSON bodies and answers with `answer()`. */
async function receiver(answer: () => { status: number; body: unknown } = () => ({ status: 200, body: {} })) {
    const calls: Record<string, unknown>[] = [];
    const paths: string[] = [];
    const server = http.createServer((req, res) => {
        let text = "";
        req.on("data", (c: Buffer) => (text += c.toString()));
        req.on("end", () => {
            calls.push(JSON.parse(text || "{}") as Record<string, unknown>);
            paths.push(req.url ?? "");
            const { status, body } = answer();
            res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    return { calls, paths, url, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe("e2e: automated progressive rollout (real engine, real Prometheus)", function () {
    this.timeout(30 * 60 * 1000);
    let cluster: LocalCluster;
    let stack: ReleaseStack;
    let manager: ReleaseManager;
    let bin: string;
    let exporter: MetricsExporter;
    let prometheus: PrometheusServer;
    let webhook: Awaited<ReturnType<typeof receiver>>;
    let notified: Awaited<ReturnType<typeof receiver>>;

    let store: FileRolloutStore;

    const weights = async () => Object.fromEntries(await defaultRouteWeights(cluster, NS, APP));
    const rollout = (extra: Record<string, unknown> = {}) => ({
        steps: [10, 25, 50],
        interval: "4s",
        analysis: [
            {
                name: "success-rate",
                prometheus: {
                    query: '(sum(rate(model_requests_total{namespace="{{namespace}}",version="{{version}}"}[{{interval}}])) - sum(rate(model_request_errors_total{namespace="{{namespace}}",version="{{version}}"}[{{interval}}]))) / sum(rate(model_requests_total{namespace="{{namespace}}",version="{{version}}"}[{{interval}}]))',
                    min: 0.99,
                },
            },
            {
                name: "p99-latency",
                prometheus: {
                    query: 'histogram_quantile(0.99, sum by (le) (rate(model_request_duration_seconds_bucket{namespace="{{namespace}}",version="{{version}}"}[{{interval}}])))',
                    max: 0.5,
                },
            },
            { name: "smoke", webhook: { url: webhook.url, timeout: "5s" } },
        ],
        notify: [{ webhook: notified.url }],
        ...extra,
    });
    const release = (versions: Record<string, unknown>[], extra: Record<string, unknown> = {}) => ({
        [APP]: {
            environment: "deployment",
            strategy: "blue-green",
            namespace: NS,
            readiness: { deployment: "available", timeoutSeconds: 60 },
            versions,
            rollout: rollout(extra),
        },
    });
    const healthy = (name: string) => exporter.set(NS, name, { rps: 20, errorRate: 0, latencySeconds: 0.05 });

    function runner(onEvent?: (job: RolloutJob, event: RolloutEvent) => void): RolloutRunner {
        return new RolloutRunner({ store, prometheusUrl: prometheus.url, heartbeatMs: 500, onEvent });
    }

    before(async function () {
        ({ cluster, stack, bin } = await fixture(NS));
        manager = new ReleaseManager(stack, { policyPacks: [POLICY_PACK] });
        store = new FileRolloutStore(stack.stack.workspace.workDir);
        exporter = await startExporter();
        prometheus = await startPrometheus({ targets: [`127.0.0.1:${exporter.port}`], scrapeInterval: "1s" });
        webhook = await receiver(() => ({ status: 200, body: { pass: true } }));
        notified = await receiver();
        healthy("scorer-blue");
        healthy("scorer-green");
        await stack.setReleases(release([version("scorer-blue", 100), version("scorer-green", 0)]));
        // The receiver's URL carries a token (as Slack's do): it is set as a secret.
        await stack.stack.setConfig(
            `model-release:releases["${APP}"].rollout.notify[0].webhook`,
            { value: `${notified.url}/${HOOK_TOKEN}`, secret: true },
            true,
        );
        assert.ok(!fs.readFileSync(stack.configPath, "utf8").includes(HOOK_TOKEN));
        const up = await stack.up({ policyPacks: [POLICY_PACK] });
        assert.equal(up.summary.result, "succeeded");
        assert.deepEqual(await weights(), { "scorer-blue": 100 }, "a 0% version has no route");
    });
    after(async function () {
        await prometheus?.stop().catch(() => undefined);
        await exporter?.stop().catch(() => undefined);
        await webhook?.close();
        await notified?.close();
        await stack?.cleanup().catch(() => undefined);
    });

    it("(1, 5) a healthy candidate goes 10 -> 25 -> 50 -> promoted; every step a recorded operation; webhook and receiver see each step", async () => {
        const seen: Record<string, number>[] = [];
        const r = runner((_job, event) => {
            if (event.event === "step") void weights().then((w) => seen.push(w));
        });
        const target = targetOf(manager, APP, "e2e-alice", 25);
        const job = await r.drive(await r.create(target, "e2e-alice"), target);
        assert.equal(job.status, "promoted", job.reason);
        // The cluster carried each planned split in turn.
        assert.deepEqual(seen, [
            { "scorer-blue": 90, "scorer-green": 10 },
            { "scorer-blue": 75, "scorer-green": 25 },
            { "scorer-blue": 50, "scorer-green": 50 },
        ]);
        assert.deepEqual(await weights(), { "scorer-green": 100 });
        const status = await manager.status(APP);
        assert.deepEqual(
            status.traffic.map((r) => [r.version, r.percent, r.livePercent]),
            [["scorer-green", 100, 100]],
        );
        // Each step is an ordinary operation: journaled and logged under the principal, with the
        // ids the job's events carry, and an update in the stack's history.
        const records = (await manager.coordinator.records()).filter((r) => r.event === "finished");
        const stepIds = job.events.filter((e) => e.event === "step").map((e) => e.operationId);
        const logged = records.filter((r) => r.operation === "rollout-step");
        assert.deepEqual(
            logged.map((r) => r.id),
            stepIds,
        );
        assert.ok(logged.every((r) => r.principal === "e2e-alice" && r.detail === "applied"));
        assert.ok(records.some((r) => r.operation === "promote" && r.principal === "e2e-alice"));
        const history = await stack.stack.history();
        assert.ok(history.filter((h) => h.kind === "update" && h.result === "succeeded").length >= 5);
        // Judged on real data: the checks' values come from Prometheus.
        const judged = job.events.filter((e) => e.event === "judged");
        assert.equal(judged.length, 3);
        for (const e of judged) {
            const rate = e.checks?.find((c) => c.name === "success-rate");
            assert.equal(rate?.outcome, "pass");
            assert.equal(rate?.value, 1);
            const p99 = e.checks?.find((c) => c.name === "p99-latency");
            assert.ok(p99?.value !== undefined && p99.value <= 0.1, `p99 ${p99?.value}`);
        }
        // (5) The webhook check was called once per step with the rollout's context; the receiver
        // got started, each step and promoted.
        assert.deepEqual(
            webhook.calls.map((c) => [c.check, c.candidate, c.step, c.percent]),
            [
                ["smoke", "scorer-green", 1, 10],
                ["smoke", "scorer-green", 2, 25],
                ["smoke", "scorer-green", 3, 50],
            ],
        );
        assert.deepEqual(
            notified.calls.map((c) => [c.event, c.percent]),
            [
                ["started", 0],
                ["step", 10],
                ["step", 25],
                ["step", 50],
                ["promoted", 100],
            ],
        );
        assert.ok(notified.calls.every((c) => typeof c.text === "string" && (c.text as string).includes(APP)));
        // The secret receiver URL was decrypted for the POSTs only: not in the stack file, the
        // job, the operations log or the engine's state.
        assert.ok(notified.paths.every((p) => p === `/hook/${HOOK_TOKEN}`));
        const written = [
            fs.readFileSync(stack.configPath, "utf8"),
            JSON.stringify(await store.get(job.id)),
            JSON.stringify(await manager.coordinator.records()),
            JSON.stringify(await stack.stack.exportStack()),
        ];
        for (const text of written) assert.ok(!text.includes(HOOK_TOKEN), "the secret URL is written nowhere");
    });

    it("(2) the error rate rises at step 2: automatic rollback to 100% primary, candidate kept, report names the check and its values", async () => {
        healthy("scorer-red");
        await manager.addCandidate(APP, version("scorer-red", 0), true);
        const r = runner((_job, event) => {
            if (event.event === "step" && event.percent === 25) {
                exporter.set(NS, "scorer-red", { rps: 20, errorRate: 0.2, latencySeconds: 0.05 });
            }
        });
        const target = targetOf(manager, APP, "e2e-alice", 25);
        const job = await r.drive(await r.create(target, "e2e-alice"), target);
        assert.equal(job.status, "rolled-back", job.reason);
        assert.match(job.reason ?? "", /at step 2 \(25%\): success-rate: 0\.[78]\d* < min 0\.99/);
        const failed = job.checks?.find((c) => c.name === "success-rate");
        assert.equal(failed?.outcome, "fail");
        assert.ok(failed?.value !== undefined && failed.value > 0.7 && failed.value < 0.9, `value ${failed?.value}`);
        assert.deepEqual(await weights(), { "scorer-green": 100 });
        const candidate = await cluster.get(`/apis/apps/v1/namespaces/${NS}/deployments/scorer-red`);
        assert.ok(candidate, "the candidate is kept for inspection");
        assert.deepEqual(
            notified.calls.slice(-1).map((c) => c.event),
            ["rolled-back"],
        );
    });

    it("(3) Prometheus stops mid-rollout: the rollout pauses at its step and never promotes", async () => {
        exporter.set(NS, "scorer-red", { rps: 20, errorRate: 0, latencySeconds: 0.05 });
        const events: RolloutEvent[] = [];
        let stopped: Promise<void> | undefined;
        const r = runner((_job, event) => {
            events.push(event);
            // Killed at once: a graceful stop still running at the judgement could answer it.
            if (event.event === "step" && !stopped) {
                prometheus.kill();
                stopped = prometheus.stop();
            }
        });
        const target = targetOf(manager, APP, "e2e-alice", 25);
        const job = await r.create(target, "e2e-alice");
        const done = r.drive(job, target);
        while (events.filter((e) => e.event === "paused").length < 2) {
            await new Promise((resolve) => setTimeout(resolve, 200));
            assert.ok(events.every((e) => (e.event !== "promoted" && e.event !== "step") || e.percent === 10));
        }
        const paused = (await store.get(job.id)) as RolloutJob;
        assert.equal(paused.status, "paused");
        assert.match(paused.reason ?? "", /inconclusive at step 1 \(10%\): success-rate: Prometheus unreachable/);
        assert.deepEqual(await weights(), { "scorer-green": 90, "scorer-red": 10 });
        await r.request(job.id, "cancel", "e2e-bob");
        const last = await done;
        assert.equal(last.status, "cancelled");
        assert.deepEqual(await weights(), { "scorer-green": 100 });
        await stopped;
        prometheus = await startPrometheus({ targets: [`127.0.0.1:${exporter.port}`], scrapeInterval: "1s" });
    });

    it("(4) the CLI running the rollout is killed mid-step: run again, it resumes; traffic only ever at planned percents", async () => {
        const env = {
            ...process.env,
            ...engineEnv(bin, stack.backendDir, cluster.kubeconfig),
            MODEL_RELEASE_LOCK_STALE_MS: LOCK_STALE_MS,
        };
        const args = [
            CLI,
            "rollout",
            APP,
            "--stack",
            NS,
            "--work-dir",
            stack.stack.workspace.workDir,
            "--policy-pack",
            POLICY_PACK,
            "--prometheus-url",
            prometheus.url,
            "--json",
        ];
        // Watch the live split all along: only planned percents may ever show.
        const observed = new Set<number>();
        let watching = true;
        const watcher = (async () => {
            while (watching) {
                const w = await weights().catch(() => undefined);
                if (w) observed.add(w["scorer-red"] ?? 0);
                await new Promise((resolve) => setTimeout(resolve, 100));
            }
        })();
        const first: ChildProcess = spawn(process.execPath, args, {
            env,
            detached: true,
            stdio: ["ignore", "pipe", "pipe"],
        });
        let out = "";
        first.stdout?.on("data", (c: Buffer) => (out += c.toString()));
        // Kill it while step 2 is being applied (its journal in `up`).
        const started = Date.now();
        for (;;) {
            assert.ok(Date.now() - started < 180_000, `step 2 started:\n${out}`);
            const entry = manager.files.readJournal();
            if (entry?.operation === "rollout-step" && out.includes('"percent":10') && entry.phase === "up") break;
            await new Promise((resolve) => setTimeout(resolve, 20));
        }
        killTree(first.pid as number, { group: true });
        await new Promise((resolve) => (first.exitCode !== null ? resolve(undefined) : first.once("exit", resolve)));
        const [left] = await store.list({ release: APP, active: true });
        assert.ok(left, "the job stays active");
        const again = await new Promise<{ status: number | null; stdout: string }>((resolve) => {
            const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
            let stdout = "";
            child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
            child.on("close", (status) => resolve({ status, stdout }));
        });
        watching = false;
        await watcher;
        const lines = again.stdout
            .trim()
            .split("\n")
            .map((l) => JSON.parse(l) as Record<string, unknown>);
        const result = lines[lines.length - 1] as { type: string; job: RolloutJob };
        assert.equal(again.status, 0, again.stdout);
        assert.equal(result.job.id, left.id, "the same job was resumed");
        assert.equal(result.job.status, "promoted");
        assert.ok(lines.some((l) => l.event === "resumed"));
        for (const p of observed) assert.ok([0, 10, 25, 50, 100].includes(p), `unplanned percent ${p} seen`);
        assert.deepEqual(await weights(), { "scorer-red": 100 });
        const preview = await stack.preview({ policyPacks: [POLICY_PACK] });
        assert.deepEqual(changes(preview.changeSummary), {}, "config = state after the resumed rollout");
    });

    it("the service runs a rollout as a background job: 202, GET, promote a holding rollout; an operator without grants is refused", async () => {
        healthy("scorer-gold");
        await manager.addCandidate(APP, version("scorer-gold", 0), true);
        const config = await stack.releases();
        const withHold = structuredClone(config) as Record<string, { rollout: Record<string, unknown> }>;
        withHold[APP].rollout = { ...withHold[APP].rollout, steps: [20], onSuccess: "hold" };
        await stack.setReleases(withHold);
        const rollouts = new RolloutService({
            store,
            managerFor: async () => manager,
            prometheusUrl: prometheus.url,
            heartbeatMs: 500,
            scanMs: 0,
        });
        const svc = service(
            manager,
            [
                { name: "platform", role: "admin" },
                {
                    name: "intruder",
                    role: "operator",
                    grants: { stacks: ["other"], releases: ["*"], namespaces: ["*"] },
                },
            ],
            // Polling a job for minutes on a slow machine outruns the default 60 requests a minute;
            // the limit itself is tested in tests/automation/server.spec.ts.
            { rollouts, rateLimit: { max: 600, windowMs: 60_000 } },
        );
        try {
            const forbidden = await svc.app.inject({
                method: "POST",
                url: `/stacks/${NS}/releases/${APP}/rollouts`,
                headers: { authorization: svc.auth("intruder") },
            });
            assert.equal(forbidden.statusCode, 403);
            const started = await svc.app.inject({
                method: "POST",
                url: `/stacks/${NS}/releases/${APP}/rollouts`,
                headers: { authorization: svc.auth("platform") },
            });
            assert.equal(started.statusCode, 202, started.body);
            const { id } = started.json<{ id: string }>();
            const get = () =>
                svc.app.inject({
                    method: "GET",
                    url: `/stacks/${NS}/releases/${APP}/rollouts/${id}`,
                    headers: { authorization: svc.auth("platform") },
                });
            let job: { status: string; percent: number; driven: boolean; owner?: string };
            for (const t0 = Date.now(); ;) {
                job = (await get()).json();
                if (job.status === "holding") break;
                assert.ok(["running", "paused"].includes(job.status), JSON.stringify(job));
                assert.ok(Date.now() - t0 < 180_000);
                await new Promise((resolve) => setTimeout(resolve, 1000));
            }
            assert.equal(job.percent, 20);
            assert.equal(job.driven, true);
            assert.equal(job.owner, undefined, "no host or pid in answers");
            assert.deepEqual(await weights(), { "scorer-red": 80, "scorer-gold": 20 });
            const promoted = await svc.app.inject({
                method: "POST",
                url: `/stacks/${NS}/releases/${APP}/rollouts/${id}/promote`,
                headers: { authorization: svc.auth("platform") },
            });
            assert.equal(promoted.statusCode, 202, promoted.body);
            for (const t0 = Date.now(); (job = (await get()).json()).status !== "promoted";) {
                assert.ok(Date.now() - t0 < 180_000, JSON.stringify(job));
                await new Promise((resolve) => setTimeout(resolve, 1000));
            }
            assert.deepEqual(await weights(), { "scorer-gold": 100 });
            const audit = fs
                .readFileSync(svc.auditLog, "utf8")
                .trim()
                .split("\n")
                .map((l) => JSON.parse(l) as Record<string, unknown>);
            assert.deepEqual(
                audit.filter((r) => r.event === "result").map((r) => [r.who, r.result, r.rolloutId]),
                [
                    ["platform", "accepted", id],
                    ["platform", "accepted", id],
                ],
            );
            assert.ok(audit.some((r) => r.event === "refused" && r.who === "intruder" && r.status === 403));
        } finally {
            await rollouts.close();
            await svc.app.close();
        }
    });
});
