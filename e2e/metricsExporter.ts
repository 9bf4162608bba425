/**
 * A fake model server's metrics for Prometheus to scrape: an HTTP server on 127.0.0.1 (a free
 * port) that serves `/metrics` in the Prometheus text exposition format with, per namespace and
 * version,
 *
 *   model_requests_total{namespace,version}                      counter
 *   model_request_errors_total{namespace,version}                counter
 *   model_request_duration_seconds_bucket{namespace,version,le}  histogram (+ _sum, _count)
 *
 * A test steers the traffic with `set(namespace, version, { rps, errorRate, latencySeconds })`.
 * No timers: the counters are computed at each scrape from the time elapsed since the last `set`,
 * as if that traffic had flowed (every request taking `latencySeconds`), so `rate()` over them
 * gives back `rps` and the error ratio gives back `errorRate`.
 */
import * as http from "node:http";
import { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";

/** The traffic a version receives from now on. */
export interface Traffic {
    /** Requests per second (>= 0). */
    rps: number;
    /** Fraction of the requests that fail, 0..1. */
    errorRate: number;
    /** The latency of every request, in seconds. */
    latencySeconds: number;
}

/** The histogram's upper bounds (Prometheus client libraries' defaults); `+Inf` is added. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface MetricsExporter {
    /** `http://127.0.0.1:<port>`; the metrics are at `${url}/metrics`. */
    readonly url: string;
    readonly port: number;
    /** `127.0.0.1:<port>`, as a Prometheus scrape target. */
    readonly target: string;
    /** Sets a version's traffic from now on; its counters keep what they have counted so far. */
    set(namespace: string, version: string, traffic: Traffic): void;
    /** How many times `/metrics` has been served. */
    scrapes(): number;
    stop(): Promise<void>;
}

interface Series {
    namespace: string;
    version: string;
    traffic: Traffic;
    /** performance.now() of the last `set`. */
    since: number;
    /** The counts up to `since`. */
    requests: number;
    errors: number;
    /** Per bucket of LATENCY_BUCKETS, then +Inf. */
    buckets: number[];
    sum: number;
}

/** The counts of a series now: those up to `since`, plus the traffic since then. */
function countsAt(s: Series, now: number) {
    const requests = (s.traffic.rps * (now - s.since)) / 1000;
    const bounds = [...LATENCY_BUCKETS, Infinity];
    return {
        requests: s.requests + requests,
        errors: s.errors + requests * s.traffic.errorRate,
        buckets: s.buckets.map((count, i) => count + (s.traffic.latencySeconds <= bounds[i] ? requests : 0)),
        sum: s.sum + requests * s.traffic.latencySeconds,
    };
}

function validate(t: Traffic): void {
    const ok =
        Number.isFinite(t.rps) &&
        t.rps >= 0 &&
        Number.isFinite(t.errorRate) &&
        t.errorRate >= 0 &&
        t.errorRate <= 1 &&
        Number.isFinite(t.latencySeconds) &&
        t.latencySeconds >= 0;
    if (!ok) throw new Error(`invalid traffic ${JSON.stringify(t)}`);
}

function labels(values: Record<string, string>): string {
    const escape = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
    return `{${Object.entries(values)
        .map(([k, v]) => `${k}="${escape(v)}"`)
        .join(",")}}`;
}

/** The exposition text of all series at `now`. */
function render(series: Iterable<Series>, now: number): string {
    const requests: string[] = [];
    const errors: string[] = [];
    const histogram: string[] = [];
    for (const s of series) {
        const c = countsAt(s, now);
        const l = { namespace: s.namespace, version: s.version };
        requests.push(`model_requests_total${labels(l)} ${c.requests}`);
        errors.push(`model_request_errors_total${labels(l)} ${c.errors}`);
        [...LATENCY_BUCKETS.map(String), "+Inf"].forEach((le, i) =>
            histogram.push(`model_request_duration_seconds_bucket${labels({ ...l, le })} ${c.buckets[i]}`),
        );
        histogram.push(`model_request_duration_seconds_sum${labels(l)} ${c.sum}`);
        histogram.push(`model_request_duration_seconds_count${labels(l)} ${c.requests}`);
    }
    return [
        "# HELP model_requests_total Requests served by the model version.",
        "# TYPE model_requests_total counter",
        ...requests,
        "# HELP model_request_errors_total Requests the model version failed.",
        "# TYPE model_request_errors_total counter",
        ...errors,
        "# HELP model_request_duration_seconds Request latency of the model version.",
        "# TYPE model_request_duration_seconds histogram",
        ...histogram,
        "",
    ].join("\n");
}

/** Starts the exporter on 127.0.0.1 and a free port. */
export async function startExporter(): Promise<MetricsExporter> {
    const series = new Map<string, Series>();
    let scrapes = 0;
    const server = http.createServer((req, res) => {
        if (req.method === "GET" && req.url?.split("?")[0] === "/metrics") {
            scrapes++;
            res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" });
            res.end(render(series.values(), performance.now()));
        } else {
            res.writeHead(404).end();
        }
    });
    await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    return {
        url: `http://127.0.0.1:${port}`,
        port,
        target: `127.0.0.1:${port}`,
        set(namespace, version, traffic) {
            validate(traffic);
            const key = JSON.stringify([namespace, version]);
            const now = performance.now();
            const old = series.get(key);
            const counts = old
                ? countsAt(old, now)
                : { requests: 0, errors: 0, buckets: [...LATENCY_BUCKETS, Infinity].map(() => 0), sum: 0 };
            series.set(key, { namespace, version, traffic: { ...traffic }, since: now, ...counts });
        },
        scrapes: () => scrapes,
        stop: () =>
            new Promise<void>((resolve) => {
                server.close(() => resolve());
                server.closeAllConnections();
            }),
    };
}
