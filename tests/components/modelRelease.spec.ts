import * as assert from "node:assert/strict";

import * as pulumi from "@pulumi/pulumi";

import { ModelRelease, planModelRelease } from "../../components/modelRelease";
import { ReleaseConfigError } from "../../components/validate";
import { appVersion, httpbin, modelVersion, sklearnIris, wisdom } from "./fixtures";
import { inputsOf, installMocks, registered, valueOf } from "./mocks";

const ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService";
const VS = "kubernetes:networking.istio.io/v1:VirtualService";

describe("ModelRelease (mocks)", () => {
    it("registers one child per planned object, with the planned manifests, under the component", async () => {
        const list = await installMocks();
        const release = new ModelRelease(
            "wisdom",
            wisdom([modelVersion("v0", { weight: 30 }), modelVersion("v1", { weight: 70 })]),
        );
        await registered(Object.values(release.resources));
        // Registration order is asynchronous; the set is what matters.
        assert.deepEqual(
            list.map((r) => `${r.type} ${r.name}`).sort(),
            [
                "model-release:index:ModelRelease wisdom",
                `${ISVC} default/wisdom-0`,
                `${ISVC} default/wisdom-1`,
                "kubernetes:core/v1:Service default/wisdom",
                "kubernetes:core/v1:ConfigMap default/wisdom-0-weight-config",
                "kubernetes:core/v1:ConfigMap default/wisdom-1-weight-config",
                `${VS} default/wisdom`,
            ].sort(),
        );
        for (const object of release.plan.objects) {
            const r = list.find(
                (x) =>
                    x.name === `default/${object.manifest.metadata.name}` &&
                    x.type.endsWith(`:${object.manifest.kind}`),
            );
            assert.ok(r, object.id);
            assert.deepEqual(r.inputs.metadata, object.manifest.metadata);
        }
        assert.deepEqual(inputsOf(list, ISVC, "default/wisdom-1").spec, release.plan.objects[1].manifest.spec);
        const vs = inputsOf(list, VS, "default/wisdom") as {
            spec: { http: { name: string; route: { weight: number }[] }[] };
        };
        assert.deepEqual(
            vs.spec.http[vs.spec.http.length - 1].route.map((d) => d.weight),
            [30, 70],
        );
        const urn = await valueOf(release.resources["VirtualService/wisdom"].urn);
        assert.match(
            urn,
            /model-release:index:ModelRelease\$kubernetes:networking.istio.io\/v1:VirtualService::default\/wisdom$/,
        );
    });

    it("exposes host and traffic table as outputs", async () => {
        await installMocks();
        const release = new ModelRelease(
            "wisdom",
            wisdom([modelVersion("v0", { weight: 30 }), modelVersion("v1", { weight: 70 })]),
        );
        assert.equal(await valueOf(release.host), "wisdom.default.svc.cluster.local");
        assert.deepEqual(await valueOf(release.traffic), [
            { version: "wisdom-0", role: "primary", weight: 30, percent: 30 },
            { version: "wisdom-1", role: "candidate", weight: 70, percent: 70 },
        ]);
    });

    it("builds Deployments with kubernetesx from the planned pod spec", async () => {
        const list = await installMocks();
        const release = new ModelRelease("httpbin", httpbin([appVersion(), appVersion({ port: 8080, args: ["--x"] })]));
        await registered(Object.values(release.resources));
        const deployment = inputsOf(list, "kubernetes:apps/v1:Deployment", "default/httpbin-1");
        assert.deepEqual(deployment.spec, {
            replicas: 1,
            selector: { matchLabels: { app: "httpbin-1" } },
            template: {
                metadata: { labels: { app: "httpbin-1" } },
                spec: {
                    containers: [
                        {
                            name: "httpbin-1",
                            image: "kennethreitz/httpbin",
                            args: ["--x"],
                            ports: [{ name: "http", containerPort: 8080 }],
                            env: [],
                            volumeMounts: [],
                        },
                    ],
                    initContainers: [],
                    volumes: [],
                },
            },
        });
        const service = inputsOf(list, "kubernetes:core/v1:Service", "default/httpbin-1") as {
            spec: { selector: unknown };
        };
        assert.deepEqual(
            service.spec.selector,
            { app: "httpbin-1" },
            "the Service selects the pods kubernetesx labels",
        );
    });

    it("keeps storage credentials secret and out of the component's inputs", async () => {
        const list = await installMocks();
        const release = new ModelRelease("wisdom", {
            ...wisdom([modelVersion("v0")]),
            storageCredentials: {
                data: pulumi.secret({ AWS_SECRET_ACCESS_KEY: "hunter2" }),
                annotations: { "serving.kserve.io/s3-endpoint": "minio:9000" },
            },
        });
        await registered(Object.values(release.resources));
        const secret = release.resources["Secret/wisdom-storage"];
        assert.ok(secret);
        assert.equal(
            await pulumi.isSecret((secret as unknown as { stringData: pulumi.Output<unknown> }).stringData),
            true,
        );
        assert.deepEqual(inputsOf(list, "model-release:index:ModelRelease", "wisdom"), {});
        // The mock monitor sees the value wrapped in Pulumi's secret envelope (signature key).
        const stringData = inputsOf(list, "kubernetes:core/v1:Secret", "default/wisdom-storage").stringData as Record<
            string,
            unknown
        >;
        assert.equal(stringData["4dabf18193072939515e22adb298388d"], "1b47061264138c4ac30d75fd1eb44270");
        assert.deepEqual(stringData.value, { AWS_SECRET_ACCESS_KEY: "hunter2" });
    });

    it("throws every configuration problem before registering anything", async () => {
        const list = await installMocks();
        assert.throws(
            () =>
                new ModelRelease(
                    "wisdom",
                    wisdom([
                        modelVersion("v0", { weight: -5 }),
                        modelVersion("v1", { storageUri: "ftp://x", weight: 1 }),
                    ]),
                ),
            (error: unknown) => {
                assert.ok(error instanceof ReleaseConfigError);
                assert.deepEqual(
                    error.issues.map((i) => i.path),
                    ["releases.wisdom.versions[0].weight", "releases.wisdom.versions[1].storageUri"],
                );
                return true;
            },
        );
        assert.deepEqual(list, []);
    });

    it("uses the kubernetes:namespace config as the default namespace", async () => {
        await installMocks({ "kubernetes:namespace": "models" });
        const plan = planModelRelease(
            "sklearn-iris",
            { ...sklearnIris("gs://m"), namespace: undefined },
            "releases.sklearn-iris",
        );
        assert.equal(plan.namespace, "models");
    });
});
