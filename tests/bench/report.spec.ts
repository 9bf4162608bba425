import * as assert from "node:assert/strict";

import type { PolicyRow } from "../../bench/preview";
import { BenchResults, checkTargets, markdownReport, overheadSlope } from "../../bench/report";
import type { PackRow, ScaleOutResult } from "../../bench/scaleOut";
import { Summary } from "../../bench/stats";

const s = (median: number): Summary => ({ runs: 3, median, min: median * 0.9, max: median * 1.1 });

function policyRow(releases: number, resources: number, withMs: number, withoutMs: number): PolicyRow {
    return { releases, resources, withPack: s(withMs), withoutPack: s(withoutMs), ratio: withMs / withoutMs };
}

function packRow(releases: number, withMs: number, noopMs: number, withoutMs: number): PackRow {
    return {
        releases,
        resources: releases * 7 + 1,
        withPack: s(withMs),
        noopPack: s(noopMs),
        withoutPack: s(withoutMs),
        ratio: withMs / noopMs,
        noPackRatio: withMs / withoutMs,
    };
}

function scaleout(): ScaleOutResult {
    return {
        isolation: {
            operation: "weights",
            poolSize: 2,
            waitSeconds: 60,
            alone: s(6000),
            duringA: s(8500),
            extraMs: 2500,
            blocked: s(64000),
        },
        throughput: { stacks: 8, cpus: 2, poolSize: 2, serial: s(60000), concurrent: s(40000), ratio: 1.5 },
        backend: {
            preview: { postgres: s(3300), file: s(3000), ratio: 1.1 },
            up: { postgres: s(4800), file: s(4000), ratio: 1.2 },
        },
        pack: [packRow(10, 4000, 3600, 2000), packRow(50, 11000, 10000, 7000)],
    };
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
        scaleout: scaleout(),
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
            "isolation extra latency, ms": false,
            "policy pack vs no-op pack, 10 releases": true,
            "policy pack vs no-op pack, 50 releases": true,
        });
    });

    it("checks the scale-out targets at their limits: 2000 ms extra latency, pack / no-op pack 1.15", () => {
        const r: BenchResults = { ...results(), scaleout: scaleout() };
        delete r.mocks;
        delete r.preview;
        delete r.policy;
        delete r.promotion;
        delete r.footprint;
        const so = r.scaleout as ScaleOutResult;
        so.isolation.extraMs = 2000;
        so.pack = [packRow(10, 1150, 1000, 500), packRow(50, 1160, 1000, 500)];
        assert.deepEqual(
            checkTargets(r).map((c) => [c.name, c.value, c.limit, c.met]),
            [
                ["isolation extra latency, ms", 2000, 2000, true],
                ["policy pack vs no-op pack, 10 releases", 1.15, 1.15, true],
                ["policy pack vs no-op pack, 50 releases", 1.16, 1.15, false],
            ],
        );
    });

    it("checks nothing that was not measured", () => {
        const r = results();
        delete r.mocks;
        delete r.preview;
        delete r.policy;
        delete r.promotion;
        delete r.footprint;
        delete r.scaleout;
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
        for (const heading of ["### Targets", "### 1.", "### 2.", "### 3.", "### 4.", "### 5.", "### 6."]) {
            assert.ok(md.includes(heading), heading);
        }
        assert.match(md, /\| promotion up \/ no-op up \| 2\.00 \| 1\.50 \| \*\*missed\*\* \|/);
        assert.match(
            md,
            /\| 4\.00 \(3\.60–4\.40\) \| 2\.00 \(1\.80–2\.20\) \| 2\.00 \| \{update:3,delete:2\} \| \{\} \{"update":1\} \|/,
        );
        assert.match(md, /Medians of 3 runs \(mocks\) and 5 runs \(engine\)/);
    });

    it("renders the scale-out section: isolation, throughput, backend and pack tables, in seconds", () => {
        const md = markdownReport(results());
        const section = md.slice(md.indexOf("### 6. Scale-out"));
        assert.match(section, /while stack A's update waits 60 s .*engine pool of 2 workers/);
        assert.match(
            section,
            /\| 6\.00 \(5\.40–6\.60\) \| 8\.50 \(7\.65–9\.35\) \| 2500 \| 64\.00 \(57\.60–70\.40\) \|/,
        );
        assert.match(section, /8 promotions on 8 stacks through one engine pool of 2 workers on 2 CPUs/);
        assert.match(section, /\| 60\.00 \(54\.00–66\.00\) \| 40\.00 \(36\.00–44\.00\) \| 1\.50 \|/);
        assert.match(section, /\| preview \| 3\.30 \(2\.97–3\.63\) \| 3\.00 \(2\.70–3\.30\) \| 1\.10 \|/);
        assert.match(section, /\| up \| 4\.80 \(4\.32–5\.28\) \| 4\.00 \(3\.60–4\.40\) \| 1\.20 \|/);
        assert.match(
            section,
            /\| 10 \| 71 \| 4\.00 \(3\.60–4\.40\) \| 3\.60 \(3\.24–3\.96\) \| 2\.00 \(1\.80–2\.20\) \| 1\.11 \| 2\.00 \|/,
        );
        assert.match(section, /\| 50 \| 351 \| 11\.00 .* \| 1\.10 \| 1\.57 \|/);
        assert.match(md, /\| isolation extra latency, ms \| 2500\.00 \| 2000\.00 \| \*\*missed\*\* \|/);
        assert.match(md, /\| policy pack vs no-op pack, 10 releases \| 1\.11 \| 1\.15 \| met \|/);
    });

    it("checks the rollout targets (5 s per step, 2 s beyond one step's up) and renders section 7", () => {
        const sum = (median: number) => ({ runs: 3, median, min: median * 0.9, max: median * 1.1 });
        const r: BenchResults = {
            ...results(),
            rollout: {
                steps: [10, 20, 30],
                intervalSeconds: 2,
                perStep: sum(5),
                operation: sum(4.8),
                judgement: sum(0.05),
                runnerOwn: sum(0.15),
                rollback: sum(7.5),
                stepUp: sum(5),
            },
        };
        const checks = checkTargets(r).filter((c) => c.name.startsWith("rollout"));
        assert.deepEqual(
            checks.map((c) => [c.name, c.value, c.limit, c.met]),
            [
                ["rollout: seconds per step beyond the interval", 5, 5, true],
                ["rollout: failed check to 100% primary, seconds beyond one step's up", 2.5, 2, false],
            ],
        );
        const section = markdownReport(r).slice(markdownReport(r).indexOf("### 7. Automated rollout"));
        assert.match(section, /steps 10, 20, 30% with a 2 s interval/);
        assert.match(section, /\| 5\.00 \(4\.50–5\.50\) \| 4\.80 .* \| 0\.15 .* \| 7\.50 \(6\.75–8\.25\) \| 5\.00 /);
    });
});
