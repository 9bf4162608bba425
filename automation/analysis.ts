/**
 * Analysis and notification for automated progressive rollouts: judges a rollout's checks
 * (instant Prometheus queries against thresholds, webhooks answering `{"pass": true}`) and posts
 * Slack-compatible progress notifications. Plain HTTP with Node's fetch; no Pulumi.
 *
 * Nothing here throws on a bad answer or an unreachable service: a check that cannot be judged is
 * `inconclusive` with a one-line reason, and a notification that cannot be delivered is reported
 * in its result. Reasons and errors never contain a URL's userinfo or query string.
 */
import { QueryVariables, ResolvedCheck, ResolvedRollout, renderQuery } from "../components/rollout";

export type CheckOutcome = "pass" | "fail" | "inconclusive";

/** What one check found. */
export interface CheckResult {
    name: string;
    kind: "prometheus" | "webhook";
    outcome: CheckOutcome;
    /** prometheus: the query's value. */
    value?: number;
    min?: number;
    max?: number;
    /** prometheus: the query as sent, placeholders filled in. */
    query?: string;
    /** HTTP status of the answer, when there was one. */
    status?: number;
    /** One line a person reads, e.g. `0.93 < min 0.99`. */
    reason: string;
}

/** All checks of one judgement: fail if any fails, else inconclusive if any is, else pass. */
export interface Judgement {
    outcome: CheckOutcome;
    checks: CheckResult[];
}

/** What a rollout is doing; sent to webhook checks and notification receivers. */
export interface RolloutContext {
    stack: string;
    release: string;
    app: string;
    namespace: string;
    /** Object name of the primary version. */
    primary: string;
    /** Object name of the candidate version. */
    candidate: string;
    /** 1-based. */
    step: number;
    steps: number;
    /** The candidate's traffic percent. */
    percent: number;
    jobId: string;
}

/** Prometheus queries without a timeout of their own wait this long. */
export const DEFAULT_PROMETHEUS_TIMEOUT_MS = 10_000;
/** Each notification receiver gets this long. */
export const NOTIFY_TIMEOUT_MS = 5_000;
/** Webhook and notification answers larger than this are not read. */
export const MAX_ANSWER_BYTES = 64 * 1024;
/** Prometheus answers larger than this are not read (a query that returns many series). */
export const MAX_PROMETHEUS_ANSWER_BYTES = 1024 * 1024;

const USER_AGENT = "model-release";
const MESSAGE_CHARS = 200;

// ---------------------------------------------------------------------------------------------
// Text helpers

/** A URL without userinfo, query or fragment (origin + path), for messages. */
export function safeUrl(url: string): string {
    try {
        const u = new URL(url);
        return `${u.origin}${u.pathname}`;
    } catch {
        return "(invalid URL)";
    }
}

/** Strips userinfo, query strings and fragments of every URL in a text. */
function scrubUrls(text: string): string {
    return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#]*@)?([^\s?#]*)([?#][^\s]*)?/gi, "$1$3");
}

/** One line of at most `max` characters. */
function oneLine(text: string, max = MESSAGE_CHARS): string {
    // eslint-disable-next-line no-control-regex
    const line = text.replace(/[\s\u0000-\u001f\u007f]+/g, " ").trim();
    return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** A number as people read it: 6 significant digits, unless that hides the difference to `other`. */
function formatNumber(value: number, other?: number): string {
    const short = String(Number(value.toPrecision(6)));
    if (other !== undefined && value !== other && short === String(Number(other.toPrecision(6)))) {
        return String(value);
    }
    return short;
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers

interface Deadline {
    signal: AbortSignal;
    /** Why the request ended early, once it has: a timeout, or the caller's cancellation. */
    why(): string | undefined;
}

function deadline(timeoutMs: number, outer?: AbortSignal): Deadline {
    const timeout = AbortSignal.timeout(Math.max(1, timeoutMs));
    const signal = outer ? AbortSignal.any([timeout, outer]) : timeout;
    return {
        signal,
        why: () => {
            if (outer?.aborted) return "cancelled";
            if (timeout.aborted) return `no answer within ${formatNumber(timeoutMs / 1000)} s`;
            return undefined;
        },
    };
}

/** A fetch failure as one line: `ECONNREFUSED 127.0.0.1:9090`, `no answer within 5 s`, ... */
function describeFetchError(err: unknown, d: Deadline): string {
    const why = d.why();
    if (why) return why;
    let cause: unknown = err;
    if (err instanceof Error && err.cause !== undefined) cause = err.cause;
    if (cause instanceof AggregateError && cause.errors.length > 0) cause = cause.errors[0];
    let text: string;
    if (cause instanceof Error) {
        const code = (cause as NodeJS.ErrnoException).code;
        text = cause.message || code || cause.name;
    } else {
        text = String(cause);
    }
    return oneLine(scrubUrls(text.replace(/^connect /, "")));
}

/** The body, or undefined when it is larger than `limit` bytes (then it is not read further). */
async function readLimited(res: Response, limit: number): Promise<string | undefined> {
    const length = Number(res.headers.get("content-length") ?? NaN);
    if (Number.isFinite(length) && length > limit) {
        await res.body?.cancel().catch(() => undefined);
        return undefined;
    }
    if (!res.body) return "";
    const reader = res.body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > limit) {
            await reader.cancel().catch(() => undefined);
            return undefined;
        }
        chunks.push(value);
    }
    return Buffer.concat(chunks).toString("utf8");
}

function parseJson(text: string): unknown {
    try {
        return JSON.parse(text);
    } catch {
        return undefined;
    }
}

function isObject(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** An http(s) URL, or why not. */
function httpUrl(url: string): URL | string {
    let u: URL;
    try {
        u = new URL(url);
    } catch {
        return "not a valid URL";
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") return `not an http(s) URL (${u.protocol})`;
    if (u.username || u.password) return "URL with credentials refused";
    return u;
}

/** `to <origin>` for a redirect answer, when it names a valid location. */
function redirectTarget(res: Response, base: URL): string {
    const location = res.headers.get("location");
    if (!location) return "";
    try {
        return ` to ${new URL(location, base).origin}`;
    } catch {
        return "";
    }
}

// ---------------------------------------------------------------------------------------------
// Prometheus

/** The query endpoint under a base URL, keeping its path prefix (`http://h/prom` -> `http://h/prom/api/v1/query`). */
function queryEndpoint(base: URL, query: string): URL {
    const url = new URL(base.href);
    url.pathname = `${url.pathname.replace(/\/+$/, "")}/api/v1/query`;
    url.search = "";
    url.hash = "";
    url.searchParams.set("query", query);
    return url;
}

/** A Prometheus sample value (`"0.995"`, `"NaN"`, `"+Inf"`) as a number; undefined if it is none. */
function sampleValue(raw: unknown): number | undefined {
    if (typeof raw !== "string") return undefined;
    switch (raw) {
        case "NaN":
            return NaN;
        case "+Inf":
        case "Inf":
            return Infinity;
        case "-Inf":
            return -Infinity;
    }
    if (raw.trim() === "") return undefined;
    const value = Number(raw);
    return Number.isNaN(value) ? undefined : value;
}

function valueOrWhyNot(sample: unknown): { value: number } | { inconclusive: string } {
    if (!Array.isArray(sample) || sample.length !== 2) {
        return { inconclusive: "Prometheus answered a sample without a value" };
    }
    const value = sampleValue(sample[1]);
    if (value === undefined) {
        return { inconclusive: oneLine(`Prometheus answered a value that is not a number: ${String(sample[1])}`) };
    }
    if (Number.isNaN(value)) {
        return { inconclusive: "NaN: e.g. no requests in the window (a ratio of zero rates)" };
    }
    if (!Number.isFinite(value)) {
        return { inconclusive: `${value > 0 ? "+Inf" : "-Inf"}: e.g. a division by zero (no requests in the window)` };
    }
    return { value };
}

function labels(metric: unknown): string {
    if (!isObject(metric)) return "{}";
    return `{${Object.entries(metric)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(", ")}}`;
}

/**
 * Runs an instant query (`GET <base>/api/v1/query?query=...`) and returns its one value, or why
 * there is none: Prometheus unreachable or erring, no data, several series, NaN, ...
 */
export async function queryPrometheus(
    baseUrl: string,
    query: string,
    options: { timeoutMs: number; signal?: AbortSignal },
): Promise<{ value: number } | { inconclusive: string; status?: number }> {
    const base = httpUrl(baseUrl);
    if (typeof base === "string") return { inconclusive: `Prometheus URL ${safeUrl(baseUrl)}: ${base}` };
    const url = queryEndpoint(base, query);
    const d = deadline(options.timeoutMs, options.signal);
    let res: Response | undefined;
    let body: string | undefined;
    try {
        res = await fetch(url, {
            method: "GET",
            headers: { accept: "application/json", "user-agent": USER_AGENT },
            redirect: "manual",
            signal: d.signal,
        });
        body = await readLimited(res, MAX_PROMETHEUS_ANSWER_BYTES);
    } catch (err) {
        const why = describeFetchError(err, d);
        if (why === "cancelled") return { inconclusive: why };
        if (res) return { inconclusive: `Prometheus answer incomplete: ${why}`, status: res.status };
        return { inconclusive: `Prometheus unreachable: ${why}` };
    }
    const status = res.status;
    if (body === undefined) {
        return {
            inconclusive: `Prometheus answer too large (over ${MAX_PROMETHEUS_ANSWER_BYTES / 1024 / 1024} MiB): aggregate the query with sum(...) or avg(...)`,
            status,
        };
    }
    const answer = parseJson(body);
    if (status !== 200 || !isObject(answer) || answer.status !== "success") {
        if (status >= 300 && status < 400) {
            return {
                inconclusive: `Prometheus answered HTTP ${status} redirect${redirectTarget(res, url)} (not followed)`,
                status,
            };
        }
        if (isObject(answer) && (typeof answer.errorType === "string" || typeof answer.error === "string")) {
            const kind = typeof answer.errorType === "string" ? answer.errorType : "error";
            const text = typeof answer.error === "string" ? answer.error : "";
            return { inconclusive: oneLine(`Prometheus answered HTTP ${status}: ${kind}: ${text}`), status };
        }
        if (status !== 200) {
            const snippet = oneLine(body, 120);
            return { inconclusive: `Prometheus answered HTTP ${status}${snippet ? `: ${snippet}` : ""}`, status };
        }
        return { inconclusive: "Prometheus answered something other than a query result", status };
    }
    const data = answer.data;
    if (!isObject(data)) return { inconclusive: "Prometheus answered a success without data", status };
    const result = data.result;
    switch (data.resultType) {
        case "scalar":
            return valueOrWhyNot(result);
        case "vector": {
            if (!Array.isArray(result)) return { inconclusive: "Prometheus answered a vector without samples", status };
            if (result.length === 0) return { inconclusive: "no data: the query returned no series" };
            if (result.length > 1) {
                const shown = result
                    .slice(0, 3)
                    .map((s: unknown) => labels(isObject(s) ? s.metric : undefined))
                    .join(", ");
                return {
                    inconclusive: oneLine(
                        `${result.length} series, one expected: aggregate the query with sum(...) or avg(...) (${shown}${result.length > 3 ? ", ..." : ""})`,
                    ),
                };
            }
            const sample = result[0] as unknown;
            if (isObject(sample) && sample.histogram !== undefined && sample.value === undefined) {
                return {
                    inconclusive: "a native histogram sample, not a number: use histogram_quantile(...) or similar",
                };
            }
            return valueOrWhyNot(isObject(sample) ? sample.value : undefined);
        }
        case "matrix":
            return {
                inconclusive:
                    "a range vector (matrix), not one value: use an instant query, e.g. wrap the range in rate(...)",
            };
        case "string":
            return { inconclusive: "a string, not a number" };
        default:
            return { inconclusive: oneLine(`Prometheus answered an unknown result type ${String(data.resultType)}`) };
    }
}

/** How a value compares with its thresholds: `0.93 < min 0.99`, `0.995 >= min 0.99`, ... */
function compare(value: number, min?: number, max?: number): { pass: boolean; reason: string } {
    if (min !== undefined && value < min) {
        return { pass: false, reason: `${formatNumber(value, min)} < min ${formatNumber(min)}` };
    }
    if (max !== undefined && value > max) {
        return { pass: false, reason: `${formatNumber(value, max)} > max ${formatNumber(max)}` };
    }
    const v = formatNumber(value);
    if (min !== undefined && max !== undefined) {
        return { pass: true, reason: `${v} within [${formatNumber(min)}, ${formatNumber(max)}]` };
    }
    if (min !== undefined) return { pass: true, reason: `${v} >= min ${formatNumber(min)}` };
    if (max !== undefined) return { pass: true, reason: `${v} <= max ${formatNumber(max)}` };
    return { pass: true, reason: `${v} (no threshold)` };
}

/**
 * Judges a Prometheus check: renders its query, runs it, and passes iff min <= value <= max (for
 * the bounds that are set). `release` names the release in the missing-URL reason (default the app).
 */
export async function judgePrometheus(
    check: ResolvedCheck,
    baseUrl: string | undefined,
    variables: QueryVariables,
    options: { release?: string; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<CheckResult> {
    const spec = check.prometheus;
    if (!spec) {
        return { name: check.name, kind: "prometheus", outcome: "inconclusive", reason: "not a prometheus check" };
    }
    const query = renderQuery(spec.query, variables);
    const result: CheckResult = { name: check.name, kind: "prometheus", outcome: "inconclusive", query, reason: "" };
    if (spec.min !== undefined) result.min = spec.min;
    if (spec.max !== undefined) result.max = spec.max;
    if (!baseUrl) {
        const release = options.release ?? variables.app;
        result.reason = `no Prometheus URL: set releases.${release}.rollout.prometheusUrl or MODEL_RELEASE_PROMETHEUS_URL`;
        return result;
    }
    const answer = await queryPrometheus(baseUrl, query, {
        timeoutMs: options.timeoutMs ?? DEFAULT_PROMETHEUS_TIMEOUT_MS,
        signal: options.signal,
    });
    if ("inconclusive" in answer) {
        result.reason = answer.inconclusive;
        if (answer.status !== undefined) result.status = answer.status;
        return result;
    }
    const { pass, reason } = compare(answer.value, spec.min, spec.max);
    result.value = answer.value;
    result.outcome = pass ? "pass" : "fail";
    result.reason = reason;
    return result;
}

// ---------------------------------------------------------------------------------------------
// Webhooks

/** The `message` (or `reason`) string of an answer, one line of at most 200 characters. */
function answerMessage(answer: unknown): string | undefined {
    if (!isObject(answer)) return undefined;
    const text = typeof answer.message === "string" ? answer.message : answer.reason;
    if (typeof text !== "string") return undefined;
    const line = oneLine(text);
    return line || undefined;
}

/**
 * Judges a webhook check: POSTs `{ ...context, check: name }` as JSON. A 2xx answer with
 * `{"pass": true}` passes; any other answer fails; no answer (network error, timeout) is
 * inconclusive. Redirects are not followed.
 */
export async function judgeWebhook(
    check: ResolvedCheck,
    context: RolloutContext,
    options: { signal?: AbortSignal } = {},
): Promise<CheckResult> {
    const result: CheckResult = { name: check.name, kind: "webhook", outcome: "inconclusive", reason: "" };
    const spec = check.webhook;
    if (!spec) return { ...result, reason: "not a webhook check" };
    const url = httpUrl(spec.url);
    if (typeof url === "string") return { ...result, reason: `webhook ${safeUrl(spec.url)}: ${url}` };
    const d = deadline(spec.timeoutSeconds * 1000, options.signal);
    let res: Response | undefined;
    let body: string | undefined;
    try {
        res = await fetch(url, {
            method: "POST",
            headers: { "content-type": "application/json", accept: "application/json", "user-agent": USER_AGENT },
            body: JSON.stringify({ ...context, check: check.name }),
            redirect: "manual",
            signal: d.signal,
        });
        result.status = res.status;
        body = await readLimited(res, MAX_ANSWER_BYTES);
    } catch (err) {
        const why = describeFetchError(err, d);
        if (why === "cancelled") return { ...result, reason: why };
        return { ...result, reason: res ? `webhook answer incomplete: ${why}` : `webhook unreachable: ${why}` };
    }
    const status = res.status;
    result.outcome = "fail";
    if (status >= 300 && status < 400) {
        result.reason = `HTTP ${status} redirect${redirectTarget(res, url)} not followed`;
        return result;
    }
    if (body === undefined) {
        result.reason = `HTTP ${status}: answer too large (over ${MAX_ANSWER_BYTES / 1024} KiB)`;
        return result;
    }
    const answer = parseJson(body);
    const message = answerMessage(answer);
    const suffix = message ? `: ${message}` : "";
    if (status < 200 || status >= 300) {
        result.reason = `HTTP ${status}${suffix}`;
        return result;
    }
    if (answer === undefined) {
        result.reason = `HTTP ${status}: answer is not JSON (expected {"pass": true})`;
        return result;
    }
    if (isObject(answer) && answer.pass === true) {
        result.outcome = "pass";
        result.reason = `HTTP ${status}: pass${suffix}`;
        return result;
    }
    if (isObject(answer) && answer.pass === false) {
        result.reason = `HTTP ${status}: pass false${suffix}`;
        return result;
    }
    result.reason = `HTTP ${status}: no "pass": true in the answer${suffix}`;
    return result;
}

// ---------------------------------------------------------------------------------------------
// Judgement

/** fail if any check fails; else inconclusive if any is; else pass (also with no checks). */
export function overallOutcome(checks: CheckResult[]): CheckOutcome {
    if (checks.some((c) => c.outcome === "fail")) return "fail";
    if (checks.some((c) => c.outcome === "inconclusive")) return "inconclusive";
    return "pass";
}

/**
 * Judges all checks of a rollout concurrently. Prometheus checks use `rollout.prometheusUrl`, else
 * `options.prometheusUrl` (the service's setting). Never throws.
 */
export async function judge(
    rollout: ResolvedRollout,
    context: RolloutContext,
    variables: QueryVariables,
    options: { prometheusUrl?: string; prometheusTimeoutMs?: number; signal?: AbortSignal } = {},
): Promise<Judgement> {
    const prometheusUrl = rollout.prometheusUrl ?? options.prometheusUrl;
    const checks = await Promise.all(
        rollout.analysis.map(async (check): Promise<CheckResult> => {
            const kind = check.webhook && !check.prometheus ? "webhook" : "prometheus";
            try {
                if (check.prometheus) {
                    return await judgePrometheus(check, prometheusUrl, variables, {
                        release: context.release,
                        timeoutMs: options.prometheusTimeoutMs,
                        signal: options.signal,
                    });
                }
                if (check.webhook) return await judgeWebhook(check, context, { signal: options.signal });
                return { name: check.name, kind, outcome: "inconclusive", reason: "neither prometheus nor webhook" };
            } catch (err) {
                const text = err instanceof Error ? err.message : String(err);
                return {
                    name: check.name,
                    kind,
                    outcome: "inconclusive",
                    reason: oneLine(`error: ${scrubUrls(text)}`),
                };
            }
        }),
    );
    return { outcome: overallOutcome(checks), checks };
}

/**
 * A judgement as lines a person reads: a headline, then one line per check (name, kind, outcome,
 * value against its thresholds or the reason it has none), e.g.
 *
 * ```
 * judgement: fail (1 fail, 1 pass)
 *   error-rate  prometheus  fail  0.05 > max 0.01
 *   smoke       webhook     pass  HTTP 200: pass
 * ```
 */
export function describeJudgement(j: Judgement): string {
    if (j.checks.length === 0) return `judgement: ${j.outcome} (no checks)`;
    const counts = (["fail", "inconclusive", "pass"] as const)
        .map((o) => [o, j.checks.filter((c) => c.outcome === o).length] as const)
        .filter(([, n]) => n > 0)
        .map(([o, n]) => `${n} ${o}`);
    const rows = j.checks.map((c) => [oneLine(c.name, 60), c.kind, c.outcome, oneLine(c.reason, 300)]);
    const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length)));
    const lines = rows.map((r) =>
        `  ${r.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]) : cell)).join("  ")}`.trimEnd(),
    );
    return [`judgement: ${j.outcome} (${counts.join(", ")})`, ...lines].join("\n");
}

// ---------------------------------------------------------------------------------------------
// Notifications

export type NotifyEvent =
    "started" | "step" | "paused" | "rolled-back" | "promoted" | "holding" | "cancelled" | "failed";

/** One progress event of a rollout. */
export interface NotifyMessage {
    event: NotifyEvent;
    context: RolloutContext;
    /** The judgement behind the event, if any (its checks are sent along). */
    judgement?: Judgement;
    /** One line saying why, e.g. the error of a failed rollout or who cancelled it. */
    detail?: string;
}

/** The JSON a receiver gets: Slack's `text`, the event, and the rollout's context. */
export interface NotifyPayload extends RolloutContext {
    text: string;
    event: NotifyEvent;
    outcome?: CheckOutcome;
    checks?: CheckResult[];
    detail?: string;
}

/** What became of one notification. */
export interface NotifyResult {
    url: string;
    ok: boolean;
    status?: number;
    error?: string;
}

const EVENT_EMOJI: Record<NotifyEvent, string> = {
    started: ":rocket:",
    step: ":arrow_forward:",
    paused: ":pause_button:",
    "rolled-back": ":rewind:",
    promoted: ":white_check_mark:",
    holding: ":hourglass_flowing_sand:",
    cancelled: ":no_entry_sign:",
    failed: ":x:",
};

/** Escapes the characters Slack's `text` reserves for links and mentions. */
function slackEscape(text: string): string {
    return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** The one-line summary of an event (before Slack escaping). */
export function summarize(message: NotifyMessage): string {
    const c = message.context;
    const who = `${c.release} (stack ${c.stack})`;
    const at = `step ${c.step}/${c.steps}`;
    const candidate = `candidate ${c.candidate}`;
    let text: string;
    switch (message.event) {
        case "started":
            text = `rollout of ${candidate} started, ${c.steps} step${c.steps === 1 ? "" : "s"} (job ${c.jobId})`;
            break;
        case "step":
            text = `${at}, ${candidate} at ${c.percent}%`;
            break;
        case "paused":
            text = `paused at ${at}, ${candidate} at ${c.percent}%`;
            break;
        case "rolled-back":
            text = `rolled back at ${at}: ${candidate} at 0%, ${c.primary} serves all traffic`;
            break;
        case "promoted":
            text = `${candidate} promoted: it serves all traffic`;
            break;
        case "holding":
            text = `all ${c.steps} step${c.steps === 1 ? "" : "s"} passed, ${candidate} held at ${c.percent}% until promoted`;
            break;
        case "cancelled":
            text = `rollout cancelled at ${at}, ${candidate} at ${c.percent}%`;
            break;
        case "failed":
            text = `rollout failed at ${at}, ${candidate} at ${c.percent}%`;
            break;
    }
    const j = message.judgement;
    if (j && j.checks.length > 0) {
        const notable = j.checks.filter((ch) => ch.outcome !== "pass");
        const why = notable.map((ch) => `${ch.name}: ${ch.reason}`).join("; ");
        text += ` — checks ${j.outcome}${why ? ` (${why})` : ""}`;
    }
    if (message.detail) text += ` — ${message.detail}`;
    return oneLine(`${EVENT_EMOJI[message.event]} ${who}: ${scrubUrls(text)}`, 1000);
}

/** The JSON body of a notification: Slack-compatible `text` plus structured fields. */
export function notificationPayload(message: NotifyMessage): NotifyPayload {
    const payload: NotifyPayload = {
        text: slackEscape(summarize(message)),
        event: message.event,
        ...message.context,
    };
    if (message.judgement) {
        payload.outcome = message.judgement.outcome;
        if (message.judgement.checks.length > 0) payload.checks = message.judgement.checks;
    }
    if (message.detail) payload.detail = oneLine(scrubUrls(message.detail), 1000);
    return payload;
}

async function post(url: string, body: string, timeoutMs: number, signal?: AbortSignal): Promise<NotifyResult> {
    const target = httpUrl(url);
    if (typeof target === "string") return { url, ok: false, error: target };
    const d = deadline(timeoutMs, signal);
    try {
        const res = await fetch(target, {
            method: "POST",
            headers: { "content-type": "application/json", "user-agent": USER_AGENT },
            body,
            redirect: "manual",
            signal: d.signal,
        });
        const answer = await readLimited(res, MAX_ANSWER_BYTES);
        if (res.status >= 200 && res.status < 300) return { url, ok: true, status: res.status };
        let error = `HTTP ${res.status}`;
        if (res.status >= 300 && res.status < 400) {
            error += ` redirect${redirectTarget(res, target)} not followed`;
        } else if (answer) {
            const parsed = parseJson(answer);
            const text = answerMessage(parsed) ?? (parsed === undefined ? oneLine(answer) : undefined);
            if (text) error += `: ${scrubUrls(text)}`;
        }
        return { url, ok: false, status: res.status, error };
    } catch (err) {
        return { url, ok: false, error: describeFetchError(err, d) };
    }
}

/**
 * POSTs a notification to every receiver concurrently, each within `timeoutMs` (default 5 s).
 * Never throws: returns what became of each, in the order of `urls`. Errors name no URL.
 */
export async function notify(
    urls: string[],
    message: NotifyMessage,
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<NotifyResult[]> {
    let body: string;
    try {
        body = JSON.stringify(notificationPayload(message));
    } catch (err) {
        const error = oneLine(`cannot build the notification: ${err instanceof Error ? err.message : String(err)}`);
        return urls.map((url) => ({ url, ok: false, error }));
    }
    return Promise.all(
        urls.map((url) =>
            post(url, body, options.timeoutMs ?? NOTIFY_TIMEOUT_MS, options.signal).catch(
                (err: unknown): NotifyResult => ({
                    url,
                    ok: false,
                    error: oneLine(scrubUrls(err instanceof Error ? err.message : String(err))),
                }),
            ),
        ),
    );
}
