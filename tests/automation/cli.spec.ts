import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import {
    describePlan,
    statusTable,
    ParsedArgs,
    UsageError,
    describeError,
    errorReport,
    main,
    parseArgs,
    trafficTable,
    wantsJson,
} from "../../automation/cli";
import { BusyError, OperationPlan, RefusedError } from "../../automation/releases";
import { RolloutRefusedError, RolloutStateError } from "../../automation/rollout";
import { RolloutExistsError, newRolloutJob } from "../../automation/rolloutJobs";
import { ReleaseConfigError } from "../../components/validate";

const TARGET = ["--stack", "dev", "--release", "wisdom"];

/** Parses a command line that must be an operation. */
function run(argv: string[], cwd?: string): ParsedArgs {
    const parsed = parseArgs(argv, cwd);
    if (parsed.kind !== "run") assert.fail(`expected an operation, got help for ${argv.join(" ")}`);
    return parsed;
}

/** Parses a command line that must be the usage text. */
function help(argv: string[]): string {
    const parsed = parseArgs(argv);
    if (parsed.kind !== "help") assert.fail(`expected help for ${argv.join(" ")}`);
    return parsed.text;
}

function usageError(argv: string[], message: RegExp): UsageError {
    let caught: unknown;
    try {
        parseArgs(argv);
    } catch (error) {
        caught = error;
    }
    assert.ok(caught instanceof UsageError, `expected a usage error for ${JSON.stringify(argv)}, got ${caught}`);
    assert.match(caught.message, message);
    return caught;
}

async function capture(
    argv: string[],
    out?: (s: string) => void,
): Promise<{ code: number; out: string[]; err: string[] }> {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const code = await main(argv, out ?? ((s) => stdout.push(s)), (s) => stderr.push(s));
    return { code, out: stdout, err: stderr };
}

/** A V8 stack frame line, as Error.stack prints it. */
const STACK_FRAME = /^\s+at .*:\d+:\d+\)?$/m;

const plan: OperationPlan = {
    operation: "step",
    release: "wisdom",
    changes: { update: 1 },
    steps: [],
    trafficBefore: [],
    trafficAfter: [],
    applied: false,
};

describe("model-release CLI", () => {
    describe("parsing", () => {
        it("parses an operation with its flags", () => {
            const args = run(
                [
                    "add-candidate",
                    ...TARGET,
                    "--storage-uri",
                    "gs://m",
                    "--label",
                    "app.kubernetes.io/version=v1",
                    "--label",
                    "team=a=b",
                    "--weight",
                    "0",
                    "--strategy",
                    "canary",
                    "--yes",
                    "--max-step",
                    "10",
                ],
                "/tmp/project",
            );
            assert.equal(args.command, "add-candidate");
            assert.equal(args.stack, "dev");
            assert.equal(args.release, "wisdom");
            assert.deepEqual(args.version, {
                storageUri: "gs://m",
                weight: 0,
                labels: { "app.kubernetes.io/version": "v1", team: "a=b" },
            });
            assert.equal(args.strategy, "canary");
            assert.equal(args.yes, true);
            assert.equal(args.json, false);
            assert.equal(args.maxStep, 10);
            assert.equal(args.workDir, "/tmp/project");
            assert.deepEqual(args.numbers, []);
        });

        it("takes flags in --flag=value form and the command after flags", () => {
            const args = run(["--stack=org/model-release/dev", "--release=wisdom", "promote", "--json"]);
            assert.equal(args.command, "promote");
            assert.equal(args.stack, "org/model-release/dev");
            assert.equal(args.json, true);
        });

        it("reads the numbers of weights and step, negative steps included", () => {
            assert.deepEqual(run(["weights", ...TARGET, "30", "70"]).numbers, [30, 70]);
            assert.deepEqual(run(["weights", "30", ...TARGET, "70"]).numbers, [30, 70]);
            assert.deepEqual(run(["step", ...TARGET, "-10"]).numbers, [-10]);
            assert.deepEqual(run(["step", ...TARGET, "--", "-5"]).numbers, [-5]);
        });

        it("refuses unknown flags instead of ignoring them", () => {
            usageError(["status", ...TARGET, "--max-stpe", "5"], /^unknown flag --max-stpe$/);
            usageError(
                ["step", ...TARGET, "10", "--max-stpe", "5"],
                /^unknown flag --max-stpe \(did you mean --max-step\?\)$/,
            );
            usageError(["promote", ...TARGET, "--max-stpe=5"], /^unknown flag --max-stpe /);
            usageError(["promote", ...TARGET, "-rf"], /^unknown flag -rf$/);
            usageError(["promote", ...TARGET, "--force"], /^unknown flag --force$/);
            // Before the command too: the typo is the problem, not "5" as a command.
            usageError(["--max-stpe", "5", "step"], /^unknown flag --max-stpe/);
        });

        it("refuses flags of other commands, which would be ignored", () => {
            usageError(["status", ...TARGET, "--yes"], /^--yes does not apply to status$/);
            usageError(["status", ...TARGET, "--max-step", "5"], /^--max-step does not apply to status$/);
            usageError(["promote", ...TARGET, "--weight", "3"], /^--weight does not apply to promote$/);
            usageError(["step", ...TARGET, "10", "--storage-uri", "gs://m"], /^--storage-uri does not apply to step$/);
        });

        it("requires --stack and --release", () => {
            usageError(["promote", "--release", "wisdom"], /^--stack is required$/);
            usageError(["promote", "--stack", "dev"], /^--release is required$/);
        });

        it("refuses flags without their value or booleans with one", () => {
            usageError(["promote", "--release", "wisdom", "--stack"], /^--stack needs a value/);
            usageError(["promote", "--stack", "--yes", "--release", "wisdom"], /^--stack needs a value/);
            usageError(["promote", ...TARGET, "--yes=1"], /^--yes takes no value$/);
            usageError(["promote", "--stack=", "--release", "wisdom"], /^--stack needs a value$/);
        });

        it("validates stack and release names so none reads as a flag", () => {
            usageError(
                ["promote", "--stack=-rf", "--release", "wisdom"],
                /^--stack: stack name "-rf" must not start with '-'$/,
            );
            usageError(["promote", "--stack=--help", "--release", "wisdom"], /"--help" must not start with '-'/);
            usageError(["promote", "--stack", "..", "--release", "wisdom"], /must not be '\.' or '\.\.'/);
            usageError(["promote", "--stack", "a/b", "--release", "wisdom"], /must be STACK or ORG\/PROJECT\/STACK/);
            usageError(["promote", "--stack", "x".repeat(101), "--release", "wisdom"], /longer than 100/);
            usageError(
                ["promote", "--stack", "dev", "--release=-x"],
                /^--release: release name "-x" must be a lowercase RFC 1123 label/,
            );
            usageError(["promote", "--stack", "dev", "--release", "Wisdom"], /release name "Wisdom" must be/);
        });

        it("validates flag values, naming the bad value", () => {
            usageError(
                ["add-candidate", ...TARGET, "--weight", "abc"],
                /^--weight must be a whole number >= 0, got "abc"$/,
            );
            usageError(["add-candidate", ...TARGET, "--weight", "1.5"], /got "1.5"/);
            usageError(["add-candidate", ...TARGET, "--weight=-1"], /got "-1"/);
            usageError(["add-candidate", ...TARGET, "--weight", "1e3"], /got "1e3"/);
            usageError(
                ["add-candidate", ...TARGET, "--strategy", "fast"],
                /^--strategy must be one of none, blue-green, canary, mirror, kserve-canary, got "fast"$/,
            );
            for (const bad of ["0", "101", "x", "2.5"]) {
                usageError(
                    ["step", ...TARGET, "5", "--max-step", bad],
                    new RegExp(`^--max-step must be a whole number from 1 to 100, got "${bad}"$`),
                );
            }
            assert.equal(run(["step", ...TARGET, "5", "--max-step", "100"]).maxStep, 100);
            assert.equal(run(["step", ...TARGET, "5", "--max-step", "1"]).maxStep, 1);
            usageError(["add-candidate", ...TARGET, "--label", "x"], /^--label "x": use key=value$/);
            usageError(["add-candidate", ...TARGET, "--label", "=v"], /^--label "=v": use key=value$/);
            usageError(
                ["add-candidate", ...TARGET, "--label", "a=1", "--label", "a=2"],
                /^--label "a" is given more than once$/,
            );
        });

        it("refuses a single-value flag given twice rather than picking one", () => {
            usageError(["promote", ...TARGET, "--stack", "prod"], /^--stack is given more than once$/);
            usageError(["add-candidate", ...TARGET, "--image", "a", "--image=b"], /^--image is given more than once$/);
            assert.equal(run(["promote", ...TARGET, "--yes", "--yes"]).yes, true);
        });

        it("validates the numbers after the command, naming the bad one", () => {
            usageError(["weights", ...TARGET, "30", "x"], /^weights: "x" is not a whole number >= 0/);
            usageError(["weights", ...TARGET, "30", "-5"], /^weights: "-5" is not a whole number >= 0/);
            usageError(["weights", ...TARGET], /^weights takes one number per version \(WEIGHT\.\.\.\), got none$/);
            usageError(["step", ...TARGET, "1.5"], /^step: "1.5" is not a whole number/);
            usageError(["step", ...TARGET, "abc"], /^step: "abc" is not a whole number/);
            usageError(["step", ...TARGET], /^step takes exactly one number \(POINTS\), got none$/);
            usageError(["step", ...TARGET, "10", "20"], /^step takes exactly one number \(POINTS\), got 2: "10" "20"$/);
            usageError(["promote", ...TARGET, "extra"], /^promote takes no arguments, got "extra"$/);
            usageError(["status", ...TARGET, "1"], /^status takes no arguments, got "1"$/);
        });

        it("refuses unknown or missing commands", () => {
            usageError(["deploy", "--stack", "dev"], /^unknown command "deploy"; use one of status, add-candidate/);
            usageError([], /^no command given; use one of status/);
            usageError(["help", "deploy"], /^unknown command "deploy"/);
            usageError(["deploy", "--help"], /^unknown command "deploy"/);
        });

        it("refuses a --work-dir or --policy-pack that does not exist", () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "model-release-cli-"));
            try {
                usageError(
                    ["promote", ...TARGET, "--work-dir", path.join(dir, "nope")],
                    /^--work-dir: no such directory/,
                );
                usageError(
                    ["promote", ...TARGET, "--policy-pack", path.join(dir, "nope")],
                    /^--policy-pack: no such directory/,
                );
                const args = run(["promote", ...TARGET, "--work-dir", dir, "--policy-pack", dir]);
                assert.equal(args.workDir, dir);
                assert.equal(args.policyPack, dir);
                assert.equal(run(["promote", ...TARGET], dir).policyPack, undefined);
                fs.mkdirSync(path.join(dir, "policies"));
                assert.equal(run(["promote", ...TARGET], dir).policyPack, path.join(dir, "policies"));
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });

        it("tells from the raw arguments whether errors are JSON", () => {
            assert.equal(wantsJson(["status", "--json"]), true);
            assert.equal(wantsJson(["status", "--stack", "--json"]), true);
            assert.equal(wantsJson(["status"]), false);
            assert.equal(wantsJson(["status", "--", "--json"]), false);
        });
    });

    describe("help", () => {
        it("--help, -h and help list the commands", () => {
            for (const argv of [["--help"], ["-h"], ["help"]]) {
                const text = help(argv);
                assert.match(text, /^usage: model-release <command>/);
                for (const command of ["status", "add-candidate", "weights", "step", "promote", "rollback", "remove"]) {
                    assert.match(text, new RegExp(`^  ${command} `, "m"), `${argv} lists ${command}`);
                }
                assert.match(text, /exit codes: 0 done, 1 failed, 2 usage or invalid input, 3 refused/);
            }
        });

        it("<command> --help and help <command> list its arguments and flags", () => {
            const step = help(["step", "--help"]);
            assert.equal(help(["help", "step"]), step);
            assert.equal(help(["step", "-h"]), step);
            assert.match(step, /^usage: model-release step --stack STACK --release NAME POINTS \[flags\]/);
            assert.match(step, /^ {2}POINTS +whole number/m);
            for (const flag of [
                "--stack STACK",
                "--release NAME",
                "--yes",
                "--json",
                "--max-step N",
                "--policy-pack DIR",
                "-h, --help",
            ]) {
                assert.ok(step.includes(flag), `step --help lists ${flag}`);
            }
            assert.ok(!step.includes("--storage-uri"));

            const status = help(["status", "--help"]);
            assert.ok(status.includes("--work-dir DIR"));
            assert.ok(!status.includes("--yes"), "status takes no --yes");
            assert.ok(!status.includes("arguments:"));

            const add = help(["help", "add-candidate"]);
            for (const flag of [
                "--storage-uri URI",
                "--image IMAGE",
                "--name NAME",
                "--weight N",
                "--label KEY=VALUE",
                "--strategy STRATEGY",
            ]) {
                assert.ok(add.includes(flag), `add-candidate --help lists ${flag}`);
            }
            assert.match(add, /none, blue-green, canary, mirror, kserve-canary/);
            assert.match(help(["weights", "--help"]), /WEIGHT\.\.\./);
        });

        it("--help wins over the rest of the line", () => {
            assert.match(help(["status", "--max-stpe", "5", "--help"]), /^usage: model-release status/);
            assert.match(help(["--stack", "dev", "--help"]), /^usage: model-release <command>/);
        });
    });

    describe("main", () => {
        it("prints usage on stdout and exits 0 for --help, help and <command> --help", async () => {
            for (const [argv, first] of [
                [["--help"], "usage: model-release <command>"],
                [["help"], "usage: model-release <command>"],
                [["help", "weights"], "usage: model-release weights"],
                [["weights", "--help"], "usage: model-release weights"],
            ] as const) {
                const result = await capture([...argv]);
                assert.equal(result.code, 0, argv.join(" "));
                assert.equal(result.err.length, 0);
                assert.ok(result.out.join("\n").startsWith(first), result.out.join("\n"));
            }
        });

        it("exits 2 with the message and a usage hint on usage errors", async () => {
            const result = await capture(["status", ...TARGET, "--max-stpe", "5"]);
            assert.equal(result.code, 2);
            assert.deepEqual(result.out, []);
            const text = result.err.join("\n");
            assert.match(text, /^model-release: unknown flag --max-stpe\n/);
            assert.match(text, /^usage: model-release status --stack STACK --release NAME \[flags\]$/m);
            assert.match(text, /Run 'model-release status --help'/);

            const unknown = await capture(["nope"]);
            assert.equal(unknown.code, 2);
            assert.match(unknown.err.join("\n"), /^model-release: unknown command "nope"/);
            assert.match(unknown.err.join("\n"), /Run 'model-release --help'/);

            const weight = await capture(["add-candidate", ...TARGET, "--weight", "abc"]);
            assert.equal(weight.code, 2);
            assert.match(weight.err[0], /"abc"/);
            const calm = {
                operation: "step",
                release: "w",
                changes: {},
                steps: [],
                trafficBefore: [],
                trafficAfter: [],
            };
            assert.doesNotMatch(describePlan({ ...calm, applied: false }), /DRIFT/);
        });

        it("with --json, prints usage errors as one JSON object on stdout", async () => {
            for (const argv of [
                ["status", ...TARGET, "--json", "--max-stpe", "5"],
                ["--json", "nope"],
                ["weights", ...TARGET, "--json", "30", "x"],
                ["promote", "--json", "--stack", "--release", "wisdom"],
            ]) {
                const result = await capture(argv);
                assert.equal(result.code, 2, argv.join(" "));
                assert.deepEqual(result.err, []);
                assert.equal(result.out.length, 1);
                const report = JSON.parse(result.out[0]) as Record<string, unknown>;
                assert.equal(report.error, "usage");
                assert.equal(report.exitCode, 2);
                assert.equal(typeof report.message, "string");
                assert.match(report.usage as string, /^usage: model-release/);
            }
            const weights = await capture(["weights", ...TARGET, "--json", "30", "x"]);
            assert.match((JSON.parse(weights.out[0]) as { message: string }).message, /"x"/);
        });

        it("catches everything: an unexpected error is one line and exit 1, never a stack", async () => {
            const boom = () => {
                throw new Error("boom");
            };
            const result = await capture(["--help"], boom);
            assert.equal(result.code, 1);
            assert.deepEqual(result.err, ["model-release: boom"]);
            // With --json the report goes to the failing stdout too: still no rejection, still exit 1.
            assert.equal(await main(["--help", "--json"], boom, boom), 1);
        });
    });

    describe("error reports", () => {
        it("maps every kind of error to its JSON object and exit code", () => {
            const usage = errorReport(new UsageError("unknown flag --x", "usage: model-release status"));
            assert.deepEqual(usage, {
                error: "usage",
                exitCode: 2,
                message: "unknown flag --x",
                usage: "usage: model-release status",
            });

            const issue = { path: "releases.wisdom.versions[1].weight", problem: "must be >= 0, got -1", fix: "use 0" };
            const invalid = errorReport(new ReleaseConfigError([issue]));
            assert.equal(invalid.error, "invalid");
            assert.equal(invalid.exitCode, 2);
            assert.deepEqual(invalid.issues, [issue]);
            assert.match(invalid.message, /releases\.wisdom\.versions\[1\]\.weight must be >= 0/);

            const refused = errorReport(new RefusedError("refused: too far", plan));
            assert.deepEqual(refused, { error: "refused", exitCode: 3, message: "refused: too far", plan });

            const busy = errorReport(new BusyError("dev", "another operation is running"));
            assert.equal(busy.error, "busy");
            assert.equal(busy.exitCode, 4);
            assert.match(busy.message, /stack dev is busy/);

            assert.deepEqual(errorReport(new Error("engine gone")), {
                error: "failed",
                exitCode: 1,
                message: "engine gone",
            });
            assert.deepEqual(errorReport("a string"), { error: "failed", exitCode: 1, message: "a string" });
            // Every report survives JSON as is.
            assert.deepEqual(JSON.parse(JSON.stringify(refused)), refused);
        });

        it("never carries stack frames, even inside an engine message", () => {
            const error = new Error(
                "code: 255\n stderr: program failed\n    at Object.<anonymous> (/work/index.ts:3:9)\n    at Module._compile (node:internal/modules/cjs/loader:1554:14)\n at least 25 points",
            );
            const report = errorReport(error);
            assert.doesNotMatch(report.message, STACK_FRAME);
            assert.match(report.message, /program failed/);
            assert.match(report.message, / at least 25 points/, "prose is not a frame");
            assert.equal(describeError(report).split("\n")[0], "model-release: code: 255");
        });

        it("describes errors in one model-release: line plus the usage hint", () => {
            assert.equal(
                describeError(errorReport(new UsageError("bad", "usage: model-release step"))),
                "model-release: bad\nusage: model-release step",
            );
            assert.equal(
                describeError(errorReport(new BusyError("dev", "x"))),
                `model-release: ${new BusyError("dev", "x").message}`,
            );
        });
    });

    describe("rollout", () => {
        const ROLLOUT = ["rollout", "wisdom", "--stack", "dev"];

        it("takes the release as its one argument or as --release", () => {
            const args = run(ROLLOUT);
            assert.equal(args.command, "rollout");
            assert.equal(args.stack, "dev");
            assert.equal(args.release, "wisdom");
            assert.deepEqual(args.numbers, []);
            assert.equal(args.rolloutAction, undefined);
            assert.equal(args.prometheusUrl, undefined);
            assert.equal(run(["rollout", ...TARGET]).release, "wisdom");
            assert.equal(run(["--stack", "dev", "rollout", "wisdom", "--json"]).release, "wisdom");
            assert.equal(run(["rollout", "--stack", "dev", "--", "wisdom"]).release, "wisdom");
            usageError(["rollout", "--stack", "dev"], /^--release is required$/);
            usageError(["rollout", "Wisdom", "--stack", "dev"], /^--release: release name "Wisdom" must be/);
        });

        it("refuses the release given twice, or two of them, rather than picking one", () => {
            usageError(
                ["rollout", "wisdom", ...TARGET],
                /^rollout takes the release once, as --release NAME or as its one argument, got --release "wisdom" "wisdom"$/,
            );
            usageError(["rollout", "other", ...TARGET], /got --release "wisdom" "other"$/);
            usageError(
                ["rollout", "wisdom", "other", "--stack", "dev"],
                /^rollout takes the release once.*got "wisdom" "other"$/,
            );
            // Other commands still take no release argument.
            usageError(["promote", "wisdom", "--stack", "dev"], /^--release is required$/);
        });

        it("reads --cancel or --promote, not both", () => {
            assert.equal(run([...ROLLOUT, "--cancel"]).rolloutAction, "cancel");
            assert.equal(run([...ROLLOUT, "--promote"]).rolloutAction, "promote");
            usageError([...ROLLOUT, "--cancel", "--promote"], /^--cancel and --promote exclude each other$/);
            usageError([...ROLLOUT, "--promote", "--cancel"], /^--cancel and --promote exclude each other$/);
            usageError([...ROLLOUT, "--cancel=yes"], /^--cancel takes no value$/);
            usageError(["promote", ...TARGET, "--cancel"], /^--cancel does not apply to promote$/);
        });

        it("takes an http(s) --prometheus-url without credentials, and never echoes a password", () => {
            for (const url of [
                "http://prometheus.monitoring:9090",
                "https://prom.example.com/api/prom",
                "http://[::1]:9090",
            ]) {
                assert.equal(run([...ROLLOUT, "--prometheus-url", url]).prometheusUrl, url);
            }
            usageError(
                [...ROLLOUT, "--prometheus-url", "ftp://x"],
                /^--prometheus-url must be an http\(s\) URL without credentials, got "ftp:\/\/x"$/,
            );
            for (const bad of ["prometheus:9090", "http://", "http://prom 9090", "file:///etc/passwd"]) {
                usageError([...ROLLOUT, "--prometheus-url", bad], /^--prometheus-url must be an http\(s\) URL/);
            }
            for (const bad of [
                "http://u:hunter2@prometheus:9090",
                "https://admin:hunter2@prom.example.com",
                "ftp://u:hunter2@prometheus",
                "http://u:hunter2@",
                "http://hunter2@prometheus",
            ]) {
                const error = usageError([...ROLLOUT, `--prometheus-url=${bad}`], /^--prometheus-url must be/);
                assert.ok(!`${error.message}\n${error.usage}`.includes("hunter2"), `${bad}: ${error.message}`);
            }
            usageError(["status", ...TARGET, "--prometheus-url", "http://p:9090"], /^--prometheus-url does not apply/);
        });

        it("takes only its own flags", () => {
            usageError([...ROLLOUT, "--yes"], /^--yes does not apply to rollout$/);
            usageError([...ROLLOUT, "--storage-uri", "gs://m"], /^--storage-uri does not apply to rollout$/);
            const args = run([...ROLLOUT, "--json", "--max-step", "10"]);
            assert.equal(args.json, true);
            assert.equal(args.maxStep, 10);
            assert.equal(args.yes, false);
        });

        it("rollout --help lists --cancel, --promote and --prometheus-url", () => {
            const text = help(["rollout", "--help"]);
            assert.equal(help(["help", "rollout"]), text);
            assert.match(text, /^usage: model-release rollout /);
            for (const flag of ["--cancel", "--promote", "--prometheus-url URL", "--max-step N", "--json"]) {
                assert.ok(text.includes(flag), `rollout --help lists ${flag}`);
            }
            assert.ok(!text.includes("--yes"), "rollout takes no --yes");
            assert.match(help(["--help"]), /^ {2}rollout /m);
        });

        it("exits 2 on a credential URL without printing the password, in text and JSON", async () => {
            const text = await capture([...ROLLOUT, "--prometheus-url", "http://u:hunter2@prometheus:9090"]);
            assert.equal(text.code, 2);
            assert.match(text.err.join("\n"), /^model-release: --prometheus-url must be/);
            const json = await capture([...ROLLOUT, "--json", "--prometheus-url", "http://u:hunter2@prometheus:9090"]);
            assert.equal(json.code, 2);
            assert.equal(JSON.parse(json.out[0]).error, "usage");
            assert.ok(![...text.out, ...text.err, ...json.out, ...json.err].join("\n").includes("hunter2"));
        });

        it("reports rollout errors: refused and state errors exit 2, an active rollout exits 4", () => {
            assert.deepEqual(errorReport(new RolloutRefusedError("release wisdom has no candidate")), {
                error: "invalid",
                exitCode: 2,
                message: "release wisdom has no candidate",
            });
            assert.deepEqual(errorReport(new RolloutStateError("rollout x is not holding")), {
                error: "invalid",
                exitCode: 2,
                message: "rollout x is not holding",
            });
            const existing = newRolloutJob({
                stack: "dev",
                release: "wisdom",
                principal: "ops",
                steps: [10, 50],
                iterations: 2,
                percent: 0,
            });
            const busy = errorReport(new RolloutExistsError(existing));
            assert.equal(busy.error, "busy");
            assert.equal(busy.exitCode, 4);
            assert.match(busy.message, new RegExp(`already has an active rollout ${existing.id}`));
        });
    });

    describe("entry point cli/model-release.js", function () {
        // Each run starts ts-node; the machine may be busy building the engine.
        this.timeout(180_000);
        const root = path.resolve(__dirname, "..", "..");
        const entry = path.join(root, "cli", "model-release.js");
        const node = (args: string[], nodeArgs: string[] = []) =>
            spawnSync(process.execPath, [...nodeArgs, entry, ...args], {
                cwd: root,
                encoding: "utf8",
                timeout: 120_000,
            });

        it("--help prints the usage and exits 0", () => {
            const result = node(["--help"]);
            assert.equal(result.status, 0, result.stderr);
            assert.match(result.stdout, /^usage: model-release <command>/);
            assert.match(result.stdout, /^ {2}add-candidate /m);
            assert.equal(result.stderr, "");
        });

        it("a misspelt flag exits 2 before any stack is touched", () => {
            const result = node(["status", "--stack", "dev", "--release", "wisdom", "--max-stpe", "5"]);
            assert.equal(result.status, 2, result.stderr);
            assert.equal(result.stdout, "");
            assert.match(result.stderr, /^model-release: unknown flag --max-stpe\nusage: model-release status /);
            assert.doesNotMatch(result.stderr, STACK_FRAME);

            const json = node(["status", "--stack", "dev", "--release", "wisdom", "--max-stpe", "5", "--json"]);
            assert.equal(json.status, 2, json.stderr);
            assert.equal(json.stderr, "");
            assert.deepEqual(
                { ...(JSON.parse(json.stdout) as Record<string, unknown>), usage: undefined },
                { error: "usage", exitCode: 2, message: "unknown flag --max-stpe", usage: undefined },
            );
        });

        it("reports a failure to load the CLI as one line, or JSON, exit 1", () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "model-release-cli-"));
            try {
                // Makes loading automation/cli fail, as a syntax error in the TypeScript would.
                const preload = path.join(dir, "break.js");
                fs.writeFileSync(
                    preload,
                    `const Module = require("module");
                     const load = Module.prototype.require;
                     Module.prototype.require = function (id) {
                         if (id === "../automation/cli") throw new Error("cannot load automation/cli");
                         return load.apply(this, arguments);
                     };`,
                );
                const text = node(["--help"], ["--require", preload]);
                assert.equal(text.status, 1);
                assert.equal(text.stderr, "model-release: cannot load automation/cli\n");
                const json = node(["--help", "--json"], ["--require", preload]);
                assert.equal(json.status, 1);
                assert.deepEqual(JSON.parse(json.stdout), {
                    error: "failed",
                    exitCode: 1,
                    message: "cannot load automation/cli",
                });
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });
    });

    it("prints the traffic table before -> after", () => {
        const table = trafficTable(
            [
                { version: "wisdom-0", role: "primary", weight: 50, percent: 50 },
                { version: "wisdom-1", role: "candidate", weight: 50, percent: 50 },
            ],
            [
                { version: "wisdom-0", role: "primary", weight: 30, percent: 30 },
                { version: "wisdom-1", role: "candidate", weight: 70, percent: 70 },
            ],
        );
        assert.equal(
            table,
            ["version   before        after", "wisdom-0  50%           30%", "wisdom-1  50%           70%"].join("\n"),
        );
    });

    it("status shows config vs live percent and readiness, flags drift and an interrupted operation", () => {
        const text = statusTable({
            release: "wisdom",
            traffic: [
                { version: "wisdom-0", role: "primary", percent: 40, livePercent: 90, ready: true },
                {
                    version: "wisdom-1",
                    role: "candidate",
                    percent: 60,
                    livePercent: 10,
                    ready: "unknown",
                    readinessError: "HTTP 403",
                },
            ],
            drift: true,
            operation: {
                id: "x",
                operation: "promote",
                release: "wisdom",
                principal: "ops",
                pid: 1,
                hostname: "h",
                startedAt: "2026-11-28T00:00:00Z",
                phase: "up",
                state: "interrupted",
            },
        });
        assert.deepEqual(text.split("\n"), [
            "version   config        live          ready",
            "wisdom-0  40%           90%           true",
            "wisdom-1  60%           10%           unknown",
            "DRIFT: the live routing differs from the config of record",
            "readiness of wisdom-1 unknown: HTTP 403",
            "operation interrupted: promote of wisdom by ops in up; the next operation recovers it",
        ]);
    });

    it("a plan that starts from drifted routing says so", () => {
        const text = describePlan({
            operation: "step",
            release: "wisdom",
            changes: { update: 3 },
            steps: [],
            trafficBefore: [
                { version: "wisdom-0", role: "primary", percent: 40 },
                { version: "wisdom-1", role: "candidate", percent: 60 },
            ],
            trafficAfter: [
                { version: "wisdom-0", role: "primary", percent: 50 },
                { version: "wisdom-1", role: "candidate", percent: 50 },
            ],
            drift: { "wisdom-0": 90, "wisdom-1": 10 },
            applied: false,
        });
        assert.match(text, /DRIFT: the cluster routes wisdom-0 90%, wisdom-1 10%, not the config of record/);
        assert.doesNotMatch(
            describePlan({
                ...JSON.parse("{}"),
                operation: "step",
                release: "w",
                changes: {},
                steps: [],
                trafficBefore: [],
                trafficAfter: [],
                applied: false,
            }),
            /DRIFT/,
        );
    });
});
