import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { BusyError, OperationPlan, RefusedError, ReleaseManager } from "../../automation/releases";
import { buildServer } from "../../automation/server";
import { ReleaseConfigError } from "../../components/validate";

/** A manager double: records calls and answers with fixed plans (the engine-backed one is tested end to end). */
function fakeManager(calls: string[], fail?: Error): ReleaseManager {
    const plan = (operation: string, applied: boolean): OperationPlan => ({
        operation,
        release: "wisdom",
        changes: { update: 1 },
        steps: [],
        trafficBefore: [{ version: "wisdom-0", role: "primary", percent: 100 }],
        trafficAfter: [{ version: "wisdom-0", role: "primary", percent: 70 }],
        applied,
    });
    const op =
        (name: string) =>
        async (...args: unknown[]) => {
            calls.push(`${name} ${JSON.stringify(args.filter((a) => typeof a !== "function"))}`);
            if (fail) throw fail;
            return plan(name, args.includes(true));
        };
    return {
        status: async (release: string) => ({ release, traffic: [] }),
        addCandidate: op("add-candidate"),
        setWeights: op("weights"),
        step: op("step"),
        promote: op("promote"),
        rollback: op("rollback"),
        remove: op("remove"),
    } as unknown as ReleaseManager;
}

/** A promotion of `wisdom` with no resource steps. */
function promotionOfWisdom(applied: boolean): OperationPlan {
    return {
        operation: "promote",
        release: "wisdom",
        changes: {},
        steps: [],
        trafficBefore: [],
        trafficAfter: [],
        applied,
    };
}

describe("HTTP service", () => {
    const auth = { authorization: "Bearer s3cret" };
    let auditLog: string;
    let calls: string[];
    const server = (fail?: Error) =>
        buildServer({ managerFor: async () => fakeManager(calls, fail), token: "s3cret", auditLog });

    beforeEach(() => {
        auditLog = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "audit-")), "audit.log");
        calls = [];
    });

    it("answers 401 to every call without the bearer token", async () => {
        const app = server();
        for (const [method, url] of [
            ["GET", "/stacks/dev/releases/wisdom"],
            ["POST", "/stacks/dev/releases/wisdom/preview"],
            ["POST", "/stacks/dev/releases/wisdom/apply"],
            ["GET", "/openapi.json"],
        ] as const) {
            const res = await app.inject({
                method,
                url,
                payload: method === "POST" ? { operation: "promote" } : undefined,
                headers: { authorization: "Bearer wrong" },
            });
            assert.equal(res.statusCode, 401, `${method} ${url}`);
        }
        assert.deepEqual(calls, []);
    });

    it("answers 400 naming the field for bad bodies", async () => {
        const app = server();
        const bad = async (payload: unknown) =>
            app.inject({
                method: "POST",
                url: "/stacks/dev/releases/wisdom/preview",
                payload: payload as object,
                headers: auth,
            });
        let res = await bad({ operation: "deploy" });
        assert.equal(res.statusCode, 400);
        assert.match(res.body, /operation/);
        res = await bad({ operation: "step", points: "ten" });
        assert.equal(res.statusCode, 400);
        assert.match(res.body, /points/);
        res = await bad({ operation: "step" });
        assert.equal(res.statusCode, 400);
        assert.match(res.body, /body\/points is required for step/);
        res = await bad({ operation: "promote", extra: 1 });
        assert.equal(res.statusCode, 400);
        assert.deepEqual(calls, []);
    });

    it("previews without applying and writes no audit entry", async () => {
        const res = await server().inject({
            method: "POST",
            url: "/stacks/dev/releases/wisdom/preview",
            payload: { operation: "step", points: 10 },
            headers: auth,
        });
        assert.equal(res.statusCode, 200);
        assert.equal(res.json().applied, false);
        assert.deepEqual(calls, ['step ["wisdom",10,false]']);
        assert.equal(fs.existsSync(auditLog), false);
    });

    it("applies and appends an audit entry: who, when, operation, traffic before -> after, result", async () => {
        const res = await server().inject({
            method: "POST",
            url: "/stacks/dev/releases/wisdom/apply",
            payload: { operation: "weights", weights: [30, 70] },
            headers: { ...auth, "x-actor": "ci-bot" },
        });
        assert.equal(res.statusCode, 200);
        assert.equal(res.json().applied, true);
        const [entry] = fs
            .readFileSync(auditLog, "utf8")
            .trim()
            .split("\n")
            .map((l) => JSON.parse(l));
        assert.equal(entry.who, "ci-bot");
        assert.equal(entry.operation, "weights");
        assert.equal(entry.result, "applied");
        assert.deepEqual(entry.trafficAfter, [{ version: "wisdom-0", role: "primary", percent: 70 }]);
        assert.ok(Date.now() - Date.parse(entry.time) < 60000);
    });

    it("maps invalid input, refusals and busy stacks to 400, 409 and 423, and audits failed applies", async () => {
        const invalid = new ReleaseConfigError([
            { path: "releases.wisdom.versions[0].weight", problem: "bad", fix: "fix" },
        ]);
        let res = await server(invalid).inject({
            method: "POST",
            url: "/stacks/dev/releases/wisdom/apply",
            payload: { operation: "promote" },
            headers: auth,
        });
        assert.equal(res.statusCode, 400);
        assert.equal(res.json().issues[0].path, "releases.wisdom.versions[0].weight");
        const refused = new RefusedError("refused: not Ready", promotionOfWisdom(false));
        res = await server(refused).inject({
            method: "POST",
            url: "/stacks/dev/releases/wisdom/apply",
            payload: { operation: "promote" },
            headers: auth,
        });
        assert.equal(res.statusCode, 409);
        res = await server(new BusyError("dev", "running")).inject({
            method: "POST",
            url: "/stacks/dev/releases/wisdom/apply",
            payload: { operation: "promote" },
            headers: auth,
        });
        assert.equal(res.statusCode, 423);
        assert.match(res.json().message, /stack dev is busy/);
        const results = fs
            .readFileSync(auditLog, "utf8")
            .trim()
            .split("\n")
            .map((l) => JSON.parse(l).result);
        assert.equal(results.length, 3);
        assert.match(results[1], /RefusedError: refused: not Ready/);
    });

    it("serves its OpenAPI document", async () => {
        const res = await server().inject({ method: "GET", url: "/openapi.json", headers: auth });
        assert.equal(res.statusCode, 200);
        const doc = res.json();
        assert.equal(doc.openapi, "3.0.3");
        assert.deepEqual(Object.keys(doc.paths), [
            "/stacks/{stack}/releases/{release}",
            "/stacks/{stack}/releases/{release}/preview",
            "/stacks/{stack}/releases/{release}/apply",
        ]);
    });

    it("waits for a running operation before closing", async () => {
        let finish: () => void = () => undefined;
        const slow = fakeManager(calls);
        slow.promote = () => new Promise<OperationPlan>((resolve) => (finish = () => resolve(promotionOfWisdom(true))));
        const app = buildServer({ managerFor: async () => slow, token: "s3cret", auditLog });
        const request = app.inject({
            method: "POST",
            url: "/stacks/dev/releases/wisdom/apply",
            payload: { operation: "promote" },
            headers: auth,
        });
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
});
