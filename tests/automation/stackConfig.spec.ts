import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { parse } from "yaml";

import * as ops from "../../automation/operations";
import { StackConfigError, StackConfigFile, stackConfigPath, writeFileAtomic } from "../../automation/stackConfig";

const KEY = "model-release:releases";
const CIPHER =
    "v1:0123456789abcdefghij:KLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz0123456789+/ABCDEFGHIJKLMNOP==";

/** A stack file as `pulumi config set --secret --path` leaves it: a secure leaf inside releases. */
function stackFile(extra = ""): string {
    return [
        "encryptionsalt: v1:c2FsdA==:v1:AAAA:BBBB",
        "config:",
        "  kubernetes:namespace: models # the provider's namespace",
        `  ${KEY}:`,
        "    wisdom:",
        "      environment: kserve",
        "      strategy: blue-green",
        "      modelFormat: sklearn",
        "      storageCredentials:",
        "        data:",
        "          AWS_SECRET_ACCESS_KEY:",
        `            secure: ${CIPHER}`,
        "      versions:",
        "        - storageUri: gs://models/v0",
        "          weight: 50",
        "        - storageUri: gs://models/v1",
        "          weight: 50",
        extra,
    ].join("\n");
}

function tempFile(text: string): string {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "stack-config-")), "Pulumi.dev.yaml");
    fs.writeFileSync(file, text);
    return file;
}

describe("stack config file", () => {
    it("hands secure values out as placeholders, never as ciphertext or plaintext", () => {
        const config = StackConfigFile.read(tempFile(stackFile()), KEY);
        const releases = config.releases() as ops.ReleasesConfig;
        const secret = releases.wisdom.storageCredentials?.data?.AWS_SECRET_ACCESS_KEY;
        assert.match(String(secret), /^\[secret:[0-9a-f]{16}\]$/);
        assert.ok(config.isSecret(secret));
        assert.ok(!JSON.stringify(releases).includes(CIPHER));
    });

    it("an operation changes only its paths: the secure line, comments and salt stay byte for byte", () => {
        const file = tempFile(stackFile());
        const config = StackConfigFile.read(file, KEY);
        const next = ops.setWeights(config.releases() as ops.ReleasesConfig, "wisdom", [40, 60]);
        const text = config.withReleases(next);
        const before = stackFile().split("\n");
        const after = text.split("\n");
        const changed = before.filter((line, i) => after[i] !== line);
        assert.deepEqual(changed, ["          weight: 50", "          weight: 50"]);
        assert.ok(after.includes("          weight: 40") && after.includes("          weight: 60"));
        assert.equal(after.length, before.length);
    });

    it("a promotion that moves a secure value keeps it ciphertext", () => {
        const file = tempFile(stackFile());
        const config = StackConfigFile.read(file, KEY);
        const releases = config.releases() as ops.ReleasesConfig;
        const token = releases.wisdom.storageCredentials?.data?.AWS_SECRET_ACCESS_KEY as string;
        // A version field holding a secret, moved to the primary by promote.
        releases.wisdom.versions[1].annotations = { "example.com/token": token };
        const promoted = ops.promote(releases, "wisdom");
        const written = parse(config.withReleases(promoted)) as {
            config: Record<string, { wisdom: { versions: { annotations?: Record<string, unknown> }[] } }>;
        };
        assert.deepEqual(written.config[KEY].wisdom.versions[0].annotations, {
            "example.com/token": { secure: CIPHER },
        });
        assert.ok(!config.withReleases(promoted).includes("[secret:"));
    });

    it("placeholders are the same in every read; one whose ciphertext is gone is refused, not written", () => {
        const file = tempFile(stackFile());
        const first = StackConfigFile.read(file, KEY).releases() as ops.ReleasesConfig;
        writeFileAtomic(file, StackConfigFile.read(file, KEY).withReleases(ops.setWeights(first, "wisdom", [40, 60])));
        assert.ok(fs.readFileSync(file, "utf8").includes(`secure: ${CIPHER}`), "written back from an earlier read");
        const removed = StackConfigFile.read(file, KEY).releases() as ops.ReleasesConfig;
        delete removed.wisdom.storageCredentials;
        writeFileAtomic(file, StackConfigFile.read(file, KEY).withReleases(removed));
        assert.throws(() => StackConfigFile.read(file, KEY).withReleases(first), /no longer in the stack file/);
    });

    it("removing a release deletes its subtree only", () => {
        const config = StackConfigFile.read(tempFile(stackFile()), KEY);
        const text = config.withReleases({});
        const parsed = parse(text) as { encryptionsalt: string; config: Record<string, unknown> };
        assert.deepEqual(parsed.config[KEY], {});
        assert.equal(parsed.config["kubernetes:namespace"], "models");
        assert.match(text, /# the provider's namespace/);
    });

    it("a missing file or key is an empty config, and a first write creates it", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stack-config-"));
        const config = StackConfigFile.read(path.join(dir, "Pulumi.new.yaml"), KEY);
        assert.deepEqual(config.releases(), {});
        const text = config.withReleases({ app: { environment: "kserve", versions: [{ storageUri: "gs://m" }] } });
        assert.deepEqual((parse(text) as { config: Record<string, unknown> }).config[KEY], {
            app: { environment: "kserve", versions: [{ storageUri: "gs://m" }] },
        });
    });

    it("refuses a releases key stored as one secret, naming the fix", () => {
        const file = tempFile(`config:\n  ${KEY}:\n    secure: ${CIPHER}\n`);
        assert.throws(() => StackConfigFile.read(file, KEY), StackConfigError);
        assert.throws(() => StackConfigFile.read(file, KEY), /store only the secret leaves as secrets/);
    });

    it("edits a stack of 1,000 releases (the edit path that hit E2BIG on one command line)", () => {
        const lines = ["config:", `  ${KEY}:`];
        for (let i = 0; i < 1000; i++) {
            lines.push(
                `    app-${i}:`,
                "      environment: kserve",
                "      strategy: blue-green",
                "      modelFormat: sklearn",
                "      storageCredentials:",
                "        data:",
                "          KEY:",
                `            secure: ${CIPHER}`,
                "      versions:",
                `        - storageUri: gs://models/${i}/v0`,
                "          weight: 50",
                `        - storageUri: gs://models/${i}/v1`,
                "          weight: 50",
            );
        }
        const original = `${lines.join("\n")}\n`;
        assert.ok(original.length > 128 * 1024, "larger than one argument may be");
        const file = tempFile(original);
        const config = StackConfigFile.read(file, KEY);
        const next = ops.step(config.releases() as ops.ReleasesConfig, "app-500", 10);
        writeFileAtomic(file, config.withReleases(next));
        const after = fs.readFileSync(file, "utf8").split("\n");
        const before = original.split("\n");
        assert.equal(after.length, before.length);
        const diff = before.map((l, i) => [l, after[i]]).filter(([a, b]) => a !== b);
        assert.deepEqual(diff, [
            ["          weight: 50", "          weight: 40"],
            ["          weight: 50", "          weight: 60"],
        ]);
        const reread = StackConfigFile.read(file, KEY).releases() as ops.ReleasesConfig;
        assert.deepEqual(
            reread["app-500"].versions.map((v) => v.weight),
            [40, 60],
        );
        assert.equal(after.filter((l) => l.includes(CIPHER)).length, 1000);
    });

    it("finds Pulumi.<stack>.yaml under the project's stackConfigDir, with the short stack name", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stack-config-"));
        assert.equal(stackConfigPath(dir, "org/model-release/dev"), path.join(dir, "Pulumi.dev.yaml"));
        fs.writeFileSync(
            path.join(dir, "Pulumi.yaml"),
            "name: model-release\nruntime: nodejs\nstackConfigDir: stacks\n",
        );
        assert.equal(stackConfigPath(dir, "dev"), path.join(dir, "stacks", "Pulumi.dev.yaml"));
    });
});
