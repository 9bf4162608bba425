/**
 * A stack of this project driven through the Automation API with the real engine: the stack
 * program is `releaseProgram()` run inline, state lives in a local `file://` backend, secrets use
 * a passphrase. Config edits go through the CLI exactly as `pulumi config set` would.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import {
    ConfigMap,
    EngineEvent,
    LocalWorkspace,
    PreviewResult,
    PulumiCommand,
    Stack,
    UpResult,
} from "@pulumi/pulumi/automation";

import { releaseProgram } from "../components/program";
import { engineEnv } from "./engine";

export const PROJECT = "model-release";

/** Options of preview and up: policy packs (absolute paths) and their config files, callbacks. */
export interface RunOptions {
    policyPacks?: string[];
    policyPackConfigs?: string[];
    onEvent?: (event: EngineEvent) => void;
    onOutput?: (out: string) => void;
}

export interface ReleaseStackOptions {
    /** Engine bin directory (scripts/engine.sh). */
    bin: string;
    /** Kubeconfig of the target cluster. */
    kubeconfig: string;
    /** Stack name; default `e2e`. */
    stackName?: string;
    /** Backend directory; default a new temporary directory (removed by `cleanup`). */
    backendDir?: string;
}

export class ReleaseStack {
    private constructor(
        readonly stack: Stack,
        readonly backendDir: string,
        private readonly ownsBackend: boolean,
    ) {}

    static async create(options: ReleaseStackOptions): Promise<ReleaseStack> {
        const ownsBackend = options.backendDir === undefined;
        const backendDir = options.backendDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "model-release-state-"));
        const workDir = path.join(backendDir, "project");
        fs.mkdirSync(workDir, { recursive: true });
        const pulumiCommand = await PulumiCommand.get({ root: path.dirname(options.bin) });
        const stack = await LocalWorkspace.createOrSelectStack(
            {
                stackName: options.stackName ?? "e2e",
                projectName: PROJECT,
                program: async () => {
                    const { releases } = releaseProgram();
                    return { releases };
                },
            },
            {
                workDir,
                pulumiCommand,
                envVars: engineEnv(options.bin, backendDir, options.kubeconfig),
                projectSettings: { name: PROJECT, runtime: "nodejs" },
            },
        );
        return new ReleaseStack(stack, backendDir, ownsBackend);
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

    async config(): Promise<ConfigMap> {
        return this.stack.getAllConfig();
    }

    preview(options: RunOptions = {}): Promise<PreviewResult> {
        return this.stack.preview({ diff: true, ...options });
    }

    up(options: RunOptions = {}): Promise<UpResult> {
        return this.stack.up({ diff: true, ...options });
    }

    async destroy(): Promise<void> {
        await this.stack.destroy();
    }

    /** Removes the stack and, if this object created it, the backend directory. */
    async cleanup(): Promise<void> {
        try {
            await this.stack.workspace.removeStack(this.stack.name, { force: true });
        } finally {
            if (this.ownsBackend) fs.rmSync(this.backendDir, { recursive: true, force: true });
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
