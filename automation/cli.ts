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
 * Options: --yes (no prompt), --json (machine output), --work-dir DIR (project directory, default
 * the current one), --policy-pack DIR (default ./policies), --max-step N (default 25).
 * Exit codes: 0 done, 1 failed, 2 usage or invalid input, 3 refused by a guard rail, 4 busy.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as readline from "node:readline/promises";

import { TrafficRow } from "../components/plan";
import { ReleaseArgs, VersionArgs } from "../components/types";
import { ReleaseConfigError, formatIssue } from "../components/validate";
import { Apply, BusyError, OperationPlan, RefusedError, ReleaseManager } from "./releases";
import { ReleaseStack } from "./stack";

const COMMANDS = ["status", "add-candidate", "weights", "step", "promote", "rollback", "remove"] as const;
type Command = (typeof COMMANDS)[number];

export interface ParsedArgs {
    command: Command;
    stack: string;
    release: string;
    positional: string[];
    yes: boolean;
    json: boolean;
    workDir: string;
    policyPack?: string;
    maxStep?: number;
    version: VersionArgs;
    strategy?: ReleaseArgs["strategy"];
}

export class UsageError extends Error {}

/** Parses the command line (without node and script). */
export function parseArgs(argv: string[], cwd = process.cwd()): ParsedArgs {
    const [command, ...rest] = argv;
    if (!COMMANDS.includes(command as Command)) {
        throw new UsageError(`unknown command ${JSON.stringify(command ?? "")}; use one of ${COMMANDS.join(", ")}`);
    }
    const flags: Record<string, string[]> = {};
    const positional: string[] = [];
    for (let i = 0; i < rest.length; i++) {
        const arg = rest[i];
        if (arg === "--yes" || arg === "--json") {
            flags[arg.slice(2)] = ["true"];
        } else if (arg.startsWith("--")) {
            const value = rest[i + 1];
            if (value === undefined || value.startsWith("--")) throw new UsageError(`${arg} needs a value`);
            (flags[arg.slice(2)] ??= []).push(value);
            i++;
        } else {
            positional.push(arg);
        }
    }
    const one = (name: string): string | undefined => flags[name]?.[flags[name].length - 1];
    const stack = one("stack");
    const release = one("release");
    if (!stack) throw new UsageError("--stack is required");
    if (!release) throw new UsageError("--release is required");
    const version: VersionArgs = {};
    if (one("storage-uri")) version.storageUri = one("storage-uri");
    if (one("image")) version.image = one("image");
    if (one("name")) version.name = one("name");
    if (one("weight") !== undefined) version.weight = Number(one("weight"));
    for (const label of flags.label ?? []) {
        const [key, ...value] = label.split("=");
        if (value.length === 0) throw new UsageError(`--label ${label}: use key=value`);
        version.labels = { ...(version.labels ?? {}), [key]: value.join("=") };
    }
    const workDir = path.resolve(cwd, one("work-dir") ?? ".");
    const defaultPack = path.join(workDir, "policies");
    const maxStep = one("max-step") === undefined ? undefined : Number(one("max-step"));
    if (maxStep !== undefined && (!Number.isInteger(maxStep) || maxStep < 1 || maxStep > 100)) {
        throw new UsageError("--max-step must be a whole number from 1 to 100");
    }
    return {
        command: command as Command,
        stack,
        release,
        positional,
        yes: one("yes") === "true",
        json: one("json") === "true",
        workDir,
        policyPack: one("policy-pack")
            ? path.resolve(cwd, one("policy-pack") as string)
            : fs.existsSync(defaultPack)
              ? defaultPack
              : undefined,
        maxStep,
        version,
        strategy: one("strategy") as ReleaseArgs["strategy"] | undefined,
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

function describePlan(plan: OperationPlan): string {
    const steps =
        plan.steps.map((s) => `  ${s.op.padEnd(8)} ${s.type.split(":").pop()} ${s.name}`).join("\n") ||
        "  (no resource changes)";
    return `${plan.operation} ${plan.release}: ${JSON.stringify(plan.changes)}\n${steps}\n\n${trafficTable(plan.trafficBefore, plan.trafficAfter)}`;
}

/** Runs the command; returns the exit code. Output goes to `out` and `err`. */
export async function main(
    argv: string[],
    out: (s: string) => void = console.log,
    err: (s: string) => void = console.error,
): Promise<number> {
    let args: ParsedArgs;
    try {
        args = parseArgs(argv);
    } catch (error) {
        err(`model-release: ${(error as Error).message}`);
        return 2;
    }
    const stack = await ReleaseStack.create({ stackName: args.stack, workDir: args.workDir, envVars: {} });
    const manager = new ReleaseManager(stack, {
        policyPacks: args.policyPack ? [args.policyPack] : [],
        maxStep: args.maxStep,
        onEvent: (event) => {
            const meta = event.resOutputsEvent?.metadata;
            if (meta && meta.op !== "same" && !args.json) err(`  done ${meta.op} ${meta.urn.split("::").pop()}`);
        },
    });
    try {
        if (args.command === "status") {
            const status = await manager.status(args.release);
            out(args.json ? JSON.stringify(status) : trafficTable(status.traffic, status.traffic));
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
        const n = args.positional.map(Number);
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
        if (error instanceof ReleaseConfigError) {
            err(error.issues.map(formatIssue).join("\n"));
            return 2;
        }
        if (error instanceof RefusedError) {
            err(error.message);
            return 3;
        }
        if (error instanceof BusyError) {
            err(error.message);
            return 4;
        }
        err(`model-release: ${(error as Error).message}`);
        return 1;
    }
}
