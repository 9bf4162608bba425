import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";

import { Authenticator, Grants, Role, TokenTable, sha256Hex } from "../../automation/auth";
import { BusyError, ConflictError, OperationPlan, RefusedError } from "../../automation/releases";
import { EngineQueueFullError, WorkerDiedError } from "../../automation/engineWorkers";
import { ServerOptions, ServiceManager, buildServer } from "../../automation/server";
import { UnknownReleaseError } from "../../automation/operations";
import type { CheckResult } from "../../automation/analysis";
import { RolloutRefusedError, RolloutStateError } from "../../automation/rollout";
import { RolloutExistsError, RolloutJob, newRolloutJob } from "../../automation/rolloutJobs";
import { UnknownStackError } from "../../automation/stack";
import { ReleaseConfigError } from "../../components/validate";

/** Namespaces of the fake's releases; others do not exist. */
const NAMESPACES: Record<string, string> = { wisdom: "models", other: "models", elsewhere: "shared" };

interface Fake {
    manager: ServiceManager;
    /** Every operation call: `<name> <args> by <principal>`. */
    calls: string[];
}

/**
 * A manager double: records calls (with the principal it acts as) and answers with fixed plans;
 * the engine-backed one is tested end to end. `namespaceOf` is there unless `noNamespaces`.
 */
function fakeManager(options: { fail?: Error; noNamespaces?: boolean } = {}): Fake {
    const calls: string[] = [];
    const plan = (operation: string, applied: boolean): OperationPlan => ({
        operation,
        release: "wisdom",
        changes: { update: 1 },
        steps: [],
        trafficBefore: [{ version: "wisdom-0", role: "primary", percent: 100 }],
        trafficAfter: [{ version: "wisdom-0", role: "primary", percent: 70 }],
        applied,
    });
    const build = (principal: string): ServiceManager => {
        const op =
            (name: string) =>
            async (...args: unknown[]) => {
                calls.push(`${name} ${JSON.stringify(args.filter((a) => typeof a !== "function"))} by ${principal}`);
                if (options.fail) throw options.fail;
                return plan(name, args.includes(true));
            };
        return {
            status: async (release: string) => {
                if (options.fail) throw options.fail;
                return { release, traffic: [], drift: false };
            },
            addCandidate: op("add-candidate"),
            setWeights: op("weights"),
            step: op("step"),
            promote: op("promote"),
            rollback: op("rollback"),
            remove: op("remove"),
            applyProposal: op("apply-proposal"),
            as: (name: string) => build(name),
            ...(options.noNamespaces
                ? {}
                : {
                      namespaceOf: async (release: string) =>
                          Object.hasOwn(NAMESPACES, release) ? NAMESPACES[release] : undefined,
                  }),
        } as unknown as ServiceManager;
    };
    return { manager: build("service"), calls };
}

/** Applies in a call log (an apply passes `true`). */
const applied = (calls: string[]) => calls.filter((c) => /,true\]/.test(c) || /\[true\]/.test(c));

const token = () => randomBytes(32).toString("hex");
const TOKENS = { admin: token(), viewer: token(), operator: token(), anywhere: token(), nowhere: token() };
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

const OPERATOR_GRANTS: Grants = { stacks: ["dev", "staging-*"], releases: ["wisdom", "else*"], namespaces: ["models"] };

function authenticator(): Authenticator {
    const entry = (name: keyof typeof TOKENS, role: Role, grants?: Partial<Grants>) => ({
        name,
        role,
        tokenSha256: sha256Hex(TOKENS[name]),
        ...(grants ? { grants } : {}),
    });
    return new Authenticator(
        new TokenTable([
            entry("admin", "admin"),
            entry("viewer", "viewer"),
            entry("operator", "operator", OPERATOR_GRANTS),
            entry("anywhere", "operator", { stacks: ["*"], releases: ["*"], namespaces: ["*"] }),
            entry("nowhere", "operator"),
        ]),
    );
}

/** The driver of the fake's jobs: a host and pid that must never reach a caller. */
const OWNER = "build-host-a:98765";

/** A stored rollout job of dev/wisdom, driven by OWNER, with its internal fields set. */
function rolloutJob(fields: Partial<RolloutJob> = {}): RolloutJob {
    return {
        ...newRolloutJob({
            stack: "dev",
            release: "wisdom",
            principal: "admin",
            steps: [10, 50, 100],
            iterations: 3,
            percent: 0,
        }),
        owner: OWNER,
        heartbeatAt: new Date().toISOString(),
        handledRequestAt: "2026-01-01T00:00:00.000Z",
        ...fields,
    };
}

/** A job as the service shows it: no owner, heartbeat or handled request; whether it is driven. */
function publicView(job: RolloutJob): Record<string, unknown> {
    const { owner, heartbeatAt: _beat, handledRequestAt: _handled, ...rest } = job;
    void _beat;
    void _handled;
    return { ...rest, driven: owner !== undefined };
}

interface FakeRollouts {
    rollouts: NonNullable<ServerOptions["rollouts"]>;
    jobs: Map<string, RolloutJob>;
    /** Every call: `start <stack> <release> by <principal>`, `<action> <stack> <release> <id> by <principal>`. */
    calls: string[];
    add(job: RolloutJob): RolloutJob;
    failStart?: Error;
    failRequest?: Error;
}

/** A RolloutService double over a map; like the real one, a job is found only under its own stack and release. */
function fakeRollouts(): FakeRollouts {
    const jobs = new Map<string, RolloutJob>();
    const calls: string[] = [];
    const find = (stack: string, release: string, id: string) => {
        const job = jobs.get(id);
        return job && job.stack === stack && job.release === release ? job : undefined;
    };
    const fake: FakeRollouts = {
        jobs,
        calls,
        add: (job) => {
            jobs.set(job.id, job);
            return job;
        },
        rollouts: {
            start: async (stack, release, principal) => {
                calls.push(`start ${stack} ${release} by ${principal}`);
                if (fake.failStart) throw fake.failStart;
                return structuredClone(fake.add(rolloutJob({ stack, release, principal })));
            },
            get: async (stack, release, id) => structuredClone(find(stack, release, id)),
            list: async (stack, release) =>
                [...jobs.values()]
                    .filter((j) => j.stack === stack && j.release === release)
                    .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
                    .map((j) => structuredClone(j)),
            request: async (stack, release, id, action, principal) => {
                calls.push(`${action} ${stack} ${release} ${id} by ${principal}`);
                if (fake.failRequest) throw fake.failRequest;
                const job = find(stack, release, id);
                if (!job) throw new RolloutStateError(`no rollout ${id} of release ${release} in stack ${stack}`);
                job.requested = { action, by: principal, at: new Date().toISOString() };
                return structuredClone(job);
            },
        },
    };
    return fake;
}

function readAudit(file: string): Record<string, unknown>[] {
    if (!fs.existsSync(file)) return [];
    return fs
        .readFileSync(file, "utf8")
        .trim()
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("HTTP service", () => {
    let auditLog: string;
    let fake: Fake;
    const server = (fakeOptions: Parameters<typeof fakeManager>[0] = {}, extra: Partial<ServerOptions> = {}) => {
        fake = fakeManager(fakeOptions);
        return buildServer({
            managerFor: async () => fake.manager,
            authenticator: authenticator(),
            audit: auditLog,
            ...extra,
        });
    };
    const apply = (
        t: string,
        payload: object = { operation: "promote" },
        url = "/stacks/dev/releases/wisdom/apply",
    ) => ({
        method: "POST" as const,
        url,
        payload,
        headers: bearer(t),
    });

    beforeEach(() => {
        auditLog = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "audit-")), "audit.log");
    });
    afterEach(() => fs.rmSync(path.dirname(auditLog), { recursive: true, force: true }));

    describe("authentication", () => {
        it("answers 401 to every route without a valid token, calls nothing, and records the refusal", async () => {
            const app = server();
            const attempts: [string, Record<string, string>][] = [
                ["no header", {}],
                ["wrong token", bearer(token())],
                ["the stored hash as token", bearer(sha256Hex(TOKENS.admin))],
                ["a prefix of the stored hash", bearer(sha256Hex(TOKENS.admin).slice(0, 32))],
                ["a prefix of the token", bearer(TOKENS.admin.slice(0, 63))],
                ["the token and one more character", bearer(`${TOKENS.admin}0`)],
                ["another scheme", { authorization: `Basic ${TOKENS.admin}` }],
                ["two tokens", { authorization: `Bearer ${TOKENS.admin} ${TOKENS.admin}` }],
            ];
            for (const [what, headers] of attempts) {
                for (const [method, url] of [
                    ["GET", "/stacks/dev/releases/wisdom"],
                    ["POST", "/stacks/dev/releases/wisdom/preview"],
                    ["POST", "/stacks/dev/releases/wisdom/apply"],
                    ["GET", "/openapi.json"],
                    ["GET", "/no/such/route"],
                ] as const) {
                    const res = await app.inject({
                        method,
                        url,
                        payload: method === "POST" ? { operation: "promote" } : undefined,
                        headers,
                    });
                    assert.equal(res.statusCode, 401, `${what}: ${method} ${url}`);
                    assert.match(String(res.headers["www-authenticate"]), /^Bearer/);
                    assert.equal(res.json().requestId, res.headers["x-request-id"]);
                }
            }
            assert.deepEqual(fake.calls, []);
            const records = readAudit(auditLog);
            assert.equal(records.length, attempts.length * 5);
            assert.ok(records.every((r) => r.event === "refused" && r.status === 401 && r.who === null));
        });

        it("accepts each principal's own token, whatever the scheme's case", async () => {
            const app = server();
            for (const t of Object.values(TOKENS)) {
                const res = await app.inject({ method: "GET", url: "/stacks/dev/releases/wisdom", headers: bearer(t) });
                assert.equal(res.statusCode, 200);
            }
            const res = await app.inject({
                method: "GET",
                url: "/stacks/dev/releases/wisdom",
                headers: { authorization: `bearer ${TOKENS.viewer}` },
            });
            assert.equal(res.statusCode, 200);
        });
    });

    describe("answers", () => {
        it("returns status and plans whole: the response schemas drop no field", async () => {
            const status = {
                release: "wisdom",
                traffic: [
                    { version: "wisdom-0", role: "primary", weight: 1, percent: 90, ready: true, livePercent: 90 },
                    {
                        version: "wisdom-1",
                        role: "candidate",
                        percent: 10,
                        match: [{ headers: { traffic: { exact: "test" } } }],
                        ready: "unknown",
                        readinessError: "cluster unreachable",
                        livePercent: "unknown",
                    },
                ],
                drift: true,
                liveError: "no catch-all route",
                operation: { id: "op-1", operation: "step", state: "running", phase: "up" },
            };
            const app = server();
            fake.manager.status = async () => status as never;
            const res = await app.inject({
                method: "GET",
                url: "/stacks/dev/releases/wisdom",
                headers: bearer(TOKENS.viewer),
            });
            assert.deepEqual(res.json(), status);
            const plan = await app.inject(apply(TOKENS.admin, { operation: "step", points: 10 }));
            assert.deepEqual(plan.json(), {
                operation: "step",
                release: "wisdom",
                changes: { update: 1 },
                steps: [],
                trafficBefore: [{ version: "wisdom-0", role: "primary", percent: 100 }],
                trafficAfter: [{ version: "wisdom-0", role: "primary", percent: 70 }],
                applied: true,
            });
        });
    });

    describe("authorization", () => {
        it("lets a viewer read and preview, and refuses its apply with 403 (nothing applied, refusal recorded)", async () => {
            const app = server();
            let res = await app.inject({
                method: "GET",
                url: "/stacks/dev/releases/wisdom",
                headers: bearer(TOKENS.viewer),
            });
            assert.equal(res.statusCode, 200);
            res = await app.inject({ ...apply(TOKENS.viewer), url: "/stacks/dev/releases/wisdom/preview" });
            assert.equal(res.statusCode, 200);
            assert.equal(res.json().applied, false);
            res = await app.inject(apply(TOKENS.viewer));
            assert.equal(res.statusCode, 403);
            assert.equal(res.json().error, "forbidden");
            assert.match(res.json().message, /viewer is a viewer: it may not apply/);
            assert.deepEqual(applied(fake.calls), []);
            assert.deepEqual(fake.calls, ['promote ["wisdom",false] by viewer']);
            const [record] = readAudit(auditLog);
            assert.deepEqual(
                [record.event, record.who, record.status, record.operation, record.stack, record.release],
                ["refused", "viewer", 403, "promote", "dev", "wisdom"],
            );
        });

        it("refuses an operator outside its grants: stack, release, namespace, or no grants at all", async () => {
            const app = server();
            const outside: [string, string][] = [
                [TOKENS.operator, "/stacks/prod/releases/wisdom/apply"], // stack not granted
                [TOKENS.operator, "/stacks/dev/releases/other/apply"], // release not granted
                [TOKENS.operator, "/stacks/staging-1/releases/elsewhere/apply"], // namespace "shared" not granted
                [TOKENS.operator, "/stacks/dev-2/releases/wisdom/apply"], // "dev" is not a prefix glob
                [TOKENS.nowhere, "/stacks/dev/releases/wisdom/apply"], // an operator with no grants
            ];
            for (const [t, url] of outside) {
                const res = await app.inject(apply(t, { operation: "promote" }, url));
                assert.equal(res.statusCode, 403, url);
            }
            assert.deepEqual(fake.calls, []);
            assert.equal(readAudit(auditLog).filter((r) => r.status === 403).length, outside.length);
        });

        it("lets an operator apply within its grants, and an admin anywhere", async () => {
            const app = server();
            let res = await app.inject(
                apply(TOKENS.operator, { operation: "promote" }, "/stacks/staging-eu/releases/wisdom/apply"),
            );
            assert.equal(res.statusCode, 200, res.body);
            res = await app.inject(
                apply(TOKENS.admin, { operation: "promote" }, "/stacks/prod/releases/elsewhere/apply"),
            );
            assert.equal(res.statusCode, 200, res.body);
            assert.deepEqual(fake.calls, [
                'promote ["wisdom",true] by operator',
                'promote ["elsewhere",true] by admin',
            ]);
        });

        it("fails closed when the namespace cannot be learned, unless the grant is namespaces ['*']", async () => {
            const app = server({ noNamespaces: true });
            let res = await app.inject(apply(TOKENS.operator));
            assert.equal(res.statusCode, 403);
            assert.match(res.json().message, /namespace of release wisdom cannot be determined/);
            res = await app.inject(apply(TOKENS.anywhere));
            assert.equal(res.statusCode, 200);
            assert.deepEqual(applied(fake.calls), ['promote ["wisdom",true] by anywhere']);
        });

        it("answers 404 to an operator naming a release that does not exist", async () => {
            const app = server();
            const res = await app.inject(
                apply(TOKENS.operator, { operation: "promote" }, "/stacks/dev/releases/else-x/apply"),
            );
            assert.equal(res.statusCode, 404);
            assert.equal(res.json().error, "not_found");
            assert.deepEqual(fake.calls, []);
        });
    });

    describe("audit", () => {
        it("records intent then result under the authenticated name; X-Actor cannot replace it", async () => {
            const app = server();
            const res = await app.inject({
                ...apply(TOKENS.operator, { operation: "weights", weights: [30, 70] }),
                headers: { ...bearer(TOKENS.operator), "x-actor": "admin", "x-on-behalf-of": "alice@example.com" },
            });
            assert.equal(res.statusCode, 200);
            const [intent, result, ...rest] = readAudit(auditLog);
            assert.deepEqual(rest, []);
            assert.equal(intent.event, "intent");
            assert.equal(result.event, "result");
            for (const record of [intent, result]) {
                assert.equal(record.who, "operator");
                assert.equal(record.via, "token");
                assert.equal(record.onBehalfOf, "alice@example.com");
                assert.equal(record.requestId, res.headers["x-request-id"]);
                assert.equal(record.operation, "weights");
                assert.ok(Date.now() - Date.parse(record.time as string) < 60000);
            }
            assert.deepEqual(intent.request, { operation: "weights", weights: [30, 70] });
            assert.equal(result.result, "applied");
            assert.equal(result.status, 200);
            assert.deepEqual(result.trafficAfter, [{ version: "wisdom-0", role: "primary", percent: 70 }]);
            assert.deepEqual(fake.calls, ['weights ["wisdom",[30,70],true] by operator']);
        });

        it("refuses the apply with 503 when the intent cannot be recorded: nothing is applied", async () => {
            const app = server();
            await app.ready();
            fs.rmSync(path.dirname(auditLog), { recursive: true });
            const res = await app.inject(apply(TOKENS.admin));
            assert.equal(res.statusCode, 503);
            assert.equal(res.json().error, "audit_unavailable");
            assert.ok(!res.body.includes(os.tmpdir()), "no file path in the body");
            assert.deepEqual(fake.calls, [], "the manager was never called");
        });

        it("does not record previews, and records failed applies with their status", async () => {
            let app = server();
            await app.inject({ ...apply(TOKENS.admin), url: "/stacks/dev/releases/wisdom/preview" });
            assert.deepEqual(readAudit(auditLog), []);
            app = server({ fail: new RefusedError("refused: not Ready", { ...planOf("promote"), applied: false }) });
            const res = await app.inject(apply(TOKENS.admin));
            assert.equal(res.statusCode, 409);
            const records = readAudit(auditLog);
            assert.deepEqual(
                records.map((r) => [r.event, r.status, r.result]),
                [
                    ["intent", undefined, undefined],
                    ["result", 409, "refused"],
                ],
            );
            assert.match(records[1].reason as string, /RefusedError: refused: not Ready/);
        });

        it("rejects a malformed X-On-Behalf-Of", async () => {
            const app = server();
            const res = await app.inject({
                ...apply(TOKENS.admin),
                headers: { ...bearer(TOKENS.admin), "x-on-behalf-of": "x".repeat(300) },
            });
            assert.equal(res.statusCode, 400);
            assert.deepEqual(fake.calls, []);
        });
    });

    describe("errors", () => {
        it("maps invalid input, refusals and busy stacks to 400, 409 and 409 with a requestId", async () => {
            const invalid = new ReleaseConfigError([
                { path: "releases.wisdom.versions[0].weight", problem: "bad", fix: "fix" },
            ]);
            let res = await server({ fail: invalid }).inject(apply(TOKENS.admin));
            assert.equal(res.statusCode, 400);
            assert.equal(res.json().issues[0].path, "releases.wisdom.versions[0].weight");
            res = await server({
                fail: new RefusedError(
                    "refused: /home/ops/.kube/config at 10.0.0.1:6443 unreadable",
                    planOf("promote"),
                ),
            }).inject(apply(TOKENS.admin));
            assert.equal(res.statusCode, 409);
            assert.equal(res.json().error, "refused");
            assert.equal(res.json().plan.operation, "promote", "the refused plan is returned");
            assert.doesNotMatch(res.body, /\/home\/ops|6443/);
            const holder = {
                operation: "promote",
                release: "wisdom",
                principal: "alice",
                startedAt: "T0",
                phase: "up",
            };
            res = await server({
                fail: new BusyError("dev", "promote by x (pid 4242 on host-a)", {
                    ...holder,
                    ...{ pid: 4242, hostname: "host-a" },
                }),
            }).inject(apply(TOKENS.admin));
            assert.equal(res.statusCode, 409);
            assert.equal(res.json().error, "busy");
            assert.match(
                res.json().message,
                /stack dev is busy: promote of wisdom by alice \(since T0, up\) is running/,
            );
            assert.deepEqual(res.json().running, holder);
            assert.doesNotMatch(res.body, /4242|host-a/);
            res = await server({
                fail: new WorkerDiedError("up: promote of wisdom (stack dev)", 77, "signal SIGKILL"),
            }).inject(apply(TOKENS.admin));
            assert.equal(res.statusCode, 500);
            assert.equal(res.json().error, "engine_failed");
            assert.match(res.json().message, /died \(signal SIGKILL\).*the stack was recovered, retry/);
            res = await server({ fail: new EngineQueueFullError(2, 8) }).inject(apply(TOKENS.admin));
            assert.equal(res.statusCode, 503);
            assert.equal(res.json().error, "engine_busy");
            assert.equal(res.headers["retry-after"], "10");
            for (const r of [res]) assert.ok(typeof r.json().requestId === "string");
        });

        it("answers 404 for an unknown release or stack", async () => {
            let res = await server({ fail: new UnknownReleaseError({ wisdom: {} as never }, "nope") }).inject({
                method: "GET",
                url: "/stacks/dev/releases/nope",
                headers: bearer(TOKENS.viewer),
            });
            assert.equal(res.statusCode, 404);
            assert.deepEqual(Object.keys(res.json()).sort(), ["error", "issues", "message", "requestId"]);
            assert.equal(res.json().error, "not_found");
            res = await server({ fail: new UnknownStackError("prod") }).inject({
                method: "GET",
                url: "/stacks/prod/releases/wisdom",
                headers: bearer(TOKENS.viewer),
            });
            assert.equal(res.statusCode, 404);
            assert.doesNotMatch(res.body, /pulumi stack init/, "no command line in the body");
        });

        it("answers an engine failure with 500, a generic message and the requestId; details only in the log", async () => {
            const lines: string[] = [];
            const failure = new Error(
                "Command failed with exit code 255: /usr/local/bin/pulumi up --stack dev --yes\nlisten EADDRINUSE 127.0.0.1:8080",
            );
            const app = server({ fail: failure }, { logger: { stream: { write: (l) => lines.push(l) } } });
            const res = await app.inject(apply(TOKENS.admin));
            assert.equal(res.statusCode, 500);
            const body = res.json();
            assert.deepEqual(Object.keys(body).sort(), ["error", "message", "requestId"]);
            assert.equal(body.error, "internal");
            for (const leak of ["/usr/local", "pulumi up", "8080", "at ", "server.ts", "Error:"]) {
                assert.ok(!res.body.includes(leak), `body leaks ${leak}: ${res.body}`);
            }
            const logged = lines.map((l) => JSON.parse(l)).find((l) => l.reqId === body.requestId && l.err);
            assert.ok(logged, "the failure is logged under the requestId");
            assert.match(logged.err.message, /pulumi up --stack dev/);
            assert.match(logged.err.stack, /server\.spec\.ts/);
        });

        it("answers 400 for bad bodies, naming the field, and calls nothing", async () => {
            const app = server();
            const bad = async (payload: unknown) =>
                app.inject({
                    method: "POST",
                    url: "/stacks/dev/releases/wisdom/preview",
                    payload: payload as object,
                    headers: bearer(TOKENS.admin),
                });
            const cases: [unknown, RegExp][] = [
                [{ operation: "deploy" }, /operation/],
                [{ operation: "step", points: "ten" }, /points/],
                [{ operation: "step" }, /body\/points is required for step/],
                [{ operation: "promote", points: 5 }, /body\/points is not used by promote/],
                [{ operation: "promote", extra: 1 }, /additional/],
                [{ operation: "add-candidate", version: { storageUri: "gs://m", colour: "red" } }, /version/],
                [{ operation: "add-candidate", version: { name: "Wisdom-1" } }, /version\/name/],
                [{ operation: "add-candidate", version: { storageUri: "x".repeat(3000) } }, /storageUri/],
                [{ operation: "add-candidate", version: { port: 70000 } }, /port/],
                [{ operation: "add-candidate", version: { labels: { constructor: "x" } } }, /labels/],
                [{ operation: "add-candidate", version: { labels: { prototype: "x" } } }, /labels/],
                [{ operation: "add-candidate", version: { match: [{ queryParams: { __proto__x: {} } }] } }, /match/],
                [{ operation: "add-candidate", version: { match: [{ uri: { exact: "/a", prefix: "/b" } }] } }, /uri/],
                [{ operation: "add-candidate", version: { inferenceServiceSpec: {} } }, /inferenceServiceSpec/],
                [
                    {
                        operation: "add-candidate",
                        version: {
                            inferenceServiceSpec: Object.fromEntries([...Array(65).keys()].map((i) => [`k${i}`, 1])),
                        },
                    },
                    /inferenceServiceSpec/,
                ],
                [{ operation: "add-candidate", version: { weight: 1_000_001 } }, /weight/],
                [
                    {
                        operation: "add-candidate",
                        version: { match: [...Array(17)].map(() => ({ headers: { a: { exact: "1" } } })) },
                    },
                    /match/,
                ],
                [
                    { operation: "add-candidate", version: { annotations: { "example.com/a": "x".repeat(8193) } } },
                    /annotations/,
                ],
            ];
            for (const [payload, field] of cases) {
                const res = await bad(payload);
                assert.equal(res.statusCode, 400, JSON.stringify(payload));
                assert.match(res.json().message, field, JSON.stringify(payload));
            }
            // __proto__ itself is refused by the JSON parser before any schema.
            const res = await app.inject({
                method: "POST",
                url: "/stacks/dev/releases/wisdom/preview",
                payload: '{"operation":"add-candidate","version":{"labels":{"__proto__":{"x":"y"}}}}',
                headers: { ...bearer(TOKENS.admin), "content-type": "application/json" },
            });
            assert.equal(res.statusCode, 400);
            assert.deepEqual(fake.calls, []);
        });

        it("accepts a full, valid version", async () => {
            const app = server();
            const version = {
                name: "wisdom-2",
                labels: { "app.kubernetes.io/version": "v2" },
                annotations: { "example.com/note": "anything at all", "example.com/long": "x".repeat(8192) },
                storageUri: "gs://bucket/model",
                modelFormat: { name: "sklearn", version: "1" },
                // A dotted runtime name: the derived pattern has single escapes (a dot, not a backslash).
                runtime: "kserve.sklearnserver",
                protocolVersion: "v2",
                port: 8080,
                args: ["--workers=2"],
                weight: 1_000_000,
                match: [{ headers: { "x-user": { exact: "test" } }, queryParams: { beta: { prefix: "1" } } }],
                mirrorPercent: 50,
                inferenceServiceSpec: { predictor: { model: { modelFormat: { name: "sklearn" } } } },
            };
            const res = await app.inject(
                apply(TOKENS.admin, { operation: "add-candidate", version, strategy: "canary" }),
            );
            assert.equal(res.statusCode, 200, res.body);
            assert.deepEqual(fake.calls, [
                `add-candidate ${JSON.stringify(["wisdom", version, true, "canary"])} by admin`,
            ]);
        });

        /** The status of an add-candidate preview of `version`, and its message. */
        const addCandidate = async (app: ReturnType<typeof server>, version: object) => {
            const res = await app.inject({
                method: "POST",
                url: "/stacks/dev/releases/wisdom/preview",
                payload: { operation: "add-candidate", version },
                headers: bearer(TOKENS.admin),
            });
            return { status: res.statusCode, message: String(res.json().message ?? "") };
        };

        it("accepts dotted names where validation does (runtime, key prefixes) and refuses keys validation refuses", async () => {
            const app = server();
            for (const version of [
                { runtime: "kserve.sklearn-server" },
                { runtime: "a.b" },
                { labels: { "app.kubernetes.io/part-of": "a.b" } },
                { annotations: { "serving.kserve.io/s3-endpoint": "s3.example.com" } },
            ]) {
                const { status, message } = await addCandidate(app, version);
                assert.equal(status, 200, `${JSON.stringify(version)}: ${message}`);
            }
            // What the patterns still refuse, as validation does (the key rules are the types' @propertyNames).
            for (const [version, field] of [
                [{ runtime: "a..b" }, /runtime/],
                [{ runtime: "A.b" }, /runtime/],
                [{ labels: { "a..b/c": "x" } }, /labels/],
                [{ annotations: { "a/b/c": "x" } }, /annotations/],
                [{ match: [{ headers: { "X-User": { exact: "t" } } }] }, /match/],
            ] as const) {
                const { status, message } = await addCandidate(app, version);
                assert.equal(status, 400, JSON.stringify(version));
                assert.match(message, field);
            }
        });

        it("caps every escape-hatch spec at 64 keys and match at 16 items, accepting the edges", async () => {
            const app = server();
            const spec = (keys: number) => Object.fromEntries([...Array(keys).keys()].map((i) => [`k${i}`, i]));
            const matches = (n: number) => [...Array(n).keys()].map((i) => ({ headers: { a: { exact: `${i}` } } }));
            for (const version of [
                { inferenceServiceSpec: spec(64) },
                { deploymentSpec: spec(64) },
                { serviceSpec: spec(64) },
                { match: matches(16) },
                { annotations: { "example.com/a": "x".repeat(4097) } },
            ]) {
                const { status, message } = await addCandidate(app, version);
                assert.equal(status, 200, `${JSON.stringify(version).slice(0, 80)}: ${message}`);
            }
            const calls = fake.calls.length;
            for (const [version, field] of [
                [{ deploymentSpec: spec(65) }, /deploymentSpec/],
                [{ serviceSpec: spec(65) }, /serviceSpec/],
                [{ match: matches(17) }, /match/],
            ] as const) {
                const { status, message } = await addCandidate(app, version);
                assert.equal(status, 400, JSON.stringify(version).slice(0, 80));
                assert.match(message, field);
            }
            assert.equal(fake.calls.length, calls, "nothing refused reached the manager");
        });

        it("answers 400, not 500, to deeply nested bodies, and 413 to oversized ones", async () => {
            const app = server();
            const nest = (depth: number) => {
                let spec: Record<string, unknown> = { leaf: 1 };
                for (let i = 0; i < depth; i++) spec = { a: spec };
                return spec;
            };
            let res = await app.inject(
                apply(TOKENS.admin, { operation: "add-candidate", version: { inferenceServiceSpec: nest(40) } }),
            );
            assert.equal(res.statusCode, 400);
            assert.match(res.json().message, /nests deeper than 32/);
            const deep = `{"operation":"add-candidate","version":{"deploymentSpec":${"[".repeat(20000)}${"]".repeat(20000)}}}`;
            res = await app.inject({
                ...apply(TOKENS.admin),
                payload: deep,
                headers: { ...bearer(TOKENS.admin), "content-type": "application/json" },
            });
            assert.equal(res.statusCode, 400);
            res = await app.inject(
                apply(TOKENS.admin, {
                    operation: "add-candidate",
                    version: { annotations: { "a.b/c": "x".repeat(70 * 1024) } },
                }),
            );
            assert.equal(res.statusCode, 413);
            assert.equal(res.json().error, "too_large");
            assert.deepEqual(fake.calls, []);
        });

        it("validates path parameters: Pulumi stack names and RFC 1123 release names", async () => {
            const app = server();
            // Over a socket: inject() would normalize dot segments before the router sees them.
            await app.listen({ port: 0, host: "127.0.0.1" });
            const { port } = app.server.address() as AddressInfo;
            const get = (stack: string, release: string) =>
                new Promise<number>((resolve, reject) => {
                    http.get(
                        {
                            port,
                            host: "127.0.0.1",
                            path: `/stacks/${stack}/releases/${release}`,
                            headers: bearer(TOKENS.viewer),
                        },
                        (res) => {
                            res.resume();
                            resolve(res.statusCode ?? 0);
                        },
                    ).on("error", reject);
                });
            try {
                for (const [stack, release] of [
                    ["-dev", "wisdom"], // would be read as a flag
                    ["%2E%2E", "wisdom"],
                    ["%2E", "wisdom"],
                    ["org%2Fproject%2Fdev", "wisdom"],
                    ["dev%20x", "wisdom"],
                    ["dev", "Wisdom"],
                    ["dev", "-wisdom"],
                    ["dev", "wisdom-"],
                    ["dev", "w_isdom"],
                    ["dev", "a".repeat(64)],
                ]) {
                    assert.equal(await get(stack, release), 400, `${stack} ${release}`);
                }
                // Longer than Fastify's maxParamLength (100, Pulumi's limit too): refused by the router.
                assert.equal(await get("a".repeat(101), "wisdom"), 414);
                assert.deepEqual(fake.calls, []);
                for (const [stack, release] of [
                    ["dev.eu_1-a", "wisdom-2"],
                    [".dev", "w"],
                    ["a".repeat(100), "a".repeat(63)],
                ]) {
                    assert.equal(await get(stack, release), 200, `${stack} ${release}`);
                }
            } finally {
                await app.close();
            }
        });
    });

    describe("logs", () => {
        it("never contains the Authorization or Cookie header values", async () => {
            const lines: string[] = [];
            const app = server({}, { logger: { stream: { write: (l) => lines.push(l) } } });
            await app.inject({
                ...apply(TOKENS.admin),
                headers: { ...bearer(TOKENS.admin), cookie: "session=cookie-secret-value" },
            });
            await app.inject({ ...apply(TOKENS.admin), headers: bearer(`${TOKENS.admin}x`) });
            const all = lines.join("");
            assert.ok(all.includes("[redacted]"), "headers are logged, redacted");
            assert.ok(all.includes('"principal":"admin"'), "the principal is logged");
            assert.ok(!all.includes(TOKENS.admin), "no token in the logs");
            assert.ok(!all.includes("cookie-secret-value"), "no cookie in the logs");
        });
    });

    describe("rate limit", () => {
        it("limits each principal separately and records one refusal per window", async () => {
            const app = server({}, { rateLimit: { max: 3, windowMs: 60_000 } });
            const status = (t: string) =>
                app.inject({ method: "GET", url: "/stacks/dev/releases/wisdom", headers: bearer(t) });
            for (let i = 0; i < 3; i++) assert.equal((await status(TOKENS.viewer)).statusCode, 200);
            const limited = await status(TOKENS.viewer);
            assert.equal(limited.statusCode, 429);
            assert.equal(limited.json().error, "rate_limited");
            assert.ok(limited.json().requestId);
            assert.equal((await status(TOKENS.viewer)).statusCode, 429);
            assert.equal((await status(TOKENS.admin)).statusCode, 200, "another principal has its own budget");
            const refusals = readAudit(auditLog).filter((r) => r.status === 429);
            assert.equal(refusals.length, 1);
            assert.equal(refusals[0].who, "viewer");
        });

        it("limits unauthenticated attempts by address", async () => {
            const app = server({}, { rateLimit: { max: 2, windowMs: 60_000 } });
            const attempt = () =>
                app.inject({ method: "GET", url: "/stacks/dev/releases/wisdom", headers: bearer(token()) });
            assert.equal((await attempt()).statusCode, 401);
            assert.equal((await attempt()).statusCode, 401);
            assert.equal((await attempt()).statusCode, 429);
        });
    });

    describe("proposals (git mode)", () => {
        const BRANCH = "model-release/dev/wisdom/promote-0123abcd";

        it("proposes through /propose and applies a proposal through /apply, both audited", async () => {
            const app = server();
            let res = await app.inject(
                apply(TOKENS.admin, { operation: "promote" }, "/stacks/dev/releases/wisdom/propose"),
            );
            assert.equal(res.statusCode, 200);
            res = await app.inject(apply(TOKENS.admin, { operation: "apply-proposal", branch: BRANCH }));
            assert.equal(res.statusCode, 200);
            assert.deepEqual(fake.calls, [
                'promote ["wisdom","propose"] by admin',
                `apply-proposal ["wisdom","${BRANCH}",true] by admin`,
            ]);
            const audit = readAudit(auditLog);
            assert.deepEqual(
                audit.map((r) => [r.event, r.path]),
                [
                    ["intent", "/stacks/dev/releases/wisdom/propose"],
                    ["result", "/stacks/dev/releases/wisdom/propose"],
                    ["intent", "/stacks/dev/releases/wisdom/apply"],
                    ["result", "/stacks/dev/releases/wisdom/apply"],
                ],
            );
        });

        it("refuses proposals from viewers, bad branches, and proposing a proposal", async () => {
            const app = server();
            let res = await app.inject(
                apply(TOKENS.viewer, { operation: "promote" }, "/stacks/dev/releases/wisdom/propose"),
            );
            assert.equal(res.statusCode, 403);
            for (const branch of ["main", "model-release/dev/wisdom/../../main", "refs/heads/x"]) {
                res = await app.inject(apply(TOKENS.admin, { operation: "apply-proposal", branch }));
                assert.equal(res.statusCode, 400, branch);
            }
            res = await app.inject(apply(TOKENS.admin, { operation: "apply-proposal" }));
            assert.equal(res.statusCode, 400);
            assert.match(res.json().message, /body\/branch is required/);
            res = await app.inject(
                apply(
                    TOKENS.admin,
                    { operation: "apply-proposal", branch: BRANCH },
                    "/stacks/dev/releases/wisdom/propose",
                ),
            );
            assert.equal(res.statusCode, 400);
            assert.deepEqual(fake.calls, []);
        });

        it("answers a changed config of record with 409 conflict", async () => {
            const res = await server({ fail: new ConflictError("the config of record changed; retry") }).inject(
                apply(TOKENS.admin),
            );
            assert.equal(res.statusCode, 409);
            assert.equal(res.json().error, "conflict");
            assert.match(res.json().message, /retry/);
        });
    });

    describe("operations", () => {
        it("lists engine runs in flight and queued, with positions, to admins only", async () => {
            const jobs = [
                { id: "1", label: "up: promote of wisdom (stack dev)", state: "running" as const, pid: 7, since: "T0" },
                { id: "2", label: "preview: step of a (stack b)", state: "queued" as const, position: 1, since: "T1" },
            ];
            const engine = { size: 2, queueLimit: 8, snapshot: () => jobs };
            const history = async (limit: number) => [{ id: "op-1", result: "applied", limit }];
            const app = server({}, { engine, history });
            let res = await app.inject({ method: "GET", url: "/operations", headers: bearer(TOKENS.admin) });
            assert.equal(res.statusCode, 200);
            const body = res.json();
            assert.equal(body.workers, 2);
            assert.equal(body.queueLimit, 8);
            assert.deepEqual(
                body.running.map((j: { label: string }) => j.label),
                ["up: promote of wisdom (stack dev)"],
            );
            assert.deepEqual(body.queued[0].position, 1);
            assert.deepEqual(body.recent, [{ id: "op-1", result: "applied", limit: 50 }]);
            for (const t of [TOKENS.viewer, TOKENS.operator]) {
                res = await app.inject({ method: "GET", url: "/operations", headers: bearer(t) });
                assert.equal(res.statusCode, 403);
            }
            res = await app.inject({ method: "GET", url: "/operations" });
            assert.equal(res.statusCode, 401);
        });
    });

    describe("rollouts", () => {
        const ROLLOUTS = "/stacks/dev/releases/wisdom/rollouts";
        let fr: FakeRollouts;
        const withRollouts = (extra: Partial<ServerOptions> = {}) => {
            fr = fakeRollouts();
            return server({}, { rollouts: fr.rollouts, ...extra });
        };
        const call = (t: string, method: "GET" | "POST", url: string) => ({ method, url, headers: bearer(t) });
        const INTERNAL = ["owner", "heartbeatAt", "handledRequestAt"];

        it("answers 404 not_found on every rollout route when the service runs none", async () => {
            const app = server();
            const id = rolloutJob().id;
            for (const [method, url] of [
                ["POST", ROLLOUTS],
                ["GET", ROLLOUTS],
                ["GET", `${ROLLOUTS}/${id}`],
                ["POST", `${ROLLOUTS}/${id}/cancel`],
                ["POST", `${ROLLOUTS}/${id}/promote`],
            ] as const) {
                const res = await app.inject(call(TOKENS.admin, method, url));
                assert.equal(res.statusCode, 404, `${method} ${url}`);
                assert.equal(res.json().error, "not_found");
            }
            assert.deepEqual(readAudit(auditLog), [], "nothing was attempted, nothing recorded");
        });

        it("starts an admin's rollout: 202 with the public job, intent then result audited", async () => {
            const app = withRollouts();
            const res = await app.inject({
                ...call(TOKENS.admin, "POST", ROLLOUTS),
                headers: { ...bearer(TOKENS.admin), "x-on-behalf-of": "alice@example.com" },
            });
            assert.equal(res.statusCode, 202, res.body);
            const body = res.json();
            assert.deepEqual(fr.calls, ["start dev wisdom by admin"]);
            const stored = fr.jobs.get(body.id) as RolloutJob;
            assert.equal(stored.owner, OWNER, "the job carries its driver internally");
            assert.deepEqual(body, publicView(stored), "the schema drops no public field");
            assert.equal(body.driven, true);
            for (const field of INTERNAL) assert.ok(!Object.hasOwn(body, field), `no ${field} in the body`);
            assert.ok(!res.body.includes("build-host-a"), "no host in the body");

            const [intent, result, ...rest] = readAudit(auditLog);
            assert.deepEqual(rest, []);
            assert.deepEqual(
                [intent.event, intent.who, intent.operation, intent.stack, intent.release, intent.onBehalfOf],
                ["intent", "admin", "rollout", "dev", "wisdom", "alice@example.com"],
            );
            assert.deepEqual(intent.request, { operation: "rollout" });
            assert.deepEqual(
                [result.event, result.who, result.operation, result.status, result.result, result.rolloutId],
                ["result", "admin", "rollout", 202, "accepted", body.id],
            );
            assert.equal(result.requestId, res.headers["x-request-id"]);
            assert.equal(result.requestId, intent.requestId);
        });

        it("returns a job whole (checks, events, request), and says when nobody drives it", async () => {
            const app = withRollouts();
            const check: CheckResult = {
                name: "error-rate",
                kind: "prometheus",
                outcome: "pass",
                value: 0.01,
                reason: "ok",
            };
            const hook: CheckResult = {
                name: "smoke",
                kind: "webhook",
                outcome: "fail",
                status: 500,
                reason: "HTTP 500",
            };
            const full = fr.add(
                rolloutJob({
                    status: "holding",
                    phase: "finish",
                    step: 2,
                    percent: 100,
                    waitUntil: "2026-01-01T00:10:00.000Z",
                    reason: "holding at its last step",
                    checks: [{ ...check, max: 0.05, query: "sum(rate(x[1m]))", reason: "0.01 <= 0.05" }],
                    requested: { action: "promote", by: "ops", at: "2026-01-01T00:11:00.000Z" },
                    events: [
                        { time: "2026-01-01T00:00:00.000Z", event: "started", step: 1, percent: 10, detail: "go" },
                        {
                            time: "2026-01-01T00:05:00.000Z",
                            event: "judged",
                            checks: [check, hook],
                            operationId: "op-1",
                        },
                    ],
                }),
            );
            let res = await app.inject(call(TOKENS.viewer, "GET", `${ROLLOUTS}/${full.id}`));
            assert.equal(res.statusCode, 200, res.body);
            assert.deepEqual(res.json(), publicView(full));
            const orphan = fr.add(rolloutJob({ owner: undefined, heartbeatAt: undefined }));
            res = await app.inject(call(TOKENS.viewer, "GET", `${ROLLOUTS}/${orphan.id}`));
            assert.equal(res.json().driven, false);
        });

        it("lets a viewer list and read rollouts, and refuses its start, cancel and promote with 403, audited", async () => {
            const app = withRollouts();
            const job = fr.add(rolloutJob());
            let res = await app.inject(call(TOKENS.viewer, "GET", ROLLOUTS));
            assert.equal(res.statusCode, 200, res.body);
            assert.deepEqual(res.json(), { rollouts: [publicView(job)] });
            assert.ok(!res.body.includes("build-host-a"));
            res = await app.inject(call(TOKENS.viewer, "GET", `${ROLLOUTS}/${job.id}`));
            assert.equal(res.statusCode, 200, res.body);
            assert.equal(res.json().id, job.id);
            for (const field of INTERNAL) assert.ok(!Object.hasOwn(res.json(), field), `no ${field}`);

            res = await app.inject(call(TOKENS.viewer, "POST", ROLLOUTS));
            assert.equal(res.statusCode, 403);
            assert.equal(res.json().error, "forbidden");
            assert.match(res.json().message, /viewer is a viewer: it may not apply/);
            for (const action of ["cancel", "promote"]) {
                res = await app.inject(call(TOKENS.viewer, "POST", `${ROLLOUTS}/${job.id}/${action}`));
                assert.equal(res.statusCode, 403, action);
            }
            assert.deepEqual(fr.calls, [], "nothing reached the rollout service");
            assert.equal(fr.jobs.get(job.id)?.requested, undefined);
            assert.deepEqual(
                readAudit(auditLog).map((r) => [r.event, r.who, r.status, r.result, r.operation, r.path]),
                [
                    ["refused", "viewer", 403, "forbidden", "rollout", ROLLOUTS],
                    ["refused", "viewer", 403, "forbidden", "rollout-cancel", `${ROLLOUTS}/${job.id}/cancel`],
                    ["refused", "viewer", 403, "forbidden", "rollout-promote", `${ROLLOUTS}/${job.id}/promote`],
                ],
                "reads are not recorded; each refusal is, naming what was refused",
            );
        });

        it("refuses an operator outside its grants, and cannot reach another release's job through its own", async () => {
            const app = withRollouts();
            const other = fr.add(rolloutJob({ release: "other" }));
            const prod = fr.add(rolloutJob({ stack: "prod" }));
            const outside: [string, string][] = [
                [TOKENS.operator, "/stacks/prod/releases/wisdom/rollouts"], // stack not granted
                [TOKENS.operator, "/stacks/dev/releases/other/rollouts"], // release not granted
                [TOKENS.operator, "/stacks/staging-1/releases/elsewhere/rollouts"], // namespace "shared" not granted
                [TOKENS.nowhere, ROLLOUTS], // an operator with no grants
                [TOKENS.operator, `/stacks/dev/releases/other/rollouts/${other.id}/cancel`],
                [TOKENS.operator, `/stacks/prod/releases/wisdom/rollouts/${prod.id}/promote`],
            ];
            for (const [t, url] of outside) {
                const res = await app.inject(call(t, "POST", url));
                assert.equal(res.statusCode, 403, url);
                assert.equal(res.json().error, "forbidden", url);
            }
            // The attack: a granted path with the id of a job the operator may not touch.
            for (const id of [other.id, prod.id]) {
                for (const action of ["cancel", "promote"]) {
                    const res = await app.inject(call(TOKENS.operator, "POST", `${ROLLOUTS}/${id}/${action}`));
                    assert.equal(res.statusCode, 404, `${action} ${id}`);
                    assert.equal(res.json().error, "not_found");
                }
                const read = await app.inject(call(TOKENS.operator, "GET", `${ROLLOUTS}/${id}`));
                assert.equal(read.statusCode, 404);
            }
            assert.deepEqual(fr.calls, [], "nothing reached the rollout service");
            assert.equal(fr.jobs.get(other.id)?.requested, undefined);
            assert.equal(fr.jobs.get(prod.id)?.requested, undefined);
            assert.equal(readAudit(auditLog).filter((r) => r.status === 403).length, outside.length);
            assert.ok(
                readAudit(auditLog).every((r) => r.event === "refused"),
                "no intent was recorded",
            );
            // Within its grants it may.
            const res = await app.inject(call(TOKENS.operator, "POST", "/stacks/staging-eu/releases/wisdom/rollouts"));
            assert.equal(res.statusCode, 202, res.body);
            assert.deepEqual(fr.calls, ["start staging-eu wisdom by operator"]);
        });

        it("maps the service's errors to 409: refused, busy naming the rollout (no host or pid), conflict", async () => {
            let app = withRollouts();
            fr.failStart = new RolloutRefusedError(
                "release wisdom has no candidate to roll out (read /home/ops/.kube/config at 10.0.0.1:6443)",
            );
            let res = await app.inject(call(TOKENS.admin, "POST", ROLLOUTS));
            assert.equal(res.statusCode, 409);
            assert.equal(res.json().error, "refused");
            assert.match(res.json().message, /^release wisdom has no candidate to roll out/);
            assert.doesNotMatch(res.body, /\/home\/ops|6443/, "no path or address in the body");
            const [, refused] = readAudit(auditLog);
            assert.deepEqual(
                [refused.event, refused.status, refused.result, refused.operation],
                ["result", 409, "refused", "rollout"],
            );
            assert.match(refused.reason as string, /^RolloutRefusedError: release wisdom has no candidate/);

            app = withRollouts();
            const existing = fr.add(rolloutJob({ status: "paused", step: 1 }));
            fr.failStart = new RolloutExistsError(existing);
            res = await app.inject(call(TOKENS.admin, "POST", ROLLOUTS));
            assert.equal(res.statusCode, 409);
            assert.equal(res.json().error, "busy");
            assert.equal(res.json().rollout, existing.id);
            assert.equal(
                res.json().message,
                `release wisdom of stack dev already has an active rollout ${existing.id} (paused); cancel it first or let it finish`,
            );
            assert.ok(!res.body.includes("build-host-a"), "no host in the body");
            assert.ok(!res.body.includes(OWNER), "no host:pid in the body");

            fr.failRequest = new RolloutStateError(`rollout ${existing.id} is not holding: nothing to promote`);
            res = await app.inject(call(TOKENS.admin, "POST", `${ROLLOUTS}/${existing.id}/promote`));
            assert.equal(res.statusCode, 409);
            assert.equal(res.json().error, "conflict");
            assert.match(res.json().message, /is not holding: nothing to promote/);
            const records = readAudit(auditLog).slice(2);
            assert.deepEqual(
                records.map((r) => [r.event, r.operation, r.status, r.result]),
                [
                    ["intent", "rollout", undefined, undefined],
                    ["result", "rollout", 409, "busy"],
                    ["intent", "rollout-promote", undefined, undefined],
                    ["result", "rollout-promote", 409, "conflict"],
                ],
            );
            assert.ok(
                records.every((r) => !JSON.stringify(r).includes("build-host-a")),
                "no host in the audit log",
            );
        });

        it("answers 404 to an unknown id or another release's job, and 400 to an id that is not a uuid", async () => {
            const app = withRollouts();
            const own = fr.add(rolloutJob());
            const other = fr.add(rolloutJob({ release: "other" }));
            const elsewhere = fr.add(rolloutJob({ stack: "prod" }));
            for (const id of [rolloutJob().id, other.id, elsewhere.id]) {
                const res = await app.inject(call(TOKENS.admin, "GET", `${ROLLOUTS}/${id}`));
                assert.equal(res.statusCode, 404, id);
                assert.equal(res.json().error, "not_found");
                for (const action of ["cancel", "promote"]) {
                    const post = await app.inject(call(TOKENS.admin, "POST", `${ROLLOUTS}/${id}/${action}`));
                    assert.equal(post.statusCode, 404, `${action} ${id}`);
                }
            }
            for (const id of ["not-a-uuid", "x".repeat(36), own.id.toUpperCase(), `${own.id}0`]) {
                const res = await app.inject(call(TOKENS.admin, "GET", `${ROLLOUTS}/${id}`));
                assert.equal(res.statusCode, 400, id);
                assert.equal(res.json().error, "invalid");
                const post = await app.inject(call(TOKENS.admin, "POST", `${ROLLOUTS}/${id}/cancel`));
                assert.equal(post.statusCode, 400, id);
            }
            assert.deepEqual(fr.calls, [], "nothing reached the rollout service");
            const list = await app.inject(call(TOKENS.admin, "GET", ROLLOUTS));
            assert.deepEqual(
                list.json().rollouts.map((j: { id: string }) => j.id),
                [own.id],
                "only this release's jobs",
            );
            const res = await app.inject(call(TOKENS.admin, "GET", `/stacks/dev/releases/other/rollouts/${other.id}`));
            assert.equal(res.statusCode, 200, "found under its own release");
        });

        it("passes cancel and promote on with stack, release, id and the caller's name: 202, audited", async () => {
            const app = withRollouts();
            const started = (await app.inject(call(TOKENS.admin, "POST", ROLLOUTS))).json();
            let res = await app.inject(call(TOKENS.operator, "POST", `${ROLLOUTS}/${started.id}/cancel`));
            assert.equal(res.statusCode, 202, res.body);
            assert.equal(res.json().id, started.id);
            assert.deepEqual(
                { ...res.json().requested, at: undefined },
                { action: "cancel", by: "operator", at: undefined },
            );
            for (const field of INTERNAL) assert.ok(!Object.hasOwn(res.json(), field), `no ${field}`);
            res = await app.inject(call(TOKENS.admin, "POST", `${ROLLOUTS}/${started.id}/promote`));
            assert.equal(res.statusCode, 202, res.body);
            assert.equal(res.json().requested.action, "promote");
            assert.deepEqual(fr.calls, [
                "start dev wisdom by admin",
                `cancel dev wisdom ${started.id} by operator`,
                `promote dev wisdom ${started.id} by admin`,
            ]);
            assert.deepEqual(
                readAudit(auditLog).map((r) => [r.event, r.who, r.operation, r.status, r.result, r.rolloutId]),
                [
                    ["intent", "admin", "rollout", undefined, undefined, undefined],
                    ["result", "admin", "rollout", 202, "accepted", started.id],
                    ["intent", "operator", "rollout-cancel", undefined, undefined, undefined],
                    ["result", "operator", "rollout-cancel", 202, "accepted", started.id],
                    ["intent", "admin", "rollout-promote", undefined, undefined, undefined],
                    ["result", "admin", "rollout-promote", 202, "accepted", started.id],
                ],
            );
        });

        it("starts nothing, with 503, when the intent cannot be recorded", async () => {
            const app = withRollouts();
            await app.ready();
            fs.rmSync(path.dirname(auditLog), { recursive: true });
            const res = await app.inject(call(TOKENS.admin, "POST", ROLLOUTS));
            assert.equal(res.statusCode, 503);
            assert.equal(res.json().error, "audit_unavailable");
            assert.ok(!res.body.includes(os.tmpdir()), "no file path in the body");
            assert.deepEqual(fr.calls, [], "the rollout service was never called");
        });
    });

    describe("OpenAPI", () => {
        it("is generated from the route schemas, with every version field", async () => {
            const app = server();
            assert.equal((await app.inject({ method: "GET", url: "/openapi.json" })).statusCode, 401);
            const res = await app.inject({ method: "GET", url: "/openapi.json", headers: bearer(TOKENS.viewer) });
            assert.equal(res.statusCode, 200);
            const doc = res.json();
            assert.equal(doc.openapi, "3.1.0");
            assert.deepEqual(Object.keys(doc.paths).sort(), [
                "/operations",
                "/stacks/{stack}/releases/{release}",
                "/stacks/{stack}/releases/{release}/apply",
                "/stacks/{stack}/releases/{release}/preview",
                "/stacks/{stack}/releases/{release}/propose",
                "/stacks/{stack}/releases/{release}/rollouts",
                "/stacks/{stack}/releases/{release}/rollouts/{id}",
                "/stacks/{stack}/releases/{release}/rollouts/{id}/cancel",
                "/stacks/{stack}/releases/{release}/rollouts/{id}/promote",
            ]);
            const post = doc.paths["/stacks/{stack}/releases/{release}/apply"].post;
            const version = post.requestBody.content["application/json"].schema.properties.version;
            assert.equal(version.additionalProperties, false);
            assert.deepEqual(Object.keys(version.properties).sort(), [
                "annotations",
                "args",
                "deploymentSpec",
                "image",
                "inferenceServiceSpec",
                "labels",
                "match",
                "mirrorPercent",
                "modelFormat",
                "name",
                "port",
                "protocolVersion",
                "runtime",
                "serviceSpec",
                "storageUri",
                "trafficPercent",
                "weight",
            ]);
            assert.match(version.properties.labels.propertyNames.pattern, /__proto__\|constructor\|prototype/);
            assert.deepEqual(
                post.parameters.map((p: { name: string }) => p.name),
                ["stack", "release"],
            );
            assert.ok(["401", "403", "409", "429", "503"].every((code) => code in post.responses));
            assert.deepEqual(doc.security, [{ bearer: [] }]);
        });

        it("documents the rollout routes: 202 with the public job schema, the job id, the 409 answers", async () => {
            const doc = (
                await server().inject({ method: "GET", url: "/openapi.json", headers: bearer(TOKENS.viewer) })
            ).json();
            const base = "/stacks/{stack}/releases/{release}/rollouts";
            const schemaOf = (response: { content: Record<string, { schema: Record<string, unknown> }> }) =>
                response.content["application/json"].schema as { properties: Record<string, unknown> };
            const jobFields = [
                "checks",
                "createdAt",
                "driven",
                "events",
                "failures",
                "id",
                "iterations",
                "percent",
                "phase",
                "principal",
                "reason",
                "release",
                "requested",
                "stack",
                "startPercent",
                "status",
                "step",
                "steps",
                "updatedAt",
                "waitUntil",
            ];
            const posts = [
                doc.paths[base].post,
                doc.paths[`${base}/{id}/cancel`].post,
                doc.paths[`${base}/{id}/promote`].post,
            ];
            for (const post of posts) {
                assert.ok(post, "every rollout action is documented");
                const job = schemaOf(post.responses["202"]);
                assert.deepEqual(
                    Object.keys(job.properties).sort(),
                    jobFields,
                    "no owner, heartbeat or handled request",
                );
                assert.ok(["401", "403", "404", "409", "429", "503"].every((code) => code in post.responses));
                assert.ok(!("200" in post.responses), "an accepted job is 202");
                assert.match(post.responses["409"].description, /refused.*busy.*conflict/);
                assert.ok("rollout" in schemaOf(post.responses["409"]).properties, "409 busy names the rollout");
            }
            assert.deepEqual(
                posts.map((p: { parameters: { name: string }[] }) => p.parameters.map((x) => x.name)),
                [
                    ["stack", "release"],
                    ["stack", "release", "id"],
                    ["stack", "release", "id"],
                ],
            );
            const list = schemaOf(doc.paths[base].get.responses["200"]).properties.rollouts as {
                items: { properties: Record<string, unknown> };
            };
            assert.deepEqual(Object.keys(list.items.properties).sort(), jobFields);
            const one = doc.paths[`${base}/{id}`].get;
            assert.deepEqual(Object.keys(schemaOf(one.responses["200"]).properties).sort(), jobFields);
            const id = one.parameters.find((p: { name: string }) => p.name === "id");
            assert.equal(id.in, "path");
            assert.equal(id.schema.pattern, "^[0-9a-f-]{36}$");
        });
    });

    describe("lifecycle", () => {
        it("waits for a running operation before closing", async () => {
            let finish: () => void = () => undefined;
            const app = server();
            fake.manager.as = () =>
                ({
                    promote: () => new Promise<OperationPlan>((resolve) => (finish = () => resolve(planOf("promote")))),
                }) as unknown as ServiceManager;
            const request = app.inject(apply(TOKENS.admin));
            while (app.operationsRunning() === 0) await new Promise((r) => setTimeout(r, 5));
            let closed = false;
            const closing = app.close().then(() => (closed = true));
            await new Promise((r) => setTimeout(r, 50));
            assert.equal(closed, false, "close waits for the update");
            finish();
            assert.equal((await request).statusCode, 200);
            await closing;
            assert.equal(closed, true);
        });

        it("does not cut an apply that outlasts requestTimeout, but drops a client that never sends its body", async () => {
            let release: () => void = () => undefined;
            const app = server({}, { timeouts: { requestTimeout: 300, keepAliveTimeout: 1000, checkInterval: 50 } });
            fake.manager.as = () =>
                ({
                    promote: () =>
                        new Promise<OperationPlan>((resolve) => {
                            release = () => resolve(planOf("promote"));
                            setTimeout(release, 1200);
                        }),
                }) as unknown as ServiceManager;
            await app.listen({ port: 0, host: "127.0.0.1" });
            const { port } = app.server.address() as AddressInfo;
            try {
                const body = JSON.stringify({ operation: "promote" });
                const slowApply = await new Promise<number>((resolve, reject) => {
                    const req = http.request(
                        {
                            port,
                            host: "127.0.0.1",
                            method: "POST",
                            path: "/stacks/dev/releases/wisdom/apply",
                            headers: { ...bearer(TOKENS.admin), "content-type": "application/json" },
                        },
                        (res) => {
                            res.resume();
                            resolve(res.statusCode ?? 0);
                        },
                    );
                    req.on("error", reject);
                    req.end(body);
                });
                assert.equal(slowApply, 200, "a 1.2 s apply survives a 0.3 s requestTimeout");
                const stalled = await new Promise<string>((resolve) => {
                    const req = http.request({
                        port,
                        host: "127.0.0.1",
                        method: "POST",
                        path: "/stacks/dev/releases/wisdom/apply",
                        headers: {
                            ...bearer(TOKENS.admin),
                            "content-type": "application/json",
                            "content-length": "100",
                        },
                    });
                    req.on("response", (res) => resolve(String(res.statusCode)));
                    req.on("error", (error) => resolve((error as NodeJS.ErrnoException).code ?? "error"));
                    req.write("{");
                });
                assert.ok(["408", "ECONNRESET"].includes(stalled), `stalled body: ${stalled}`);
            } finally {
                release();
                await app.close();
            }
        });
    });
});

function planOf(operation: string): OperationPlan {
    return {
        operation,
        release: "wisdom",
        changes: {},
        steps: [],
        trafficBefore: [],
        trafficAfter: [],
        applied: true,
    };
}
