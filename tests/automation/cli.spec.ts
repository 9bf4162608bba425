import * as assert from "node:assert/strict";

import { UsageError, main, parseArgs, trafficTable } from "../../automation/cli";

describe("model-release CLI", () => {
    it("parses an operation with its flags", () => {
        const args = parseArgs(
            [
                "add-candidate",
                "--stack",
                "dev",
                "--release",
                "wisdom",
                "--storage-uri",
                "gs://m",
                "--label",
                "app.kubernetes.io/version=v1",
                "--yes",
                "--max-step",
                "10",
            ],
            "/tmp/project",
        );
        assert.equal(args.command, "add-candidate");
        assert.equal(args.stack, "dev");
        assert.equal(args.release, "wisdom");
        assert.deepEqual(args.version, { storageUri: "gs://m", labels: { "app.kubernetes.io/version": "v1" } });
        assert.equal(args.yes, true);
        assert.equal(args.json, false);
        assert.equal(args.maxStep, 10);
        assert.equal(args.workDir, "/tmp/project");
    });

    it("keeps numbers as positional arguments", () => {
        assert.deepEqual(parseArgs(["weights", "--stack", "dev", "--release", "wisdom", "30", "70"]).positional, [
            "30",
            "70",
        ]);
    });

    it("refuses unknown commands, missing flags and bad values with usage errors", () => {
        assert.throws(() => parseArgs(["deploy", "--stack", "dev"]), UsageError);
        assert.throws(() => parseArgs(["promote", "--release", "wisdom"]), /--stack is required/);
        assert.throws(() => parseArgs(["promote", "--stack", "dev"]), /--release is required/);
        assert.throws(
            () => parseArgs(["promote", "--stack", "dev", "--release", "w", "--max-step", "0"]),
            /--max-step must be/,
        );
        assert.throws(
            () => parseArgs(["promote", "--stack", "dev", "--release", "w", "--label", "x"]),
            /use key=value/,
        );
    });

    it("exits 2 with a message on usage errors", async () => {
        const errors: string[] = [];
        assert.equal(
            await main(
                ["nope"],
                () => undefined,
                (e) => errors.push(e),
            ),
            2,
        );
        assert.match(errors[0], /unknown command "nope"/);
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
});
