// Runs Pulumi code under mocks and records what it registers.
import * as pulumi from "@pulumi/pulumi";

/** A resource as the mock monitor saw it registered. */
export interface Registered {
    type: string;
    name: string;
    inputs: Record<string, unknown>;
}

/** Where the mocks run, and what becomes of each registration. */
export interface MockOptions {
    /** Stack name; default `dev`. */
    stack?: string;
    /** Whether the program runs as a preview; default false. */
    preview?: boolean;
    /** Receives each registration instead of the returned list (the benchmarks count, not keep). */
    onRegister?: (args: pulumi.runtime.MockResourceArgs) => void;
}

/**
 * Installs fresh mocks (project `model-release`) and returns the list that will receive every
 * registered resource. The one mock monitor of the tests and the benchmarks.
 */
export async function installMocks(
    config: Record<string, string> = {},
    secretKeys: string[] = [],
    options: MockOptions = {},
): Promise<Registered[]> {
    const registered: Registered[] = [];
    pulumi.runtime.setAllConfig(config, secretKeys);
    await pulumi.runtime.setMocks(
        {
            newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
                if (options.onRegister) options.onRegister(args);
                else registered.push({ type: args.type, name: args.name, inputs: args.inputs });
                return { id: `${args.name}-id`, state: args.inputs };
            },
            call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
                throw new Error(`unexpected call ${args.token}`);
            },
        },
        "model-release",
        options.stack ?? "dev",
        options.preview ?? false,
    );
    return registered;
}

/** Resolves an output's value (mocks resolve every output). */
export function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) => output.apply(resolve));
}

/** Waits until the given resources are registered. */
export async function registered(resources: pulumi.Resource[]): Promise<void> {
    await Promise.all(resources.map((r) => valueOf(r.urn)));
}

/** The inputs a resource was registered with, by type token and name. */
export function inputsOf(list: Registered[], type: string, name: string): Record<string, unknown> {
    const found = list.find((r) => r.type === type && r.name === name);
    if (!found) {
        throw new Error(`no ${type} named ${name}; registered: ${list.map((r) => `${r.type} ${r.name}`).join(", ")}`);
    }
    return found.inputs;
}

/** Waits (up to 5 s) until the condition holds; registrations arrive asynchronously. */
export async function eventually(condition: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!condition()) {
        if (Date.now() > deadline) {
            throw new Error(`timed out waiting for ${what}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
    }
}
