import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const PACK = path.join(__dirname, "..", "..", "policies");

/** The files `npm pack` puts in the policy pack's tarball (what `pulumi policy publish` uploads). */
function packedFiles(): string[] {
    const out = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
        cwd: PACK,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
    });
    const [pack] = JSON.parse(out) as { files: { path: string }[] }[];
    return pack.files.map((f) => f.path).sort();
}

describe("policy pack as a package of its own", () => {
    it("packs exactly its manifest, PulumiPolicy.yaml and the compiled rules", function () {
        this.timeout(60_000);
        assert.ok(
            fs.existsSync(path.join(PACK, "bin", "index.js")),
            "policies/bin is not built: run `npm run build:policies` (npm test does)",
        );
        const rules = fs
            .readdirSync(path.join(PACK, "rules"))
            .filter((f) => f.endsWith(".ts"))
            .map((f) => `bin/rules/${f.replace(/\.ts$/, ".js")}`);
        assert.deepEqual(
            packedFiles(),
            ["PulumiPolicy.yaml", "bin/index.js", "bin/lib.js", "package.json", ...rules].sort(),
        );
    });

    it("builds on its own: its tsconfig extends nothing outside the pack, its main is the compiled entry", () => {
        const tsconfig = JSON.parse(fs.readFileSync(path.join(PACK, "tsconfig.json"), "utf8")) as { extends?: string };
        assert.equal(tsconfig.extends, undefined);
        const build = JSON.parse(fs.readFileSync(path.join(PACK, "tsconfig.build.json"), "utf8")) as {
            extends?: string;
        };
        assert.equal(build.extends, "./tsconfig.json");
        const manifest = JSON.parse(fs.readFileSync(path.join(PACK, "package.json"), "utf8")) as {
            main: string;
            private?: boolean;
            scripts: Record<string, string>;
            dependencies: Record<string, string>;
            devDependencies: Record<string, string>;
        };
        assert.equal(manifest.main, "bin/index.js");
        assert.notEqual(manifest.private, true);
        assert.equal(manifest.scripts.build, "tsc -p tsconfig.build.json");
        assert.ok(manifest.devDependencies.typescript, "the build's compiler is the pack's own devDependency");
        // The pack never imports the planner (it must catch what the planner gets wrong).
        assert.deepEqual(Object.keys(manifest.dependencies).sort(), ["@pulumi/policy", "@pulumi/pulumi"]);
    });
});
