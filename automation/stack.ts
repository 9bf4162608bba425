/**
 * A stack of this project driven through the Automation API: the stack program is
 * `releaseProgram()` run inline, so a release changed here and one changed by editing
 * Pulumi.<stack>.yaml by hand are the same thing. Config edits are made to that file, path by
 * path (automation/stackConfig.ts): secure values are never decrypted or rewritten, and no
 * config value is ever put on a command line.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import {
    EngineEvent,
    LocalWorkspace,
    PreviewResult,
    PulumiCommand,
    Stack,
    SummaryEvent,
    UpResult,
} from "@pulumi/pulumi/automation";

import * as sdkLog from "@pulumi/pulumi/log";

import { releaseProgram } from "../components/program";
import { ReleaseConfigError } from "../components/validate";
import { EnginePool, EngineResult, EngineRunKind, WorkerStackOptions } from "./engineWorkers";
import { processAlive } from "./journal";
import { validStackName } from "./names";
import { StackConfigFile, stackConfigPath, writeFileAtomic } from "./stackConfig";

export const PROJECT = "model-release";

/** Options of preview and up: policy packs (absolute paths) and their config files, callbacks. */
export interface RunOptions {
    /** A config file to use instead of Pulumi.<stack>.yaml (a proposed edit under preview). */
    configFile?: string;
    policyPacks?: string[];
    policyPackConfigs?: string[];
    onEvent?: (event: EngineEvent) => void;
    onOutput?: (out: string) => void;
}

export interface ReleaseStackOptions {
    /** Stack name. */
    stackName: string;
    /** Project directory (Pulumi.yaml, Pulumi.<stack>.yaml); default `<backendDir>/project`. */
    workDir?: string;
    /** Directory of a local `file://` backend; default the ambient backend. */
    backendDir?: string;
    /** Environment of the Pulumi CLI runs (backend, passphrase, KUBECONFIG, PATH, ...). */
    envVars?: Record<string, string>;
    /** Directory holding `bin/pulumi`; default the `pulumi` on PATH. */
    pulumiRoot?: string;
    /**
     * Worker processes for engine runs made through `run()` (the service: operations on
     * different stacks at once); default: in this process, one at a time.
     */
    engine?: EnginePool;
}

/** A stack that does not exist (the CLI exits 2, the service answers 404). */
export class UnknownStackError extends Error {
    constructor(readonly stackName: string) {
        super(`stack ${stackName} does not exist; create it with \`pulumi stack init ${stackName}\``);
        this.name = "UnknownStackError";
    }
}

export class ReleaseStack {
    private constructor(
        readonly stack: Stack,
        /** The local backend directory, or "" for the ambient backend. */
        readonly backendDir: string,
        /** What a worker needs to open this stack again. */
        private readonly workerOptions: WorkerStackOptions,
        private readonly engine?: EnginePool,
    ) {}

    /** Creates the stack if it does not exist (`pulumi stack init`), else selects it. */
    static create(options: ReleaseStackOptions): Promise<ReleaseStack> {
        return ReleaseStack.load(options, true);
    }

    /**
     * An existing stack; UnknownStackError if there is none (reads and operations never create
     * stacks: a typo must not leave a new, empty stack behind).
     */
    static open(options: ReleaseStackOptions): Promise<ReleaseStack> {
        return ReleaseStack.load(options, false);
    }

    private static async load(options: ReleaseStackOptions, create: boolean): Promise<ReleaseStack> {
        const problem = validStackName(options.stackName);
        if (problem !== undefined) {
            throw new ReleaseConfigError([
                { path: "stack", problem, fix: "use letters, digits, '-', '_' and '.' (not starting with '-')" },
            ]);
        }
        const envVars = { ...(options.envVars ?? {}) };
        // A backend directory selects a local file backend; otherwise the ambient one (login or
        // PULUMI_BACKEND_URL) is used, as with the pulumi CLI.
        const backendDir = options.backendDir ?? "";
        if (backendDir !== "" && envVars.PULUMI_BACKEND_URL === undefined) {
            envVars.PULUMI_BACKEND_URL = `file://${backendDir}`;
        }
        const workDir =
            options.workDir ??
            path.join(backendDir || fs.mkdtempSync(path.join(os.tmpdir(), "model-release-")), "project");
        fs.mkdirSync(workDir, { recursive: true });
        const pulumiCommand = await PulumiCommand.get(options.pulumiRoot ? { root: options.pulumiRoot } : {});
        const args = {
            stackName: options.stackName,
            projectName: PROJECT,
            program: async () => {
                silenceSdkDebugLogs();
                const { releases } = releaseProgram();
                return { releases };
            },
        };
        const workspaceOptions = {
            workDir,
            pulumiCommand,
            envVars,
            // An existing Pulumi.yaml (this project's, with its config schema) is kept as is.
            ...(fs.existsSync(path.join(workDir, "Pulumi.yaml"))
                ? {}
                : { projectSettings: { name: PROJECT, runtime: "nodejs" as const } }),
        };
        const workerOptions: WorkerStackOptions = {
            stackName: options.stackName,
            workDir,
            backendDir: options.backendDir,
            envVars: options.envVars,
            pulumiRoot: options.pulumiRoot,
        };
        if (create) {
            const stack = await LocalWorkspace.createOrSelectStack(args, workspaceOptions);
            return new ReleaseStack(stack, backendDir, workerOptions, options.engine);
        }
        try {
            const stack = await LocalWorkspace.selectStack(args, workspaceOptions);
            return new ReleaseStack(stack, backendDir, workerOptions, options.engine);
        } catch (error) {
            if (/no stack named|not found|does not exist/i.test((error as Error).message)) {
                throw new UnknownStackError(options.stackName);
            }
            throw error;
        }
    }

    /** Path of the stack's config file (Pulumi.<stack>.yaml). */
    get configPath(): string {
        return stackConfigPath(this.stack.workspace.workDir, this.stack.name);
    }

    /** One read of the stack file; secure values stay ciphertext (placeholders in `releases()`). */
    readConfig(): StackConfigFile {
        return StackConfigFile.read(this.configPath, `${PROJECT}:releases`);
    }

    /** The `releases` config as an object (empty when unset); secure values as placeholders. */
    async releases(): Promise<Record<string, unknown>> {
        return this.readConfig().releases();
    }

    /**
     * Sets the `releases` config (like editing Pulumi.<stack>.yaml): only the paths that differ
     * are written; placeholders of secure values read from this stack stay their ciphertext.
     */
    async setReleases(releases: Record<string, unknown>): Promise<void> {
        writeFileAtomic(this.configPath, this.readConfig().withReleases(releases));
    }

    /**
     * Writes a proposed config (the stack file's text after an edit) beside the project, for a
     * preview or update with `configFile`; the stack file itself is not touched.
     */
    writeProposed(text: string): string {
        const dir = path.join(this.stack.workspace.workDir, ".model-release");
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        // The extension stays the stack file's: Pulumi picks its parser by it.
        const file = path.join(dir, `proposed-${process.pid}-${path.basename(this.configPath)}`);
        writeFileAtomic(file, text);
        return file;
    }

    /** Makes a proposed config the stack's config (an atomic rename). */
    commitProposed(file: string): void {
        fs.renameSync(file, this.configPath);
    }

    /**
     * `pulumi config set --secret --path <key>`, the value read from standard input so that it
     * never appears in a process listing.
     */
    async setSecret(key: string, value: string): Promise<void> {
        const command = (this.stack.workspace as LocalWorkspace).pulumiCommand.command;
        const args = ["config", "set", "--secret", "--path", `--stack=${this.stack.name}`, "--", `${PROJECT}:${key}`];
        await new Promise<void>((resolve, reject) => {
            const child = spawn(command, args, {
                cwd: this.stack.workspace.workDir,
                env: { ...process.env, ...this.stack.workspace.envVars },
                stdio: ["pipe", "ignore", "pipe"],
            });
            let stderr = "";
            child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
            child.on("error", reject);
            child.on("close", (code) =>
                code === 0 ? resolve() : reject(new Error(`pulumi config set --secret failed: ${stderr.trim()}`)),
            );
            child.stdin.end(value);
        });
    }

    async preview(options: RunOptions = {}): Promise<PreviewResult> {
        checkPolicyPacks(options.policyPacks ?? []);
        return this.stack.preview({ diff: true, ...options, onEvent: visibleEvents(options.onEvent) });
    }

    async up(options: RunOptions = {}): Promise<UpResult> {
        checkPolicyPacks(options.policyPacks ?? []);
        return this.stack.up({ diff: true, ...options, onEvent: visibleEvents(options.onEvent) });
    }

    /**
     * One engine run for an operation: in a worker process when the stack has an engine pool
     * (other stacks' runs proceed meanwhile), else in this process, one at a time.
     */
    async run(
        kind: EngineRunKind,
        options: RunOptions & { clearPendingCreates?: boolean } = {},
        label = `${kind} of stack ${this.stack.name}`,
    ): Promise<EngineResult> {
        checkPolicyPacks(options.policyPacks ?? []);
        if (this.engine) {
            const { onEvent, configFile, policyPacks, policyPackConfigs, clearPendingCreates } = options;
            const request = {
                kind,
                stack: this.workerOptions,
                ...{ configFile, policyPacks, policyPackConfigs, clearPendingCreates },
                events: onEvent !== undefined,
            };
            return this.engine.run(request, label, visibleEvents(onEvent));
        }
        return inProcess(async () => {
            switch (kind) {
                case "preview": {
                    const preview = await this.preview(options);
                    return { changeSummary: preview.changeSummary };
                }
                case "up": {
                    // The summary event of the run itself: what `pulumi stack history` would
                    // record for it, without the three CLI runs the Automation API adds (below).
                    let summary: SummaryEvent | undefined;
                    const onEvent = (event: EngineEvent): void => {
                        if (event.summaryEvent) summary = event.summaryEvent;
                        options.onEvent?.(event);
                    };
                    await withoutReadBack(this.stack).up({ diff: true, ...options, onEvent: visibleEvents(onEvent) });
                    if (!summary) throw new Error(`up of stack ${this.stack.name} ended without a summary event`);
                    // A failed update throws (the CLI's exit code); one that returns succeeded.
                    return { changeSummary: summary.resourceChanges, result: "succeeded" };
                }
                case "refresh":
                    await this.refresh({ clearPendingCreates: options.clearPendingCreates });
                    return { changeSummary: {} };
                case "destroy":
                    await this.destroy();
                    return { changeSummary: {} };
            }
        });
    }

    /** `pulumi refresh`; `clearPendingCreates` drops creates an interrupted update left pending. */
    async refresh(options: { clearPendingCreates?: boolean } = {}): Promise<void> {
        await withoutReadBack(this.stack).refresh({ ...options });
    }

    /**
     * Clears the update lock an interrupted update left in the backend. On a file backend the
     * lock names the pulumi process that holds it: while that process still runs (a killed
     * caller's orphaned `pulumi up`), this refuses rather than cancel a live update.
     */
    async cancelStaleUpdate(): Promise<void> {
        const url = this.stack.workspace.envVars.PULUMI_BACKEND_URL ?? process.env.PULUMI_BACKEND_URL ?? "";
        if (url.startsWith("file://")) {
            const root = url.slice("file://".length).replace(/^~(?=$|\/)/, os.homedir());
            const short = this.stack.name.split("/").pop() ?? this.stack.name;
            const locks = filesUnder(path.join(root, ".pulumi", "locks")).filter(
                (f) => f.endsWith(".json") && path.basename(path.dirname(f)) === short,
            );
            if (locks.length === 0) return;
            for (const lock of locks) {
                const holder = JSON.parse(fs.readFileSync(lock, "utf8")) as { pid?: number; hostname?: string };
                if (processAlive(holder.pid ?? 0, holder.hostname ?? "")) {
                    throw new Error(
                        `an interrupted update of stack ${this.stack.name} is still running (pulumi pid ${holder.pid} on ${holder.hostname}); retry when it has ended`,
                    );
                }
            }
        }
        try {
            await this.stack.cancel();
        } catch (error) {
            if (!/no (stack )?update|not locked|is not locked|no .*in progress/i.test((error as Error).message)) {
                throw error;
            }
        }
    }

    /** `pulumi cancel`: on a file backend, removes the lock an interrupted update left behind. */
    async cancel(): Promise<void> {
        await this.stack.cancel();
    }

    async destroy(): Promise<void> {
        await withoutReadBack(this.stack).destroy();
    }

    /** Removes the stack (its state and config). */
    async cleanup(): Promise<void> {
        await this.stack.workspace.removeStack(this.stack.name, { force: true });
    }
}

/** Inline programs share their process's Pulumi runtime: in-process runs go one at a time. */
let engineQueue: Promise<unknown> = Promise.resolve();

/**
 * The stack for engine runs whose caller needs only the result and the change counts. After the
 * engine run, the Automation API's up reads the stack's outputs (two `pulumi stack output` runs)
 * and its last update (`pulumi stack history`); refresh and destroy read the history. Each of
 * those CLI processes opens the state and derives the passphrase key (1,000,000 PBKDF2 rounds).
 * Here the two reads answer nothing; the run's own summary event has the counts. The Automation
 * API's other behaviour is unchanged (it is the prototype).
 */
function withoutReadBack(stack: Stack): Stack {
    const lean = Object.create(stack) as Stack;
    lean.outputs = () => Promise.resolve({});
    lean.info = () => Promise.resolve(undefined);
    return lean;
}

function inProcess<T>(fn: () => Promise<T>): Promise<T> {
    const run = engineQueue.then(fn, fn);
    engineQueue = run.catch(() => undefined);
    return run;
}

/**
 * Drops the Node SDK's debug messages in this process. They print RPC requests and responses
 * with secret values unmasked ("RegisterResource RPC finished: ... resp: ...", "Serialize
 * property ...: primitive=..."), and the engine forwards them into the event stream and the
 * Automation API's event-log file whatever the display's verbosity: a storage credential
 * showed there base64-encoded (tests/e2e/secrets.spec.ts).
 */
function silenceSdkDebugLogs(): void {
    const log = sdkLog as unknown as { debug: (...args: unknown[]) => Promise<void> };
    log.debug = () => Promise.resolve();
}

/** Engine events a caller may see: debug diagnostics are dropped (see silenceSdkDebugLogs). */
export function visibleEvents(onEvent?: (event: EngineEvent) => void): ((event: EngineEvent) => void) | undefined {
    if (!onEvent) return undefined;
    return (event) => {
        if ((event.diagnosticEvent?.severity as string | undefined) === "debug") return;
        onEvent(event);
    };
}

function filesUnder(dir: string): string[] {
    if (!fs.existsSync(dir)) return [];
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const full = path.join(dir, e.name);
        return e.isDirectory() ? filesUnder(full) : [full];
    });
}

/**
 * Throws, naming the fix, when a policy pack's entry point (its package.json `main`) is missing:
 * this project's pack runs compiled (`npm run build`), and the engine would otherwise fail with
 * a generic plugin error after starting the update.
 */
export function checkPolicyPacks(packs: string[]): void {
    for (const pack of packs) {
        const manifest = path.join(pack, "package.json");
        if (!fs.existsSync(manifest)) {
            throw new Error(`policy pack ${pack} has no package.json; pass the pack's directory`);
        }
        const main = (JSON.parse(fs.readFileSync(manifest, "utf8")) as { main?: string }).main ?? "index.js";
        if (!fs.existsSync(path.join(pack, main))) {
            throw new Error(
                `policy pack ${pack} is not built (${main} is missing); run \`npm run build\` in the project`,
            );
        }
    }
}

/** Changes in a preview or update summary, without the unchanged count. */
export function changes(summary: Record<string, number | undefined>): Record<string, number> {
    return Object.fromEntries(Object.entries(summary).filter(([op, n]) => op !== "same" && (n ?? 0) > 0)) as Record<
        string,
        number
    >;
}
