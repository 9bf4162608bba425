import * as assert from "node:assert/strict";

import {
    QUERY_PLACEHOLDERS,
    QueryVariables,
    SAMPLE_QUERY_VARIABLES,
    expandStepWeight,
    parseDuration,
    promqlSyntaxError,
    renderQuery,
    unknownPlaceholders,
} from "../../components/rollout";
import { RolloutArgs, Strategy } from "../../components/types";
import { ConfigIssue, formatIssue } from "../../components/validate";
import { httpbin, appVersion, issuesOf, modelVersion, resolve, sklearnIris, wisdom } from "./fixtures";

const ERROR_RATE =
    'sum(rate(istio_requests_total{destination_workload="{{version}}",response_code=~"5.."}[{{interval}}])) / sum(rate(istio_requests_total{destination_workload="{{version}}"}[{{interval}}]))';

const twoVersions = [modelVersion("v0"), modelVersion("v1")];

/**
 * A release of the strategy with the given rollout section (raw: anything may be passed): blue-green
 * and none `wisdom` on KServe, kserve-canary `sklearn-iris`, canary and mirror `httpbin` Deployments.
 */
function withRollout(rollout: unknown, strategy: Strategy = "blue-green"): unknown {
    if (strategy === "kserve-canary") {
        return sklearnIris("gs://kfserving-examples/models/sklearn/1.0/model", { rollout: rollout as RolloutArgs });
    }
    if (strategy === "mirror" || strategy === "canary") {
        return httpbin([appVersion(), appVersion()], { strategy, rollout: rollout as RolloutArgs });
    }
    return wisdom(twoVersions, { strategy, rollout: rollout as RolloutArgs });
}

/** A valid stepped rollout with both kinds of check, to vary one key at a time. */
function stepped(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
        steps: [10, 25, 50],
        analysis: [
            { name: "error-rate", prometheus: { query: ERROR_RATE, max: 0.01 } },
            { name: "smoke", webhook: { url: "http://checker.ml/judge" } },
        ],
        ...extra,
    };
}

/** The issue at a path, failing with every issue found when there is none. */
function issueAt(issues: ConfigIssue[], path: string): ConfigIssue {
    const hit = issues.find((i) => i.path === path);
    assert.ok(hit, `expected an issue at ${path}, got:\n${issues.map(formatIssue).join("\n")}`);
    assert.ok(hit.fix.length > 0, "every issue says how to fix it");
    return hit;
}

const R = "releases.wisdom.rollout";

describe("parseDuration", () => {
    const table: [string, number | undefined][] = [
        ["30s", 30],
        ["1m", 60],
        ["2m", 120],
        ["1h", 3600],
        ["1m30s", 90],
        ["90s", 90],
        ["1h0m5s", 3605],
        ["01m", 60],
        ["0s", undefined],
        ["0h0m", undefined],
        ["", undefined],
        ["1", undefined],
        ["m", undefined],
        ["500ms", undefined],
        ["1.5m", undefined],
        ["-1m", undefined],
        ["+1m", undefined],
        [" 1m", undefined],
        ["1m ", undefined],
        ["1M", undefined],
        ["1d", undefined],
        ["1w", undefined],
        ["1s1m", undefined],
        ["1m1m", undefined],
        ["1h 30m", undefined],
        ["99999999999999999999h", undefined],
    ];
    for (const [text, seconds] of table) {
        it(`reads ${JSON.stringify(text)} as ${seconds === undefined ? "invalid" : `${seconds}s`}`, () => {
            assert.equal(parseDuration(text), seconds);
        });
    }

    it("accepts only texts that are also PromQL durations", () => {
        for (const [text, seconds] of table) {
            if (seconds === undefined) continue;
            assert.equal(promqlSyntaxError(`rate(x[${text}])`), undefined, text);
        }
    });
});

describe("expandStepWeight", () => {
    it("adds stepWeight per step and ends on maxWeight", () => {
        assert.deepEqual(expandStepWeight(20, 50), [20, 40, 50]);
        assert.deepEqual(expandStepWeight(25, 75), [25, 50, 75]);
        assert.deepEqual(expandStepWeight(10, 10), [10]);
        assert.deepEqual(expandStepWeight(30, 99), [30, 60, 90, 99]);
        assert.equal(expandStepWeight(1, 99).length, 99);
    });
});

describe("query placeholders", () => {
    const values: QueryVariables = {
        version: "wisdom-1",
        primary: "wisdom-0",
        namespace: "models",
        app: "wisdom",
        interval: "2m",
    };

    it("fills in every known placeholder, spaces inside the braces allowed", () => {
        assert.equal(
            renderQuery('x{a="{{app}}",n="{{ namespace }}",v="{{version}}",p="{{primary}}"}[{{interval}}]', values),
            'x{a="wisdom",n="models",v="wisdom-1",p="wisdom-0"}[2m]',
        );
        assert.equal(renderQuery("{{version}}/{{version}}", values), "wisdom-1/wisdom-1");
    });

    it("leaves unknown placeholders and other braces as they are", () => {
        assert.equal(renderQuery("x{{stage}}y {{version}}", values), "x{{stage}}y wisdom-1");
        assert.equal(renderQuery('x{a="{b}"}', values), 'x{a="{b}"}');
    });

    it("lists unknown placeholders once each, and none for a query using only known ones", () => {
        assert.deepEqual(unknownPlaceholders("{{stage}} {{ver}} {{stage}} {{version}}"), ["stage", "ver"]);
        assert.deepEqual(unknownPlaceholders(ERROR_RATE), []);
        assert.deepEqual(unknownPlaceholders("{{constructor}} {{toString}}"), ["constructor", "toString"]);
        assert.deepEqual(unknownPlaceholders("no placeholders"), []);
    });

    it("has a sample value for every placeholder", () => {
        assert.deepEqual(Object.keys(SAMPLE_QUERY_VARIABLES).sort(), Object.keys(QUERY_PLACEHOLDERS).sort());
    });
});

describe("promqlSyntaxError", () => {
    it("accepts valid queries, placeholders filled in", () => {
        for (const query of [
            ERROR_RATE,
            "up",
            "sum(rate(x[5m]))",
            'histogram_quantile(0.99, sum by (le) (rate(http_bucket{app="{{app}}"}[{{interval}}])))',
            "rate(x[{{interval}}])",
        ]) {
            assert.equal(promqlSyntaxError(query), undefined, query);
        }
    });

    it("reports an unclosed call at the end of the query, with what comes before", () => {
        assert.equal(
            promqlSyntaxError("sum(rate(x[5m])"),
            'unexpected end of query at column 16, after "sum(rate(x[5m])"',
        );
    });

    it("reports an unexpected token with its column in the template, not the rendered query", () => {
        const error = promqlSyntaxError('sum(rate(x{app="{{app}}"}[{{interval}}])) garbage');
        assert.match(error ?? "", /^unexpected "garbage" at column 43, in "\.\.\..*garbage"$/);
    });

    it("gives line and column in a multi-line query", () => {
        assert.match(promqlSyntaxError("sum(\n  rate(x[5m])\n) by le") ?? "", /unexpected "le" at line 3, column 6/);
    });

    it("refuses empty queries and unknown functions", () => {
        assert.equal(promqlSyntaxError("  "), "the query is empty");
        assert.match(promqlSyntaxError("unknown_fn(x)") ?? "", /unexpected "\(" at column 11/);
    });

    it("checks the query with the given placeholder values", () => {
        assert.equal(
            promqlSyntaxError("rate(x[{{interval}}])", { ...SAMPLE_QUERY_VARIABLES, interval: "1m30s" }),
            undefined,
        );
        assert.ok(promqlSyntaxError("rate(x[{{interval}}])", { ...SAMPLE_QUERY_VARIABLES, interval: "soon" }));
    });
});

describe("validateRelease: rollout", () => {
    it("accepts secret webhook and receiver URLs (placeholders of secure values) as they are, not a secret Prometheus URL", () => {
        const secret = "[secret:0123456789abcdef]";
        const r = resolve(
            withRollout(
                stepped({
                    notify: [{ webhook: secret }],
                    analysis: [{ name: "smoke", webhook: { url: secret } }],
                }),
            ),
        );
        assert.deepEqual(r.rollout?.notify, [secret]);
        assert.equal(r.rollout?.analysis[0].webhook?.url, secret);
        issueAt(issuesOf(withRollout(stepped({ prometheusUrl: secret }))), `${R}.prometheusUrl`);
        // Only the exact placeholder form: anything else is checked as a URL.
        issueAt(issuesOf(withRollout(stepped({ notify: [{ webhook: "[secret:xyz]" }] }))), `${R}.notify[0].webhook`);
    });

    it("resolves a complete stepped rollout, defaults applied", () => {
        const r = resolve(withRollout(stepped()));
        assert.deepEqual(r.rollout, {
            steps: [10, 25, 50],
            iterations: 1,
            intervalSeconds: 60,
            interval: "1m",
            failureLimit: 1,
            analysis: [
                { name: "error-rate", prometheus: { query: ERROR_RATE, max: 0.01 } },
                { name: "smoke", webhook: { url: "http://checker.ml/judge", timeoutSeconds: 10 } },
            ],
            onSuccess: "promote",
            notify: [],
        });
    });

    it("resolves every setting as written", () => {
        const r = resolve(
            withRollout(
                stepped({
                    interval: "1m30s",
                    failureLimit: 2,
                    prometheusUrl: "http://prometheus.istio-system:9090",
                    onSuccess: "hold",
                    notify: [{ webhook: "https://hooks.example.com/a" }, { webhook: "http://notify.ops/b" }],
                    analysis: [
                        { name: "latency", prometheus: { query: "up", min: 0, max: 1 } },
                        { name: "smoke", webhook: { url: "https://checker.ml/judge", timeout: "1m" } },
                    ],
                }),
            ),
        );
        assert.deepEqual(r.rollout, {
            steps: [10, 25, 50],
            iterations: 1,
            intervalSeconds: 90,
            interval: "1m30s",
            failureLimit: 2,
            prometheusUrl: "http://prometheus.istio-system:9090",
            analysis: [
                { name: "latency", prometheus: { query: "up", min: 0, max: 1 } },
                { name: "smoke", webhook: { url: "https://checker.ml/judge", timeoutSeconds: 60 } },
            ],
            onSuccess: "hold",
            notify: ["https://hooks.example.com/a", "http://notify.ops/b"],
        });
    });

    it("leaves rollout unset when the release has none", () => {
        assert.equal(resolve(wisdom(twoVersions)).rollout, undefined);
    });

    it("expands stepWeight up to maxWeight, maxWeight last", () => {
        const r = resolve(withRollout({ stepWeight: 20, maxWeight: 50 }));
        assert.deepEqual(r.rollout?.steps, [20, 40, 50]);
        const same = resolve(withRollout({ stepWeight: 30, maxWeight: 30 }));
        assert.deepEqual(same.rollout?.steps, [30]);
    });

    it("accepts a kserve-canary rollout in steps, without checks", () => {
        const r = resolve(withRollout({ steps: [5, 50] }, "kserve-canary"), "sklearn-iris");
        assert.deepEqual(r.rollout?.steps, [5, 50]);
        assert.deepEqual(r.rollout?.analysis, []);
    });

    it("resolves gated canary and mirror rollouts: no steps, iterations default 1", () => {
        for (const strategy of ["canary", "mirror"] as const) {
            const r = resolve(withRollout({ analysis: stepped().analysis }, strategy), "httpbin");
            assert.deepEqual(r.rollout?.steps, [], strategy);
            assert.equal(r.rollout?.iterations, 1, strategy);
            const five = resolve(withRollout({ iterations: 5, interval: "30s" }, strategy), "httpbin");
            assert.equal(five.rollout?.iterations, 5, strategy);
            assert.equal(five.rollout?.intervalSeconds, 30, strategy);
        }
    });

    it("accepts either form with strategy none (a release between rollouts)", () => {
        const one = [modelVersion("v0")];
        assert.deepEqual(
            resolve(wisdom(one, { strategy: "none", rollout: { steps: [10, 50] } })).rollout?.steps,
            [10, 50],
        );
        const gated = resolve(wisdom(one, { strategy: "none", rollout: { iterations: 3 } })).rollout;
        assert.deepEqual([gated?.steps, gated?.iterations], [[], 3]);
        const defaults = resolve(wisdom(one, { strategy: undefined, rollout: {} })).rollout;
        assert.deepEqual([defaults?.steps, defaults?.iterations], [[], 1]);
    });

    it("allows prometheus checks without prometheusUrl (the runner has a default)", () => {
        assert.equal(resolve(withRollout(stepped())).rollout?.prometheusUrl, undefined);
    });

    /** A bad rollout section, the path its issue names and words of its problem and fix. */
    interface BadRollout {
        title: string;
        rollout: unknown;
        strategy?: Strategy;
        path: string;
        problem: RegExp;
        fix?: RegExp;
    }

    const bad: BadRollout[] = [
        { title: "rollout that is not an object", rollout: [10, 50], path: R, problem: /must be an object/ },
        {
            title: "unknown rollout key (typo)",
            rollout: stepped({ intervall: "1m" }),
            path: `${R}.intervall`,
            problem: /not a known setting/,
            fix: /did you mean "interval"\?/,
        },
        { title: "empty steps", rollout: { steps: [] }, path: `${R}.steps`, problem: /non-empty list/ },
        { title: "steps that is not a list", rollout: { steps: 10 }, path: `${R}.steps`, problem: /non-empty list/ },
        {
            title: "step of 100",
            rollout: { steps: [10, 100] },
            path: `${R}.steps[1]`,
            problem: /from 1 to 99, got 100/,
            fix: /promotion after the last step/,
        },
        { title: "step of 0", rollout: { steps: [0, 10] }, path: `${R}.steps[0]`, problem: /from 1 to 99, got 0/ },
        { title: "fractional step", rollout: { steps: [12.5] }, path: `${R}.steps[0]`, problem: /whole number/ },
        {
            title: "decreasing steps",
            rollout: { steps: [10, 50, 25] },
            path: `${R}.steps[2]`,
            problem: /must be above steps\[1\] \(50\), got 25/,
            fix: /increasing order/,
        },
        {
            title: "repeated step",
            rollout: { steps: [10, 10] },
            path: `${R}.steps[1]`,
            problem: /must be above steps\[0\] \(10\)/,
        },
        {
            title: "steps and stepWeight together",
            rollout: { steps: [10], stepWeight: 10, maxWeight: 50 },
            path: `${R}.stepWeight`,
            problem: /cannot be combined with steps/,
        },
        {
            title: "stepWeight without maxWeight",
            rollout: { stepWeight: 10 },
            path: `${R}.maxWeight`,
            problem: /is required with stepWeight/,
        },
        {
            title: "maxWeight without stepWeight",
            rollout: { maxWeight: 50 },
            path: `${R}.stepWeight`,
            problem: /is required with maxWeight/,
        },
        {
            title: "stepWeight of 0",
            rollout: { stepWeight: 0, maxWeight: 50 },
            path: `${R}.stepWeight`,
            problem: /from 1 to 99/,
        },
        {
            title: "maxWeight below stepWeight",
            rollout: { stepWeight: 30, maxWeight: 20 },
            path: `${R}.maxWeight`,
            problem: /from 30 to 99, got 20/,
        },
        {
            title: "maxWeight of 100",
            rollout: { stepWeight: 10, maxWeight: 100 },
            path: `${R}.maxWeight`,
            problem: /to 99, got 100/,
        },
        {
            title: "blue-green rollout without steps",
            rollout: { analysis: [] },
            path: `${R}.steps`,
            problem: /is required with strategy blue-green/,
            fix: /stepWeight and maxWeight/,
        },
        {
            title: "kserve-canary rollout without steps",
            rollout: {},
            strategy: "kserve-canary",
            path: "releases.wisdom.rollout.steps",
            problem: /is required with strategy kserve-canary/,
        },
        {
            title: "iterations on a stepped rollout",
            rollout: stepped({ iterations: 3 }),
            path: `${R}.iterations`,
            problem: /no effect with strategy blue-green: a stepped rollout judges each step once/,
        },
        {
            title: "steps on a canary rollout",
            rollout: { steps: [10, 50] },
            strategy: "canary",
            path: `${R}.steps`,
            problem: /no effect with strategy canary: its rollout is gated, not stepped/,
            fix: /iterations/,
        },
        {
            title: "stepWeight on a mirror rollout",
            rollout: { stepWeight: 10, maxWeight: 50 },
            strategy: "mirror",
            path: `${R}.maxWeight`,
            problem: /no effect with strategy mirror.*mirrorPercent/,
            fix: /iterations/,
        },
        {
            title: "zero iterations",
            rollout: { iterations: 0 },
            strategy: "canary",
            path: `${R}.iterations`,
            problem: /whole number >= 1, got 0/,
        },
        {
            title: "interval in milliseconds",
            rollout: stepped({ interval: "500ms" }),
            path: `${R}.interval`,
            problem: /duration of whole hours, minutes and seconds, got "500ms"/,
            fix: /30s, 2m/,
        },
        { title: "interval as a number", rollout: stepped({ interval: 60 }), path: `${R}.interval`, problem: /got 60/ },
        { title: "zero interval", rollout: stepped({ interval: "0s" }), path: `${R}.interval`, problem: /got "0s"/ },
        {
            title: "failureLimit of 0",
            rollout: stepped({ failureLimit: 0 }),
            path: `${R}.failureLimit`,
            problem: /whole number >= 1, got 0/,
        },
        {
            title: "prometheusUrl that is not a URL",
            rollout: stepped({ prometheusUrl: "http//prometheus:9090" }),
            path: `${R}.prometheusUrl`,
            problem: /is not a valid URL: "http\/\/prometheus:9090"/,
        },
        {
            title: "prometheusUrl with another scheme",
            rollout: stepped({ prometheusUrl: "ftp://prometheus" }),
            path: `${R}.prometheusUrl`,
            problem: /must use http or https, got ftp/,
        },
        {
            title: "prometheusUrl with credentials",
            rollout: stepped({ prometheusUrl: "https://admin:hunter2@prometheus.example.com" }),
            path: `${R}.prometheusUrl`,
            problem: /contains credentials \("https:\/\/\*\*\*@prometheus\.example\.com"\)/,
            fix: /proxy or Service that needs no credentials/,
        },
        {
            title: "analysis that is not a list",
            rollout: stepped({ analysis: {} }),
            path: `${R}.analysis`,
            problem: /list of checks/,
        },
        {
            title: "check that is not an object",
            rollout: stepped({ analysis: ["error-rate"] }),
            path: `${R}.analysis[0]`,
            problem: /must be a check/,
        },
        {
            title: "check without a name",
            rollout: stepped({ analysis: [{ prometheus: { query: "up", min: 1 } }] }),
            path: `${R}.analysis[0].name`,
            problem: /is required/,
        },
        {
            title: "check name that is not a label",
            rollout: stepped({ analysis: [{ name: "Error Rate", prometheus: { query: "up", min: 1 } }] }),
            path: `${R}.analysis[0].name`,
            problem: /lower-case letters, digits and '-'/,
        },
        {
            title: "duplicate check names",
            rollout: stepped({
                analysis: [
                    { name: "up", prometheus: { query: "up", min: 1 } },
                    { name: "up", webhook: { url: "http://checker.ml/judge" } },
                ],
            }),
            path: `${R}.analysis[1].name`,
            problem: /duplicates analysis\[0\] \("up"\)/,
        },
        {
            title: "check with both kinds",
            rollout: stepped({
                analysis: [
                    { name: "up", prometheus: { query: "up", min: 1 }, webhook: { url: "http://checker.ml/judge" } },
                ],
            }),
            path: `${R}.analysis[0]`,
            problem: /has both prometheus and webhook/,
        },
        {
            title: "check of no kind",
            rollout: stepped({ analysis: [{ name: "up" }] }),
            path: `${R}.analysis[0]`,
            problem: /has neither prometheus nor webhook/,
        },
        {
            title: "unknown check key",
            rollout: stepped({ analysis: [{ name: "up", promethus: { query: "up", min: 1 } }] }),
            path: `${R}.analysis[0].promethus`,
            problem: /not a known setting/,
            fix: /did you mean "prometheus"\?/,
        },
        {
            title: "prometheus check without a query",
            rollout: stepped({ analysis: [{ name: "up", prometheus: { max: 1 } }] }),
            path: `${R}.analysis[0].prometheus.query`,
            problem: /is required/,
        },
        {
            title: "empty query",
            rollout: stepped({ analysis: [{ name: "up", prometheus: { query: "", max: 1 } }] }),
            path: `${R}.analysis[0].prometheus.query`,
            problem: /non-empty string/,
        },
        {
            title: "query with an unknown placeholder",
            rollout: stepped({
                analysis: [
                    { name: "ok", prometheus: { query: "up", min: 1 } },
                    { name: "errors", prometheus: { query: 'x{v="{{verison}}"}', max: 1 } },
                ],
            }),
            path: `${R}.analysis[1].prometheus.query`,
            problem: /uses unknown placeholder \{\{verison\}\}/,
            fix: /did you mean "version"\? use only \{\{version\}\}, \{\{primary\}\}, \{\{namespace\}\}, \{\{app\}\}, \{\{interval\}\}/,
        },
        {
            title: "query that is not PromQL",
            rollout: stepped({ analysis: [{ name: "errors", prometheus: { query: "sum(rate(x[5m])", max: 1 } }] }),
            path: `${R}.analysis[0].prometheus.query`,
            problem: /is not valid PromQL: unexpected end of query at column 16, after "sum\(rate\(x\[5m\]\)"/,
            fix: /expression browser/,
        },
        {
            title: "prometheus check without min or max",
            rollout: stepped({ analysis: [{ name: "up", prometheus: { query: "up" } }] }),
            path: `${R}.analysis[0].prometheus`,
            problem: /neither min nor max/,
        },
        {
            title: "min above max",
            rollout: stepped({ analysis: [{ name: "up", prometheus: { query: "up", min: 2, max: 1 } }] }),
            path: `${R}.analysis[0].prometheus.min`,
            problem: /\(2\) is above max \(1\)/,
        },
        {
            title: "threshold that is a string",
            rollout: stepped({ analysis: [{ name: "up", prometheus: { query: "up", max: "0.01" } }] }),
            path: `${R}.analysis[0].prometheus.max`,
            problem: /finite number, got "0.01"/,
        },
        {
            title: "infinite threshold",
            rollout: stepped({ analysis: [{ name: "up", prometheus: { query: "up", max: Infinity } }] }),
            path: `${R}.analysis[0].prometheus.max`,
            problem: /finite number/,
        },
        {
            title: "webhook check without a url",
            rollout: stepped({ analysis: [{ name: "smoke", webhook: { timeout: "5s" } }] }),
            path: `${R}.analysis[0].webhook.url`,
            problem: /is required/,
        },
        {
            title: "webhook check with credentials in its url",
            rollout: stepped({ analysis: [{ name: "smoke", webhook: { url: "http://bot:pw@checker.ml/judge" } }] }),
            path: `${R}.analysis[0].webhook.url`,
            problem: /contains credentials/,
        },
        {
            title: "webhook timeout that is not a duration",
            rollout: stepped({ analysis: [{ name: "smoke", webhook: { url: "http://checker.ml", timeout: "10" } }] }),
            path: `${R}.analysis[0].webhook.timeout`,
            problem: /duration/,
        },
        {
            title: "unknown onSuccess",
            rollout: stepped({ onSuccess: "promot" }),
            path: `${R}.onSuccess`,
            problem: /must be one of promote, hold, got "promot"/,
            fix: /did you mean "promote"\?/,
        },
        {
            title: "notify that is not a list",
            rollout: stepped({ notify: "http://x" }),
            path: `${R}.notify`,
            problem: /list of receivers/,
        },
        {
            title: "notify receiver without webhook",
            rollout: stepped({ notify: [{ url: "http://hooks.ops" }] }),
            path: `${R}.notify[0].webhook`,
            problem: /is required/,
        },
        {
            title: "notify webhook that is not http",
            rollout: stepped({ notify: [{ webhook: "mailto:ops@example.com" }] }),
            path: `${R}.notify[0].webhook`,
            problem: /must use http or https, got mailto/,
        },
    ];

    it(`covers distinct bad rollouts (has ${bad.length})`, () => {
        assert.equal(new Set(bad.map((b) => b.title)).size, bad.length);
    });

    for (const b of bad) {
        it(`refuses ${b.title}, naming ${b.path}`, () => {
            const issues = issuesOf(withRollout(b.rollout, b.strategy));
            const hit = issueAt(issues, b.path);
            assert.match(hit.problem, b.problem);
            if (b.fix) assert.match(hit.fix, b.fix);
        });
    }

    it("never shows a URL's password in a problem", () => {
        const issues = issuesOf(
            withRollout(
                stepped({
                    prometheusUrl: "https://admin:hunter2@prometheus.example.com",
                    notify: [{ webhook: "ftp://u:hunter2@hooks" }, { webhook: "http://u:hunter2@[bad" }],
                }),
            ),
        );
        assert.equal(issues.length, 3, issues.map(formatIssue).join("\n"));
        for (const issue of issues) assert.doesNotMatch(formatIssue(issue), /hunter2/);
    });

    it("reports every rollout problem at once", () => {
        const issues = issuesOf(
            withRollout({
                steps: [50, 10],
                interval: "1d",
                analysis: [{ name: "q", prometheus: { query: "{{stage}}" } }],
                notify: [{ webhook: "ftp://x" }],
            }),
        );
        assert.deepEqual(
            issues.map((i) => i.path),
            [
                `${R}.steps[1]`,
                `${R}.interval`,
                `${R}.analysis[0].prometheus.query`,
                `${R}.analysis[0].prometheus`,
                `${R}.notify[0].webhook`,
            ],
        );
    });

    it("reports one issue per path when a key is both misplaced and malformed", () => {
        for (const [rollout, strategy, path] of [
            [{ steps: [10], iterations: 0 }, "blue-green", `${R}.iterations`],
            [{ steps: [10], stepWeight: 0, maxWeight: 50 }, "blue-green", `${R}.stepWeight`],
            [{ steps: [], iterations: 2 }, "canary", `${R}.steps`],
        ] as const) {
            const issues = issuesOf(withRollout(rollout, strategy));
            assert.deepEqual(
                issues.map((i) => i.path),
                [path],
                issues.map(formatIssue).join("\n"),
            );
        }
    });

    it("checks a query with the rollout's interval", () => {
        const r = resolve(
            withRollout(
                stepped({
                    interval: "1h30m",
                    analysis: [{ name: "q", prometheus: { query: "rate(x[{{interval}}])", max: 1 } }],
                }),
            ),
        );
        assert.equal(r.rollout?.intervalSeconds, 5400);
    });

    it("refuses a reserved key inside the rollout once, by path", () => {
        const raw = JSON.parse(
            `{"steps": [10], "analysis": [{"name": "a", "webhook": {"url": "http://x", "__proto__": {}}}]}`,
        );
        const issues = issuesOf(withRollout(raw));
        assert.deepEqual(
            issues.map((i) => i.path),
            [`${R}.analysis[0].webhook["__proto__"]`],
        );
    });
});
