/**
 * Stack and release names given by a person or a client. They end up as arguments of `pulumi`
 * command lines and as config keys, so they are checked before anything runs: a name that
 * starts with `-` would be read as a flag, and `.`/`..` or `/` as a path. Shared by the CLI and
 * the HTTP service.
 */

/** Letters, digits, `-`, `_` and `.` (Pulumi's stack name alphabet). */
const STACK_PART = /^[A-Za-z0-9_.-]+$/;
/** Pulumi's limit on a stack name; applied to each part of a qualified name. */
export const MAX_STACK_NAME_LENGTH = 100;

/** Lowercase RFC 1123 label: what a release may be called (its objects are named after it). */
const RELEASE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const MAX_RELEASE_NAME_LENGTH = 63;

/**
 * The problem with a stack name, or undefined when it is valid: `STACK` or `ORG/PROJECT/STACK`,
 * each part letters, digits, `-`, `_`, `.`, not starting with `-`, not `.` or `..`, at most 100
 * characters.
 */
export function validStackName(name: string): string | undefined {
    const shown = JSON.stringify(name);
    if (name === "") return "stack name is empty";
    const parts = name.split("/");
    if (parts.length !== 1 && parts.length !== 3) {
        return `stack name ${shown} must be STACK or ORG/PROJECT/STACK`;
    }
    for (const part of parts) {
        if (part === "") return `stack name ${shown} has an empty part`;
        if (part.length > MAX_STACK_NAME_LENGTH) {
            return `stack name ${shown} is longer than ${MAX_STACK_NAME_LENGTH} characters`;
        }
        if (!STACK_PART.test(part)) {
            return `stack name ${shown} may only contain letters, digits, '-', '_' and '.'`;
        }
        if (part.startsWith("-")) return `stack name ${shown} must not start with '-'`;
        if (part === "." || part === "..") return `stack name ${shown} must not be '.' or '..'`;
    }
    return undefined;
}

/**
 * The problem with a release name, or undefined when it is valid: a lowercase RFC 1123 label
 * (`a-z`, `0-9`, `-`, starting and ending with a letter or digit) of at most 63 characters.
 */
export function validReleaseName(name: string): string | undefined {
    if (name === "") return "release name is empty";
    if (!RELEASE_NAME.test(name) || name.length > MAX_RELEASE_NAME_LENGTH) {
        return (
            `release name ${JSON.stringify(name)} must be a lowercase RFC 1123 label ` +
            `(a-z, 0-9 and '-', starting and ending with a letter or digit) of at most ${MAX_RELEASE_NAME_LENGTH} characters`
        );
    }
    return undefined;
}
