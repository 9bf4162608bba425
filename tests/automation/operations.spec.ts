import * as assert from "node:assert/strict";

import {
    INSPECT_HEADER,
    ReleasesConfig,
    addCandidate,
    candidatePercent,
    percentages,
    promote,
    promotionStep,
    remove,
    rollback,
    rolloutAbort,
    rolloutStep,
    setWeights,
    step,
    validated,
} from "../../automation/operations";
import { ReleaseConfigError } from "../../components/validate";
import {
    canaryVersion,
    modelVersion,
    sklearnIris,
    standardCanary,
    wisdom,
    wisdomModelMesh,
} from "../components/fixtures";

const seed000 = (): ReleasesConfig => ({ wisdom: wisdom([modelVersion("v0")]) });

function refused(fn: () => unknown, path: string, problem: RegExp): void {
    assert.throws(fn, (error: unknown) => {
        assert.ok(error instanceof ReleaseConfigError);
        assert.ok(
            error.issues.some((i) => i.path === path && problem.test(i.problem)),
            JSON.stringify(error.issues),
        );
        return true;
    });
}

describe("release operations on config", () => {
    it("walks seed 000: add candidate, 30/70 in steps, promote", () => {
        let config = addCandidate(seed000(), "wisdom", modelVersion("v1"));
        assert.deepEqual(percentages(config, "wisdom"), [100, 0]);
        for (const points of [25, 25, 20]) config = step(config, "wisdom", points);
        assert.deepEqual(percentages(config, "wisdom"), [30, 70]);
        assert.deepEqual(
            config.wisdom.versions.map((v) => v.weight),
            [30, 70],
        );
        config = promote(config, "wisdom");
        assert.deepEqual(config.wisdom.versions, [modelVersion("v1")]);
        assert.deepEqual(percentages(config, "wisdom"), [100]);
    });

    it("promotes a named candidate as itself (the old primary goes); a generated name swaps in place", () => {
        const named = {
            wisdom: wisdom([
                { ...modelVersion("v0"), name: "wisdom-blue", weight: 0 },
                { ...modelVersion("v1"), name: "wisdom-green", weight: 100 },
            ]),
        };
        assert.deepEqual(promote(named, "wisdom").wisdom.versions, [{ ...modelVersion("v1"), name: "wisdom-green" }]);
        const primaryNamed = {
            wisdom: wisdom([{ ...modelVersion("v0"), name: "wisdom-blue" }, modelVersion("v1")]),
        };
        assert.deepEqual(promote(primaryNamed, "wisdom").wisdom.versions, [
            { ...modelVersion("v1"), name: "wisdom-blue" },
        ]);
    });

    it("never mutates its input", () => {
        const input = seed000();
        const snapshot = structuredClone(input);
        addCandidate(input, "wisdom", modelVersion("v1"));
        assert.deepEqual(input, snapshot);
    });

    it("adds a candidate at weight 0 when the split has explicit weights", () => {
        const config = addCandidate(
            { wisdom: wisdom([modelVersion("v0", { weight: 1 })]) },
            "wisdom",
            modelVersion("v1"),
        );
        assert.deepEqual(percentages(config, "wisdom"), [100, 0]);
    });

    it("refuses a step larger than the limit, naming the version", () => {
        const config = addCandidate(
            { wisdom: wisdom([modelVersion("v0", { weight: 1 })]) },
            "wisdom",
            modelVersion("v1"),
        );
        refused(
            () => step(config, "wisdom", 30),
            "releases.wisdom.versions[0].weight",
            /would move 30 points \(100% -> 70%\), more than the 25-point limit/,
        );
        assert.deepEqual(percentages(step(config, "wisdom", 30, { maxStep: 30 }), "wisdom"), [70, 30]);
        refused(
            () => setWeights(config, "wisdom", [0, 100]),
            "releases.wisdom.versions[1].weight",
            /more than the 25-point limit/,
        );
    });

    it("clamps a step at 0 and 100", () => {
        let config = addCandidate(seed000(), "wisdom", modelVersion("v1"));
        assert.deepEqual(percentages(step(config, "wisdom", -10), "wisdom"), [100, 0]);
        for (const points of [25, 25, 25]) config = step(config, "wisdom", points);
        assert.deepEqual(percentages(step(config, "wisdom", 25), "wisdom"), [0, 100]);
    });

    describe("holds every operation that moves traffic to the step limit", () => {
        it("add-candidate to an unweighted blue-green release pins the current split and adds the candidate at 0", () => {
            const config = addCandidate(seed000(), "wisdom", modelVersion("v1"));
            assert.deepEqual(
                config.wisdom.versions.map((v) => v.weight),
                [100, 0],
            );
            assert.deepEqual(percentages(config, "wisdom"), [100, 0]);
            const three = addCandidate(
                { wisdom: wisdom([modelVersion("v0"), modelVersion("v1")]) },
                "wisdom",
                modelVersion("v2"),
            );
            assert.deepEqual(percentages(three, "wisdom"), [50, 50, 0]);
        });

        it("refuses add-candidate whose explicit weight moves more than the limit", () => {
            refused(
                () => addCandidate(seed000(), "wisdom", modelVersion("v1", { weight: 100 })),
                "releases.wisdom.versions[1].weight",
                /would move 50 points \(0% -> 50%\), more than the 25-point limit/,
            );
            const config = addCandidate(seed000(), "wisdom", modelVersion("v1", { weight: 100 }), { maxStep: 50 });
            assert.deepEqual(percentages(config, "wisdom"), [50, 50]);
            assert.deepEqual(
                percentages(addCandidate(seed000(), "wisdom", modelVersion("v1", { weight: 25 })), "wisdom"),
                [80, 20],
            );
        });

        it("switching to blue-green with add-candidate moves no traffic", () => {
            const base: ReleasesConfig = {
                wisdom: wisdom([modelVersion("v0"), modelVersion("v1")], { strategy: "none" }),
            };
            const config = addCandidate(base, "wisdom", modelVersion("v2"), { strategy: "blue-green" });
            assert.deepEqual(percentages(config, "wisdom"), [100, 0, 0]);
        });

        it("refuses a strategy switch by add-candidate that moves more than the limit", () => {
            const split: ReleasesConfig = {
                wisdom: wisdomModelMesh(
                    [
                        { storageUri: "s3://a", weight: 50 },
                        { storageUri: "s3://b", weight: 50 },
                    ],
                    { strategy: "blue-green" },
                ),
            };
            // Canary with weights is invalid, so drop them as a user would: the primary would jump to 100%.
            const unweighted = structuredClone(split);
            unweighted.wisdom.versions.forEach((v) => delete v.weight);
            refused(
                () => addCandidate(unweighted, "wisdom", { storageUri: "s3://c" }, { strategy: "canary" }),
                "releases.wisdom.versions[0]",
                /would move 50 points \(50% -> 100%\)/,
            );
        });

        it("leaves promote and rollback exempt: they finish or abort the release at once", () => {
            const config = addCandidate(seed000(), "wisdom", modelVersion("v1"));
            const atCandidate = setWeights(config, "wisdom", [0, 100], { maxStep: 100 });
            // 100 points back to the primary in one operation.
            assert.deepEqual(percentages(rollback(atCandidate, "wisdom"), "wisdom"), [100]);
            // 100 points to the candidate's spec in one operation.
            assert.deepEqual(percentages(promote(config, "wisdom"), "wisdom"), [100]);
            assert.deepEqual(promote(config, "wisdom").wisdom.versions, [modelVersion("v1")]);
        });
    });

    it("validates results with the component's rules and messages", () => {
        refused(
            () =>
                setWeights(addCandidate(seed000(), "wisdom", modelVersion("v1")), "wisdom", [-5, 5], { maxStep: 100 }),
            "releases.wisdom.versions[0].weight",
            /must be a non-negative integer, got -5/,
        );
        refused(
            () => addCandidate(seed000(), "wisdom", { storageUri: "ftp://x" }),
            "releases.wisdom.versions[1].storageUri",
            /scheme "ftp"/,
        );
        refused(() => promote(seed000(), "nope"), "releases.nope", /does not exist/);
        refused(() => promote(seed000(), "wisdom"), "releases.wisdom.versions", /no candidate to promote/);
        refused(
            () => setWeights(seed000(), "wisdom", [1, 2]),
            "releases.wisdom.versions",
            /has 1 versions but 2 weights/,
        );
    });

    it("rolls back by dropping the candidate", () => {
        const config = rollback(step(addCandidate(seed000(), "wisdom", modelVersion("v1")), "wisdom", 10), "wisdom");
        assert.deepEqual(config.wisdom.versions, [modelVersion("v0")]);
    });

    it("keeps canary valid: a candidate switches none to canary, promotion switches back", () => {
        const base: ReleasesConfig = { wisdom: wisdomModelMesh([{ storageUri: "s3://a" }], { strategy: "none" }) };
        const canary = addCandidate(base, "wisdom", { storageUri: "s3://b" }, { strategy: "canary" });
        assert.equal(canary.wisdom.strategy, "canary");
        const promoted = promote(canary, "wisdom");
        assert.equal(promoted.wisdom.strategy, "none");
        assert.deepEqual(promoted.wisdom.versions, [{ storageUri: "s3://b" }]);
    });

    it("promotes and pins a KServe native canary", () => {
        const config: ReleasesConfig = { "sklearn-iris": sklearnIris("gs://m2", { canaryTrafficPercent: 10 }) };
        assert.equal("canaryTrafficPercent" in promote(config, "sklearn-iris")["sklearn-iris"], false);
        assert.equal(rollback(config, "sklearn-iris")["sklearn-iris"].canaryTrafficPercent, 0);
        refused(
            () => promote(promote(config, "sklearn-iris"), "sklearn-iris"),
            "releases.sklearn-iris.canaryTrafficPercent",
            /no canary to promote/,
        );
    });

    describe("release names are own keys only", () => {
        /** A config as stack config arrives (JSON): `__proto__` is an own key there. */
        const parsed = (name: string): ReleasesConfig =>
            JSON.parse(JSON.stringify({ wisdom: wisdom([modelVersion("v0")]) }).replace('"wisdom":', `"${name}":`));

        function untouched(): void {
            for (const key of ["versions", "strategy", "environment"]) {
                assert.equal(Object.hasOwn(Object, key), false, `Object.${key}`);
                assert.equal(Object.hasOwn(Object.prototype, key), false, `Object.prototype.${key}`);
            }
        }

        for (const name of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
            it(`treats a missing release named ${name} as unknown and pollutes nothing`, () => {
                for (const op of [
                    () => addCandidate(seed000(), name, modelVersion("v1")),
                    () => setWeights(seed000(), name, [1]),
                    () => step(seed000(), name, 10),
                    () => promote(seed000(), name),
                    () => rollback(seed000(), name),
                    () => remove(seed000(), name),
                    () => percentages(seed000(), name),
                ]) {
                    refused(op, `releases.${name}`, /does not exist/);
                }
                untouched();
            });
        }

        for (const name of ["constructor", "__proto__"]) {
            it(`refuses a release named ${name} (JSON) with its path, and can remove it`, () => {
                const config = parsed(name);
                assert.ok(Object.hasOwn(config, name));
                const path = `releases["${name}"]`;
                refused(() => addCandidate(config, name, modelVersion("v1")), path, /reserved key/);
                refused(() => validated(config), path, /reserved key/);
                refused(() => setWeights(config, name, [1]), path, /reserved key/);
                assert.deepEqual(Object.keys(remove(config, name)), []);
                untouched();
            });
        }
    });

    it("removes a release", () => {
        assert.deepEqual(remove({ ...seed000(), other: wisdom([modelVersion("v0")], { name: "other" }) }, "wisdom"), {
            other: wisdom([modelVersion("v0")], { name: "other" }),
        });
    });
});

describe("rollout steps and rollback on config", () => {
    const blueGreen = (): ReleasesConfig => ({
        wisdom: wisdom([modelVersion("v0", { weight: 100 }), modelVersion("v1", { weight: 0 })], {
            strategy: "blue-green",
        }),
    });
    const kserveCanary = (percent?: number): ReleasesConfig => ({
        "sklearn-iris": sklearnIris("gs://kfserving-examples/models/sklearn/1.0/model-2", {
            ...(percent !== undefined ? { canaryTrafficPercent: percent } : {}),
        }),
    });

    it("steps a blue-green candidate to a percent, within the step limit", () => {
        const next = rolloutStep(blueGreen(), "wisdom", 25);
        assert.deepEqual(
            next.wisdom.versions.map((v) => v.weight),
            [75, 25],
        );
        assert.equal(candidatePercent(next, "wisdom"), 25);
        refused(
            () => rolloutStep(next, "wisdom", 60),
            "releases.wisdom.versions[1].weight",
            /more than the 25-point limit/,
        );
        assert.equal(candidatePercent(rolloutStep(next, "wisdom", 60, { maxStep: 50 }), "wisdom"), 60);
    });

    it("steps a kserve-canary release through canaryTrafficPercent, within the step limit", () => {
        const next = rolloutStep(kserveCanary(0), "sklearn-iris", 10);
        assert.equal(next["sklearn-iris"].canaryTrafficPercent, 10);
        assert.equal(candidatePercent(next, "sklearn-iris"), 10);
        assert.throws(() => rolloutStep(next, "sklearn-iris", 50), /more than the 25-point limit/);
        assert.equal(candidatePercent(kserveCanary(), "sklearn-iris"), 100, "no canary: the latest revision has all");
    });

    it("refuses to step a release without exactly a primary and one candidate", () => {
        refused(
            () => rolloutStep({ wisdom: wisdom([modelVersion("v0")], { strategy: "blue-green" }) }, "wisdom", 10),
            "releases.wisdom",
            /needs blue-green with a primary and one candidate/,
        );
    });

    it("rolls back to 100% primary keeping the candidate, for every strategy", () => {
        const bg = rolloutAbort(rolloutStep(blueGreen(), "wisdom", 25), "wisdom");
        assert.deepEqual(
            bg.wisdom.versions.map((v) => v.weight),
            [100, 0],
        );
        assert.equal(rolloutAbort(kserveCanary(20), "sklearn-iris")["sklearn-iris"].canaryTrafficPercent, 0);
        const canary: ReleasesConfig = {
            wisdom: wisdom([modelVersion("v0"), modelVersion("v1")], { strategy: "canary" }),
        };
        const c = rolloutAbort(canary, "wisdom");
        assert.equal(c.wisdom.strategy, "canary");
        assert.deepEqual(c.wisdom.versions[1].match, [{ headers: { [INSPECT_HEADER]: { exact: "wisdom" } } }]);
        assert.deepEqual(percentages(c, "wisdom"), [100, 0]);
    });
});

describe("release operations on a KServe v0.20 Standard-mode canary", () => {
    const stable = (): ReleasesConfig => ({ wisdom: standardCanary([canaryVersion("v1")]) });
    const names = (config: ReleasesConfig) =>
        config.wisdom.versions.map((v) => `${v.name}${v.trafficPercent === undefined ? "" : ` ${v.trafficPercent}%`}`);

    it("adds a canary without traffic, steps it within the limit, and refuses a bigger move", () => {
        let config = addCandidate(stable(), "wisdom", canaryVersion("v2"));
        assert.deepEqual(names(config), ["v1", "v2 0%"]);
        assert.equal(candidatePercent(config, "wisdom"), 0);
        config = rolloutStep(config, "wisdom", 10);
        assert.deepEqual(names(config), ["v1", "v2 10%"]);
        assert.deepEqual(percentages(config, "wisdom"), [90, 10]);
        refused(() => rolloutStep(config, "wisdom", 60), "releases.wisdom.versions[0]", /would move 50 points/);
    });

    it("promotes in two steps: drain the stable predictor, then rename it to the canary", () => {
        const canary = { wisdom: standardCanary([canaryVersion("v1"), canaryVersion("v2", 10)]) };
        assert.equal(promotionStep(canary, "wisdom"), "drain");
        const drained = promote(canary, "wisdom");
        assert.deepEqual(names(drained), ["v1", "v2 100%"]);
        assert.deepEqual(percentages(drained, "wisdom"), [0, 100]);
        assert.equal(promotionStep(drained, "wisdom"), "rename");
        const promoted = promote(drained, "wisdom");
        assert.deepEqual(names(promoted), ["v2"]);
        assert.equal(promoted.wisdom.versions[0].storageUri, canaryVersion("v2").storageUri);
        assert.equal(promotionStep(promoted, "wisdom"), undefined);
        refused(() => promote(promoted, "wisdom"), "releases.wisdom.versions", /has no canary to promote/);
    });

    it("drains into the promoted canary only what the other canaries leave", () => {
        const config = {
            wisdom: standardCanary([canaryVersion("v1"), canaryVersion("v2", 10), canaryVersion("v3", 5)]),
        };
        assert.deepEqual(names(promote(config, "wisdom")), ["v1", "v2 95%", "v3 5%"]);
        assert.deepEqual(names(promote(promote(config, "wisdom"), "wisdom")), ["v2", "v3 5%"]);
    });

    it("rolls back by pinning every canary at 0%, keeping them for a retry (rollback and a rollout's abort)", () => {
        const config = { wisdom: standardCanary([canaryVersion("v1"), canaryVersion("v2", 40)]) };
        for (const pinned of [rollback(config, "wisdom"), rolloutAbort(config, "wisdom")]) {
            assert.deepEqual(names(pinned), ["v1", "v2 0%"]);
            assert.deepEqual(percentages(pinned, "wisdom"), [100, 0]);
        }
        refused(() => rollback(stable(), "wisdom"), "releases.wisdom.versions", /has no canary to roll back/);
    });

    it("refuses a stepped rollout over several canaries", () => {
        const config = {
            wisdom: standardCanary([canaryVersion("v1"), canaryVersion("v2", 10), canaryVersion("v3", 0)]),
        };
        refused(() => rolloutStep(config, "wisdom", 20), "releases.wisdom.versions", /stable version and one canary/);
    });
});
