// The policy pack never imports the planner, so the few facts both must agree on are written
// twice; these tests prove the two copies equal.
import * as assert from "node:assert/strict";

import { DEPLOYMENT_MODE, INFERENCE_SERVICE_TYPE, versionsNamed } from "../../policies/lib";
import { KSERVE_SCHEMES, MODELMESH_SCHEMES } from "../../policies/rules/isvcStorageUri";
import { KSERVE_STORAGE_SCHEMES, MODELMESH_STORAGE_SCHEMES } from "../../components/validate";
import { modelVersion, wisdom } from "../components/fixtures";
import { componentResources } from "./helpers";

describe("data the policy pack and the components share", () => {
    it("storage URI schemes: KServe and ModelMesh lists are the same in both", () => {
        assert.deepEqual([...KSERVE_SCHEMES].sort(), [...KSERVE_STORAGE_SCHEMES].sort());
        assert.deepEqual([...MODELMESH_SCHEMES].sort(), [...MODELMESH_STORAGE_SCHEMES].sort());
    });

    it("the deployment-mode annotation key and the app-version header are the ones the planner writes", async () => {
        const resources = await componentResources({
            wisdom: wisdom([modelVersion("v0", { weight: 70 }), modelVersion("v1", { weight: 30 })], {
                strategy: "blue-green",
            }),
        });
        const isvcs = resources.filter((r) => r.type === INFERENCE_SERVICE_TYPE);
        assert.equal(isvcs.length, 2);
        for (const isvc of isvcs) {
            const annotations = (isvc.props.metadata as { annotations?: Record<string, string> }).annotations ?? {};
            assert.ok(Object.hasOwn(annotations, DEPLOYMENT_MODE), `${isvc.name} carries ${DEPLOYMENT_MODE}`);
        }
        const vs = resources.find((r) => r.type === "kubernetes:networking.istio.io/v1:VirtualService");
        assert.ok(vs);
        assert.deepEqual([...versionsNamed(vs.props)].sort(), ["wisdom-0", "wisdom-1"]);
    });
});
