// Runs policy rules outside the engine: hand-built validation arguments, plus the resources the
// ModelRelease component really registers (under mocks) as passing cases.
import * as assert from "node:assert/strict";

import {
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
} from "@pulumi/policy";

import { ModelRelease, ModelReleaseArgs } from "../../components/modelRelease";
import { installMocks, registered } from "../components/mocks";

/** A resource as the rules see it. */
export interface TestResource {
    type: string;
    name: string;
    props: Record<string, unknown>;
}

type PolicyWithSchema = { configSchema?: { properties: Record<string, { default?: unknown }> } };

function configFor(policy: PolicyWithSchema, config: Record<string, unknown>): Record<string, unknown> {
    const defaults = Object.fromEntries(
        Object.entries(policy.configSchema?.properties ?? {}).map(([k, v]) => [k, v.default]),
    );
    return { ...defaults, ...config };
}

class NotApplicable extends Error {}

/** Resource options of a resource registered with none. */
const NO_OPTIONS: PolicyResource["opts"] = {
    protect: false,
    ignoreChanges: [],
    aliases: [],
    customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
    additionalSecretOutputs: [],
};

function urnOf(r: TestResource): string {
    return `urn:pulumi:test::model-release::${r.type}::${r.name}`;
}

/** Violations a resource rule reports for one resource. */
export async function resourceViolations(
    policy: ResourceValidationPolicy,
    resource: TestResource,
    config: Record<string, unknown> = {},
): Promise<string[]> {
    const violations: string[] = [];
    const args: ResourceValidationArgs = {
        type: resource.type,
        props: resource.props,
        urn: urnOf(resource),
        name: resource.name,
        opts: NO_OPTIONS,
        stackTags: new Map(),
        isType: () => false,
        asType: () => undefined,
        getConfig: <T extends object>() => configFor(policy, config) as T,
        notApplicable: (reason?: string) => {
            throw new NotApplicable(reason);
        },
    };
    const validations = Array.isArray(policy.validateResource)
        ? policy.validateResource
        : policy.validateResource
          ? [policy.validateResource]
          : [];
    for (const validate of validations) {
        try {
            await validate(args, (message) => violations.push(message));
        } catch (error) {
            if (!(error instanceof NotApplicable)) throw error;
        }
    }
    return violations;
}

/** Violations a resource rule reports over many resources. */
export async function allResourceViolations(
    policy: ResourceValidationPolicy,
    resources: TestResource[],
    config: Record<string, unknown> = {},
): Promise<string[]> {
    const all: string[] = [];
    for (const r of resources) all.push(...(await resourceViolations(policy, r, config)));
    return all;
}

/** Violations a stack rule reports. */
export async function stackViolations(
    policy: StackValidationPolicy,
    resources: TestResource[],
    config: Record<string, unknown> = {},
): Promise<string[]> {
    const violations: string[] = [];
    const policyResources: PolicyResource[] = resources.map((r) => ({
        type: r.type,
        props: r.props,
        urn: urnOf(r),
        name: r.name,
        opts: NO_OPTIONS,
        dependencies: [],
        propertyDependencies: {},
        isType: () => false,
        asType: () => undefined,
    }));
    const args: StackValidationArgs = {
        resources: policyResources,
        stackTags: new Map(),
        getConfig: <T extends object>() => configFor(policy, config) as T,
        notApplicable: (reason?: string) => {
            throw new NotApplicable(reason);
        },
    };
    try {
        await policy.validateStack(args, (message) => violations.push(message));
    } catch (error) {
        if (!(error instanceof NotApplicable)) throw error;
    }
    return violations;
}

/** The resources a ModelRelease registers (component excluded), as the rules would see them. */
export async function componentResources(releases: Record<string, ModelReleaseArgs>): Promise<TestResource[]> {
    const list = await installMocks();
    const made = Object.entries(releases).map(([name, args]) => new ModelRelease(name, args));
    await registered(made.flatMap((m) => Object.values(m.resources)));
    return list
        .filter((r) => !r.type.startsWith("model-release:"))
        .map((r) => ({ type: r.type, name: r.name, props: r.inputs }));
}

/** A deep copy to mutate into a violating case. */
export function copy<T>(value: T): T {
    return structuredClone(value);
}

/** Violations of any rule over resources: a resource rule runs on each, a stack rule on all. */
export async function violationsOf(
    policy: ResourceValidationPolicy | StackValidationPolicy,
    resources: TestResource[],
    config: Record<string, unknown> = {},
): Promise<string[]> {
    return "validateStack" in policy
        ? stackViolations(policy, resources, config)
        : allResourceViolations(policy, resources, config);
}

/** A state the rules must refuse: the violations of `run` include one matching `expect`. */
export interface InvalidState {
    title: string;
    run: () => Promise<string[]>;
    expect: RegExp;
}

/** One test per invalid state: it is refused, with the expected message. */
export function refusesEach(states: InvalidState[]): void {
    for (const state of states) {
        it(`refuses ${state.title}`, async () => {
            const violations = await state.run();
            assert.ok(
                violations.some((v) => state.expect.test(v)),
                `expected ${state.expect}, got:\n${violations.join("\n")}`,
            );
        });
    }
}
