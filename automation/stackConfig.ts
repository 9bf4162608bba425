/**
 * The stack config file (`Pulumi.<stack>.yaml`) read and edited as text, the way a person edits
 * it: secure values are never decrypted here, operations change only the config paths they mean
 * to change, and everything else (secure ciphertext, comments, other keys, `encryptionsalt`) stays
 * byte for byte. Nothing goes through a command line, so neither argument-size limits nor argv
 * listings see the config.
 *
 * Secure leaves (`{secure: v1:...}`) are handed to callers as opaque placeholder strings
 * (`[secret:<hash of the ciphertext>]`, the same in every read): validation and planning treat
 * them as strings, and writing a config back turns every placeholder into the same ciphertext
 * again, even where an operation moved it (a promotion copies the candidate's fields to the
 * primary). A placeholder whose ciphertext is no longer in the file is refused, never written.
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

import { Document, isMap, isScalar, isSeq, parseDocument } from "yaml";

import { SECRET_PLACEHOLDER } from "../components/validate";

/** Serialization that keeps what Pulumi writes: 2-space indent, no folding of long ciphertext. */
const TO_STRING = { indent: 2, lineWidth: 0, minContentWidth: 0 } as const;

/** Thrown when the stack file cannot be read or edited safely; nothing was written. */
export class StackConfigError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "StackConfigError";
    }
}

/** Path of a stack's config file: `<dir>/Pulumi.<stack>.yaml` (or `.yml` if that exists). */
export function stackConfigPath(workDir: string, stackName: string): string {
    const dir = stackConfigDir(workDir);
    // Qualified names (org/project/stack) keep only the stack part in the file name, as Pulumi does.
    const short = stackName.split("/").pop() ?? stackName;
    const yml = path.join(dir, `Pulumi.${short}.yml`);
    return fs.existsSync(yml) ? yml : path.join(dir, `Pulumi.${short}.yaml`);
}

/** The directory of stack files: the project's `stackConfigDir`, else the project directory. */
function stackConfigDir(workDir: string): string {
    const project = path.join(workDir, "Pulumi.yaml");
    if (!fs.existsSync(project)) return workDir;
    const settings = parseDocument(fs.readFileSync(project, "utf8")).toJS() as { stackConfigDir?: unknown } | null;
    return typeof settings?.stackConfigDir === "string" ? path.resolve(workDir, settings.stackConfigDir) : workDir;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isSecureNode(value: unknown): value is { secure: string } {
    return isPlainObject(value) && Object.keys(value).length === 1 && typeof value.secure === "string";
}

/** One read of a stack config file. */
export class StackConfigFile {
    /** Placeholder -> ciphertext of every secure leaf read. */
    private readonly ciphertexts = new Map<string, string>();
    private readonly releasesValue: Record<string, unknown>;
    /** The parsed file; edits work on clones of it. */
    private readonly parsed: Document;

    private constructor(
        /** The file's path. */
        readonly file: string,
        /** The file's text as read ("" when it does not exist). */
        readonly text: string,
        /** The config key edited (`<project>:releases`). */
        readonly key: string,
    ) {
        const doc = (this.parsed = this.document());
        const raw = doc.getIn(["config", key]) as unknown;
        if (raw === undefined || raw === null) {
            this.releasesValue = {};
            return;
        }
        const value = (isScalar(raw) || isMap(raw) || isSeq(raw) ? raw.toJSON() : raw) as unknown;
        if (isSecureNode(value)) {
            throw new StackConfigError(
                `${key} is stored as one secret value in ${path.basename(file)}; model-release edits config paths ` +
                    "and never decrypts it (fix: store only the secret leaves as secrets, e.g. " +
                    "pulumi config set --secret --path 'releases.<name>.storageCredentials.data.<KEY>')",
            );
        }
        if (!isPlainObject(value)) {
            throw new StackConfigError(`${key} in ${path.basename(file)} must be a map of releases`);
        }
        this.releasesValue = this.withPlaceholders(value) as Record<string, unknown>;
    }

    /** A stack file's text as if read from `file` (a proposal's version of it, say). */
    static fromText(file: string, text: string, key: string): StackConfigFile {
        return new StackConfigFile(file, text, key);
    }

    /** Reads the stack file; a missing file is an empty config. */
    static read(file: string, key: string): StackConfigFile {
        const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
        return new StackConfigFile(file, text, key);
    }

    /** The releases config, secure leaves as placeholders (a fresh copy each call). */
    releases(): Record<string, unknown> {
        return structuredClone(this.releasesValue);
    }

    /** A top-level config value as stored: plain, `{secure: ...}` for a secret, undefined if unset. */
    value(key: string): unknown {
        const node = this.parsed.getIn(["config", key]) as unknown;
        return isScalar(node) || isMap(node) || isSeq(node) ? node.toJSON() : node;
    }

    /** Whether a string is a placeholder of a secure value of this read. */
    isSecret(value: unknown): boolean {
        return typeof value === "string" && this.ciphertexts.has(value);
    }

    /**
     * The file's text with `releases` changed to `next`, path by path: only the paths whose
     * values differ are written; placeholders become their ciphertext again.
     */
    withReleases(next: Record<string, unknown>): string {
        const doc = this.parsed.clone();
        if (!isMap(doc.contents)) doc.contents = doc.createNode({}) as typeof doc.contents;
        const root = ["config", this.key];
        if (!doc.hasIn(root)) {
            doc.setIn(root, this.toNode(doc, next));
        } else {
            this.edit(doc, root, this.releasesValue, next);
        }
        return doc.toString(TO_STRING);
    }

    private document(): Document {
        const doc = parseDocument(this.text, { uniqueKeys: true, keepSourceTokens: false });
        if (doc.errors.length > 0) {
            throw new StackConfigError(`${path.basename(this.file)} is not valid YAML: ${doc.errors[0].message}`);
        }
        return doc;
    }

    private withPlaceholders(value: unknown): unknown {
        if (isSecureNode(value)) {
            const placeholder = placeholderOf(value.secure);
            this.ciphertexts.set(placeholder, value.secure);
            return placeholder;
        }
        if (Array.isArray(value)) return value.map((v) => this.withPlaceholders(v));
        if (isPlainObject(value)) {
            const out: Record<string, unknown> = {};
            for (const [k, v] of Object.entries(value)) {
                Object.defineProperty(out, k, {
                    value: this.withPlaceholders(v),
                    enumerable: true,
                    writable: true,
                    configurable: true,
                });
            }
            return out;
        }
        return value;
    }

    /** A YAML node for a value; placeholders become `{secure: <ciphertext>}`. */
    private toNode(doc: Document, value: unknown): unknown {
        const restore = (v: unknown): unknown => {
            if (typeof v === "string" && this.ciphertexts.has(v)) return { secure: this.ciphertexts.get(v) };
            if (typeof v === "string" && PLACEHOLDER.test(v)) {
                throw new StackConfigError(
                    "a secret value read earlier is no longer in the stack file (it was changed meanwhile); " +
                        "read the config again and redo the edit",
                );
            }
            if (Array.isArray(v)) return v.map(restore);
            if (isPlainObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, restore(x)]));
            return v;
        };
        return doc.createNode(restore(value));
    }

    private edit(doc: Document, at: (string | number)[], before: unknown, after: unknown): void {
        if (sameValue(before, after)) return;
        if (isPlainObject(before) && isPlainObject(after)) {
            for (const k of Object.keys(before)) {
                if (!Object.hasOwn(after, k)) doc.deleteIn([...at, k]);
            }
            for (const [k, v] of Object.entries(after)) {
                if (Object.hasOwn(before, k)) this.edit(doc, [...at, k], before[k], v);
                else doc.setIn([...at, k], this.toNode(doc, v));
            }
            return;
        }
        if (Array.isArray(before) && Array.isArray(after)) {
            const common = Math.min(before.length, after.length);
            for (let i = 0; i < common; i++) this.edit(doc, [...at, i], before[i], after[i]);
            for (let i = before.length - 1; i >= after.length; i--) doc.deleteIn([...at, i]);
            for (let i = before.length; i < after.length; i++) doc.addIn(at, this.toNode(doc, after[i]));
            return;
        }
        doc.setIn(at, this.toNode(doc, after));
    }
}

const PLACEHOLDER = SECRET_PLACEHOLDER;

/** The placeholder of a secure value: stable across reads, reveals nothing but identity. */
function placeholderOf(ciphertext: string): string {
    return `[secret:${createHash("sha256").update(ciphertext).digest("hex").slice(0, 16)}]`;
}

function sameValue(a: unknown, b: unknown): boolean {
    if (a === b) return true;
    if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
    if (isPlainObject(a) && isPlainObject(b)) {
        const ka = Object.keys(a);
        return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && sameValue(a[k], b[k]));
    }
    return false;
}

/** Writes a file atomically (temp file in the same directory, fsync, rename), mode 0600 if new. */
export function writeFileAtomic(file: string, text: string): void {
    const tmp = path.join(
        path.dirname(file),
        `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString("hex")}`,
    );
    const mode = fs.existsSync(file) ? fs.statSync(file).mode & 0o777 : 0o600;
    const fd = fs.openSync(tmp, "w", mode);
    try {
        fs.writeSync(fd, text);
        fs.fsyncSync(fd);
    } finally {
        fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
}
