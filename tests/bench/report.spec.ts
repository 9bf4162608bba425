import * as assert from "node:assert/strict";

import type { PolicyRow } from "../../bench/preview";
import { BenchResults, checkTargets, markdownReport, overheadSlope } from "../../bench/report";
import { Summary } from "../../bench/stats";

const s = (median: number): Summary => ({ runs: 3, median, min: median * 0.9, max: median * 1.1 });

function policyRow(releases: number, resources: number, withMs: number, withoutMs: number): PolicyRow {
    return { releases, resources, withPack: s(withMs), withoutPack: s(withoutMs), ratio: withMs / withoutMs };
}

function results(): BenchResults {
    return {
        date: "2026-11-27 12:00 UTC",
        machine: { cpus: 2, cpuModel: "test", memoryGiB: 24, platform: "linux" },
        versions: { node: "v20" },
        runs: { mocks: 3, engine: 5 },
        mocks: [
            {
                releases: 10,
                objects: 60,
                variant: "component",
                resources: 70,
                ms: s(35),
                msPerResource: 0.5,
                peakRssMb: s(100),
                retainedHeapMb: s(1),
            },
            {
                releases: 10,
                objects: 60,
                variant: "raw",
                resources: 60,
                ms: s(30),
                msPerResource: 0.5,
                peakRssMb: s(100),
                retainedHeapMb: s(1),
            },
            {
                releases: 100,
                objects: 600,
                variant: "component",
                resources: 700,
                ms: s(700),
                msPerResource: 1,
                peakRssMb: s(200),
                retainedHeapMb: s(2),
            },
        ],
        preview: [{ releases: 1, objects: 6, component: s(1100), raw: s(1000), grouped: s(1050), ratio: 1.1 }],
        policy: [policyRow(10, 71, 3000, 2000), policyRow(50, 351, 7200, 6000)],
        promotion: {
            promotion: s(4000),
            noop: s(2000),
            ratio: 2,
            promotionChanges: { update: 3, delete: 2 },
            noopChanges: [{}, { update: 1 }],
        },
        footprint: [
            {
                seed: "000",
                step: "promote",
                create: 0,
                update: 3,
                delete: 2,
                replace: 1,
                changed: ["replace X/y"],
                previewMs: 1,
                upMs: 1,
            },
        ],
    };
}

describe("bench report", () => {
    it("checks every target that was measured", () => {
        const checks = Object.fromEntries(checkTargets(results()).map((c) => [c.name, c.met]));
        assert.deepEqual(checks, {
            "mocks: ms per resource, 10 releases": true,
            "mocks: ms per resource, 100 releases": false,
            "mocks: per-resource growth 10→100 releases (1 = linear)": false,
            "preview ratio, 1 releases": true,
            "policy pack ratio, 10 releases": false,
            "policy pack ratio, 50 releases": true,
            "promotion up / no-op up": false,
            "replaces in the seed flows": false,
        });
    });

    it("checks nothing that was not measured", () => {
        const r = results();
        delete r.mocks;
        delete r.preview;
        delete r.policy;
        delete r.promotion;
        delete r.footprint;
        assert.deepEqual(checkTargets(r), []);
    });

    it("splits the policy overhead into a fixed part and a part per resource", () => {
        const slope = overheadSlope([policyRow(50, 351, 7200, 6000), policyRow(10, 71, 3000, 2000)]);
        assert.ok(slope);
        assert.ok(Math.abs(slope.perResourceMs - 200 / 280) < 1e-9);
        assert.ok(Math.abs(slope.fixedMs - (1000 - (200 / 280) * 71)) < 1e-9);
        assert.equal(overheadSlope([policyRow(10, 71, 3000, 2000)]), undefined);
    });

    it("renders a section per benchmark, marks misses and lists no-op changes", () => {
        const md = markdownReport(results());
        for (const heading of ["### Targets", "### 1.", "### 2.", "### 3.", "### 4.", "### 5."]) {
            assert.ok(md.includes(heading), heading);
        }
        assert.match(md, /\| promotion up \/ no-op up \| 2\.00 \| 1\.50 \| \*\*missed\*\* \|/);
        assert.match(
            md,
            /\| 4\.00 \(3\.60–4\.40\) \| 2\.00 \(1\.80–2\.20\) \| 2\.00 \| \{update:3,delete:2\} \| \{\} \{"update":1\} \|/,
        );
        assert.match(md, /Medians of 3 runs \(mocks\) and 5 runs \(engine\)/);
    });
});
