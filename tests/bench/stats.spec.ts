import * as assert from "node:assert/strict";

import { checkAtMost, markdownTable, perResourceGrowth, replaceBetween, spread, summarize } from "../../bench/stats";

describe("bench stats", () => {
    it("summarizes odd and even sample counts by their median, min and max", () => {
        assert.deepEqual(summarize([5, 1, 3]), { runs: 3, median: 3, min: 1, max: 5 });
        assert.deepEqual(summarize([4, 1, 3, 2]), { runs: 4, median: 2.5, min: 1, max: 4 });
        assert.throws(() => summarize([]), /no samples/);
    });

    it("checks a value against an upper limit, the limit itself included", () => {
        assert.equal(checkAtMost("x", 1.1, 1.1).met, true);
        assert.equal(checkAtMost("x", 1.11, 1.1).met, false);
    });

    it("reports per-resource growth from the smallest to the largest size", () => {
        const linear = [
            { resources: 70, msPerResource: 2 },
            { resources: 7000, msPerResource: 2 },
        ];
        assert.equal(perResourceGrowth(linear), 1);
        assert.equal(
            perResourceGrowth([
                { resources: 7000, msPerResource: 6 },
                { resources: 70, msPerResource: 2 },
            ]),
            3,
        );
        assert.throws(() => perResourceGrowth([linear[0]]), /two sizes/);
    });

    it("formats medians with their range, scaled", () => {
        assert.equal(spread({ runs: 3, median: 1500, min: 1000, max: 2250 }, 2, 1 / 1000), "1.50 (1.00–2.25)");
    });

    it("builds markdown tables and refuses ragged rows", () => {
        assert.equal(markdownTable(["a", "b"], [["1", "2"]]), "| a | b |\n| --- | --- |\n| 1 | 2 |");
        assert.throws(() => markdownTable(["a", "b"], [["1"]]), /1 cells, header 2/);
    });

    it("replaces the text between markers and keeps the markers", () => {
        const text = "intro\n<!-- s -->\nold\n<!-- e -->\nrest";
        assert.equal(
            replaceBetween(text, "<!-- s -->", "<!-- e -->", "new"),
            "intro\n<!-- s -->\nnew\n<!-- e -->\nrest",
        );
        assert.throws(() => replaceBetween("no markers", "<!-- s -->", "<!-- e -->", "x"), /not found/);
    });
});
