/**
 * Parsers for the value kinds that sections share: model formats, Istio string matches and
 * request matches, full specs, gateway references, URLs, durations and numbers. Each adds its
 * issues to the checker and returns undefined for a value it refuses.
 */
import { parseDuration } from "../rollout";
import { Environment, HttpMatch, ModelFormat, StringMatch } from "../types";
import { Checker, DNS1123_SUBDOMAIN, isObject, isReservedKey } from "./checker";
import { show, showUrl } from "./issues";
import { ONLY_IN } from "./tables";
import { nameRuleOf, settingsOf } from "./settings";

const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

const MATCH_KEYS = settingsOf("HttpMatch");

/** The scheme of a storage URI (`s3` of `s3://bucket/model`), or undefined when it has none. */
export function storageScheme(uri: string): string | undefined {
    const match = /^([a-z][a-z0-9+.-]*):\/\//.exec(uri);
    return match ? match[1] : undefined;
}

/** `modelFormat`: a framework name, or `{name, version}`. */
export function modelFormatOf(checker: Checker, path: string, value: unknown): ModelFormat | undefined {
    if (value === undefined) {
        return undefined;
    }
    if (typeof value === "string" && value.length > 0) {
        return { name: value };
    }
    if (isObject(value)) {
        checker.unknownKeys(path, value, settingsOf("ModelFormat"));
        const name = checker.string(`${path}.name`, value.name, 'name the framework, e.g. "sklearn"');
        if (value.name === undefined) {
            checker.add(`${path}.name`, "is required", 'name the framework, e.g. "sklearn"');
        }
        const version = checker.string(`${path}.version`, value.version, 'give a version such as "1"');
        return name === undefined ? undefined : version === undefined ? { name } : { name, version };
    }
    checker.add(
        path,
        `must be a framework name or {name, version}, got ${show(value)}`,
        "write e.g. modelFormat: sklearn",
    );
    return undefined;
}

/** An Istio StringMatch: exactly one of exact, prefix or regex (an empty prefix only for URIs). */
export function stringMatchOf(
    checker: Checker,
    path: string,
    value: unknown,
    allowEmptyPrefix: boolean,
): StringMatch | undefined {
    if (!isObject(value)) {
        checker.add(path, `must be {exact|prefix|regex: "<value>"}, got ${show(value)}`, 'write e.g. {exact: "test"}');
        return undefined;
    }
    const keys = Object.keys(value);
    if (keys.length !== 1 || !["exact", "prefix", "regex"].includes(keys[0])) {
        checker.add(
            path,
            `must have exactly one of exact, prefix or regex, got ${show(value)}`,
            'keep one key, e.g. {exact: "test"}',
        );
        return undefined;
    }
    const kind = keys[0] as keyof StringMatch;
    const text = value[kind];
    if (typeof text !== "string" || (text.length === 0 && !(allowEmptyPrefix && kind === "prefix"))) {
        checker.add(`${path}.${kind}`, `must be a non-empty string, got ${show(text)}`, "give the value to match");
        return undefined;
    }
    if (kind === "regex") {
        try {
            new RegExp(text);
        } catch {
            checker.add(
                `${path}.regex`,
                `is not a valid regular expression: ${show(text)}`,
                "use RE2 syntax (Istio matches with RE2)",
            );
            return undefined;
        }
    }
    return { [kind]: text };
}

/** A map of header or query parameter name to StringMatch; undefined when no entry is valid. */
export function matchMapOf(
    checker: Checker,
    path: string,
    value: unknown,
    headerNames: boolean,
): Record<string, StringMatch> | undefined {
    if (value === undefined) {
        return undefined;
    }
    if (!isObject(value) || Object.keys(value).length === 0) {
        checker.add(
            path,
            `must be a non-empty map of name: {exact|prefix|regex}, got ${show(value)}`,
            'write e.g. traffic: {exact: "test"}',
        );
        return undefined;
    }
    const entries: [string, StringMatch][] = [];
    for (const [name, entry] of Object.entries(value)) {
        if (isReservedKey(name)) continue; // reported by reservedKeys()
        if (headerNames && !HEADER_NAME.test(name)) {
            checker.add(
                `${path}["${name}"]`,
                "is not a valid header name",
                "use a lower-case HTTP header name, e.g. traffic",
            );
            continue;
        }
        const match = stringMatchOf(checker, `${path}["${name}"]`, entry, false);
        if (match) {
            entries.push([name, match]);
        }
    }
    // fromEntries defines own keys: `__proto__` can never set the map's prototype.
    return entries.length > 0 ? Object.fromEntries(entries) : undefined;
}

/**
 * Whether a match selects only some requests. A match with no condition (only a name, empty maps,
 * or a URI prefix of "" or "/") selects every request: as a canary rule, placed before the
 * primary's route, it would send all traffic to the candidate while the traffic table says 0%.
 */
export function constrains(m: HttpMatch): boolean {
    const nonEmpty = (map: Record<string, unknown> | undefined) => map !== undefined && Object.keys(map).length > 0;
    const everyPath = m.uri !== undefined && (m.uri.prefix === "" || m.uri.prefix === "/");
    return (
        nonEmpty(m.headers) ||
        nonEmpty(m.withoutHeaders) ||
        nonEmpty(m.queryParams) ||
        nonEmpty(m.sourceLabels) ||
        (m.uri !== undefined && !everyPath) ||
        m.method !== undefined ||
        m.sourceNamespace !== undefined
    );
}

/** One request match of a canary candidate; undefined when it has a problem. */
function matchOf(checker: Checker, path: string, entry: unknown, environment: Environment): HttpMatch | undefined {
    if (!isObject(entry)) {
        checker.add(
            path,
            `must be a match object, got ${show(entry)}`,
            'give at least one condition, e.g. headers: {traffic: {exact: "test"}}',
        );
        return undefined;
    }
    const issuesBefore = checker.issues.length;
    checker.unknownKeys(path, entry, MATCH_KEYS);
    const match: HttpMatch = {};
    const headers = matchMapOf(checker, `${path}.headers`, entry.headers, true);
    if (headers) match.headers = headers;
    const withoutHeaders = matchMapOf(checker, `${path}.withoutHeaders`, entry.withoutHeaders, true);
    if (withoutHeaders) match.withoutHeaders = withoutHeaders;
    const queryParams = matchMapOf(checker, `${path}.queryParams`, entry.queryParams, false);
    if (queryParams) match.queryParams = queryParams;
    if (entry.uri !== undefined) {
        if (!ONLY_IN.matchUri.includes(environment)) {
            checker.add(
                `${path}.uri`,
                "cannot be used with KServe environments",
                "match on headers or query parameters; the release rewrites /v1 and /v2 model paths itself",
            );
        } else {
            const uri = stringMatchOf(checker, `${path}.uri`, entry.uri, true);
            if (uri) match.uri = uri;
        }
    }
    if (entry.method !== undefined) {
        const method = stringMatchOf(checker, `${path}.method`, entry.method, false);
        if (method) match.method = method;
    }
    const sourceLabels = checker.stringMap(`${path}.sourceLabels`, entry.sourceLabels, "label");
    if (sourceLabels && Object.keys(sourceLabels).length > 0) match.sourceLabels = sourceLabels;
    const sourceNamespace = checker.dnsName(
        `${path}.sourceNamespace`,
        entry.sourceNamespace,
        ...nameRuleOf("HttpMatch", "sourceNamespace"),
        "a namespace name",
    );
    if (sourceNamespace) match.sourceNamespace = sourceNamespace;
    const name = checker.string(`${path}.name`, entry.name, "give the match a short name");
    if (name) match.name = name;
    // Only when nothing else was wrong with it: a refused condition already explains itself.
    if (checker.issues.length === issuesBefore && !constrains(match)) {
        checker.add(
            path,
            `constrains nothing (${show(entry)}), so it would match every request and send all traffic to the candidate`,
            'give it a condition that only some requests meet, e.g. headers: {traffic: {exact: "test"}}',
        );
        return undefined;
    }
    return match;
}

/** A canary candidate's `match` list; the valid matches (possibly none) when the list is set. */
export function matchesOf(
    checker: Checker,
    path: string,
    value: unknown,
    environment: Environment,
): HttpMatch[] | undefined {
    if (value === undefined) {
        return undefined;
    }
    if (!Array.isArray(value) || value.length === 0) {
        checker.add(
            path,
            `must be a non-empty list of matches, got ${show(value)}`,
            'write e.g. match: [{headers: {traffic: {exact: "test"}}}]',
        );
        return undefined;
    }
    const result: HttpMatch[] = [];
    value.forEach((entry, index) => {
        const match = matchOf(checker, `${path}[${index}]`, entry, environment);
        if (match) result.push(match);
    });
    return result;
}

/** A full spec (inferenceServiceSpec, deploymentSpec, serviceSpec), refused where not `allowed`. */
export function specOf(
    checker: Checker,
    path: string,
    value: unknown,
    allowed: boolean,
    envName: string,
): Record<string, unknown> | undefined {
    if (value === undefined) {
        return undefined;
    }
    const key = path.split(".").pop();
    if (!allowed) {
        checker.add(
            path,
            `cannot be used with environment ${envName}`,
            `remove ${key}; it belongs to another environment`,
        );
        return undefined;
    }
    if (!isObject(value) || Object.keys(value).length === 0) {
        checker.add(
            path,
            `must be a non-empty object (the complete spec), got ${show(value)}`,
            `paste the full ${key} there or remove it`,
        );
        return undefined;
    }
    return value;
}

/** An Istio Gateway reference, `<namespace>/<name>` or `<name>`. */
export function gatewayRef(checker: Checker, path: string, value: unknown): string | undefined {
    const text = checker.string(path, value, 'use "<namespace>/<name>" of an Istio Gateway');
    if (text === undefined) {
        return undefined;
    }
    const parts = text.split("/");
    const valid = parts.length <= 2 && parts.every((part) => DNS1123_SUBDOMAIN.test(part));
    if (!valid) {
        checker.add(
            path,
            `must be "<namespace>/<name>" of an Istio Gateway, got ${show(text)}`,
            'write e.g. "istio-system/public-gateway"',
        );
        return undefined;
    }
    return text;
}

/** An http(s) URL without credentials (config is stored and shown in plain text). */
export function httpUrlOf(checker: Checker, path: string, value: unknown, example: string): string | undefined {
    if (value === undefined) {
        return undefined;
    }
    if (typeof value !== "string" || value.length === 0) {
        checker.add(path, `must be an http(s) URL, got ${show(value)}`, `write e.g. ${example}`);
        return undefined;
    }
    let url: URL;
    try {
        url = new URL(value);
    } catch {
        checker.add(path, `is not a valid URL: ${showUrl(value)}`, `write e.g. ${example}`);
        return undefined;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
        checker.add(
            path,
            `must use http or https, got ${url.protocol.slice(0, -1)} (${showUrl(value)})`,
            `write e.g. ${example}`,
        );
        return undefined;
    }
    if (url.username !== "" || url.password !== "") {
        checker.add(
            path,
            `contains credentials (${showUrl(value)}); config is stored and shown in plain text`,
            "remove the user and password: point it at a proxy or Service that needs no credentials in config",
        );
        return undefined;
    }
    return value;
}

/** A duration of whole h/m/s units: the text as written and its seconds. */
export function durationOf(
    checker: Checker,
    path: string,
    value: unknown,
): { text: string; seconds: number } | undefined {
    if (value === undefined) {
        return undefined;
    }
    const seconds = typeof value === "string" ? parseDuration(value) : undefined;
    if (typeof value !== "string" || seconds === undefined) {
        checker.add(
            path,
            `must be a duration of whole hours, minutes and seconds, got ${show(value)}`,
            "write e.g. 30s, 2m, 1h or 1m30s (units h, m, s, largest first; no fractions, ms or days)",
        );
        return undefined;
    }
    return { text: value, seconds };
}

/** A finite number, or undefined (with an issue when set to something else). */
export function finiteOf(checker: Checker, path: string, value: unknown, fix: string): number | undefined {
    if (value === undefined) {
        return undefined;
    }
    if (typeof value !== "number" || !Number.isFinite(value)) {
        checker.add(path, `must be a finite number, got ${show(value)}`, fix);
        return undefined;
    }
    return value;
}
