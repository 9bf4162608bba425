import * as assert from "node:assert/strict";

import { validReleaseName, validStackName } from "../../automation/names";

describe("stack and release names", () => {
    it("accepts Pulumi stack names, plain or ORG/PROJECT/STACK", () => {
        for (const name of ["dev", "Dev_1.2-x", "a/b/c", "my-org/model-release/prod.eu", "x".repeat(100)]) {
            assert.equal(validStackName(name), undefined, name);
        }
    });

    it("refuses names that would read as flags or paths, with the problem", () => {
        const cases: [string, RegExp][] = [
            ["", /stack name is empty/],
            ["--help", /"--help" must not start with '-'/],
            ["-rf", /"-rf" must not start with '-'/],
            [".", /must not be '\.' or '\.\.'/],
            ["..", /"\.\." must not be '\.' or '\.\.'/],
            ["org/../dev", /must not be '\.' or '\.\.'/],
            ["org/-x/dev", /must not start with '-'/],
            ["a/b", /must be STACK or ORG\/PROJECT\/STACK/],
            ["a/b/c/d", /must be STACK or ORG\/PROJECT\/STACK/],
            ["a//c", /has an empty part/],
            ["dev stack", /may only contain letters, digits/],
            ["dev;rm", /may only contain letters, digits/],
            ["dév", /may only contain letters, digits/],
            ["x".repeat(101), /longer than 100 characters/],
            [`org/project/${"x".repeat(101)}`, /longer than 100 characters/],
        ];
        for (const [name, problem] of cases) {
            assert.match(validStackName(name) ?? "(valid)", problem, JSON.stringify(name));
        }
    });

    it("accepts release names that are lowercase RFC 1123 labels", () => {
        for (const name of ["wisdom", "wisdom-2", "0abc", "a", "x".repeat(63)]) {
            assert.equal(validReleaseName(name), undefined, name);
        }
    });

    it("refuses other release names, naming them", () => {
        assert.equal(validReleaseName(""), "release name is empty");
        for (const name of ["Wisdom", "-x", "--help", "x-", "a_b", "a.b", "a/b", "x".repeat(64)]) {
            const problem = validReleaseName(name) ?? "(valid)";
            assert.ok(
                problem.startsWith(`release name ${JSON.stringify(name)} must be a lowercase RFC 1123 label`),
                problem,
            );
        }
    });
});
