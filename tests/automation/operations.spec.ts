import * as assert from "node:assert/strict";

import {
    ReleasesConfig,
    addCandidate,
    percentages,
    promote,
    remove,
    rollback,
    setWeights,
    step,
} from "../../automation/operations";
import { ReleaseConfigError } from "../../components/validate";
import { modelVersion, sklearnIris, wisdom, wisdomModelMesh } from "../components/fixtures";

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
        assert.deepEqual(percentages(config, "wisdom"), [50, 50]);
        config = step(config, "wisdom", 20);
        assert.deepEqual(percentages(config, "wisdom"), [30, 70]);
        assert.deepEqual(
            config.wisdom.versions.map((v) => v.weight),
            [30, 70],
        );
        config = promote(config, "wisdom");
        assert.deepEqual(config.wisdom.versions, [modelVersion("v1")]);
        assert.deepEqual(percentages(config, "wisdom"), [100]);
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
        const config = step(addCandidate(seed000(), "wisdom", modelVersion("v1")), "wisdom", 25, { maxStep: 25 });
        assert.deepEqual(percentages(step(config, "wisdom", 25), "wisdom"), [0, 100]);
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

    it("removes a release", () => {
        assert.deepEqual(remove({ ...seed000(), other: wisdom([modelVersion("v0")], { name: "other" }) }, "wisdom"), {
            other: wisdom([modelVersion("v0")], { name: "other" }),
        });
    });
});
