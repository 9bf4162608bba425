// Root hooks of the end-to-end suite: the number of spurious second previews (a known provider
// issue, see README) is reported, and the shared control plane is stopped once, at the end. In
// parallel mode root hooks run around every file, so a worker keeps its control plane for all
// the files it runs (each works in its own namespace and stack) and kills it when it exits:
// starting one costs seconds per file.
import { stopEnvironment, stopEnvironmentNow } from "../../e2e/environment";
import { staleOutputs } from "./helpers";

const parallelWorker = process.env.MOCHA_WORKER_ID !== undefined;
if (parallelWorker) {
    process.once("exit", stopEnvironmentNow);
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
        process.once(signal, () => {
            stopEnvironmentNow();
            process.exit(1);
        });
    }
}

export const mochaHooks = {
    async afterAll(): Promise<void> {
        console.log(
            `\nspurious second previews cleared by a refresh (provider 4.25 stale outputs): ${staleOutputs.length}`,
        );
        if (!parallelWorker) await stopEnvironment();
    },
};
