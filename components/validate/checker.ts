/**
 * The Checker collects a release's issues, and parses the value kinds every section uses
 * (strings, enumerations, integers, names, string maps). Each parser returns undefined and adds
 * an issue when the value is set but wrong, so callers can go on and report every mistake.
 */
import { ConfigIssue, show, suggest } from "./issues";

/** Kubernetes name and key formats (apimachinery validation). */
export const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/**
 * Keys that JavaScript gives a meaning of its own. Assigned as map keys they set an object's
 * prototype (`__proto__`) or shadow Object's members, so a header match keyed `__proto__` would
 * silently become `{}` and match every request. They are refused anywhere in a release.
 */
export const RESERVED_KEYS: readonly string[] = ["__proto__", "constructor", "prototype"];

/** Whether a key is one of RESERVED_KEYS. */
export function isReservedKey(key: string): boolean {
    return RESERVED_KEYS.includes(key);
}

/** A plain object (config maps), as opposed to null, an array or a scalar. */
export function isObject(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Collects issues for one release; each check adds at most one issue per path. */
export class Checker {
    readonly issues: ConfigIssue[] = [];

    add(path: string, problem: string, fix: string): void {
        this.issues.push({ path, problem, fix });
    }

    unknownKeys(path: string, value: Record<string, unknown>, allowed: readonly string[]): void {
        for (const key of Object.keys(value)) {
            // Reserved keys are reported once, by reservedKeys().
            if (!allowed.includes(key) && !isReservedKey(key)) {
                this.add(
                    `${path}.${key}`,
                    "is not a known setting",
                    `${suggest(key, allowed)}remove it; allowed here: ${allowed.join(", ")}`,
                );
            }
        }
    }

    /** A list (`what` names its items in the message), or undefined with an issue when it is not one. */
    list(path: string, value: unknown, what: string | undefined, fix: string): unknown[] | undefined {
        if (value === undefined) {
            return undefined;
        }
        if (!Array.isArray(value)) {
            this.add(path, `must be a list${what === undefined ? "" : ` of ${what}`}, got ${show(value)}`, fix);
            return undefined;
        }
        return value;
    }

    string(path: string, value: unknown, fix: string): string | undefined {
        if (value === undefined) {
            return undefined;
        }
        if (typeof value !== "string" || value.length === 0) {
            this.add(path, `must be a non-empty string, got ${show(value)}`, fix);
            return undefined;
        }
        return value;
    }

    oneOf<T extends string>(path: string, value: unknown, options: readonly T[]): T | undefined {
        if (value === undefined) {
            return undefined;
        }
        if (typeof value !== "string" || !(options as readonly string[]).includes(value)) {
            const hint = typeof value === "string" ? suggest(value, options) : "";
            this.add(
                path,
                `must be one of ${options.join(", ")}, got ${show(value)}`,
                `${hint}use one of the listed values`,
            );
            return undefined;
        }
        return value as T;
    }

    integer(path: string, value: unknown, min: number, max: number, fix: string): number | undefined {
        if (value === undefined) {
            return undefined;
        }
        if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
            const range =
                max === Number.MAX_SAFE_INTEGER ? `a whole number >= ${min}` : `a whole number from ${min} to ${max}`;
            const what = min === 0 && max === Number.MAX_SAFE_INTEGER ? "a non-negative integer" : range;
            this.add(path, `must be ${what}, got ${show(value)}`, fix);
            return undefined;
        }
        return value;
    }

    boolean(path: string, value: unknown): boolean | undefined {
        if (value === undefined) {
            return undefined;
        }
        if (typeof value !== "boolean") {
            this.add(path, `must be true or false, got ${show(value)}`, "write true or false without quotes");
            return undefined;
        }
        return value;
    }

    dnsName(path: string, value: unknown, pattern: RegExp, maxLength: number, kind: string): string | undefined {
        const text = this.string(path, value, `use ${kind}`);
        if (text === undefined) {
            return undefined;
        }
        if (!pattern.test(text) || text.length > maxLength) {
            this.add(
                path,
                `must be ${kind} of at most ${maxLength} characters, got ${show(text)}`,
                `use ${kind}, e.g. "wisdom-0"`,
            );
            return undefined;
        }
        return text;
    }

    stringMap(
        path: string,
        value: unknown,
        kind: "label" | "annotation" | "plain",
    ): Record<string, string> | undefined {
        if (value === undefined) {
            return undefined;
        }
        if (!isObject(value)) {
            this.add(
                path,
                `must be a map of strings, got ${show(value)}`,
                `write ${path.split(".").pop()} as key: "value" lines`,
            );
            return undefined;
        }
        const entries: [string, string][] = [];
        for (const [key, entry] of Object.entries(value)) {
            if (isReservedKey(key)) continue; // reported by reservedKeys()
            const entryPath = `${path}["${key}"]`;
            if (typeof entry !== "string") {
                this.add(entryPath, `must be a string, got ${show(entry)}`, `quote the value, e.g. "${String(entry)}"`);
                continue;
            }
            if (kind !== "plain" && !validQualifiedKey(key)) {
                this.add(
                    entryPath,
                    `is not a valid ${kind} key`,
                    "use [prefix/]name with a DNS subdomain prefix and a name of at most 63 characters",
                );
                continue;
            }
            if (kind === "label" && (entry.length > 63 || !LABEL_VALUE.test(entry))) {
                this.add(
                    entryPath,
                    `is not a valid label value, got ${show(entry)}`,
                    "use at most 63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric",
                );
                continue;
            }
            entries.push([key, entry]);
        }
        // fromEntries defines own keys: no key can ever become a prototype.
        return Object.fromEntries(entries);
    }
}

/** A config path to a key of a map: `.key` for plain identifiers, `["key"]` otherwise. */
export function keyPath(path: string, key: string): string {
    return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) && !isReservedKey(key) ? `${path}.${key}` : `${path}["${key}"]`;
}

/** Reports every reserved key (own key of any object) in a config value, at any depth. */
export function reservedKeys(checker: Checker, path: string, value: unknown, seen = new Set<object>()): void {
    if (typeof value !== "object" || value === null || seen.has(value)) return;
    seen.add(value);
    if (Array.isArray(value)) {
        value.forEach((item, index) => reservedKeys(checker, `${path}[${index}]`, item, seen));
        return;
    }
    for (const [key, item] of Object.entries(value)) {
        if (isReservedKey(key)) {
            checker.add(
                `${path}["${key}"]`,
                `is a reserved key (${RESERVED_KEYS.join(", ")}): JavaScript would not read it as a plain key`,
                "rename or remove the key",
            );
        } else {
            reservedKeys(checker, keyPath(path, key), item, seen);
        }
    }
}

/** A label or annotation key: `[prefix/]name`, prefix a DNS subdomain, name a qualified name. */
function validQualifiedKey(key: string): boolean {
    const parts = key.split("/");
    if (parts.length > 2) {
        return false;
    }
    const name = parts[parts.length - 1];
    if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) {
        return false;
    }
    if (parts.length === 2) {
        const prefix = parts[0];
        return prefix.length > 0 && prefix.length <= 253 && DNS1123_SUBDOMAIN.test(prefix);
    }
    return true;
}
