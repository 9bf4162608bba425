/**
 * `npm run bench`: the benchmarks of the component, the policy pack and a promotion against
 * their baselines, in one run. Writes bench/results/<timestamp>.{md,json}; a complete run also writes latest.{md,json}
 * and the latest table into the README. Options:
 *   --only mocks,preview,policy,promotion,footprint,scaleout,rollout   run a subset (the README is then left alone)
 *   --runs N         engine runs per measurement (default 5)
 *   --mock-runs N    processes per mock measurement (default 3)
 *   --quick          1 run each, sizes up to 10, 2 stacks and a 20 s wait for scale-out: a smoke test
 *   --render FILE    measure nothing: render the report and README table from a results JSON
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { startEngine, engineVersions } from "./engine";
import { footprintBench } from "./footprint";
import { mockBench } from "./mockCost";
import { policyBench, previewBench } from "./preview";
import { promotionBench } from "./promotion";
import { BenchResults, checkTargets, markdownReport } from "./report";
import { rolloutBench } from "./rollout";
import { scaleOutBench } from "./scaleOut";
import { replaceBetween } from "./stats";

const ROOT = path.resolve(__dirname, "..");
const RESULTS = path.join(ROOT, "bench", "results");
const BENCHMARKS = ["mocks", "preview", "policy", "promotion", "footprint", "scaleout", "rollout"] as const;
type Benchmark = (typeof BENCHMARKS)[number];
export const README_START = "<!-- bench:start -->";
export const README_END = "<!-- bench:end -->";

interface Options {
    only: Benchmark[];
    runs: number;
    mockRuns: number;
    quick: boolean;
    render?: string;
}

function parseOptions(argv: string[]): Options {
    const options: Options = { only: [...BENCHMARKS], runs: 5, mockRuns: 3, quick: false };
    for (let i = 0; i < argv.length; i++) {
        const value = () => {
            const v = argv[++i];
            if (v === undefined) throw new Error(`${argv[i - 1]} needs a value`);
            return v;
        };
        const count = (flag: string) => {
            const n = Number(value());
            if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer`);
            return n;
        };
        switch (argv[i]) {
            case "--only":
                options.only = value()
                    .split(",")
                    .map((b) => {
                        if (!(BENCHMARKS as readonly string[]).includes(b)) {
                            throw new Error(`--only: unknown benchmark ${b}; one of ${BENCHMARKS.join(", ")}`);
                        }
                        return b as Benchmark;
                    });
                break;
            case "--runs":
                options.runs = count("--runs");
                break;
            case "--mock-runs":
                options.mockRuns = count("--mock-runs");
                break;
            case "--quick":
                options.quick = true;
                break;
            case "--render":
                options.render = path.resolve(value());
                break;
            default:
                throw new Error(`unknown option ${argv[i]}`);
        }
    }
    if (options.quick) {
        options.runs = 1;
        options.mockRuns = 1;
    }
    return options;
}

function packageVersion(name: string): string {
    const file = path.join(ROOT, "node_modules", name, "package.json");
    return (JSON.parse(fs.readFileSync(file, "utf8")) as { version: string }).version;
}

function log(line: string): void {
    console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}`);
}

/** Writes the report files, and the README table for a complete run; prints the misses. */
function publish(results: BenchResults, complete: boolean, writeResults: boolean): void {
    const markdown = markdownReport(results);
    if (writeResults) {
        fs.mkdirSync(RESULTS, { recursive: true });
        const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
        // Subsets and smoke runs keep their own file; `latest` is the last complete run.
        for (const name of complete ? [stamp, "latest"] : [stamp]) {
            fs.writeFileSync(path.join(RESULTS, `${name}.md`), markdown);
            fs.writeFileSync(path.join(RESULTS, `${name}.json`), JSON.stringify(results, null, 2) + "\n");
        }
    }
    if (complete) {
        const readme = path.join(ROOT, "README.md");
        fs.writeFileSync(readme, replaceBetween(fs.readFileSync(readme, "utf8"), README_START, README_END, markdown));
        log("README.md updated");
    }
    console.log(markdown);
    const missed = checkTargets(results).filter((c) => !c.met);
    log(missed.length === 0 ? "every target met" : `targets missed: ${missed.map((c) => c.name).join("; ")}`);
}

async function main(): Promise<void> {
    const options = parseOptions(process.argv.slice(2));
    if (options.render) {
        const saved = JSON.parse(fs.readFileSync(options.render, "utf8")) as BenchResults;
        const complete = BENCHMARKS.every((b) => saved[b] !== undefined);
        fs.writeFileSync(options.render.replace(/\.json$/, ".md"), markdownReport(saved));
        publish(saved, complete, false);
        return;
    }
    const has = (b: Benchmark) => options.only.includes(b);
    const cpus = os.cpus();
    const results: BenchResults = {
        date: new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC",
        machine: {
            cpus: cpus.length,
            cpuModel: cpus[0]?.model.trim() ?? "?",
            memoryGiB: Math.round(os.totalmem() / 2 ** 30),
            platform: `${os.platform()} ${os.release()}`,
        },
        versions: {
            node: process.version,
            "@pulumi/pulumi": packageVersion("@pulumi/pulumi"),
            "@pulumi/kubernetes": packageVersion("@pulumi/kubernetes"),
            "@pulumi/policy": packageVersion("@pulumi/policy"),
        },
        runs: { mocks: options.mockRuns, engine: options.runs },
    };
    if (has("mocks")) {
        log("1. program cost under mocks");
        results.mocks = mockBench(options.quick ? [1, 10] : [1, 10, 100, 1000], options.mockRuns, log);
    }
    if (options.only.some((b) => b !== "mocks")) {
        const ctx = await startEngine();
        try {
            Object.assign(results.versions, engineVersions(ctx.bin));
            if (has("preview")) {
                log("2. preview on the real engine");
                results.preview = await previewBench(ctx, options.quick ? [1, 10] : [1, 10, 50], options.runs, log);
            }
            if (has("policy")) {
                log("3. policy pack overhead");
                results.policy = await policyBench(ctx, options.quick ? [1, 10] : [10, 50], options.runs, log);
            }
            if (has("promotion")) {
                log("4. promotion latency");
                results.promotion = await promotionBench(ctx, options.runs, log);
            }
            if (has("footprint")) {
                log("5. change footprint of the seed steps");
                results.footprint = await footprintBench(ctx, log);
            }
            if (has("scaleout")) {
                log("6. scale-out: isolation, throughput, PostgreSQL backend, policy pack vs no-op pack");
                results.scaleout = await scaleOutBench(ctx, options, log);
            }
            if (has("rollout")) {
                log("7. automated rollout: overhead per step, failed check to primary");
                results.rollout = await rolloutBench(ctx, options.runs, log);
            }
        } finally {
            await ctx.stop();
        }
    }
    publish(results, options.only.length === BENCHMARKS.length && !options.quick, true);
}

main().then(
    () => process.exit(0),
    (error: unknown) => {
        console.error(error instanceof Error ? error.stack : error);
        process.exit(1);
    },
);
