import * as pulumi from "@pulumi/pulumi";
import * as runtimeConfig from "@pulumi/pulumi/runtime/config";

import { ModelRelease, ModelReleaseArgs } from "./modelRelease";
import { TrafficRow } from "./plan";
import { ConfigIssue, ReleaseConfigError, validateReleases } from "./validate";

/** Stack outputs of one release. */
export interface ReleaseOutputs {
    host: pulumi.Output<string>;
    namespace: pulumi.Output<string>;
    traffic: pulumi.Output<TrafficRow[]>;
}

/** The config key that holds the releases, in the project's namespace. */
export const RELEASES_KEY = "releases";

/**
 * The stack program: reads `releases` from stack config, validates all of them (reporting every
 * problem at once, before any resource is registered) and creates one ModelRelease per entry.
 * Exported so that Automation API callers can run it as an inline program.
 */
export function releaseProgram(): { releases: Record<string, ReleaseOutputs> } {
    const config = new pulumi.Config();
    const raw = config.getObject<Record<string, unknown>>(RELEASES_KEY) ?? {};
    const defaultNamespace = new pulumi.Config("kubernetes").get("namespace") ?? "default";
    try {
        validateReleases(raw, defaultNamespace, RELEASES_KEY);
        checkCredentialsAreSecret(raw, isConfigSecret(`${pulumi.getProject()}:${RELEASES_KEY}`));
    } catch (error) {
        if (error instanceof ReleaseConfigError) {
            // RunError prints the message alone, without a stack trace.
            throw new pulumi.RunError(error.message);
        }
        throw error;
    }
    // Own entries only, built without assignment: a key can never reach a prototype.
    const releases = Object.fromEntries(
        Object.entries(raw).map(([key, args]): [string, ReleaseOutputs] => {
            const release = new ModelRelease(key, args as ModelReleaseArgs, {
                configPath: `${RELEASES_KEY}.${key}`,
                defaultNamespace,
            });
            return [key, { host: release.host, namespace: release.namespace, traffic: release.traffic }];
        }),
    );
    return { releases };
}

/**
 * Whether a config key holds a secret. The SDK keeps this function internal (stripped from its
 * typings); it is stable across the pinned 3.x releases. Without it, nothing is refused.
 */
function isConfigSecret(key: string): boolean {
    const lookup = (runtimeConfig as unknown as { isConfigSecret?: (k: string) => boolean }).isConfigSecret;
    return lookup === undefined ? true : lookup(key);
}

/** Credentials written in plaintext into the stack file are refused. */
function checkCredentialsAreSecret(raw: Record<string, unknown>, isSecret: boolean): void {
    const issues: ConfigIssue[] = [];
    for (const [key, release] of Object.entries(raw)) {
        const credentials = (release as { storageCredentials?: { data?: Record<string, unknown> } }).storageCredentials;
        if (credentials?.data !== undefined && !isSecret) {
            for (const name of Object.keys(credentials.data)) {
                issues.push({
                    path: `${RELEASES_KEY}.${key}.storageCredentials.data.${name}`,
                    problem: "is stored in plaintext in the stack config",
                    fix: `run pulumi config set --secret --path '${RELEASES_KEY}.${key}.storageCredentials.data.${name}' <value>`,
                });
            }
        }
    }
    if (issues.length > 0) {
        throw new ReleaseConfigError(issues);
    }
}
