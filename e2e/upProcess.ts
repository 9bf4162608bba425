/**
 * `pulumi up` of a ReleaseStack in a process of its own (an inline program shares the Pulumi
 * runtime of its process, so concurrent updates are tested from separate processes, as they
 * happen in practice). Usage: ts-node e2e/upProcess.ts <bin> <kubeconfig> <stack> <backendDir>
 * Exits 0 when the update succeeds; prints the error and exits 1 otherwise.
 */
import { ReleaseStack } from "../automation/stack";
import { localStackOptions } from "./engine";

async function main(): Promise<void> {
    const [bin, kubeconfig, stackName, backendDir] = process.argv.slice(2);
    const stack = await ReleaseStack.create(localStackOptions(bin, kubeconfig, stackName, backendDir));
    const result = await stack.up();
    console.log(`result: ${result.summary.result}`);
}

main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
});
