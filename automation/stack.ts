/**
 * A stack of this project driven through the Automation API: the stack program is
 * `releaseProgram()` run inline, so a release changed here and one changed by editing
 * Pulumi.<stack>.yaml by hand are the same thing. Config edits go through the CLI exactly as
 * `pulumi config set` would.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { EngineEvent, LocalWorkspace, PreviewResult, PulumiCommand, Stack, UpResult } from "@pulumi/pulumi/automation";

import { releaseProgram } from "../components/program";

export const PROJECT = "model-release";

/** Options of preview and up: policy packs (absolute paths) and their config files, callbacks. */
export interface RunOptions {
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
}

export class ReleaseStack {
    private constructor(
        readonly stack: Stack,
        /** The local backend directory, or "" for the ambient backend. */
        readonly backendDir: string,
    ) {}

    static async create(options: ReleaseStackOptions): Promise<ReleaseStack> {
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
        const stack = await LocalWorkspace.createOrSelectStack(
            {
                stackName: options.stackName,
                projectName: PROJECT,
                program: async () => {
                    const { releases } = releaseProgram();
                    return { releases };
                },
            },
            {
                workDir,
                pulumiCommand,
                envVars,
                // An existing Pulumi.yaml (this project's, with its config schema) is kept as is.
                ...(fs.existsSync(path.join(workDir, "Pulumi.yaml"))
                    ? {}
                    : { projectSettings: { name: PROJECT, runtime: "nodejs" } }),
            },
        );
        return new ReleaseStack(stack, backendDir);
    }

    /** Replaces the whole `releases` config (like editing Pulumi.<stack>.yaml). */
    async setReleases(releases: Record<string, unknown>): Promise<void> {
        const text = JSON.stringify(releases);
        await this.stack.setAllConfigJson(
            JSON.stringify({ [`${PROJECT}:releases`]: { value: text, objectValue: releases, secret: false } }),
        );
    }

    /** `pulumi config set --path <key> <value>` (in the project namespace). */
    async setPath(key: string, value: string): Promise<void> {
        await this.stack.setConfig(key, { value }, true);
    }

    /** `pulumi config rm --path <key>`. */
    async removePath(key: string): Promise<void> {
        await this.stack.removeConfig(key, true);
    }

    /** The `releases` config as an object (empty when unset). */
    async releases(): Promise<Record<string, unknown>> {
        const all = await this.stack.getAllConfig();
        const value = all[`${PROJECT}:releases`]?.value;
        return value === undefined ? {} : (JSON.parse(value) as Record<string, unknown>);
    }

    async preview(options: RunOptions = {}): Promise<PreviewResult> {
        checkPolicyPacks(options.policyPacks ?? []);
        return this.stack.preview({ diff: true, ...options });
    }

    async up(options: RunOptions = {}): Promise<UpResult> {
        checkPolicyPacks(options.policyPacks ?? []);
        return this.stack.up({ diff: true, ...options });
    }

    /** `pulumi refresh`; `clearPendingCreates` drops creates an interrupted update left pending. */
    async refresh(options: { clearPendingCreates?: boolean } = {}): Promise<void> {
        await this.stack.refresh({ ...options });
    }

    /** `pulumi cancel`: on a file backend, removes the lock an interrupted update left behind. */
    async cancel(): Promise<void> {
        await this.stack.cancel();
    }

    async destroy(): Promise<void> {
        await this.stack.destroy();
    }

    /** Removes the stack (its state and config). */
    async cleanup(): Promise<void> {
        await this.stack.workspace.removeStack(this.stack.name, { force: true });
    }
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
