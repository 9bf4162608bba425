import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const ROOT = path.join(__dirname, "..", "..");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const manifest = require(path.join(ROOT, "package.json")) as {
    version: string;
    devDependencies: Record<string, string>;
    dependencies?: Record<string, string>;
    peerDependencies: Record<string, string>;
};

function run(command: string, args: string[], cwd: string): string {
    try {
        return execFileSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (error) {
        const e = error as { stdout?: string; stderr?: string; message: string };
        throw new Error(`${command} ${args.join(" ")} failed in ${cwd}:\n${e.stdout ?? ""}${e.stderr ?? e.message}`);
    }
}

// A program of someone else's: TypeScript, strict, resolving through the package's "exports"
// (node16), importing the component and the Automation API library, run under mocks.
const CONSUMER = `
import * as pulumi from "@pulumi/pulumi";
import { Environment, ModelRelease, ReleaseArgs, Strategy } from "model-release";
import { ReleaseManager, ReleasesConfig, setWeights } from "model-release/automation";

const args: ReleaseArgs = {
    environment: Environment.Kserve,
    strategy: Strategy.BlueGreen,
    modelFormat: { name: "sklearn" },
    versions: [
        { storageUri: "gs://models/v1", weight: 90 },
        { storageUri: "gs://models/v2", weight: 10 },
    ],
};

async function main(): Promise<void> {
    const types: string[] = [];
    await pulumi.runtime.setMocks(
        {
            newResource: (a) => {
                types.push(a.type);
                return { id: a.name + "-id", state: a.inputs };
            },
            call: () => ({}),
        },
        "consumer",
        "dev",
        false,
    );
    const release = new ModelRelease("wisdom", args);
    const host = await new Promise<string>((resolve) => release.host.apply(resolve));
    const traffic = await new Promise<{ version: string; percent: number }[]>((resolve) => release.traffic.apply(resolve));
    // Registrations reach the mock monitor asynchronously: wait for every child's URN.
    await Promise.all(
        Object.values(release.resources).map((r) => new Promise((resolve) => r.urn.apply(resolve))),
    );
    const config: ReleasesConfig = { wisdom: { ...args } };
    const next = setWeights(config, "wisdom", [75, 25]);
    console.log(JSON.stringify({
        host,
        traffic: traffic.map((t) => [t.version, t.percent]),
        weights: next.wisdom.versions.map((v) => v.weight),
        manager: typeof ReleaseManager,
        types: types.sort(),
    }));
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
`;

describe("e2e: the npm package, installed from its tarball into another project", function () {
    this.timeout(5 * 60 * 1000);
    let dir: string;
    let files: string[];

    before(() => {
        assert.ok(
            fs.existsSync(path.join(ROOT, "dist", "components", "index.d.ts")),
            "dist/ is not built: run `npm run build:lib` (npm test does)",
        );
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "model-release-consumer-"));
        const [packed] = JSON.parse(
            run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", dir], ROOT),
        ) as { filename: string; files: { path: string }[] }[];
        files = packed.files.map((f) => f.path);
        fs.writeFileSync(
            path.join(dir, "package.json"),
            JSON.stringify({
                name: "consumer",
                private: true,
                dependencies: {
                    "model-release": `file:./${packed.filename}`,
                    // The versions this project tests, within the published peer ranges.
                    "@pulumi/pulumi": manifest.devDependencies["@pulumi/pulumi"],
                    "@pulumi/kubernetes": manifest.devDependencies["@pulumi/kubernetes"],
                    "@pulumi/kubernetesx": manifest.devDependencies["@pulumi/kubernetesx"],
                },
                // @pulumi/kubernetesx 0.1.6 still asks for @pulumi/kubernetes ^3 (it works with 4):
                // the override the README tells users to add.
                overrides: { "@pulumi/kubernetesx": { "@pulumi/kubernetes": "$@pulumi/kubernetes" } },
            }),
        );
        // @pulumi/kubernetes's install hook downloads a plugin; nothing is downloaded here.
        fs.writeFileSync(path.join(dir, ".npmrc"), "ignore-scripts=true\nfund=false\naudit=false\n");
        run("npm", ["install", "--prefer-offline", "--no-package-lock"], dir);
    });

    after(() => {
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("ships the built library with its declarations, the CLI and the plugin entry, and no sources or tests", () => {
        for (const file of [
            "package.json",
            "plugin.js",
            "cli/model-release.js",
            "dist/components/index.js",
            "dist/components/index.d.ts",
            "dist/components/modelRelease.d.ts",
            "dist/automation/index.js",
            "dist/automation/index.d.ts",
            "dist/automation/engineWorkerMain.js",
            "dist/schema/release.schema.json",
            "schema/release.schema.json",
            "schema/pulumi-stack.schema.json",
        ]) {
            assert.ok(files.includes(file), `${file} is not in the tarball`);
        }
        const strays = files.filter(
            (f) => /^(tests|e2e|bench|scripts|tools|policies)\//.test(f) || /(?<!\.d)\.ts$/.test(f),
        );
        assert.deepEqual(strays, []);
    });

    it("ships declarations whose imports are all dependencies or peers of the package, with their types", () => {
        const declared = new Set([
            ...Object.keys(manifest.dependencies ?? {}),
            ...Object.keys(manifest.peerDependencies ?? {}),
        ]);
        const imported = new Set<string>();
        for (const file of files.filter((f) => f.endsWith(".d.ts"))) {
            const text = fs.readFileSync(path.join(ROOT, file), "utf8");
            for (const [, spec] of text.matchAll(/(?:from|import\()\s*"([^".][^"]*)"/g)) {
                if (spec.startsWith("node:")) continue;
                const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0];
                imported.add(name);
            }
        }
        assert.ok(imported.size > 0, "the declarations import packages");
        for (const name of imported) {
            assert.ok(declared.has(name), `a declaration imports ${name}, which is not a dependency or peer`);
            const ownManifest = require.resolve(`${name}/package.json`, { paths: [ROOT] });
            const own = JSON.parse(fs.readFileSync(ownManifest, "utf8")) as {
                types?: string;
                typings?: string;
                main?: string;
                exports?: unknown;
            };
            const main = path.join(path.dirname(ownManifest), (own.main ?? "index.js").replace(/\.js$/, ""));
            const typed =
                own.types !== undefined ||
                own.typings !== undefined ||
                JSON.stringify(own.exports ?? "").includes("types") ||
                fs.existsSync(`${main}.d.ts`) ||
                fs.existsSync(path.join(main, "index.d.ts"));
            const typesPackage = `@types/${name.replace(/^@/, "").replace("/", "__")}`;
            assert.ok(
                typed || declared.has(typesPackage),
                `${name} has no types of its own, so ${typesPackage} must be a dependency`,
            );
        }
    });

    it("publishes peer ranges for the Pulumi packages, which the tested versions satisfy", () => {
        for (const name of ["@pulumi/pulumi", "@pulumi/kubernetes", "@pulumi/kubernetesx"]) {
            const range = manifest.peerDependencies[name];
            assert.match(range, /^\^\d+\.\d+\.\d+$/, name);
            assert.equal(
                range.slice(1),
                manifest.devDependencies[name],
                `${name}: the range starts at the tested version`,
            );
        }
    });

    it("type-checks a strict TypeScript program against the declarations and runs it under mocks", () => {
        fs.writeFileSync(path.join(dir, "index.ts"), CONSUMER);
        fs.writeFileSync(
            path.join(dir, "tsconfig.json"),
            JSON.stringify({
                compilerOptions: {
                    strict: true,
                    target: "ES2022",
                    module: "node16",
                    moduleResolution: "node16",
                    types: [],
                    skipLibCheck: true,
                },
                files: ["index.ts"],
            }),
        );
        run(process.execPath, [path.join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", dir], dir);
        // TypeScript's classic node10 resolution ignores "exports": typesVersions must find
        // model-release/automation's declarations.
        fs.writeFileSync(
            path.join(dir, "tsconfig.node10.json"),
            JSON.stringify({
                compilerOptions: {
                    strict: true,
                    target: "ES2022",
                    module: "commonjs",
                    moduleResolution: "node10",
                    types: [],
                    skipLibCheck: true,
                    noEmit: true,
                },
                files: ["index.ts"],
            }),
        );
        run(
            process.execPath,
            [path.join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", path.join(dir, "tsconfig.node10.json")],
            dir,
        );
        const out = JSON.parse(run(process.execPath, [path.join(dir, "index.js")], dir)) as {
            host: string;
            traffic: [string, number][];
            weights: number[];
            manager: string;
            types: string[];
        };
        assert.equal(out.host, "wisdom.default.svc.cluster.local");
        assert.deepEqual(out.traffic, [
            ["wisdom-0", 90],
            ["wisdom-1", 10],
        ]);
        assert.deepEqual(out.weights, [75, 25]);
        assert.equal(out.manager, "function");
        assert.ok(out.types.includes("model-release:index:ModelRelease"), out.types.join(", "));
        assert.equal(out.types.filter((t) => t.endsWith(":InferenceService")).length, 2);
    });

    it("importing the package runs no program: the stack program is not its entry", () => {
        const out = run(
            process.execPath,
            ["-e", "const m = require('model-release'); console.log(Object.keys(m).includes('ModelRelease'))"],
            dir,
        );
        assert.equal(out.trim(), "true");
    });
});
