/**
 * `npm run serve`: the HTTP service over this project's stacks.
 * Environment: MODEL_RELEASE_TOKEN or MODEL_RELEASE_TOKEN_FILE (required), PORT (default 8080),
 * HOST (default 127.0.0.1), MODEL_RELEASE_AUDIT_LOG (default ./audit.log), MODEL_RELEASE_WORK_DIR
 * (the project directory, default the current one), MODEL_RELEASE_POLICY_PACK (default
 * <project>/policies), MODEL_RELEASE_MAX_STEP (default 25). SIGTERM/SIGINT close the service after
 * the running operations finish.
 */
import * as fs from "node:fs";
import * as path from "node:path";

import { ReleaseManager } from "./releases";
import { buildServer } from "./server";
import { ReleaseStack } from "./stack";

async function main(): Promise<void> {
    const env = process.env;
    const token =
        env.MODEL_RELEASE_TOKEN ??
        (env.MODEL_RELEASE_TOKEN_FILE ? fs.readFileSync(env.MODEL_RELEASE_TOKEN_FILE, "utf8").trim() : "");
    if (!token) throw new Error("set MODEL_RELEASE_TOKEN or MODEL_RELEASE_TOKEN_FILE");
    const workDir = path.resolve(env.MODEL_RELEASE_WORK_DIR ?? ".");
    const policyPack = path.resolve(env.MODEL_RELEASE_POLICY_PACK ?? path.join(workDir, "policies"));
    const managers = new Map<string, Promise<ReleaseManager>>();
    const managerFor = (stackName: string): Promise<ReleaseManager> => {
        let manager = managers.get(stackName);
        if (!manager) {
            manager = ReleaseStack.create({ stackName, workDir, envVars: {} }).then(
                (stack) =>
                    new ReleaseManager(stack, {
                        policyPacks: [policyPack],
                        maxStep: env.MODEL_RELEASE_MAX_STEP ? Number(env.MODEL_RELEASE_MAX_STEP) : undefined,
                    }),
            );
            managers.set(stackName, manager);
        }
        return manager;
    };
    const app = buildServer({ managerFor, token, auditLog: path.resolve(env.MODEL_RELEASE_AUDIT_LOG ?? "audit.log") });
    const address = await app.listen({ port: Number(env.PORT ?? 8080), host: env.HOST ?? "127.0.0.1" });
    console.log(`model-release service on ${address}`);
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
        process.once(signal, () => {
            console.log(`${signal}: closing after ${app.operationsRunning()} running operation(s)`);
            void app.close().then(() => process.exit(0));
        });
    }
}

main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
});
