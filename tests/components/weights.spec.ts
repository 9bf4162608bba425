import * as assert from "node:assert/strict";

import fc from "fast-check";

import { toPercentages } from "../../components/weights";

const weightLists = fc
    .array(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 1, maxLength: 12 })
    .filter((ws) => ws.some((w) => w > 0));

describe("toPercentages", () => {
    it("splits the seed weights exactly", () => {
        assert.deepEqual(toPercentages([30, 70]), [30, 70]);
        assert.deepEqual(toPercentages([1, 1]), [50, 50]);
        assert.deepEqual(toPercentages([20, 80]), [20, 80]);
        assert.deepEqual(toPercentages([5]), [100]);
    });

    it("gives leftover points to the largest remainders, ties to the lower index", () => {
        assert.deepEqual(toPercentages([1, 1, 1]), [34, 33, 33]);
        assert.deepEqual(toPercentages([1, 2]), [33, 67]);
        assert.deepEqual(toPercentages([2, 1, 1, 2]), [33, 17, 17, 33]);
        assert.deepEqual(toPercentages([1, 1, 1, 1, 1, 1]), [17, 17, 17, 17, 16, 16]);
    });

    it("keeps a zero weight at 0% (Iter8 turned 0 into 50)", () => {
        assert.deepEqual(toPercentages([0, 1]), [0, 100]);
        assert.deepEqual(toPercentages([7, 0, 0]), [100, 0, 0]);
    });

    it("refuses all-zero, negative, fractional and empty weights", () => {
        assert.throws(() => toPercentages([0, 0]), /greater than 0/);
        assert.throws(() => toPercentages([-1, 5]), /non-negative integers/);
        assert.throws(() => toPercentages([0.5, 5]), /non-negative integers/);
        assert.throws(() => toPercentages([]), /at least one/);
    });

    it("always sums to exactly 100 with integers in 0..100", () => {
        fc.assert(
            fc.property(weightLists, (ws) => {
                const ps = toPercentages(ws);
                assert.equal(
                    ps.reduce((a, b) => a + b, 0),
                    100,
                );
                assert.ok(ps.every((p) => Number.isInteger(p) && p >= 0 && p <= 100));
            }),
        );
    });

    it("keeps every zero weight at 0%", () => {
        fc.assert(
            fc.property(weightLists, (ws) => {
                toPercentages(ws).forEach((p, i) => {
                    if (ws[i] === 0) assert.equal(p, 0);
                });
            }),
        );
    });

    it("is deterministic and within one point of the exact share", () => {
        fc.assert(
            fc.property(weightLists, (ws) => {
                const total = ws.reduce((a, b) => a + b, 0);
                const ps = toPercentages(ws);
                assert.deepEqual(toPercentages([...ws]), ps);
                ps.forEach((p, i) => assert.ok(Math.abs(p - (ws[i] * 100) / total) < 1));
            }),
        );
    });

    it("is order-stable: permuting the weights permutes the result, except for tie-breaks", () => {
        fc.assert(
            fc.property(weightLists, (ws) => {
                const reversed = toPercentages([...ws].reverse()).reverse();
                const ps = toPercentages(ws);
                // Equal weights may trade a tie-break point; different weights never change order.
                ps.forEach((p, i) => assert.ok(Math.abs(p - reversed[i]) <= 1));
                for (let i = 0; i < ws.length; i++) {
                    for (let j = 0; j < ws.length; j++) {
                        if (ws[i] > ws[j]) assert.ok(ps[i] >= ps[j]);
                    }
                }
            }),
        );
    });

    it("scales: multiplying every weight by k does not change the split", () => {
        fc.assert(
            fc.property(weightLists, fc.integer({ min: 1, max: 1000 }), (ws, k) => {
                assert.deepEqual(toPercentages(ws.map((w) => w * k)), toPercentages(ws));
            }),
        );
    });
});
