/**
 * Benchmark 1: the program under Pulumi mocks, each sample in a fresh process (bench/mockProgram.ts),
 * ModelRelease vs. raw resources, alternating.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";

import { MockSample, MockVariant } from "./mockProgram";
import { Summary, summarize } from "./stats";

export interface MockRow {
    releases: number;
    objects: number;
    variant: MockVariant;
    resources: number;
    ms: Summary;
    /** Median milliseconds per registered resource. */
    msPerResource: number;
    peakRssMb: Summary;
    retainedHeapMb: Summary;
}

const PROGRAM = path.join(__dirname, "mockProgram.ts");

/** Runs one sample in a fresh Node.js process. */
export function mockSample(variant: MockVariant, releases: number): MockSample {
    const result = spawnSync(
        process.execPath,
        ["--expose-gc", "-r", "ts-node/register/transpile-only", PROGRAM, variant, String(releases)],
        { cwd: path.join(__dirname, ".."), encoding: "utf8", maxBuffer: 16 * 1024 * 1024 },
    );
    if (result.status !== 0) {
        throw new Error(`mock sample ${variant} ${releases} failed (${result.status}):\n${result.stderr}`);
    }
    return JSON.parse(result.stdout.trim().split("\n").pop() ?? "") as MockSample;
}

export function mockBench(sizes: number[], runs: number, log: (line: string) => void): MockRow[] {
    const rows: MockRow[] = [];
    for (const n of sizes) {
        const samples: Record<MockVariant, MockSample[]> = { component: [], raw: [] };
        for (let i = 0; i < runs; i++) {
            for (const variant of ["component", "raw"] as const) {
                samples[variant].push(mockSample(variant, n));
            }
        }
        for (const variant of ["component", "raw"] as const) {
            const list = samples[variant];
            const ms = summarize(list.map((s) => s.ms));
            const row: MockRow = {
                releases: n,
                objects: list[0].objects,
                variant,
                resources: list[0].resources,
                ms,
                msPerResource: ms.median / list[0].resources,
                peakRssMb: summarize(list.map((s) => s.peakRssMb)),
                retainedHeapMb: summarize(list.map((s) => s.retainedHeapMb)),
            };
            rows.push(row);
            log(`mocks ${n} ${variant}: ${ms.median.toFixed(0)} ms, ${row.msPerResource.toFixed(2)} ms/resource`);
        }
    }
    return rows;
}
