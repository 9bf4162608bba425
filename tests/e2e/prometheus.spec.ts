// The metrics the rollout checks are judged on, end to end: the fake model server's exporter
// (e2e/metricsExporter.ts) scraped every second by a real Prometheus (e2e/prometheus.ts, the
// machine's binary: scripts/prometheus.sh), queried over its HTTP API as the checks do.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";

import { MetricsExporter, startExporter } from "../../e2e/metricsExporter";
import { PrometheusServer, startPrometheus } from "../../e2e/prometheus";
import { until } from "./helpers";

const NS = "prom-e2e";

interface Sample {
    metric: Record<string, string>;
    value: [number, string];
}

/** An instant query (`/api/v1/query`): its vector, by `version` label. */
async function query(url: string, promql: string, time?: number): Promise<Record<string, number>> {
    const params = new URLSearchParams({ query: promql });
    if (time !== undefined) params.set("time", String(time));
    const res = await fetch(`${url}/api/v1/query?${params}`, { signal: AbortSignal.timeout(5_000) });
    const body = (await res.json()) as { status: string; error?: string; data: { result: Sample[] } };
    assert.equal(body.status, "success", `${promql}: ${body.error}`);
    return Object.fromEntries(body.data.result.map((s) => [s.metric.version ?? "", Number(s.value[1])]));
}

const near = (value: number | undefined, expected: number, tolerance: number) =>
    value !== undefined && Math.abs(value - expected) <= tolerance;

async function reachable(url: string): Promise<boolean> {
    try {
        await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
        return true;
    } catch {
        return false;
    }
}

describe("e2e: Prometheus scraping the model metrics exporter (real Prometheus)", function () {
    this.timeout(3 * 60 * 1000);
    let exporter: MetricsExporter;
    let prometheus: PrometheusServer;
    const errorRatio = (window: string) =>
        query(
            prometheus.url,
            `sum by (version) (rate(model_request_errors_total{namespace="${NS}"}[${window}]))` +
                ` / sum by (version) (rate(model_requests_total{namespace="${NS}"}[${window}]))`,
        );

    before(async function () {
        exporter = await startExporter();
        exporter.set(NS, "v1", { rps: 20, errorRate: 0, latencySeconds: 0.05 });
        exporter.set(NS, "v2", { rps: 20, errorRate: 0.2, latencySeconds: 0.3 });
        prometheus = await startPrometheus({ targets: [exporter.target] });
    });
    after(async function () {
        await prometheus?.stop().catch(() => undefined);
        await exporter?.stop().catch(() => undefined);
    });

    it("scrapes the exporter: the target is up", async () => {
        await until(
            "up",
            () => query(prometheus.url, `up{instance="${exporter.target}"}`),
            (up) => up[""] === 1,
        );
        assert.ok(exporter.scrapes() >= 1);
    });

    it("the error ratio and the success rate of each version are as steered", async () => {
        const ratio = await until(
            "error ratio by version",
            () => errorRatio("30s"),
            (r) => near(r.v1, 0, 1e-9) && near(r.v2, 0.2, 0.01),
        );
        assert.deepEqual(Object.keys(ratio).sort(), ["v1", "v2"]);
        const success = await query(
            prometheus.url,
            `1 - sum(rate(model_request_errors_total{namespace="${NS}",version="v2"}[30s]))` +
                ` / sum(rate(model_requests_total{namespace="${NS}",version="v2"}[30s]))`,
        );
        assert.ok(near(success[""], 0.8, 0.01), JSON.stringify(success));
    });

    it("the request rate is the steered 20 rps", async () => {
        // Over a window the series fill (rate() scales a partly covered window down).
        await until(
            "requests per second",
            () => query(prometheus.url, `sum by (version) (rate(model_requests_total{namespace="${NS}"}[5s]))`),
            (r) => near(r.v1, 20, 2) && near(r.v2, 20, 2),
        );
    });

    it("the p99 latency falls in the steered latency's bucket", async () => {
        // All requests take the steered latency: histogram_quantile interpolates inside its bucket.
        const p99 = await until(
            "p99 by version",
            () =>
                query(
                    prometheus.url,
                    `histogram_quantile(0.99, sum by (version, le) ` +
                        `(rate(model_request_duration_seconds_bucket{namespace="${NS}"}[30s])))`,
                ),
            (q) => q.v1 !== undefined && q.v2 !== undefined,
        );
        assert.ok(p99.v1 > 0.025 && p99.v1 <= 0.05, `v1 p99 ${p99.v1} not in (0.025, 0.05]`);
        assert.ok(p99.v2 > 0.25 && p99.v2 <= 0.5, `v2 p99 ${p99.v2} not in (0.25, 0.5]`);
        const mean = await query(
            prometheus.url,
            `sum by (version) (rate(model_request_duration_seconds_sum{namespace="${NS}"}[30s]))` +
                ` / sum by (version) (rate(model_request_duration_seconds_count{namespace="${NS}"}[30s]))`,
        );
        assert.ok(near(mean.v1, 0.05, 1e-6) && near(mean.v2, 0.3, 1e-6), JSON.stringify(mean));
    });

    it("steering again changes the rates without resetting the counters", async () => {
        exporter.set(NS, "v2", { rps: 20, errorRate: 0.5, latencySeconds: 0.3 });
        await until(
            "error ratio over 3s after the change",
            () => errorRatio("3s"),
            (r) => near(r.v2, 0.5, 0.01),
        );
        const resets = await query(prometheus.url, `resets(model_requests_total{namespace="${NS}"}[1m])`);
        assert.deepEqual(resets, { v1: 0, v2: 0 });
    });

    it("halted, the URL refuses connections; restarted, the same URL serves the data it had", async () => {
        // A few seconds back: a scrape stamped just before now may still be being stored.
        const before = Date.now() / 1000 - 3;
        const was = await query(prometheus.url, `model_requests_total{namespace="${NS}"}`, before);
        assert.ok(was.v2 > 0);
        await prometheus.halt();
        assert.equal(await reachable(prometheus.url), false);
        await prometheus.restart();
        assert.equal(await reachable(prometheus.url), true);
        assert.deepEqual(await query(prometheus.url, `model_requests_total{namespace="${NS}"}`, before), was);
        await until(
            "up after the restart",
            () => query(prometheus.url, `up{instance="${exporter.target}"}`),
            (up) => up[""] === 1,
        );
    });

    it("paused, the URL answers nothing; resumed, it answers again", async () => {
        await prometheus.pause();
        assert.equal(await reachable(prometheus.url), false);
        prometheus.resume();
        assert.equal(await until("ready after resume", () => reachable(prometheus.url), Boolean, 10_000), true);
    });

    it("stopped, the URL is unreachable and the directory removed", async () => {
        await prometheus.stop();
        assert.equal(await reachable(prometheus.url), false);
        assert.equal(fs.existsSync(prometheus.dir), false);
    });
});
