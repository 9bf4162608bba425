import * as assert from "node:assert/strict";

import { ModelRelease } from "../../components/modelRelease";
import { planRelease } from "../../components/plan";
import { validateRelease } from "../../components/validate";
import { mockSample } from "../../bench/mockCost";
import { seedFlows } from "../../bench/seedFlows";
import { benchReleases, declareRaw, objectCount, plansOf } from "../../bench/workloads";
import { installMocks, registered } from "../components/mocks";

describe("bench workloads", () => {
    it("builds N distinct valid releases of six objects each", () => {
        const releases = benchReleases(3, "bench");
        assert.deepEqual(Object.keys(releases), ["model-0000", "model-0001", "model-0002"]);
        assert.equal(objectCount(plansOf(releases)), 18);
    });

    it("declares raw resources exactly as ModelRelease registers its children", async () => {
        const releases = benchReleases(2, "bench");
        const viaComponent = await installMocks();
        const components = Object.entries(releases).map(
            ([name, args]) => new ModelRelease(name, args as ConstructorParameters<typeof ModelRelease>[1]),
        );
        await registered(components.flatMap((c) => Object.values(c.resources)));
        const viaRaw = await installMocks();
        await registered(declareRaw(plansOf(releases)));
        const key = (r: { type: string; name: string; inputs: Record<string, unknown> }) =>
            JSON.stringify([r.type, r.name, r.inputs]);
        const children = viaComponent.filter((r) => r.type !== "model-release:index:ModelRelease");
        assert.equal(viaRaw.length, 12);
        assert.deepEqual(viaRaw.map(key).sort(), children.map(key).sort());
    });

    it("groups the raw resources under one empty component per release when asked", async () => {
        const list = await installMocks();
        await registered(declareRaw(plansOf(benchReleases(2, "bench")), true));
        assert.deepEqual(
            list.filter((r) => r.type === "model-release:bench:RawGroup").map((r) => r.name),
            ["model-0000", "model-0001"],
        );
        assert.equal(list.filter((r) => r.type.startsWith("kubernetes:")).length, 12);
    });

    it("describes every seed flow with valid configs in distinct namespaces", () => {
        const flows = seedFlows("bench-seed");
        assert.deepEqual(
            flows.map((f) => f.seed),
            ["000", "001", "002", "003/004"],
        );
        assert.equal(new Set(flows.map((f) => f.namespace)).size, flows.length);
        for (const flow of flows) {
            for (const step of flow.steps) {
                for (const [name, args] of Object.entries(step.releases)) {
                    const { release, issues } = validateRelease(name, args, {
                        path: `releases.${name}`,
                        defaultNamespace: "default",
                    });
                    assert.deepEqual(issues, [], `${flow.seed} ${step.title}`);
                    assert.ok(release);
                    assert.equal(planRelease(release).namespace, flow.namespace);
                }
            }
        }
    });

    it("measures one mock sample in a fresh process", function () {
        this.timeout(60000);
        const component = mockSample("component", 1);
        assert.equal(component.resources, 7);
        assert.equal(component.objects, 6);
        assert.ok(component.ms > 0 && component.peakRssMb > 0);
        const raw = mockSample("raw", 1);
        assert.equal(raw.resources, 6);
    });
});
