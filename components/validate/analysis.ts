/**
 * The analysis of a rollout: the checks judged each interval (a Prometheus query with bounds, or
 * a webhook's verdict), and the webhook URLs that checks and notifications POST to.
 */
import {
    QUERY_PLACEHOLDERS,
    ResolvedCheck,
    SAMPLE_QUERY_VARIABLES,
    parseDuration,
    promqlSyntaxError,
    unknownPlaceholders,
} from "../rollout";
import { Checker, DNS1123_LABEL, isObject } from "./checker";
import { durationOf, finiteOf, httpUrlOf } from "./fields";
import { show, suggest } from "./issues";
import { settingsOf } from "./settings";

const CHECK_KEYS = settingsOf("AnalysisCheckArgs");
const PROMETHEUS_CHECK_KEYS = settingsOf("PrometheusCheckArgs");
const WEBHOOK_CHECK_KEYS = settingsOf("WebhookCheckArgs");

/** How long the runner waits for a webhook check's verdict by default. */
export const DEFAULT_WEBHOOK_TIMEOUT = "10s";

/**
 * How the automation layer (automation/stackConfig.ts) hands a `secure:` config value to the
 * validator: an opaque placeholder. Webhook URLs may be secrets (a Slack incoming-webhook URL is
 * a credential); the runner decrypts them only when it POSTs.
 */
export const SECRET_PLACEHOLDER = /^\[secret:[0-9a-f]{16}\]$/;

/** A webhook URL: an http(s) URL without credentials, or a secret (see SECRET_PLACEHOLDER). */
export function webhookUrlOf(checker: Checker, path: string, value: unknown, example: string): string | undefined {
    if (typeof value === "string" && SECRET_PLACEHOLDER.test(value)) return value;
    return httpUrlOf(checker, path, value, example);
}

const PLACEHOLDER_LIST = Object.keys(QUERY_PLACEHOLDERS)
    .map((name) => `{{${name}}}`)
    .join(", ");

/** A Prometheus check: a query checked for placeholders and PromQL syntax, with min and/or max. */
function prometheusCheckOf(
    checker: Checker,
    path: string,
    value: unknown,
    interval: string,
): ResolvedCheck["prometheus"] | undefined {
    if (!isObject(value)) {
        checker.add(
            path,
            `must be {query, min, max}, got ${show(value)}`,
            'write e.g. prometheus: {query: "...", max: 0.01}',
        );
        return undefined;
    }
    checker.unknownKeys(path, value, PROMETHEUS_CHECK_KEYS);
    let query: string | undefined;
    if (value.query === undefined) {
        checker.add(`${path}.query`, "is required", "give an instant PromQL query that returns one value");
    } else {
        query = checker.string(`${path}.query`, value.query, "give an instant PromQL query that returns one value");
    }
    if (query !== undefined) {
        const unknown = unknownPlaceholders(query);
        if (unknown.length > 0) {
            checker.add(
                `${path}.query`,
                `uses unknown placeholder${unknown.length === 1 ? "" : "s"} ${unknown.map((u) => `{{${u}}}`).join(", ")}`,
                `${unknown.map((u) => suggest(u, Object.keys(QUERY_PLACEHOLDERS))).join("")}use only ${PLACEHOLDER_LIST}`,
            );
            query = undefined;
        } else {
            const error = promqlSyntaxError(query, { ...SAMPLE_QUERY_VARIABLES, interval });
            if (error !== undefined) {
                checker.add(
                    `${path}.query`,
                    `is not valid PromQL: ${error}`,
                    "correct the query; try it in the Prometheus expression browser with the placeholders filled in",
                );
                query = undefined;
            }
        }
    }
    const fix = "use a plain number, e.g. 0.01";
    const min = finiteOf(checker, `${path}.min`, value.min, fix);
    const max = finiteOf(checker, `${path}.max`, value.max, fix);
    if (value.min === undefined && value.max === undefined) {
        checker.add(
            path,
            "has neither min nor max, so it could never fail",
            "set min (lowest passing value), max (highest) or both",
        );
    }
    if (min !== undefined && max !== undefined && min > max) {
        checker.add(
            `${path}.min`,
            `(${min}) is above max (${max}), so no value could pass`,
            "swap min and max, or correct one",
        );
        return undefined;
    }
    if (
        query === undefined ||
        (value.min !== undefined && min === undefined) ||
        (value.max !== undefined && max === undefined)
    ) {
        return undefined;
    }
    const check: NonNullable<ResolvedCheck["prometheus"]> = { query };
    if (min !== undefined) check.min = min;
    if (max !== undefined) check.max = max;
    return check;
}

/** A webhook check: the URL the runner POSTs to, and how long it waits for the verdict. */
function webhookCheckOf(checker: Checker, path: string, value: unknown): ResolvedCheck["webhook"] | undefined {
    if (!isObject(value)) {
        checker.add(
            path,
            `must be {url, timeout}, got ${show(value)}`,
            'write e.g. webhook: {url: "http://checker.ml/judge"}',
        );
        return undefined;
    }
    checker.unknownKeys(path, value, WEBHOOK_CHECK_KEYS);
    if (value.url === undefined) {
        checker.add(`${path}.url`, "is required", 'give the http(s) URL to POST to, e.g. "http://checker.ml/judge"');
    }
    const url = webhookUrlOf(checker, `${path}.url`, value.url, '"http://checker.ml/judge"');
    const timeout = durationOf(checker, `${path}.timeout`, value.timeout);
    if (url === undefined || (value.timeout !== undefined && timeout === undefined)) {
        return undefined;
    }
    return { url, timeoutSeconds: timeout?.seconds ?? (parseDuration(DEFAULT_WEBHOOK_TIMEOUT) as number) };
}

/** One analysis check; its name is returned whenever it is valid, for the uniqueness check. */
function checkOf(
    checker: Checker,
    path: string,
    value: unknown,
    interval: string,
): { name?: string; check?: ResolvedCheck } {
    if (!isObject(value)) {
        checker.add(
            path,
            `must be a check {name, prometheus | webhook}, got ${show(value)}`,
            'write e.g. {name: error-rate, prometheus: {query: "...", max: 0.01}}',
        );
        return {};
    }
    const issuesBefore = checker.issues.length;
    checker.unknownKeys(path, value, CHECK_KEYS);
    if (value.name === undefined) {
        checker.add(
            `${path}.name`,
            "is required",
            "name the check, e.g. error-rate (reports and notifications show it)",
        );
    }
    const name =
        value.name === undefined
            ? undefined
            : checker.dnsName(
                  `${path}.name`,
                  value.name,
                  DNS1123_LABEL,
                  63,
                  "a short name of lower-case letters, digits and '-'",
              );
    let prometheus: ResolvedCheck["prometheus"];
    let webhook: ResolvedCheck["webhook"];
    if (value.prometheus !== undefined && value.webhook !== undefined) {
        checker.add(path, "has both prometheus and webhook", "keep one kind per check; split it into two named checks");
    } else if (value.prometheus !== undefined) {
        prometheus = prometheusCheckOf(checker, `${path}.prometheus`, value.prometheus, interval);
    } else if (value.webhook !== undefined) {
        webhook = webhookCheckOf(checker, `${path}.webhook`, value.webhook);
    } else {
        checker.add(path, "has neither prometheus nor webhook", "add prometheus: {query, min, max} or webhook: {url}");
    }
    if (name === undefined || checker.issues.length > issuesBefore) {
        return { name };
    }
    const check: ResolvedCheck = { name };
    if (prometheus !== undefined) check.prometheus = prometheus;
    if (webhook !== undefined) check.webhook = webhook;
    return { name, check };
}

/** The analysis checks, each named once; the valid ones. */
export function analysisOf(checker: Checker, path: string, value: unknown, interval: string): ResolvedCheck[] {
    const analysis: ResolvedCheck[] = [];
    const entries = checker.list(
        path,
        value,
        "checks",
        'write e.g. analysis: [{name: error-rate, prometheus: {query: "...", max: 0.01}}]',
    );
    const firstIndexOfName = new Map<string, number>();
    entries?.forEach((entry, index) => {
        const { name, check } = checkOf(checker, `${path}[${index}]`, entry, interval);
        if (name !== undefined) {
            const first = firstIndexOfName.get(name);
            if (first !== undefined) {
                checker.add(
                    `${path}[${index}].name`,
                    `duplicates analysis[${first}] (${show(name)})`,
                    "give every check a distinct name",
                );
            } else {
                firstIndexOfName.set(name, index);
            }
        }
        if (check !== undefined) analysis.push(check);
    });
    return analysis;
}
