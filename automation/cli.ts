/**
 * The `model-release` command: release operations on a stack of this project from a terminal or
 * a script. Every operation previews first, shows the resource steps and the traffic table before
 * -> after, asks for confirmation (unless --yes), then applies with progress.
 *
 *   model-release status        --stack dev --release wisdom
 *   model-release add-candidate --stack dev --release wisdom --storage-uri gs://... [--label k=v] [--image i] [--strategy s]
 *   model-release weights       --stack dev --release wisdom 30 70
 *   model-release step          --stack dev --release wisdom 10
 *   model-release promote       --stack dev --release wisdom
 *   model-release rollback      --stack dev --release wisdom
 *   model-release remove        --stack dev --release wisdom
 *   model-release --help | help [command] | <command> --help
 * The command line is strict: an unknown flag, a flag of another command, a flag that takes a
 * value given twice (except --label), a bad value or a wrong number of arguments is a usage error.
 * Exit codes: 0 done, 1 failed, 2 usage or invalid input, 3 refused by a guard rail, 4 busy. With
 * --json every result and every error is one JSON object on stdout.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as readline from "node:readline/promises";
import { ParseArgsConfig, parseArgs as parseFlags } from "node:util";

import { TrafficRow } from "../components/plan";
import { Strategy, VersionArgs } from "../components/types";
import { ConfigIssue, ReleaseConfigError, STRATEGIES } from "../components/validate";
import { validReleaseName, validStackName } from "./names";
import { Apply, BusyError, OperationPlan, RefusedError, ReleaseManager } from "./releases";
import { ReleaseStack, UnknownStackError } from "./stack";
import type { ReleaseStatus } from "./releases";
import { RolloutRefusedError, RolloutStateError } from "./rollout";
import { rolloutCommand } from "./rolloutCli";
import { RolloutExistsError } from "./rolloutJobs";

const COMMANDS = ["status", "add-candidate", "weights", "step", "promote", "rollback", "remove", "rollout"] as const;
type Command = (typeof COMMANDS)[number];

type FlagName =
    | "stack"
    | "release"
    | "storage-uri"
    | "image"
    | "name"
    | "weight"
    | "label"
    | "strategy"
    | "yes"
    | "json"
    | "work-dir"
    | "policy-pack"
    | "max-step"
    | "prometheus-url"
    | "cancel"
    | "promote"
    | "help";

interface FlagSpec {
    /** What the value is called in usage; flags without one are booleans. */
    value?: string;
    help: string;
    multiple?: boolean;
    short?: string;
}

/** Every flag, in the order usage lists them. */
const FLAGS: Record<FlagName, FlagSpec> = {
    stack: { value: "STACK", help: "stack name: STACK or ORG/PROJECT/STACK (required)" },
    release: { value: "NAME", help: "release name, a lowercase RFC 1123 label (required)" },
    "storage-uri": { value: "URI", help: "where the candidate's model is (gs://, s3://, pvc://, http(s)://, ...)" },
    image: { value: "IMAGE", help: "container image of the candidate" },
    name: { value: "NAME", help: "object name of the candidate (default <app>-<index>)" },
    weight: { value: "N", help: "weight of the candidate, a whole number >= 0" },
    label: { value: "KEY=VALUE", help: "label of the candidate; repeatable", multiple: true },
    strategy: { value: "STRATEGY", help: `also switch the release's strategy: ${STRATEGIES.join(", ")}` },
    yes: { help: "apply without asking" },
    json: { help: "print the result, or the error, as one JSON object on stdout" },
    "work-dir": { value: "DIR", help: "project directory (default: the current directory)" },
    "policy-pack": { value: "DIR", help: "policy pack directory (default: <work-dir>/policies if present)" },
    "max-step": { value: "N", help: "largest move of one operation in points, 1 to 100 (default 25)" },
    "prometheus-url": {
        value: "URL",
        help: "Prometheus for checks of rollouts that set no prometheusUrl (default $MODEL_RELEASE_PROMETHEUS_URL)",
    },
    cancel: { help: "cancel the release's active rollout: traffic back on the primary" },
    promote: { help: "promote the release's rollout holding at its last step (onSuccess: hold)" },
    help: { short: "h", help: "show this help" },
};

interface CommandSpec {
    summary: string;
    flags: readonly FlagName[];
    /** Positional numbers: how usage names them, what they mean, and how many there may be. */
    numbers?: { syntax: string; help: string; min: number; max: number };
}

const TARGET: readonly FlagName[] = ["stack", "release", "json", "work-dir", "help"];
const OPERATION: readonly FlagName[] = [...TARGET, "yes", "policy-pack", "max-step"];

const COMMAND_SPECS: Record<Command, CommandSpec> = {
    status: { summary: "Shows the versions of a release, their weights and traffic.", flags: TARGET },
    "add-candidate": {
        summary:
            "Adds a candidate version to a release (in a blue-green release at weight 0 unless --weight: no traffic moves).",
        flags: [...OPERATION, "storage-uri", "image", "name", "weight", "label", "strategy"],
    },
    weights: {
        summary: "Sets the weights of a blue-green release.",
        flags: OPERATION,
        numbers: {
            syntax: "WEIGHT...",
            help: "one whole number >= 0 per version, in order (e.g. 30 70)",
            min: 1,
            max: Infinity,
        },
    },
    step: {
        summary: "Moves traffic of a blue-green release from the primary to the candidate.",
        flags: OPERATION,
        numbers: {
            syntax: "POINTS",
            help: "whole number of points to move; negative moves traffic back to the primary",
            min: 1,
            max: 1,
        },
    },
    promote: { summary: "Promotes the candidate: it replaces the primary in place.", flags: OPERATION },
    rollback: {
        summary:
            "Rolls back: drops the candidates (kserve-canary: pins the previous revision, or each Standard-mode canary at 0%).",
        flags: OPERATION,
    },
    remove: { summary: "Removes the release; its objects are deleted.", flags: OPERATION },
    rollout: {
        summary:
            "Runs the release's configured rollout (steps, checks, rollback) in the foreground, or resumes it; --cancel, --promote act on it.",
        flags: [...TARGET, "policy-pack", "max-step", "prometheus-url", "cancel", "promote"],
    },
};

const EXIT_CODES =
    "exit codes: 0 done, 1 failed, 2 usage or invalid input, 3 refused by a guard rail, 4 busy (rollout: 0 promoted or holding, 3 rolled back or cancelled, 4 driven by another process)";

function isCommand(name: string): name is Command {
    return (COMMANDS as readonly string[]).includes(name);
}

function flagSyntax(name: FlagName): string {
    const spec = FLAGS[name];
    return `${spec.short ? `-${spec.short}, ` : ""}--${name}${spec.value ? ` ${spec.value}` : ""}`;
}

function synopsis(command: Command): string {
    const numbers = COMMAND_SPECS[command].numbers;
    return `usage: model-release ${command} --stack STACK --release NAME${numbers ? ` ${numbers.syntax}` : ""} [flags]`;
}

function table(rows: [string, string][]): string[] {
    const width = Math.max(...rows.map(([left]) => left.length));
    return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`);
}

/** `model-release --help`: the commands. */
export function generalUsage(): string {
    return [
        "usage: model-release <command> --stack STACK --release NAME [arguments] [flags]",
        "",
        "Release operations on a stack of this project. Each operation previews first, shows the",
        "resource steps and the traffic before -> after, and applies only when confirmed (or --yes).",
        "",
        "commands:",
        ...table(COMMANDS.map((c) => [c, COMMAND_SPECS[c].summary])),
        "",
        "Run 'model-release <command> --help' for its arguments and flags.",
        EXIT_CODES,
    ].join("\n");
}

/** `model-release <command> --help`: its arguments and flags. */
export function commandUsage(command: Command): string {
    const spec = COMMAND_SPECS[command];
    const flags = (Object.keys(FLAGS) as FlagName[]).filter((f) => spec.flags.includes(f));
    return [
        synopsis(command),
        "",
        spec.summary,
        ...(spec.numbers ? ["", "arguments:", ...table([[spec.numbers.syntax, spec.numbers.help]])] : []),
        "",
        "flags:",
        ...table(flags.map((f) => [flagSyntax(f), FLAGS[f].help])),
        "",
        EXIT_CODES,
    ].join("\n");
}

/** The short reminder printed after a usage error. */
function usageHint(command?: Command): string {
    return command
        ? `${synopsis(command)}\nRun 'model-release ${command} --help' for its arguments and flags.`
        : `usage: model-release <command> --stack STACK --release NAME [arguments] [flags]\n` +
              `commands: ${COMMANDS.join(", ")}. Run 'model-release --help' for details.`;
}

export interface ParsedArgs {
    command: Command;
    stack: string;
    release: string;
    /** The numbers after the command: the weights of `weights`, the points of `step`. */
    numbers: number[];
    yes: boolean;
    json: boolean;
    workDir: string;
    policyPack?: string;
    maxStep?: number;
    version: VersionArgs;
    strategy?: Strategy;
    /** rollout: the Prometheus of checks that name none. */
    prometheusUrl?: string;
    /** rollout: cancel or promote the active rollout instead of running it. */
    rolloutAction?: "cancel" | "promote";
}

/** What the command line asks for: usage text, or an operation. */
export type Invocation = { kind: "help"; text: string } | ({ kind: "run" } & ParsedArgs);

/** A bad command line; `usage` is the reminder to print with it. */
export class UsageError extends Error {
    constructor(
        message: string,
        readonly usage: string = usageHint(),
    ) {
        super(message);
        this.name = "UsageError";
    }
}

/** The arguments before `--` (after it, everything is an argument). */
function beforeTerminator(argv: string[]): string[] {
    const end = argv.indexOf("--");
    return end < 0 ? argv : argv.slice(0, end);
}

/** Whether errors must be JSON: decided from the raw arguments, so parse errors honour it too. */
export function wantsJson(argv: string[]): boolean {
    return beforeTerminator(argv).some((a) => a === "--json" || a.startsWith("--json="));
}

const VALUE_FLAGS = new Set(
    (Object.keys(FLAGS) as FlagName[]).filter((f) => FLAGS[f].value !== undefined).map((f) => `--${f}`),
);

/**
 * Splits flags (with their values) from arguments. node's parseArgs would read `step -10` as the
 * flags -1 and -0, so arguments are separated first and parseArgs gets the flags alone.
 */
function lex(argv: string[]): { flags: string[]; written: string[]; positionals: string[] } {
    const flags: string[] = [];
    const written: string[] = [];
    const positionals: string[] = [];
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        if (arg === "--") {
            positionals.push(...argv.slice(i + 1));
            break;
        }
        if (arg.length > 1 && arg.startsWith("-") && !/^-\d/.test(arg)) {
            written.push(arg);
            flags.push(arg);
            if (VALUE_FLAGS.has(arg) && i + 1 < argv.length) flags.push(argv[++i]);
        } else {
            positionals.push(arg);
        }
    }
    return { flags, written, positionals };
}

function flagName(written: string): FlagName | undefined {
    if (written === "-h") return "help";
    if (!written.startsWith("--")) return undefined;
    const name = written.slice(2).split("=")[0];
    return Object.hasOwn(FLAGS, name) ? (name as FlagName) : undefined;
}

/** Edit distance, to suggest the flag meant by a typo such as --max-stpe. */
function distance(a: string, b: string): number {
    let row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        const next = [i];
        for (let j = 1; j <= b.length; j++) {
            next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
        }
        row = next;
    }
    return row[b.length];
}

/** Refuses unknown flags, and flags of other commands (they would be ignored silently). */
function checkFlagNames(written: string[], command?: Command): void {
    const allowed = command ? COMMAND_SPECS[command].flags : (Object.keys(FLAGS) as FlagName[]);
    for (const arg of written) {
        const name = flagName(arg);
        const shown = arg.split("=")[0];
        if (name === undefined) {
            const typed = shown.replace(/^-+/, "");
            const near = allowed.find((f) => distance(f, typed) <= 2);
            throw new UsageError(
                `unknown flag ${shown}${near ? ` (did you mean --${near}?)` : ""}`,
                usageHint(command),
            );
        }
        if (command && !allowed.includes(name)) {
            throw new UsageError(`${shown} does not apply to ${command}`, usageHint(command));
        }
    }
}

/** node's parseArgs messages, reworded for this command. */
function flagError(error: unknown, command: Command): UsageError {
    const message = error instanceof Error ? error.message : String(error);
    const flag = /'(-[^' ]+)/.exec(message)?.[1] ?? "a flag";
    if (/argument missing|argument is ambiguous/.test(message)) {
        return new UsageError(
            `${flag} needs a value (write a value that starts with '-' as ${flag}=VALUE)`,
            usageHint(command),
        );
    }
    if (/does not take an argument/.test(message)) return new UsageError(`${flag} takes no value`, usageHint(command));
    return new UsageError(message.split("\n")[0], usageHint(command));
}

const show = (value: string): string => JSON.stringify(value);

/** Whole numbers only: Number() would take "", "0x10", "1e3" and " 5 ". */
function wholeNumber(text: string, negative: boolean): number | undefined {
    const n = Number(text);
    return (negative ? /^-?\d+$/ : /^\d+$/).test(text) && Number.isSafeInteger(n) ? n : undefined;
}

function numbersOf(command: Command, args: string[]): number[] {
    const spec = COMMAND_SPECS[command].numbers;
    const hint = usageHint(command);
    if (!spec) {
        if (args.length > 0) {
            throw new UsageError(`${command} takes no arguments, got ${args.map(show).join(" ")}`, hint);
        }
        return [];
    }
    if (args.length < spec.min || args.length > spec.max) {
        const got = args.length === 0 ? "none" : `${args.length}: ${args.map(show).join(" ")}`;
        const wanted = spec.max === 1 ? "exactly one number" : "one number per version";
        throw new UsageError(`${command} takes ${wanted} (${spec.syntax}), got ${got}`, hint);
    }
    const negative = command === "step";
    return args.map((arg) => {
        const n = wholeNumber(arg, negative);
        if (n === undefined) {
            throw new UsageError(
                `${command}: ${show(arg)} is not a whole number${negative ? "" : " >= 0"} (${spec.syntax}: ${spec.help})`,
                hint,
            );
        }
        return n;
    });
}

/** An http(s) URL with a host and no user or password. */
function plainHttpUrl(text: string): boolean {
    let url: URL;
    try {
        url = new URL(text);
    } catch {
        return false;
    }
    return /^https?:$/.test(url.protocol) && url.hostname !== "" && url.username === "" && url.password === "";
}

function isDirectory(dir: string): boolean {
    return fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

/**
 * Parses the command line (without node and script). Throws UsageError; `--help`, `-h` or
 * `help [command]` give the usage text instead of an operation.
 */
export function parseArgs(argv: string[], cwd = process.cwd()): Invocation {
    const lexed = lex(argv);
    const [word, ...rest] = lexed.positionals;

    if (word === "help") {
        if (rest.length > 1) throw new UsageError(`help takes at most one command, got ${rest.map(show).join(" ")}`);
        const [topic] = rest;
        if (topic === undefined) return { kind: "help", text: generalUsage() };
        if (!isCommand(topic)) {
            throw new UsageError(`unknown command ${show(topic)}; use one of ${COMMANDS.join(", ")}`);
        }
        return { kind: "help", text: commandUsage(topic) };
    }
    // --help wins over anything else on the line, so a half-written command can still ask for it.
    const help = beforeTerminator(argv).some((a) => a === "--help" || a === "-h");
    if (word === undefined || !isCommand(word)) {
        if (help && word === undefined) return { kind: "help", text: generalUsage() };
        checkFlagNames(lexed.written);
        throw new UsageError(
            word === undefined
                ? `no command given; use one of ${COMMANDS.join(", ")}`
                : `unknown command ${show(word)}; use one of ${COMMANDS.join(", ")}`,
        );
    }
    const command = word;
    if (help) return { kind: "help", text: commandUsage(command) };

    checkFlagNames(lexed.written, command);
    const hint = usageHint(command);
    const options: NonNullable<ParseArgsConfig["options"]> = {};
    for (const name of COMMAND_SPECS[command].flags) {
        const spec = FLAGS[name];
        options[name] = {
            type: spec.value ? "string" : "boolean",
            ...(spec.multiple ? { multiple: true } : {}),
            ...(spec.short ? { short: spec.short } : {}),
        };
    }
    let parsed: ReturnType<typeof parseFlags>;
    try {
        parsed = parseFlags({ args: lexed.flags, options, strict: true, allowPositionals: false, tokens: true });
    } catch (error) {
        throw flagError(error, command);
    }
    // Last-wins would hide a mistake (two --stack values: which stack was meant?), so a flag that
    // takes one value may be given once.
    const seen = new Set<string>();
    for (const token of parsed.tokens ?? []) {
        if (token.kind !== "option") continue;
        const spec = FLAGS[token.name as FlagName];
        if (token.value === "") throw new UsageError(`--${token.name} needs a value`, hint);
        if (spec.value && !spec.multiple) {
            if (seen.has(token.name)) throw new UsageError(`--${token.name} is given more than once`, hint);
            seen.add(token.name);
        }
    }
    const values = parsed.values;
    const text = (name: FlagName): string | undefined => {
        const value = values[name];
        return typeof value === "string" ? value : undefined;
    };
    const list = (name: FlagName): string[] => {
        const value = values[name];
        return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
    };

    const stack = text("stack");
    // `model-release rollout wisdom` names the release as the argument too.
    let release = text("release");
    if (command === "rollout" && rest.length > 0) {
        // Given twice (or two names), which release was meant is a guess: ask instead.
        if (release !== undefined || rest.length > 1) {
            throw new UsageError(
                `rollout takes the release once, as --release NAME or as its one argument, got ${[
                    ...(release !== undefined ? [`--release ${show(release)}`] : []),
                    ...rest.map(show),
                ].join(" ")}`,
                hint,
            );
        }
        release = rest.splice(0, 1)[0];
    }
    if (stack === undefined) throw new UsageError("--stack is required", hint);
    if (release === undefined) throw new UsageError("--release is required", hint);
    const stackProblem = validStackName(stack);
    if (stackProblem) throw new UsageError(`--stack: ${stackProblem}`, hint);
    const releaseProblem = validReleaseName(release);
    if (releaseProblem) throw new UsageError(`--release: ${releaseProblem}`, hint);

    const version: VersionArgs = {};
    const storageUri = text("storage-uri");
    if (storageUri !== undefined) version.storageUri = storageUri;
    const image = text("image");
    if (image !== undefined) version.image = image;
    const name = text("name");
    if (name !== undefined) version.name = name;
    const weight = text("weight");
    if (weight !== undefined) {
        const n = wholeNumber(weight, false);
        if (n === undefined) throw new UsageError(`--weight must be a whole number >= 0, got ${show(weight)}`, hint);
        version.weight = n;
    }
    for (const label of list("label")) {
        const [key, ...value] = label.split("=");
        if (key === "" || value.length === 0) throw new UsageError(`--label ${show(label)}: use key=value`, hint);
        if (version.labels && Object.hasOwn(version.labels, key)) {
            throw new UsageError(`--label ${show(key)} is given more than once`, hint);
        }
        version.labels = { ...(version.labels ?? {}), [key]: value.join("=") };
    }
    const strategyText = text("strategy");
    const strategy = STRATEGIES.find((s) => s === strategyText);
    if (strategyText !== undefined && strategy === undefined) {
        throw new UsageError(`--strategy must be one of ${STRATEGIES.join(", ")}, got ${show(strategyText)}`, hint);
    }
    const maxStepText = text("max-step");
    let maxStep: number | undefined;
    if (maxStepText !== undefined) {
        maxStep = wholeNumber(maxStepText, false);
        if (maxStep === undefined || maxStep < 1 || maxStep > 100) {
            throw new UsageError(`--max-step must be a whole number from 1 to 100, got ${show(maxStepText)}`, hint);
        }
    }
    const prometheusUrl = text("prometheus-url");
    if (prometheusUrl !== undefined && !plainHttpUrl(prometheusUrl)) {
        // A value with `@` may carry a password: it is not echoed.
        const got = prometheusUrl.includes("@") ? "a value with credentials (not shown)" : show(prometheusUrl);
        throw new UsageError(`--prometheus-url must be an http(s) URL without credentials, got ${got}`, hint);
    }
    if (values.cancel === true && values.promote === true) {
        throw new UsageError("--cancel and --promote exclude each other", hint);
    }
    const rolloutAction = values.cancel === true ? "cancel" : values.promote === true ? "promote" : undefined;
    const workDirText = text("work-dir");
    const workDir = path.resolve(cwd, workDirText ?? ".");
    // The stack would otherwise be set up in a new, empty project directory.
    if (workDirText !== undefined && !isDirectory(workDir)) {
        throw new UsageError(`--work-dir: no such directory ${show(workDir)}`, hint);
    }
    const packText = text("policy-pack");
    const defaultPack = path.join(workDir, "policies");
    let policyPack: string | undefined;
    if (packText !== undefined) {
        policyPack = path.resolve(cwd, packText);
        if (!isDirectory(policyPack)) {
            throw new UsageError(`--policy-pack: no such directory ${show(policyPack)}`, hint);
        }
    } else if (isDirectory(defaultPack)) {
        policyPack = defaultPack;
    }

    return {
        kind: "run",
        command,
        stack,
        release,
        numbers: numbersOf(command, rest),
        yes: values.yes === true,
        json: values.json === true,
        workDir,
        policyPack,
        maxStep,
        version,
        strategy,
        ...(prometheusUrl !== undefined ? { prometheusUrl } : {}),
        ...(rolloutAction !== undefined ? { rolloutAction } : {}),
    };
}

/** The traffic table before -> after, one line per version. */
export function trafficTable(before: TrafficRow[], after: TrafficRow[]): string {
    const versions = [
        ...new Set([...before, ...after].map((r) => `${r.version}${r.revision ? ` (${r.revision})` : ""}`)),
    ];
    const find = (rows: TrafficRow[], v: string) =>
        rows.find((r) => `${r.version}${r.revision ? ` (${r.revision})` : ""}` === v);
    const cell = (r?: TrafficRow) =>
        r === undefined
            ? "-"
            : `${r.percent}%${r.match ? " +match" : ""}${r.mirrorPercent !== undefined ? ` mirror ${r.mirrorPercent}%` : ""}`;
    const width = Math.max(7, ...versions.map((v) => v.length));
    const lines = [`${"version".padEnd(width)}  before        after`];
    for (const v of versions) {
        lines.push(`${v.padEnd(width)}  ${cell(find(before, v)).padEnd(12)}  ${cell(find(after, v))}`);
    }
    return lines.join("\n");
}

export function describePlan(plan: OperationPlan): string {
    const steps =
        plan.steps.map((s) => `  ${s.op.padEnd(8)} ${s.type.split(":").pop()} ${s.name}`).join("\n") ||
        "  (no resource changes)";
    const drift = plan.drift
        ? `\nDRIFT: the cluster routes ${Object.entries(plan.drift)
              .map(([v, p]) => `${v} ${p}%`)
              .join(", ")}, not the config of record ("before"); applying restores it first`
        : "";
    return `${plan.operation} ${plan.release}: ${JSON.stringify(plan.changes)}\n${steps}\n\n${trafficTable(plan.trafficBefore, plan.trafficAfter)}${drift}`;
}

/** An error as the CLI reports it: the JSON object printed with --json, and the exit code. */
export interface ErrorReport {
    error: "usage" | "invalid" | "refused" | "busy" | "failed";
    exitCode: 1 | 2 | 3 | 4;
    message: string;
    /** Usage errors: the reminder of the command's usage. */
    usage?: string;
    /** Invalid release configuration: every problem found. */
    issues?: readonly ConfigIssue[];
    /** Refused: the plan that was refused (nothing was applied). */
    plan?: OperationPlan;
}

/** Status as text: configured vs live percent and readiness per version, drift, operation in flight. */
export function statusTable(status: ReleaseStatus): string {
    const width = Math.max(
        7,
        ...status.traffic.map((r) => r.version.length + (r.revision ? r.revision.length + 3 : 0)),
    );
    const lines = [`${"version".padEnd(width)}  config        live          ready`];
    for (const r of status.traffic) {
        const name = `${r.version}${r.revision ? ` (${r.revision})` : ""}`;
        const config = `${r.percent}%${r.match ? " +match" : ""}${r.mirrorPercent !== undefined ? ` mirror ${r.mirrorPercent}%` : ""}`;
        const live = r.livePercent === undefined ? "-" : r.livePercent === "unknown" ? "unknown" : `${r.livePercent}%`;
        lines.push(`${name.padEnd(width)}  ${config.padEnd(12)}  ${live.padEnd(12)}  ${String(r.ready)}`);
    }
    if (status.drift) lines.push("DRIFT: the live routing differs from the config of record");
    if (status.liveError) lines.push(`live routing not compared: ${status.liveError}`);
    for (const r of status.traffic.filter((row) => row.readinessError)) {
        lines.push(`readiness of ${r.version} unknown: ${r.readinessError}`);
    }
    const op = status.operation;
    if (op) {
        lines.push(
            op.state === "running"
                ? `operation running: ${op.operation} of ${op.release} by ${op.principal} since ${op.startedAt} (${op.phase})`
                : `operation interrupted: ${op.operation} of ${op.release} by ${op.principal} in ${op.phase}; the next operation recovers it`,
        );
    }
    if (status.lastRecovery) {
        lines.push(`last recovery: ${status.lastRecovery.time} ${status.lastRecovery.detail ?? ""}`.trimEnd());
    }
    return lines.join("\n");
}

/** Drops V8 stack frames ("    at f (file.js:1:2)") that an engine message may carry along. */
function withoutStackFrames(message: string): string {
    return message
        .split("\n")
        .filter((line) => !/^\s+at .*(:\d+:\d+\)?|\(native\)|<anonymous>\)?)$/.test(line))
        .join("\n");
}

export function errorReport(error: unknown): ErrorReport {
    const message = withoutStackFrames(error instanceof Error ? error.message || String(error) : String(error));
    if (error instanceof UsageError) return { error: "usage", exitCode: 2, message, usage: error.usage };
    if (error instanceof ReleaseConfigError) return { error: "invalid", exitCode: 2, message, issues: error.issues };
    if (error instanceof RefusedError) return { error: "refused", exitCode: 3, message, plan: error.plan };
    if (error instanceof BusyError) return { error: "busy", exitCode: 4, message };
    if (error instanceof UnknownStackError) return { error: "invalid", exitCode: 2, message };
    if (error instanceof RolloutRefusedError || error instanceof RolloutStateError) {
        return { error: "invalid", exitCode: 2, message };
    }
    if (error instanceof RolloutExistsError) return { error: "busy", exitCode: 4, message };
    return { error: "failed", exitCode: 1, message };
}

/** The terminal form of an error: one `model-release:` line (issues follow it), never a stack. */
export function describeError(report: ErrorReport): string {
    return `model-release: ${report.message}${report.usage ? `\n${report.usage}` : ""}`;
}

/**
 * Runs the command; returns the exit code and never throws. Output goes to `out` and `err`; with
 * --json, errors go to `out` as one JSON object.
 */
export async function main(
    argv: string[],
    out: (s: string) => void = console.log,
    err: (s: string) => void = console.error,
): Promise<number> {
    const json = wantsJson(argv);
    try {
        const invocation = parseArgs(argv);
        if (invocation.kind === "help") {
            out(invocation.text);
            return 0;
        }
        const args = invocation;
        const stack = await ReleaseStack.open({ stackName: args.stack, workDir: args.workDir, envVars: {} });
        const manager = new ReleaseManager(stack, {
            policyPacks: args.policyPack ? [args.policyPack] : [],
            maxStep: args.maxStep,
            onEvent: (event) => {
                const meta = event.resOutputsEvent?.metadata;
                if (meta && meta.op !== "same" && !args.json) err(`  done ${meta.op} ${meta.urn.split("::").pop()}`);
            },
        });
        if (args.command === "rollout") return await rolloutCommand(args, manager, out, err);
        if (args.command === "status") {
            const status = await manager.status(args.release);
            out(args.json ? JSON.stringify(status) : statusTable(status));
            return 0;
        }
        const apply: Apply = args.yes
            ? true
            : async (plan) => {
                  if (args.json) return false;
                  out(describePlan(plan));
                  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
                  const answer = await rl.question("Apply? [y/N] ");
                  rl.close();
                  return /^y(es)?$/i.test(answer.trim());
              };
        const n = args.numbers;
        const plan =
            args.command === "add-candidate"
                ? await manager.addCandidate(args.release, args.version, apply, args.strategy)
                : args.command === "weights"
                  ? await manager.setWeights(args.release, n, apply)
                  : args.command === "step"
                    ? await manager.step(args.release, n[0], apply)
                    : args.command === "promote"
                      ? await manager.promote(args.release, apply)
                      : args.command === "rollback"
                        ? await manager.rollback(args.release, apply)
                        : await manager.remove(args.release, apply);
        out(
            args.json
                ? JSON.stringify(plan)
                : `${args.yes ? `${describePlan(plan)}\n` : ""}${plan.applied ? "applied" : "not applied"}`,
        );
        return 0;
    } catch (error) {
        const report = errorReport(error);
        try {
            if (json) out(JSON.stringify(report));
            else err(describeError(report));
        } catch {
            // The output itself failed (e.g. a closed pipe): the exit code still tells what happened.
        }
        return report.exitCode;
    }
}
