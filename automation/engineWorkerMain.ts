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
    const options = {
        configFile: request.configFile,
        policyPacks: request.policyPacks,
        policyPackConfigs: request.policyPackConfigs,
        onEvent,
    };
    switch (request.kind) {
        case "preview": {
            const preview = await stack.preview(options);
            return { changeSummary: preview.changeSummary };
        }
        case "up": {
            const up = await stack.up(options);
            return { changeSummary: up.summary.resourceChanges ?? {}, result: up.summary.result };
        }
        case "refresh":
            await stack.refresh({ clearPendingCreates: request.clearPendingCreates });
            return { changeSummary: {} };
        case "destroy":
            await stack.destroy();
            return { changeSummary: {} };
    }
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
