/**
 * Validation of release descriptions. Pure: no Pulumi imports, no I/O.
 *
 * Every problem is collected (not just the first) and reported with the config path it was
 * found at and how to fix it, so a user editing `Pulumi.<stack>.yaml` sees all mistakes at once
 * and before any resource is registered. The public surface is listed here explicitly; the
 * helpers of the other files stay internal.
 */
export { isReservedKey, RESERVED_KEYS } from "./checker";
export {
    BRANCH_HEADER,
    DEFAULT_CANARY_MATCH,
    DEFAULT_DEPLOYMENT_ENTRY_TARGET,
    DEFAULT_KNATIVE_GATEWAY,
    DEFAULT_PORT,
    DEFAULT_TIMEOUT_SECONDS,
    ENVIRONMENTS,
    PROTOCOL_VERSIONS,
    STRATEGIES,
} from "./defaults";
export { constrains } from "./fields";
export { formatIssue, ReleaseConfigError } from "./issues";
export type { ConfigIssue } from "./issues";
export { predictorServiceName, validateRelease } from "./release";
export type { ResolvedRelease, ValidateOptions } from "./release";
export { validateReleases } from "./releases";
export { DEFAULT_WEBHOOK_TIMEOUT, SECRET_PLACEHOLDER } from "./analysis";
export { DEFAULT_ROLLOUT_INTERVAL, GATED_STRATEGIES, STEPPED_STRATEGIES } from "./rollout";
export { isStandardCanary, KSERVE_STORAGE_SCHEMES, MODELMESH_STORAGE_SCHEMES } from "./tables";
export type { ResolvedVersion } from "./version";
