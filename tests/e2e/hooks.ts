// Root hooks of the end-to-end suite: the shared control plane is stopped once, at the end.
import { stopEnvironment } from "../../e2e/environment";

export const mochaHooks = {
    async afterAll(): Promise<void> {
        await stopEnvironment();
    },
};
