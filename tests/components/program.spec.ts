import * as assert from "node:assert/strict";

import * as pulumi from "@pulumi/pulumi";

import { releaseProgram } from "../../components/program";
import { appVersion, httpbin, modelVersion, wisdom } from "./fixtures";
import { eventually, installMocks, valueOf } from "./mocks";

function releasesConfig(value: unknown): Record<string, string> {
    return { "model-release:releases": JSON.stringify(value) };
}

describe("releaseProgram (stack config, mocks)", () => {
    it("creates one ModelRelease per configured release and exports host and traffic", async () => {
        const list = await installMocks(
            releasesConfig({
                wisdom: wisdom([modelVersion("v0", { weight: 30 }), modelVersion("v1", { weight: 70 })]),
                httpbin: httpbin([appVersion()]),
            }),
        );
        const { releases } = releaseProgram();
        assert.deepEqual(Object.keys(releases), ["wisdom", "httpbin"]);
        assert.equal(await valueOf(releases.wisdom.host), "wisdom.default.svc.cluster.local");
        assert.deepEqual(
            (await valueOf(releases.wisdom.traffic)).map((r) => r.percent),
            [30, 70],
        );
        const components = () => list.filter((r) => r.type === "model-release:index:ModelRelease").map((r) => r.name);
        await eventually(() => components().length === 2, "both components");
        assert.deepEqual(components().sort(), ["httpbin", "wisdom"]);
    });

    it("reports every problem of every release at once, naming the config paths, before registering anything", async () => {
        const list = await installMocks(
            releasesConfig({
                wisdom: wisdom([modelVersion("v0", { weight: -5 }), modelVersion("v1", { weight: 5 })]),
                broken: {
                    environment: "kserve",
                    strategy: "canary",
                    versions: [{ storageUri: "gs://m", modelFormat: "sklearn" }],
                },
            }),
        );
        assert.throws(
            () => releaseProgram(),
            (error: unknown) => {
                assert.ok(error instanceof pulumi.RunError, "a RunError prints without a stack trace");
                assert.match(
                    error.message,
                    /releases\.wisdom\.versions\[0\]\.weight must be a non-negative integer, got -5/,
                );
                assert.match(error.message, /releases\.broken\.versions has one version, but canary needs a primary/);
                return true;
            },
        );
        assert.deepEqual(list, []);
    });

    it("refuses storage credentials written in plaintext, telling how to set them as secrets", async () => {
        const config = releasesConfig({
            wisdom: wisdom([modelVersion("v0")], { storageCredentials: { data: { AWS_SECRET_ACCESS_KEY: "x" } } }),
        });
        await installMocks(config);
        assert.throws(
            () => releaseProgram(),
            /releases\.wisdom\.storageCredentials\.data\.AWS_SECRET_ACCESS_KEY is stored in plaintext.*pulumi config set --secret --path/,
        );
        const list = await installMocks(config, ["model-release:releases"]);
        releaseProgram();
        await eventually(
            () => list.some((r) => r.type === "kubernetes:core/v1:Secret" && r.name === "default/wisdom-storage"),
            "the Secret",
        );
    });

    it("deploys nothing when no releases are configured", async () => {
        const list = await installMocks();
        assert.deepEqual(releaseProgram().releases, {});
        assert.deepEqual(list, []);
    });
});
