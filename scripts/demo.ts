/**
 * `npm run demo`: the seed 000 flow (KServe blue-green of the `wisdom` model) on a local control
 * plane through the Automation API. For every step it prints the config edit, the preview diff
 * and the resulting traffic table, then cleans up. The engine is built on first run.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { ReleaseStack, changes } from "../automation/stack";
import { TrafficRow } from "../components/plan";
import { LocalCluster } from "../e2e/cluster";
import { ensureEngine, localStackOptions } from "../e2e/engine";
import { ControllerStub } from "../e2e/controllerStub";
import { analyzeIstio } from "../e2e/istioAnalysis";

const MODEL = "gs://seldon-models/sklearn/mms/lr_model";

function heading(text: string): void {
    console.log(`\n=== ${text} ${"=".repeat(Math.max(0, 70 - text.length))}`);
}

function table(rows: TrafficRow[]): string {
    const lines = [
        ["version", "role", "weight", "percent"],
        ...rows.map((r) => [r.version, r.role, r.weight === undefined ? "-" : String(r.weight), `${r.percent}%`]),
    ];
    const widths = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i].length)));
    return lines.map((l) => "  " + l.map((cell, i) => cell.padEnd(widths[i])).join("  ")).join("\n");
}

/** Keeps the diff lines of a `pulumi preview --diff` output that describe resource changes. */
function diffOf(stdout: string): string {
    return stdout
        .split("\n")
        .filter((line) => /^\s*[-+~]|^\s+(\+\+|--|\+-|-\+)/.test(line) || /^\s+[-+~] /.test(line))
        .slice(0, 60)
        .join("\n");
}

async function main(): Promise<void> {
    heading("engine");
    const bin = ensureEngine();
    console.log(`engine: ${bin}`);

    heading("local control plane");
    const cluster = await LocalCluster.start(bin);
    console.log(`kube-apiserver at ${cluster.server}; KServe and Istio CRDs installed`);
    const stub = new ControllerStub(cluster);
    stub.start();
    const backendDir = fs.mkdtempSync(path.join(os.tmpdir(), "model-release-demo-"));
    const stack = await ReleaseStack.create(localStackOptions(bin, cluster.kubeconfig, "demo", backendDir));
    try {
        const base = {
            environment: "kserve",
            strategy: "blue-green",
            labels: { "app.kubernetes.io/name": "wisdom" },
            modelFormat: "sklearn",
            runtime: "kserve-mlserver",
        };
        const steps: [string, string, Record<string, unknown>[]][] = [
            ["1. deploy v0", "versions: [v0]", [{ labels: { "app.kubernetes.io/version": "v0" }, storageUri: MODEL }]],
            [
                "2. add a candidate",
                "versions[1] = v1",
                [
                    { labels: { "app.kubernetes.io/version": "v0" }, storageUri: MODEL },
                    { labels: { "app.kubernetes.io/version": "v1" }, storageUri: MODEL },
                ],
            ],
            [
                "3. weights 30/70",
                "versions[0].weight = 30, versions[1].weight = 70",
                [
                    { labels: { "app.kubernetes.io/version": "v0" }, storageUri: MODEL, weight: 30 },
                    { labels: { "app.kubernetes.io/version": "v1" }, storageUri: MODEL, weight: 70 },
                ],
            ],
            [
                "4. promote",
                "versions: [v1] (the primary takes the candidate's spec)",
                [{ labels: { "app.kubernetes.io/version": "v1" }, storageUri: MODEL }],
            ],
        ];
        for (const [title, edit, versions] of steps) {
            heading(title);
            console.log(`config edit: releases.wisdom.${edit}`);
            await stack.setReleases({ wisdom: { ...base, versions } });
            const preview = await stack.preview();
            console.log(`preview: ${JSON.stringify(changes(preview.changeSummary))}`);
            console.log(diffOf(preview.stdout));
            const up = await stack.up();
            const releases = up.outputs.releases?.value as Record<string, { traffic: TrafficRow[]; host: string }>;
            console.log(`up: ${up.summary.result}; ${releases.wisdom.host}`);
            console.log(table(releases.wisdom.traffic));
            // Istio's own analyzers over the live cluster, as the end-to-end suite runs them.
            const findings = (await analyzeIstio(bin, cluster.kubeconfig)).filter((m) => m.level !== "Info");
            console.log(
                findings.length === 0
                    ? "istio analyze: no errors or warnings"
                    : findings.map((m) => `istio analyze: ${m.level} [${m.code}]${m.origin} ${m.message}`).join("\n"),
            );
        }
        heading("5. clean up");
        await stack.destroy();
        console.log("destroyed");
    } finally {
        stub.stop();
        await stack.cleanup().catch(() => undefined);
        fs.rmSync(backendDir, { recursive: true, force: true });
        await cluster.stop();
    }
}

main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
});
