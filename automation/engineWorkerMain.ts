/**
 * The engine worker (see engineWorkers.ts): receives one EngineRequest over IPC, opens the stack,
 * runs it with the inline stack program in this process's own Pulumi runtime, streams the
 * engine events back, answers with the result or the error, and exits.
 */
import type { EngineEvent } from "@pulumi/pulumi/automation";

import { EngineRequest, EngineResult, WORKER_MARK, WorkerMessage, killMarked } from "./engineWorkers";
import { ReleaseStack } from "./stack";

function send(message: WorkerMessage): Promise<void> {
    return new Promise((resolve) => {
        if (!process.send) return resolve();
        process.send(message, undefined, {}, () => resolve());
    });
}

async function run(request: EngineRequest): Promise<EngineResult> {
    const stack = await ReleaseStack.open(request.stack);
    const onEvent = request.events
        ? (event: EngineEvent) => {
              void send({ type: "event", event });
          }
        : undefined;
    // The worker's stack has no engine pool: run() executes in this process.
    return stack.run(request.kind, {
        configFile: request.configFile,
        policyPacks: request.policyPacks,
        policyPackConfigs: request.policyPackConfigs,
        clearPendingCreates: request.clearPendingCreates,
        onEvent,
    });
}

process.once("message", (request: EngineRequest) => {
    run(request)
        .then((result) => send({ type: "result", result }))
        .catch((error: unknown) =>
            send({
                type: "error",
                name: error instanceof Error ? error.name : "Error",
                message: error instanceof Error ? error.message : String(error),
            }),
        )
        .finally(() => process.exit(0));
});

// The parent went away: nothing is waiting for this run's answer.
process.on("disconnect", () => {
    killMarked(process.env[WORKER_MARK] ?? "");
    process.exit(1);
});
