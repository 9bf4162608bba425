/**
 * Weight arithmetic for traffic splits. Pure functions, no Pulumi imports.
 *
 * Istio <= 1.14 rejects a split whose weights do not sum to exactly 100 and newer Istio accepts
 * any non-zero total, so integer percentages summing to 100 are valid everywhere.
 */

/**
 * Turns relative weights into integer percentages that sum to exactly 100, using the largest
 * remainder method. Ties in the remainder go to the lower index (the primary first), so the
 * result depends only on the input. A weight of 0 always yields 0%.
 *
 * @throws if the list is empty, a weight is not a non-negative safe integer, or all are 0.
 */
export function toPercentages(weights: readonly number[]): number[] {
    if (weights.length === 0) {
        throw new Error("toPercentages needs at least one weight");
    }
    for (const w of weights) {
        if (!Number.isSafeInteger(w) || w < 0) {
            throw new Error(`weights must be non-negative integers, got ${w}`);
        }
    }
    const total = weights.reduce((sum, w) => sum + w, 0);
    if (total === 0) {
        throw new Error("at least one weight must be greater than 0");
    }
    // Work in integers: floor(w * 100 / total) and the remainder w * 100 % total. BigInt keeps
    // the product exact even for weights near Number.MAX_SAFE_INTEGER.
    const bigTotal = BigInt(total);
    const shares = weights.map((w, index) => {
        const scaled = BigInt(w) * 100n;
        return { index, floor: Number(scaled / bigTotal), remainder: scaled % bigTotal };
    });
    const percentages = shares.map((s) => s.floor);
    let missing = 100 - percentages.reduce((sum, p) => sum + p, 0);
    const byRemainder = [...shares].sort((a, b) =>
        a.remainder === b.remainder ? a.index - b.index : a.remainder > b.remainder ? -1 : 1,
    );
    for (const share of byRemainder) {
        if (missing === 0) {
            break;
        }
        // A zero weight has a zero remainder; it can only be reached here if every other
        // remainder is zero too, in which case nothing is missing.
        percentages[share.index] += 1;
        missing -= 1;
    }
    return percentages;
}
