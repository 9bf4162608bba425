// Root hooks of the end-to-end suite: after every test (each is one step of a flow), Istio's own
// analyzers check the live cluster, and an error or an unjustified warning fails the step; the
// number of spurious second previews (a known provider issue, see README) and the analyzers'
// findings are reported; the shared control plane is stopped once, at the end. In parallel mode
// root hooks run around every file, so a worker keeps its control plane for all the files it runs
// (each works in its own namespace and stack) and kills it when it exits: starting one costs
// seconds per file.
import { stopEnvironment, stopEnvironmentNow } from "../../e2e/environment";
import { assertIstioAnalysis, istioFindings, staleOutputs } from "./helpers";

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
    async afterEach(this: Mocha.Context): Promise<void> {
        // A failed test has its own error; the analysis would only repeat or bury it.
        if (this.currentTest?.state === "failed") return;
        await assertIstioAnalysis(`after "${this.currentTest?.fullTitle() ?? "a test"}"`);
    },
    async afterAll(): Promise<void> {
        console.log(
            `\nspurious second previews cleared by a refresh (provider 4.25 stale outputs): ${staleOutputs.length}`,
        );
        const found = [...istioFindings.byCode].map(([key, count]) => `${key} x${count}`).join(", ");
        console.log(
            `Istio's analyzers: ${istioFindings.runs} runs (${(istioFindings.ms / 1000).toFixed(1)} s), ` +
                `${istioFindings.unchanged} steps with nothing changed since a clean run; findings: ${found || "none"}`,
        );
        if (!parallelWorker) await stopEnvironment();
    },
};
