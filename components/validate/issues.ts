/**
 * How problems are reported: one issue per mistake, with its config path and a fix, so a user
 * editing `Pulumi.<stack>.yaml` sees every mistake at once, in words they can act on.
 */

/** One problem in a release description. */
export interface ConfigIssue {
    /** Config path, e.g. `releases.wisdom.versions[1].weight`. */
    path: string;
    /** What is wrong, including the offending value. */
    problem: string;
    /** How to fix it. */
    fix: string;
}

/** Formats an issue as one line: `<path> <problem> (fix: <fix>)`. */
export function formatIssue(issue: ConfigIssue): string {
    return `${issue.path} ${issue.problem} (fix: ${issue.fix})`;
}

/** Thrown when a release description is invalid; lists every problem found. */
export class ReleaseConfigError extends Error {
    constructor(public readonly issues: readonly ConfigIssue[]) {
        super(
            `invalid release configuration (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n` +
                issues.map((i) => `  - ${formatIssue(i)}`).join("\n"),
        );
        this.name = "ReleaseConfigError";
    }
}

/** A value as quoted in a message: JSON, cut at 60 characters so one bad value cannot flood it. */
export function show(value: unknown): string {
    if (value === undefined) {
        return "nothing";
    }
    const text = JSON.stringify(value);
    return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** A URL as shown in messages: its userinfo masked, so a password never reaches a log. */
export function showUrl(value: string): string {
    return show(value.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/?#]*@/, "$1***@"));
}

/** Levenshtein distance, for the did-you-mean hints of suggest(). */
function editDistance(from: string, to: string): number {
    const row = Array.from({ length: to.length + 1 }, (_, column) => column);
    for (let i = 1; i <= from.length; i++) {
        let diagonal = row[0];
        row[0] = i;
        for (let j = 1; j <= to.length; j++) {
            const above = row[j];
            row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diagonal + (from[i - 1] === to[j - 1] ? 0 : 1));
            diagonal = above;
        }
    }
    return row[to.length];
}

/**
 * A did-you-mean hint (`did you mean "x"? `, with its trailing space) naming the options within
 * two edits of the word, case-insensitively; empty when none is that close.
 */
export function suggest(word: string, options: readonly string[]): string {
    const close = options.filter((option) => editDistance(word.toLowerCase(), option.toLowerCase()) <= 2);
    return close.length > 0 ? `did you mean ${close.map((option) => `"${option}"`).join(" or ")}? ` : "";
}
