import * as assert from "node:assert/strict";
import * as http from "node:http";
import { AddressInfo } from "node:net";

import {
    CheckResult,
    Judgement,
    RolloutContext,
    describeJudgement,
    judge,
    judgePrometheus,
    judgeWebhook,
    notificationPayload,
    notify,
    overallOutcome,
    queryPrometheus,
} from "../../automation/analysis";
import { QueryVariables, ResolvedCheck, ResolvedRollout } from "../../components/rollout";

interface Seen {
    method: string;
    url: string;
    headers: http.IncomingHttpHeaders;
    body: string;
}

interface Receiver {
    url: string;
    port: number;
    seen: Seen[];
    close: () => Promise<void>;
}

type Answer = { status?: number; body?: unknown; raw?: string; headers?: Record<string, string> } | "hang";

/** A loopback HTTP server that records requests and answers by request. */
async function receiver(answer: (req: Seen) => Answer | Promise<Answer>): Promise<Receiver> {
    const seen: Seen[] = [];
    const server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
            const r: Seen = {
                method: req.method ?? "",
                url: req.url ?? "",
                headers: req.headers,
                body: Buffer.concat(chunks).toString("utf8"),
            };
            seen.push(r);
            void Promise.resolve(answer(r)).then((a) => {
                if (a === "hang") return;
                const text = a.raw ?? JSON.stringify(a.body ?? {});
                res.writeHead(a.status ?? 200, { "content-type": "application/json", ...a.headers });
                res.end(text);
            });
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return {
        url: `http://127.0.0.1:${port}`,
        port,
        seen,
        close: () =>
            new Promise((resolve) => {
                server.closeAllConnections();
                server.close(() => resolve());
            }),
    };
}

/** A port nothing listens on (a server's, once closed). */
async function closedPort(): Promise<number> {
    const r = await receiver(() => ({}));
    await r.close();
    return r.port;
}

const vector = (...values: string[]) => ({
    status: "success",
    data: {
        resultType: "vector",
        result: values.map((v, i) => ({ metric: { pod: `p${i}` }, value: [1700000000.1, v] })),
    },
});

/** The `query` parameter of a recorded request. */
const queryOf = (s: Seen) => new URL(s.url, "http://x").searchParams.get("query");

const variables: QueryVariables = {
    version: "wisdom-green",
    primary: "wisdom-blue",
    namespace: "models",
    app: "wisdom",
    interval: "2m",
};

const context: RolloutContext = {
    stack: "dev",
    release: "wisdom",
    app: "wisdom",
    namespace: "models",
    primary: "wisdom-blue",
    candidate: "wisdom-green",
    step: 2,
    steps: 3,
    percent: 25,
    jobId: "job-7",
};

const promCheck = (query: string, min?: number, max?: number): ResolvedCheck => ({
    name: "success-rate",
    prometheus: { query, min, max },
});

const hookCheck = (url: string, timeoutSeconds = 2, name = "smoke"): ResolvedCheck => ({
    name,
    webhook: { url, timeoutSeconds },
});

const rolloutWith = (analysis: ResolvedCheck[], prometheusUrl?: string): ResolvedRollout => ({
    steps: [10, 25, 50],
    iterations: 1,
    intervalSeconds: 120,
    interval: "2m",
    failureLimit: 1,
    prometheusUrl,
    analysis,
    onSuccess: "promote",
    notify: [],
});

describe("analysis: Prometheus queries", () => {
    let prom: Receiver;
    /** The answer per query text. */
    let answers: Record<string, Answer>;

    before(async () => {
        prom = await receiver((req) => answers[queryOf(req) ?? ""] ?? { status: 400, body: { status: "error" } });
    });
    after(() => prom.close());
    beforeEach(() => {
        answers = {};
        prom.seen.length = 0;
    });

    it("reads a scalar and a single-sample vector with GET /api/v1/query", async () => {
        answers["scalar(1)"] = {
            body: { status: "success", data: { resultType: "scalar", result: [1700000000.1, "1"] } },
        };
        answers.up = { body: vector("0.995") };
        assert.deepEqual(await queryPrometheus(prom.url, "scalar(1)", { timeoutMs: 2000 }), { value: 1 });
        assert.deepEqual(await queryPrometheus(prom.url, "up", { timeoutMs: 2000 }), { value: 0.995 });
        assert.equal(prom.seen[1].method, "GET");
        assert.equal(prom.seen[1].url, "/api/v1/query?query=up");
    });

    it("keeps the base URL's path prefix, with or without a trailing slash", async () => {
        answers.up = { body: vector("1") };
        assert.deepEqual(await queryPrometheus(`${prom.url}/prometheus`, "up", { timeoutMs: 2000 }), { value: 1 });
        assert.deepEqual(await queryPrometheus(`${prom.url}/prometheus/`, "up", { timeoutMs: 2000 }), { value: 1 });
        assert.deepEqual(
            prom.seen.map((s) => new URL(s.url, "http://x").pathname),
            ["/prometheus/api/v1/query", "/prometheus/api/v1/query"],
        );
    });

    it("passes and fails at the min and max boundaries", async () => {
        const cases: [string, number | undefined, number | undefined, string, string][] = [
            ["0.99", 0.99, undefined, "pass", "0.99 >= min 0.99"],
            ["0.9899999", 0.99, undefined, "fail", "0.9899999 < min 0.99"],
            ["0.93", 0.99, undefined, "fail", "0.93 < min 0.99"],
            ["0.01", undefined, 0.01, "pass", "0.01 <= max 0.01"],
            ["0.0100001", undefined, 0.01, "fail", "0.0100001 > max 0.01"],
            ["0.5", 0.5, 0.5, "pass", "0.5 within [0.5, 0.5]"],
            ["1e-7", undefined, undefined, "pass", "1e-7 (no threshold)"],
        ];
        for (const [value, min, max, outcome, reason] of cases) {
            const query = `q_${value}`;
            answers[query] = { body: vector(value) };
            const r = await judgePrometheus(promCheck(query, min, max), prom.url, variables);
            assert.equal(r.outcome, outcome, `${value} against ${min}..${max}`);
            assert.equal(r.reason, reason);
            assert.equal(r.value, Number(value));
            assert.equal(r.min, min);
            assert.equal(r.max, max);
            assert.equal(r.kind, "prometheus");
        }
    });

    it("renders the query's placeholders before sending it", async () => {
        const template =
            'sum(rate(requests_total{namespace="{{namespace}}",pod=~"{{ version }}-.*",code!~"5.."}[{{interval}}]))' +
            ' / sum(rate(requests_total{namespace="{{namespace}}",pod=~"{{version}}-.*"}[{{interval}}])) # {{app}} {{primary}} {{other}}';
        const rendered =
            'sum(rate(requests_total{namespace="models",pod=~"wisdom-green-.*",code!~"5.."}[2m]))' +
            ' / sum(rate(requests_total{namespace="models",pod=~"wisdom-green-.*"}[2m])) # wisdom wisdom-blue {{other}}';
        answers[rendered] = { body: vector("0.999") };
        const r = await judgePrometheus(promCheck(template, 0.99), prom.url, variables);
        assert.equal(queryOf(prom.seen[0]), rendered);
        assert.equal(r.query, rendered);
        assert.equal(r.outcome, "pass");
    });

    it("is inconclusive without data, with several series, NaN, Inf, a matrix or a string", async () => {
        answers.empty = { body: vector() };
        answers.two = { body: vector("0.1", "0.2") };
        answers.nan = { body: vector("NaN") };
        answers.inf = { body: vector("+Inf") };
        answers.scalarNaN = { body: { status: "success", data: { resultType: "scalar", result: [1, "NaN"] } } };
        answers.matrix = {
            body: { status: "success", data: { resultType: "matrix", result: [{ metric: {}, values: [[1, "1"]] }] } },
        };
        answers.string = { body: { status: "success", data: { resultType: "string", result: [1, "hello"] } } };
        const reason = async (q: string) => {
            const r = await judgePrometheus(promCheck(q, 0, 1), prom.url, variables);
            assert.equal(r.outcome, "inconclusive", q);
            assert.equal(r.value, undefined);
            return r.reason;
        };
        assert.equal(await reason("empty"), "no data: the query returned no series");
        const two = await reason("two");
        assert.match(two, /^2 series, one expected: aggregate the query with sum\(\.\.\.\) or avg\(\.\.\.\)/);
        assert.match(two, /pod="p0"/);
        assert.match(await reason("nan"), /^NaN: e\.g\. no requests in the window/);
        assert.match(await reason("scalarNaN"), /^NaN/);
        assert.match(await reason("inf"), /^\+Inf/);
        assert.match(await reason("matrix"), /matrix/);
        assert.match(await reason("string"), /string/);
    });

    it("reports Prometheus's errorType and error on HTTP 400, and other failed answers", async () => {
        answers["rate(x[5m]"] = {
            status: 400,
            body: {
                status: "error",
                errorType: "bad_data",
                error: 'invalid parameter "query": 1:11: parse error: unclosed left bracket',
            },
        };
        answers.busy = { status: 503, raw: "Service Unavailable" };
        answers.weird = { body: { status: "error", errorType: "execution", error: "query timed out" } };
        const bad = await queryPrometheus(prom.url, "rate(x[5m]", { timeoutMs: 2000 });
        assert.deepEqual(bad, {
            inconclusive:
                'Prometheus answered HTTP 400: bad_data: invalid parameter "query": 1:11: parse error: unclosed left bracket',
            status: 400,
        });
        const r = await judgePrometheus(promCheck("rate(x[5m]", 1), prom.url, variables);
        assert.equal(r.outcome, "inconclusive");
        assert.equal(r.status, 400);
        assert.deepEqual(await queryPrometheus(prom.url, "busy", { timeoutMs: 2000 }), {
            inconclusive: "Prometheus answered HTTP 503: Service Unavailable",
            status: 503,
        });
        assert.deepEqual(await queryPrometheus(prom.url, "weird", { timeoutMs: 2000 }), {
            inconclusive: "Prometheus answered HTTP 200: execution: query timed out",
            status: 200,
        });
    });

    it("is inconclusive when Prometheus is unreachable, and names no credentials", async () => {
        const port = await closedPort();
        const r = await queryPrometheus(`http://127.0.0.1:${port}/prom?token=s3cret`, "up", { timeoutMs: 2000 });
        assert.deepEqual(r, { inconclusive: `Prometheus unreachable: ECONNREFUSED 127.0.0.1:${port}` });
        const creds = await queryPrometheus(`http://user:s3cret@127.0.0.1:${port}/`, "up", { timeoutMs: 2000 });
        assert.ok("inconclusive" in creds);
        assert.doesNotMatch(creds.inconclusive, /s3cret|user/);
    });

    it("is inconclusive when Prometheus does not answer in time, or the judgement is cancelled", async () => {
        answers.slow = "hang";
        const started = Date.now();
        const r = await queryPrometheus(prom.url, "slow", { timeoutMs: 150 });
        assert.deepEqual(r, { inconclusive: "Prometheus unreachable: no answer within 0.15 s" });
        assert.ok(Date.now() - started < 1500);
        const cancel = new AbortController();
        setTimeout(() => cancel.abort(), 50);
        const c = await queryPrometheus(prom.url, "slow", { timeoutMs: 5000, signal: cancel.signal });
        assert.deepEqual(c, { inconclusive: "cancelled" });
    });

    it("is inconclusive without a Prometheus URL, naming the setting", async () => {
        const r = await judgePrometheus(promCheck("up{app='{{app}}'}", 1), undefined, variables, { release: "wis" });
        assert.equal(r.outcome, "inconclusive");
        assert.equal(
            r.reason,
            "no Prometheus URL: set releases.wis.rollout.prometheusUrl or MODEL_RELEASE_PROMETHEUS_URL",
        );
        assert.equal(r.query, "up{app='wisdom'}");
    });
});

describe("analysis: webhook checks", () => {
    let hook: Receiver;
    let other: Receiver;
    /** The answer per path. */
    let answers: Record<string, Answer>;

    before(async () => {
        hook = await receiver((req) => answers[req.url] ?? { status: 404, body: {} });
        other = await receiver(() => ({ body: { pass: true } }));
    });
    after(async () => {
        await hook.close();
        await other.close();
    });
    beforeEach(() => {
        answers = {};
        hook.seen.length = 0;
    });

    it('passes on 2xx with {"pass": true}, POSTing the context and the check name as JSON', async () => {
        answers["/ok"] = { body: { pass: true, message: "all good" } };
        answers["/accepted"] = { status: 202, body: { pass: true } };
        const r = await judgeWebhook(hookCheck(`${hook.url}/ok`), context);
        assert.deepEqual(r, {
            name: "smoke",
            kind: "webhook",
            outcome: "pass",
            status: 200,
            reason: "HTTP 200: pass: all good",
        });
        assert.equal((await judgeWebhook(hookCheck(`${hook.url}/accepted`), context)).outcome, "pass");
        assert.equal(hook.seen[0].method, "POST");
        assert.equal(hook.seen[0].headers["content-type"], "application/json");
        assert.deepEqual(JSON.parse(hook.seen[0].body), { ...context, check: "smoke" });
    });

    it("fails on pass false or missing, with the answer's message truncated", async () => {
        answers["/no"] = { body: { pass: false, message: "latency p99 1.2 s\nover budget" } };
        answers["/long"] = { body: { pass: false, reason: "x".repeat(500) } };
        answers["/missing"] = { body: { ok: true } };
        answers["/string"] = { body: { pass: "true" } };
        answers["/garbage"] = { raw: "<html>pass</html>" };
        answers["/empty"] = { raw: "" };
        const reason = async (path: string) => {
            const r = await judgeWebhook(hookCheck(`${hook.url}${path}`), context);
            assert.equal(r.outcome, "fail", path);
            assert.equal(r.status, 200);
            return r.reason;
        };
        assert.equal(await reason("/no"), "HTTP 200: pass false: latency p99 1.2 s over budget");
        const long = await reason("/long");
        assert.equal(long, `HTTP 200: pass false: ${"x".repeat(199)}…`);
        assert.equal(await reason("/missing"), 'HTTP 200: no "pass": true in the answer');
        assert.equal(await reason("/string"), 'HTTP 200: no "pass": true in the answer');
        assert.equal(await reason("/garbage"), 'HTTP 200: answer is not JSON (expected {"pass": true})');
        assert.equal(await reason("/empty"), 'HTTP 200: answer is not JSON (expected {"pass": true})');
    });

    it("fails on non-2xx answers, naming the status", async () => {
        answers["/err"] = { status: 500, body: { message: "boom" } };
        answers["/teapot"] = { status: 418, raw: "short and stout" };
        const err = await judgeWebhook(hookCheck(`${hook.url}/err`), context);
        assert.deepEqual([err.outcome, err.status, err.reason], ["fail", 500, "HTTP 500: boom"]);
        const tea = await judgeWebhook(hookCheck(`${hook.url}/teapot`), context);
        assert.deepEqual([tea.outcome, tea.status, tea.reason], ["fail", 418, "HTTP 418"]);
        // A 404 with {"pass": true} is still a failure.
        answers["/gone"] = { status: 404, body: { pass: true } };
        assert.equal((await judgeWebhook(hookCheck(`${hook.url}/gone`), context)).outcome, "fail");
    });

    it("does not follow redirects: a 3xx fails", async () => {
        answers["/moved"] = { status: 302, headers: { location: `${other.url}/elsewhere?token=s3cret` } };
        const r = await judgeWebhook(hookCheck(`${hook.url}/moved`), context);
        assert.equal(r.outcome, "fail");
        assert.equal(r.status, 302);
        assert.equal(r.reason, `HTTP 302 redirect to ${other.url} not followed`);
        assert.equal(other.seen.length, 0, "the redirect target was not asked");
    });

    it("fails on answers larger than 64 KiB", async () => {
        answers["/big"] = { body: { pass: true, padding: "x".repeat(70 * 1024) } };
        const r = await judgeWebhook(hookCheck(`${hook.url}/big`), context);
        assert.deepEqual([r.outcome, r.reason], ["fail", "HTTP 200: answer too large (over 64 KiB)"]);
        // Without a content-length: read up to the limit, then stop.
        const endless = http.createServer((_req, res) => {
            res.writeHead(200, { "content-type": "application/json" });
            res.write('{"pass": true, "padding": "');
            const chunk = "x".repeat(16 * 1024);
            const more = () => {
                if (!res.destroyed && res.write(chunk)) setImmediate(more);
                else if (!res.destroyed) res.once("drain", more);
            };
            more();
        });
        await new Promise<void>((resolve) => endless.listen(0, "127.0.0.1", resolve));
        try {
            const { port } = endless.address() as AddressInfo;
            const s = await judgeWebhook(hookCheck(`http://127.0.0.1:${port}/`), context);
            assert.deepEqual([s.outcome, s.reason], ["fail", "HTTP 200: answer too large (over 64 KiB)"]);
        } finally {
            endless.closeAllConnections();
            await new Promise((resolve) => endless.close(resolve));
        }
    });

    it("is inconclusive when the webhook is unreachable or does not answer in time", async () => {
        answers["/hang"] = "hang";
        const slow = await judgeWebhook(hookCheck(`${hook.url}/hang`, 0.15), context);
        assert.deepEqual([slow.outcome, slow.reason], ["inconclusive", "webhook unreachable: no answer within 0.15 s"]);
        const port = await closedPort();
        const refused = await judgeWebhook(hookCheck(`http://127.0.0.1:${port}/x?key=s3cret`), context);
        assert.deepEqual(
            [refused.outcome, refused.reason],
            ["inconclusive", `webhook unreachable: ECONNREFUSED 127.0.0.1:${port}`],
        );
        const creds = await judgeWebhook(hookCheck(`http://user:s3cret@127.0.0.1:${port}/x`), context);
        assert.equal(creds.outcome, "inconclusive");
        assert.doesNotMatch(creds.reason, /s3cret/);
    });
});

describe("analysis: judge", () => {
    let prom: Receiver;
    let hook: Receiver;

    before(async () => {
        prom = await receiver((req) => {
            const q = queryOf(req) ?? "";
            return q === "nothing" ? { body: vector() } : { body: vector(q) };
        });
        hook = await receiver((req) => ({ body: { pass: req.url === "/pass" } }));
    });
    after(async () => {
        await prom.close();
        await hook.close();
    });

    it("passes with no checks", async () => {
        assert.deepEqual(await judge(rolloutWith([]), context, variables), { outcome: "pass", checks: [] });
    });

    it("fails if any check fails, else is inconclusive if any is, else passes", async () => {
        const pass = promCheck("0.995", 0.99);
        const passHook = hookCheck(`${hook.url}/pass`, 2, "hook-pass");
        const nothing = { ...promCheck("nothing", 0.99), name: "no-data" };
        const failHook = hookCheck(`${hook.url}/fail`, 2, "hook-fail");

        const all = await judge(rolloutWith([pass, passHook]), context, variables, { prometheusUrl: prom.url });
        assert.equal(all.outcome, "pass");
        assert.deepEqual(
            all.checks.map((c) => [c.name, c.kind, c.outcome]),
            [
                ["success-rate", "prometheus", "pass"],
                ["hook-pass", "webhook", "pass"],
            ],
        );

        const some = await judge(rolloutWith([pass, nothing, passHook]), context, variables, {
            prometheusUrl: prom.url,
        });
        assert.equal(some.outcome, "inconclusive");

        const bad = await judge(rolloutWith([nothing, failHook, pass], prom.url), context, variables);
        assert.equal(bad.outcome, "fail");
        assert.deepEqual(
            bad.checks.map((c) => c.outcome),
            ["inconclusive", "fail", "pass"],
        );
    });

    it("prefers the rollout's Prometheus URL over the default, and says when there is none", async () => {
        prom.seen.length = 0;
        const port = await closedPort();
        const r = await judge(rolloutWith([promCheck("1", 1)], `${prom.url}/`), context, variables, {
            prometheusUrl: `http://127.0.0.1:${port}`,
        });
        assert.equal(r.outcome, "pass");
        assert.equal(prom.seen.length, 1);
        const none = await judge(rolloutWith([promCheck("1", 1)]), context, variables);
        assert.equal(none.outcome, "inconclusive");
        assert.match(none.checks[0].reason, /releases\.wisdom\.rollout\.prometheusUrl/);
    });

    it("runs the checks concurrently", async () => {
        // Each webhook answers only once both requests have arrived.
        let release: () => void = () => undefined;
        const both = new Promise<void>((resolve) => (release = resolve));
        let arrived = 0;
        const gate = await receiver(async () => {
            if (++arrived === 2) release();
            await both;
            return { body: { pass: true } };
        });
        try {
            const r = await judge(
                rolloutWith([hookCheck(`${gate.url}/a`, 2, "a"), hookCheck(`${gate.url}/b`, 2, "b")]),
                context,
                variables,
            );
            assert.equal(r.outcome, "pass", describeJudgement(r));
        } finally {
            await gate.close();
        }
    });
});

describe("analysis: reports and notifications", () => {
    const checks: CheckResult[] = [
        {
            name: "error-rate",
            kind: "prometheus",
            outcome: "fail",
            value: 0.05,
            max: 0.01,
            query: "q",
            reason: "0.05 > max 0.01",
        },
        {
            name: "latency",
            kind: "prometheus",
            outcome: "inconclusive",
            reason: "no data: the query returned no series",
        },
        { name: "smoke", kind: "webhook", outcome: "pass", status: 200, reason: "HTTP 200: pass" },
    ];
    const judgement: Judgement = { outcome: overallOutcome(checks), checks };

    it("describes a judgement, one line per check", () => {
        assert.equal(
            describeJudgement(judgement),
            [
                "judgement: fail (1 fail, 1 inconclusive, 1 pass)",
                "  error-rate  prometheus  fail          0.05 > max 0.01",
                "  latency     prometheus  inconclusive  no data: the query returned no series",
                "  smoke       webhook     pass          HTTP 200: pass",
            ].join("\n"),
        );
        assert.equal(describeJudgement({ outcome: "pass", checks: [] }), "judgement: pass (no checks)");
    });

    it("POSTs Slack-compatible JSON with the structured fields", async () => {
        const r = await receiver(() => ({ raw: "ok" }));
        try {
            const results = await notify([`${r.url}/hook`], { event: "step", context });
            assert.deepEqual(results, [{ url: `${r.url}/hook`, ok: true, status: 200 }]);
            assert.equal(r.seen[0].method, "POST");
            assert.equal(r.seen[0].headers["content-type"], "application/json");
            assert.deepEqual(JSON.parse(r.seen[0].body), {
                text: ":arrow_forward: wisdom (stack dev): step 2/3, candidate wisdom-green at 25%",
                event: "step",
                release: "wisdom",
                stack: "dev",
                app: "wisdom",
                namespace: "models",
                primary: "wisdom-blue",
                candidate: "wisdom-green",
                step: 2,
                steps: 3,
                percent: 25,
                jobId: "job-7",
            });
        } finally {
            await r.close();
        }
    });

    it("sends the checks along and escapes Slack's reserved characters in the text", () => {
        const p = notificationPayload({ event: "rolled-back", context, judgement, detail: "failure limit 1 reached" });
        assert.equal(
            p.text,
            ":rewind: wisdom (stack dev): rolled back at step 2/3: candidate wisdom-green at 0%, wisdom-blue serves all traffic" +
                " — checks fail (error-rate: 0.05 &gt; max 0.01; latency: no data: the query returned no series)" +
                " — failure limit 1 reached",
        );
        assert.equal(p.event, "rolled-back");
        assert.equal(p.outcome, "fail");
        assert.deepEqual(p.checks, checks);
        assert.equal(p.detail, "failure limit 1 reached");
        for (const event of ["started", "paused", "promoted", "holding", "cancelled", "failed"] as const) {
            const text = notificationPayload({ event, context }).text;
            assert.match(text, /^:[a-z_]+: wisdom \(stack dev\): /, event);
            assert.doesNotMatch(text, /\n/);
        }
    });

    it("never throws: failing receivers are reported per URL", async () => {
        const ok = await receiver(() => ({ raw: "ok" }));
        const broken = await receiver((req) =>
            req.url === "/moved"
                ? { status: 301, headers: { location: "http://example.invalid/" } }
                : { status: 500, raw: "invalid_payload" },
        );
        const hang = await receiver(() => "hang");
        const port = await closedPort();
        try {
            const urls = [
                `${broken.url}/err`,
                `http://127.0.0.1:${port}/hook?token=s3cret`,
                `${ok.url}/fine`,
                `${broken.url}/moved`,
                `${hang.url}/slow`,
                "not a url",
            ];
            const results = await notify(
                urls,
                { event: "failed", context, detail: "engine error" },
                { timeoutMs: 200 },
            );
            assert.deepEqual(results, [
                { url: urls[0], ok: false, status: 500, error: "HTTP 500: invalid_payload" },
                { url: urls[1], ok: false, error: `ECONNREFUSED 127.0.0.1:${port}` },
                { url: urls[2], ok: true, status: 200 },
                {
                    url: urls[3],
                    ok: false,
                    status: 301,
                    error: "HTTP 301 redirect to http://example.invalid not followed",
                },
                { url: urls[4], ok: false, error: "no answer within 0.2 s" },
                { url: urls[5], ok: false, error: "not a valid URL" },
            ]);
            assert.equal(ok.seen.length, 1);
            assert.deepEqual(await notify([], { event: "started", context }), []);
        } finally {
            await Promise.all([ok.close(), broken.close(), hang.close()]);
        }
    });
});
