/**
 * Pure helpers of the benchmarks: summaries of repeated samples, target checks and markdown.
 * No Pulumi imports, so they are unit tested like the planner.
 */

/** Median, min and max of repeated samples of one measurement. */
export interface Summary {
    runs: number;
    median: number;
    min: number;
    max: number;
}

/** Summarizes samples; the median of an even count is the mean of the middle two. */
export function summarize(samples: number[]): Summary {
    if (samples.length === 0) {
        throw new Error("no samples to summarize");
    }
    const sorted = [...samples].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    return { runs: sorted.length, median, min: sorted[0], max: sorted[sorted.length - 1] };
}

/** A measured value against its target (`value <= limit`). */
export interface TargetCheck {
    /** What is measured, e.g. "preview ratio, 50 releases". */
    name: string;
    value: number;
    limit: number;
    met: boolean;
}

export function checkAtMost(name: string, value: number, limit: number): TargetCheck {
    return { name, value, limit, met: value <= limit };
}

/**
 * Growth of the per-resource cost from the smallest to the largest size: 1 means linear; above 1
 * the cost per resource rises with the size of the program (super-linear).
 */
export function perResourceGrowth(points: { resources: number; msPerResource: number }[]): number {
    if (points.length < 2) {
        throw new Error("growth needs at least two sizes");
    }
    const sorted = [...points].sort((a, b) => a.resources - b.resources);
    return sorted[sorted.length - 1].msPerResource / sorted[0].msPerResource;
}

/** Formats a number with a fixed count of decimals (no exponent, no grouping). */
export function fixed(value: number, decimals = 2): string {
    return value.toFixed(decimals);
}

/** `median (min-max)` of a summary, scaled (e.g. ms -> s) and formatted. */
export function spread(summary: Summary, decimals = 2, scale = 1): string {
    const f = (v: number) => fixed(v * scale, decimals);
    return `${f(summary.median)} (${f(summary.min)}–${f(summary.max)})`;
}

/** A markdown table; cells must not contain `|`. */
export function markdownTable(header: string[], rows: string[][]): string {
    for (const row of rows) {
        if (row.length !== header.length) {
            throw new Error(`row has ${row.length} cells, header ${header.length}: ${row.join(", ")}`);
        }
    }
    const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
    return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/** Replaces the text between two marker lines (kept) with `body`; throws if a marker is missing. */
export function replaceBetween(text: string, start: string, end: string, body: string): string {
    const from = text.indexOf(start);
    const to = text.indexOf(end);
    if (from < 0 || to < 0 || to < from) {
        throw new Error(`markers ${start} ... ${end} not found in order`);
    }
    return `${text.slice(0, from + start.length)}\n${body.trim()}\n${text.slice(to)}`;
}
