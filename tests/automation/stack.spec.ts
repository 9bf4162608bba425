import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { checkPolicyPacks } from "../../automation/stack";
import { ensurePolicyPack } from "../../e2e/engine";

describe("checkPolicyPacks", () => {
    let dir: string;
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "model-release-pack-"));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("names the pack and the fix when its compiled entry point is missing", () => {
        fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ main: "bin/index.js" }));
        assert.throws(
            () => checkPolicyPacks([dir]),
            (e: Error) => e.message.includes(dir) && /bin\/index.js is missing.*npm run build/.test(e.message),
        );
        fs.mkdirSync(path.join(dir, "bin"));
        fs.writeFileSync(path.join(dir, "bin", "index.js"), "");
        assert.doesNotThrow(() => checkPolicyPacks([dir]));
    });

    it("refuses a path that is not a pack directory", () => {
        assert.throws(() => checkPolicyPacks([path.join(dir, "nope")]), /has no package.json/);
    });

    it("accepts this project's pack once built", function () {
        this.timeout(60000);
        assert.doesNotThrow(() => checkPolicyPacks([ensurePolicyPack()]));
    });
});
