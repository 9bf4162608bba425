// Root hooks of the end-to-end suite: the shared control plane is stopped once, at the end, and
// the number of spurious second previews (a known provider issue, see README) is reported.
import { stopEnvironment } from "../../e2e/environment";
import { staleOutputs } from "./helpers";

export const mochaHooks = {
    async afterAll(): Promise<void> {
        console.log(
            `\nspurious second previews cleared by a refresh (provider 4.25 stale outputs): ${staleOutputs.length}`,
        );
        await stopEnvironment();
    },
};
