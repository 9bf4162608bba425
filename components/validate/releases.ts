/**
 * Cross-release rules: a stack's `releases` map is validated release by release, then checked
 * for releases that would claim the same app host or object names in one namespace.
 */
import { RESERVED_KEYS, isObject, isReservedKey } from "./checker";
import { ConfigIssue, ReleaseConfigError, show } from "./issues";
import { ResolvedRelease, validateRelease } from "./release";
import { isStandardCanary } from "./tables";

/** Two releases must not claim the same app host or object names. */
function clashes(releases: readonly ResolvedRelease[], path: string): ConfigIssue[] {
    const issues: ConfigIssue[] = [];
    const appOwners = new Map<string, string>();
    const objectOwners = new Map<string, string>();
    for (const release of releases) {
        const host = `${release.namespace}/${release.name}`;
        const otherRelease = appOwners.get(host);
        if (otherRelease !== undefined) {
            issues.push({
                path: `${path}.${release.key}.name`,
                problem: `gives app ${show(release.name)} in namespace ${show(release.namespace)}, already used by release ${show(otherRelease)}`,
                fix: "give each release its own name or namespace",
            });
        }
        appOwners.set(host, release.key);
        // A Standard-mode canary's versions are predictors of one InferenceService named after the
        // app: KServe names their objects <app>-<version>-predictor, as a version named
        // <app>-<version> of another release would be.
        const standardCanary = isStandardCanary(release);
        for (const version of release.versions) {
            const id = `${release.namespace}/${standardCanary ? `${release.name}-${version.name}` : version.name}`;
            const owner = objectOwners.get(id);
            if (owner !== undefined && owner !== release.key) {
                issues.push({
                    path: `${path}.${release.key}.versions[${version.index}].name`,
                    problem: `names ${show(version.name)} in namespace ${show(release.namespace)}, already used by release ${show(owner)}`,
                    fix: "give the version a distinct name",
                });
            }
            objectOwners.set(id, release.key);
        }
    }
    for (const release of releases) {
        for (const version of release.versions) {
            const clash = releases.find(
                (other) =>
                    other.namespace === release.namespace &&
                    other.name === version.name &&
                    (other.strategy !== "kserve-canary" || isStandardCanary(other)) &&
                    !isStandardCanary(release) &&
                    other !== release,
            );
            if (clash) {
                issues.push({
                    path: `${path}.${release.key}.versions[${version.index}].name`,
                    problem: `equals the app name of release ${show(clash.key)} in the same namespace`,
                    fix: "rename the version",
                });
            }
        }
    }
    return issues;
}

/**
 * Validates every release of a stack (`releases` config: a map of release name to description).
 * Throws one ReleaseConfigError listing every problem of every release.
 */
export function validateReleases(raw: unknown, defaultNamespace: string, path = "releases"): ResolvedRelease[] {
    if (!isObject(raw)) {
        throw new ReleaseConfigError([
            {
                path,
                problem: `must be a map of release name to release, got ${show(raw)}`,
                fix: "see Pulumi.dev.yaml for an example",
            },
        ]);
    }
    const issues: ConfigIssue[] = [];
    const releases: ResolvedRelease[] = [];
    // Own keys only (Object.entries): a release named `constructor` is never Object's.
    for (const [key, value] of Object.entries(raw)) {
        if (isReservedKey(key)) {
            issues.push({
                path: `${path}["${key}"]`,
                problem: `is a reserved key (${RESERVED_KEYS.join(", ")}) and cannot name a release`,
                fix: `rename the release, e.g. to "${key.replace(/[^a-z]/g, "") || "app"}-model"`,
            });
            continue;
        }
        const result = validateRelease(key, value, { path: `${path}.${key}`, defaultNamespace });
        issues.push(...result.issues);
        if (result.release) {
            releases.push(result.release);
        }
    }
    issues.push(...clashes(releases, path));
    if (issues.length > 0) {
        throw new ReleaseConfigError(issues);
    }
    return releases;
}
