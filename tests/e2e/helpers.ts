// Shared steps of the end-to-end tests: a stack per test file in its own namespace, and the
// preview -> up -> preview-again cycle every config edit goes through.
import * as assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { isDeepStrictEqual } from "node:util";

import { PreviewResult } from "@pulumi/pulumi/automation";

import { LocalCluster } from "../../e2e/cluster";
import { POLICY_PACK, localStackOptions } from "../../e2e/engine";
import { Environment, environment, startedEnvironment } from "../../e2e/environment";
import { analyzeIstio, analyzedFingerprint, unjustified } from "../../e2e/istioAnalysis";
import { Authenticator, Grants, Role, TokenTable, sha256Hex } from "../../automation/auth";
import { ReleaseManager } from "../../automation/releases";
import { ServerOptions, buildServer } from "../../automation/server";
import { ReleaseStack, changes } from "../../automation/stack";

export { POLICY_PACK };

export interface Fixture extends Environment {
    stack: ReleaseStack;
    namespace: string;
}

/** The shared environment, a namespace and a stack named after it. */
export async function fixture(namespace: string): Promise<Fixture> {
    const env = await environment();
    await env.cluster.createNamespace(namespace);
    const backendDir = fs.mkdtempSync(path.join(os.tmpdir(), `model-release-${namespace}-`));
    const stack = await ReleaseStack.create(localStackOptions(env.bin, env.cluster.kubeconfig, namespace, backendDir));
    return { ...env, stack, namespace };
}

/**
 * One config edit: preview (with the policy pack) must show exactly `expected` changes and no
 * replace; up must succeed; a second preview must show no changes. Returns the first preview.
 */
export async function applyStep(
    stack: ReleaseStack,
    releases: Record<string, unknown>,
    expected: Record<string, number>,
): Promise<PreviewResult> {
    await stack.setReleases(releases);
    const preview = await stack.preview({ policyPacks: [POLICY_PACK] });
    assert.deepEqual(changes(preview.changeSummary), expected, `preview:\n${preview.stdout}`);
    assert.equal(preview.changeSummary.replace ?? 0, 0, "no replace");
    const up = await stack.run("up", { policyPacks: [POLICY_PACK] });
    assert.equal(up.result, "succeeded");
    assert.deepEqual(changes(up.changeSummary), expected, "the update applied what the preview showed");
    await assertConverged(stack);
    await assertIstioAnalysis(`after an update to ${JSON.stringify(expected)}`);
    return preview;
}

/** Reads `probe` every 200 ms until `done` holds of its value, for at most `ms`: the last value read, and whether it did. */
async function poll<T>(
    probe: () => Promise<T>,
    done: (value: T) => boolean,
    ms: number,
): Promise<{ value: T; held: boolean }> {
    const deadline = Date.now() + ms;
    for (;;) {
        const value = await probe();
        if (done(value)) return { value, held: true };
        if (Date.now() > deadline) return { value, held: false };
        await new Promise((resolve) => setTimeout(resolve, 200));
    }
}

/** The value of `probe` once `done` holds of it; fails naming `what` and the last value after `ms`. */
export async function until<T>(
    what: string,
    probe: () => Promise<T>,
    done: (value: T) => boolean,
    ms = 30_000,
): Promise<T> {
    const { value, held } = await poll(probe, done, ms);
    if (!held) assert.fail(`${what}: still ${JSON.stringify(value)} after ${ms / 1000} s`);
    return value;
}

/**
 * Asserts what a controller writes after an update returns (the engine does not wait for it):
 * reads until the value deep-equals `expected`, for at most `ms`, then asserts it.
 */
export async function eventually<T>(read: () => Promise<T>, expected: T, message: string, ms = 30_000): Promise<void> {
    const { value } = await poll(read, (v) => isDeepStrictEqual(v, expected), ms);
    assert.deepEqual(value, expected, message);
}

/** `pid` and every process descended from it, read before anything is killed. */
function processTree(pid: number): number[] {
    const children = new Map<number, number[]>();
    for (const line of execFileSync("ps", ["-eo", "pid=,ppid="], { encoding: "utf8" }).trim().split("\n")) {
        const [child, parent] = line.trim().split(/\s+/).map(Number);
        children.set(parent, [...(children.get(parent) ?? []), child]);
    }
    const tree: number[] = [];
    const visit = (p: number): void => {
        tree.push(p);
        for (const c of children.get(p) ?? []) visit(c);
    };
    visit(pid);
    return tree;
}

/**
 * SIGKILLs a process, its process group when `group`, and everything it started, as a machine or
 * container going away would. Pulumi starts each plugin (provider, policy pack) in a process group
 * of its own: killing the CLI or its group alone leaves them running after the test.
 */
export function killTree(pid: number, opts: { group?: boolean } = {}): void {
    const tree = processTree(pid);
    const kill = (target: number) => {
        try {
            process.kill(target, "SIGKILL");
        } catch {
            // Gone already.
        }
    };
    if (opts.group) kill(-pid);
    for (const p of tree) kill(p);
}

/**
 * What Istio's analyzers did in this process: runs, time spent, steps whose objects had not
 * changed since a clean analysis (skipped), and messages by level and code.
 */
export const istioFindings = { runs: 0, ms: 0, unchanged: 0, byCode: new Map<string, number>() };

/** The analyzed objects' fingerprint at the last analysis that refused nothing. */
let lastCleanFingerprint: string | undefined;

/**
 * Istio's analyzers on the whole live cluster (when this process has started it): an error, or
 * a warning not justified in e2e/istioAnalysis.ts, fails the step. Run after every applied step
 * and, from the root hook, after every test; skipped when none of the objects they look at has
 * changed since an analysis that refused nothing (the test after its last applied step, say).
 */
export async function assertIstioAnalysis(step: string): Promise<void> {
    const env = startedEnvironment();
    if (!env) return;
    const started = Date.now();
    const fingerprint = await analyzedFingerprint(env.cluster);
    if (fingerprint === lastCleanFingerprint) {
        istioFindings.unchanged++;
        return;
    }
    const messages = await analyzeIstio(env.bin, env.cluster.kubeconfig);
    istioFindings.runs++;
    istioFindings.ms += Date.now() - started;
    for (const m of messages) {
        const key = `${m.level} ${m.code}`;
        istioFindings.byCode.set(key, (istioFindings.byCode.get(key) ?? 0) + 1);
    }
    const refused = unjustified(messages);
    if (refused.length === 0) lastCleanFingerprint = fingerprint;
    assert.deepEqual(
        refused.map((m) => `${m.level} [${m.code}]${m.origin} ${m.message}`),
        [],
        `Istio's analyzers ${step}`,
    );
}

/** Spurious second previews seen (provider 4.25 recording a pre-patch object; see README). */
export const staleOutputs: string[] = [];

/**
 * A second preview shows no changes. Pulumi Kubernetes 4.25 can record an object as read before
 * a metadata-only patch (its watch drops stale events by generation only), which shows as a
 * spurious update; in that case the live objects are read back (refresh) and the preview must
 * then be empty: what is in the cluster matches the config. Without the policy pack: it changes no
 * diff, the update before it ran with it, and starting it costs seconds of CPU per step.
 */
export async function assertConverged(stack: ReleaseStack): Promise<void> {
    let again = await stack.preview();
    // A refresh that reads an object while a controller is still writing it can record the stale
    // copy again: two refreshes at most, then the preview must be empty.
    for (let refreshes = 0; refreshes < 2 && Object.keys(changes(again.changeSummary)).length > 0; refreshes++) {
        staleOutputs.push(again.stdout);
        await new Promise((resolve) => setTimeout(resolve, 1000));
        await stack.run("refresh");
        again = await stack.preview();
    }
    assert.deepEqual(changes(again.changeSummary), {}, `a second preview shows no changes:\n${again.stdout}`);
}

/** Weights of the VirtualService's default (last) route, as [version, weight] pairs. */
export async function defaultRouteWeights(
    cluster: LocalCluster,
    namespace: string,
    app: string,
): Promise<[string, number][]> {
    const vs = await cluster.get<{
        spec: { http: { route: { weight?: number; headers?: { response?: { set?: Record<string, string> } } }[] }[] };
    }>(`/apis/networking.istio.io/v1/namespaces/${namespace}/virtualservices/${app}`);
    assert.ok(vs, `VirtualService ${namespace}/${app} exists`);
    const last = vs.spec.http[vs.spec.http.length - 1];
    return last.route.map((d) => [d.headers?.response?.set?.["app-version"] ?? "?", d.weight ?? 100]);
}

/** Names of the objects of a kind in a namespace (list path relative to the namespace). */
export async function names(cluster: LocalCluster, listPath: string): Promise<string[]> {
    const list = await cluster.get<{ items: { metadata: { name: string } }[] }>(listPath);
    return (list?.items ?? []).map((i) => i.metadata.name).sort();
}

/**
 * Asserts nothing the releases create is left in the namespace, nor what the controllers made
 * from it (ReplicaSets, pods, KServe's predictors): the real garbage collector deletes those
 * shortly after their owners, so they are awaited for up to 30 s.
 */
export async function assertEmpty(cluster: LocalCluster, namespace: string): Promise<void> {
    const kinds = [
        `/apis/serving.kserve.io/v1beta1/namespaces/${namespace}/inferenceservices`,
        `/apis/networking.istio.io/v1/namespaces/${namespace}/virtualservices`,
        `/apis/networking.istio.io/v1/namespaces/${namespace}/serviceentries`,
        `/apis/apps/v1/namespaces/${namespace}/deployments`,
        `/apis/apps/v1/namespaces/${namespace}/replicasets`,
        `/apis/policy/v1/namespaces/${namespace}/poddisruptionbudgets`,
        `/api/v1/namespaces/${namespace}/pods`,
        `/api/v1/namespaces/${namespace}/services`,
        `/api/v1/namespaces/${namespace}/secrets`,
    ];
    const deadline = Date.now() + 30_000;
    for (const kind of kinds) {
        let left = await names(cluster, kind);
        while (left.length > 0 && Date.now() < deadline) {
            await new Promise((resolve) => setTimeout(resolve, 250));
            left = await names(cluster, kind);
        }
        assert.deepEqual(left, [], `${kind} is empty`);
    }
    const configMaps = await names(cluster, `/api/v1/namespaces/${namespace}/configmaps`);
    assert.deepEqual(
        configMaps.filter((n) => n !== "kube-root-ca.crt"),
        [],
        "no ConfigMaps left",
    );
}

/** Runs a process to completion without blocking this one (the controller stub runs here). */
export function runProcess(
    command: string,
    args: string[],
    env: NodeJS.ProcessEnv = process.env,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
        const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
        child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
        child.on("error", reject);
        child.on("close", (status) => resolve({ status, stdout, stderr }));
    });
}

/** A principal of the e2e service: its bearer token (64 hex characters) and role. */
export interface E2ePrincipal {
    name: string;
    role: Role;
    token: string;
    grants?: Grants;
}

/** A token for a principal name (deterministic, 64 hex characters). */
export function tokenOf(name: string): string {
    return sha256Hex(`model-release-e2e:${name}`);
}

/** Audit logs of the services started here, removed when the process exits. */
const auditDirs = new Set<string>();

/**
 * The HTTP service over one manager, with the given principals, an audit log and captured
 * structured logs (every line the service's logger writes).
 */
export function service(
    manager: ReleaseManager,
    principals: Omit<E2ePrincipal, "token">[],
    extra: Partial<ServerOptions> = {},
): { app: ReturnType<typeof buildServer>; auditLog: string; logs: string[]; auth: (name: string) => string } {
    const auditDir = fs.mkdtempSync(path.join(os.tmpdir(), "audit-"));
    if (auditDirs.size === 0) {
        process.once("exit", () => auditDirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));
    }
    auditDirs.add(auditDir);
    const auditLog = path.join(auditDir, "audit.log");
    const logs: string[] = [];
    const table = new TokenTable(
        principals.map((p) => ({
            name: p.name,
            role: p.role,
            grants: p.grants,
            tokenSha256: sha256Hex(tokenOf(p.name)),
        })),
    );
    const app = buildServer({
        managerFor: async () => manager,
        authenticator: new Authenticator(table),
        audit: auditLog,
        logger: { level: "info", stream: { write: (line: string) => void logs.push(line) } },
        ...extra,
    });
    return { app, auditLog, logs, auth: (name) => `Bearer ${tokenOf(name)}` };
}
