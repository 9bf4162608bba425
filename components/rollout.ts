/**
 * The progressive rollout of a release, as data: the validated rollout spec, its step schedule
 * and the query templates of its checks. Pure (no Pulumi, no I/O): the runner in
 * automation/rollout.ts turns the schedule into ordinary config edits.
 */
import { parser as promqlParser } from "@prometheus-io/lezer-promql";

/** Placeholders a Prometheus query may use, and what each stands for. */
export const QUERY_PLACEHOLDERS = {
    version: "the candidate version's object name",
    primary: "the primary version's object name",
    namespace: "the release's namespace",
    app: "the application name",
    interval: "the rollout interval as a PromQL duration, e.g. 2m",
} as const;

export type QueryPlaceholder = keyof typeof QUERY_PLACEHOLDERS;

/** Values for every placeholder. */
export type QueryVariables = Record<QueryPlaceholder, string>;

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** The placeholders a query uses that are not known (an empty list when all are). */
export function unknownPlaceholders(query: string): string[] {
    const unknown = new Set<string>();
    for (const m of query.matchAll(PLACEHOLDER)) {
        if (!Object.hasOwn(QUERY_PLACEHOLDERS, m[1])) unknown.add(m[1]);
    }
    return [...unknown];
}

/** The query with its placeholders filled in (unknown ones are left as they are). */
export function renderQuery(query: string, variables: QueryVariables): string {
    return query.replace(PLACEHOLDER, (whole, name: string) =>
        Object.hasOwn(QUERY_PLACEHOLDERS, name) ? variables[name as QueryPlaceholder] : whole,
    );
}

/** Placeholder values used to check a query's syntax before any rollout runs. */
export const SAMPLE_QUERY_VARIABLES: QueryVariables = {
    version: "v",
    primary: "p",
    namespace: "ns",
    app: "a",
    interval: "1m",
};

/** Whole hours, minutes and seconds, largest unit first, each at most once: `1h`, `1m30s`, `90s`. */
const DURATION = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/**
 * Seconds in a duration of whole `h`, `m` and `s` units, largest first (`30s`, `2m`, `1h`,
 * `1m30s`), or undefined when the text is not one, or is zero. Every such text is also a valid
 * PromQL duration, so it can fill the `{{interval}}` placeholder as written. Fractions, `ms`,
 * `d` and larger units, signs, spaces and repeated or out-of-order units are refused.
 */
export function parseDuration(text: string): number | undefined {
    if (typeof text !== "string" || text.length === 0) return undefined;
    const m = DURATION.exec(text);
    if (!m) return undefined;
    const [hours, minutes, seconds] = [m[1], m[2], m[3]].map((part) => (part === undefined ? 0 : Number(part)));
    const total = hours * 3600 + minutes * 60 + seconds;
    return Number.isSafeInteger(total) && total > 0 ? total : undefined;
}

/**
 * The candidate percent of each step of `stepWeight` up to `maxWeight`: stepWeight,
 * 2 * stepWeight, ... and maxWeight last when it is not a multiple (20 up to 50: 20, 40, 50).
 * Expects 1 <= stepWeight <= maxWeight (validated before).
 */
export function expandStepWeight(stepWeight: number, maxWeight: number): number[] {
    const steps: number[] = [];
    for (let w = stepWeight; w < maxWeight; w += stepWeight) steps.push(w);
    steps.push(maxWeight);
    return steps;
}

/** One placeholder replaced while rendering: where it was and where its value went. */
interface Replacement {
    from: number;
    to: number;
    renderedFrom: number;
    renderedTo: number;
}

/** Renders like renderQuery, and records each replacement to map positions back. */
function renderTracked(query: string, variables: QueryVariables): { text: string; replacements: Replacement[] } {
    const replacements: Replacement[] = [];
    let text = "";
    let last = 0;
    for (const m of query.matchAll(PLACEHOLDER)) {
        if (!Object.hasOwn(QUERY_PLACEHOLDERS, m[1])) continue;
        const from = m.index;
        text += query.slice(last, from);
        const value = variables[m[1] as QueryPlaceholder];
        replacements.push({
            from,
            to: from + m[0].length,
            renderedFrom: text.length,
            renderedTo: text.length + value.length,
        });
        text += value;
        last = from + m[0].length;
    }
    text += query.slice(last);
    return { text, replacements };
}

/**
 * The position in the template of a position in the rendered query; inside a filled-in value, the
 * start of its placeholder (or its end, for the end of a range).
 */
function templatePosition(position: number, replacements: readonly Replacement[], end = false): number {
    let shift = 0;
    for (const r of replacements) {
        if (position < r.renderedFrom) break;
        if (position < r.renderedTo) return position === r.renderedFrom || !end ? r.from : r.to;
        shift = r.to - r.renderedTo;
    }
    return position + shift;
}

/** Line and column (1-based) of a position. */
function lineColumn(text: string, position: number): { line: number; column: number } {
    const before = text.slice(0, position);
    const lines = before.split("\n");
    return { line: lines.length, column: lines[lines.length - 1].length + 1 };
}

/** A short one-line excerpt of text[from, to), quoted, with an ellipsis where the text goes on. */
function excerpt(text: string, from: number, to: number): string {
    const start = Math.max(0, from);
    const end = Math.min(text.length, to);
    const cut = text.slice(start, end).replace(/\s+/g, " ");
    return JSON.stringify(`${start > 0 ? "..." : ""}${cut}${end < text.length ? "..." : ""}`);
}

/**
 * The first PromQL syntax error of a query template, or undefined when it parses. The
 * placeholders are filled in first (with `variables`, by default SAMPLE_QUERY_VARIABLES);
 * positions and excerpts refer to the template as written, e.g.
 * `unexpected end of query at column 16, after "sum(rate(x[5m])"`. Parsed by the Prometheus
 * project's own grammar (@prometheus-io/lezer-promql): syntax only, so an unknown function
 * name is an error but a wrong argument type (`rate(x)`) is not. Unknown placeholders are left
 * as they are, so they make the query fail to parse: check unknownPlaceholders first.
 */
export function promqlSyntaxError(
    query: string,
    variables: QueryVariables = SAMPLE_QUERY_VARIABLES,
): string | undefined {
    if (query.trim().length === 0) return "the query is empty";
    const { text, replacements } = renderTracked(query, variables);
    let error: { from: number; to: number } | undefined;
    promqlParser.parse(text).iterate({
        enter(node) {
            if (error !== undefined) return false;
            if (node.type.isError) {
                error = { from: node.from, to: node.to };
                return false;
            }
            return undefined;
        },
    });
    if (error === undefined) return undefined;
    const from = templatePosition(error.from, replacements);
    const to = Math.max(from, templatePosition(error.to, replacements, true));
    const { line, column } = lineColumn(query, from);
    const at = query.includes("\n") ? `line ${line}, column ${column}` : `column ${column}`;
    if (query.slice(from).trim().length === 0) {
        return `unexpected end of query at ${at}, after ${excerpt(query.trimEnd(), from - 30, from)}`;
    }
    if (to > from) {
        const token = query.slice(from, to).replace(/\s+/g, " ");
        const shown = token.length > 20 ? `${token.slice(0, 20)}...` : token;
        return `unexpected ${JSON.stringify(shown)} at ${at}, in ${excerpt(query, from - 15, Math.min(to, from + 20) + 15)}`;
    }
    return `syntax error at ${at}, near ${excerpt(query, from - 15, from + 15)}`;
}

/** A validated check. */
export interface ResolvedCheck {
    name: string;
    prometheus?: { query: string; min?: number; max?: number };
    webhook?: { url: string; timeoutSeconds: number };
}

/** A validated rollout spec, defaults applied. */
export interface ResolvedRollout {
    /**
     * blue-green and kserve-canary: the candidate percent of each step, increasing; empty for
     * canary and mirror releases (they are gated, not stepped).
     */
    steps: number[];
    /** canary, mirror: judgements before promotion (1 for stepped rollouts: one per step). */
    iterations: number;
    /** Seconds to wait after each step before judging it. */
    intervalSeconds: number;
    /** The interval as written (also the `{{interval}}` placeholder, as a PromQL duration). */
    interval: string;
    failureLimit: number;
    prometheusUrl?: string;
    analysis: ResolvedCheck[];
    onSuccess: "promote" | "hold";
    /** Notification webhook URLs. */
    notify: string[];
}
