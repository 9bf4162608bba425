import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";

import {
    LiveHttpRoute,
    ReadinessUnknownError,
    clusterReadiness,
    isCanaryReady,
    isReady,
    kubeConfigFor,
    liveRouteWeights,
    readHttpRoute,
    readVirtualService,
} from "../../automation/readiness";
import { workloadOf } from "../../automation/releases";
import { appVersion, canaryVersion, httpbin, manifestOf, plan, resolve, standardCanary } from "../components/fixtures";

/** A kubeconfig document for a server address, with a token and an optional second context. */
function kubeconfig(server: string): string {
    return [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        `- name: local\n  cluster:\n    server: ${server}\n    insecure-skip-tls-verify: true`,
        "- name: other\n  cluster:\n    server: http://127.0.0.1:9\n    insecure-skip-tls-verify: true",
        "users:",
        "- name: admin\n  user:\n    token: t0ken",
        "contexts:",
        "- name: local\n  context:\n    cluster: local\n    user: admin",
        "- name: other\n  context:\n    cluster: other\n    user: admin",
        "current-context: local",
        "",
    ].join("\n");
}

/** A loopback HTTP server standing in for the API server: answers by path. */
async function fakeApiServer(
    answer: (url: string) => { status: number; body?: unknown },
): Promise<{ url: string; seen: string[]; close: () => Promise<void> }> {
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
        seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ""}`);
        const { status, body } = answer(req.url ?? "");
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body ?? { kind: "Status", code: status }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return {
        url: `http://127.0.0.1:${port}`,
        seen,
        close: () => new Promise((resolve) => server.close(() => resolve())),
    };
}

const ready = (generation: number, observed: number, status = "True") => ({
    metadata: { generation },
    status: { observedGeneration: observed, conditions: [{ type: "Ready", status }] },
});

describe("readiness from the cluster", () => {
    it("is Ready only with the condition True for the current generation", () => {
        assert.equal(isReady(ready(2, 2), "Ready"), true);
        assert.equal(isReady(ready(3, 2), "Ready"), false, "an older generation's Ready does not count");
        assert.equal(isReady(ready(2, 2, "False"), "Ready"), false);
        assert.equal(isReady({ status: { conditions: [{ type: "Available", status: "True" }] } }, "Ready"), false);
        assert.equal(isReady({}, "Available"), false);
    });

    it("reads InferenceServices and Deployments with the kubeconfig's credentials; 404 is not Ready", async () => {
        const api = await fakeApiServer((url) => {
            if (url.endsWith("/inferenceservices/wisdom-1")) return { status: 200, body: ready(1, 1) };
            if (url.endsWith("/deployments/web-1")) {
                return {
                    status: 200,
                    body: { metadata: { generation: 4 }, status: { observedGeneration: 3, conditions: [] } },
                };
            }
            return { status: 404 };
        });
        try {
            const kc = kubeConfigFor({ kubeconfig: kubeconfig(api.url) });
            const probe = clusterReadiness(kc);
            assert.equal(await probe("InferenceService", "models", "wisdom-1"), true);
            assert.equal(await probe("InferenceService", "models", "wisdom-2"), false);
            assert.equal(await probe("Deployment", "web", "web-1"), false);
            assert.deepEqual(api.seen, [
                "GET /apis/serving.kserve.io/v1beta1/namespaces/models/inferenceservices/wisdom-1 Bearer t0ken",
                "GET /apis/serving.kserve.io/v1beta1/namespaces/models/inferenceservices/wisdom-2 Bearer t0ken",
                "GET /apis/apps/v1/namespaces/web/deployments/web-1 Bearer t0ken",
            ]);
        } finally {
            await api.close();
        }
    });

    it("reads a KServe v0.20 canary predictor's readiness from its InferenceService's canaryStatuses", async () => {
        // Standard mode: observedGeneration is the stable Deployment's, so a status is matched to
        // the spec by the canary's trafficPercent instead.
        type Status = { name: string; ready: boolean; trafficPercent: number };
        const isvc = (generation: number, observed: number, statuses: Status[], specPercent = 10) => ({
            metadata: { generation, annotations: { "serving.kserve.io/deploymentMode": "Standard" } },
            spec: { canary: [{ predictor: { name: "v2" }, trafficPercent: specPercent }] },
            status: { ...ready(generation, observed).status, canaryStatuses: statuses },
        });
        const v2 = (ready: boolean, trafficPercent = 10): Status => ({ name: "v2", ready, trafficPercent });
        assert.equal(isCanaryReady(isvc(2, 2, [v2(true)]), "v2"), true);
        assert.equal(isCanaryReady(isvc(2, 2, [v2(false)]), "v2"), false, "a pinned canary");
        assert.equal(isCanaryReady(isvc(5, 1, [v2(true)]), "v2"), true, "the Deployment's generation is no measure");
        assert.equal(isCanaryReady(isvc(3, 1, [v2(true, 10)], 25), "v2"), false, "a status for an older spec");
        assert.equal(isCanaryReady(isvc(2, 2, [{ ...v2(true), name: "v3" }]), "v2"), false);
        // The stable predictor's Ready in Standard mode: the condition alone, whatever the generations.
        assert.equal(isReady(isvc(5, 1, []), "Ready"), true);
        assert.equal(isReady(ready(5, 1), "Ready"), false, "other modes still compare generations");
        const api = await fakeApiServer((url) =>
            url.endsWith("/inferenceservices/wisdom") ? { status: 200, body: isvc(1, 1, [v2(true)]) } : { status: 404 },
        );
        try {
            const probe = clusterReadiness(kubeConfigFor({ kubeconfig: kubeconfig(api.url) }));
            assert.equal(await probe("CanaryPredictor", "models", "wisdom/v2"), true);
            assert.equal(await probe("CanaryPredictor", "models", "wisdom/v3"), false);
            assert.equal(await probe("CanaryPredictor", "models", "other/v2"), false);
            assert.equal(
                api.seen[0].split(" ")[1],
                "/apis/serving.kserve.io/v1beta1/namespaces/models/inferenceservices/wisdom",
            );
        } finally {
            await api.close();
        }
        const release = resolve(standardCanary([canaryVersion("v1"), canaryVersion("v2", 10)]));
        assert.deepEqual(workloadOf(release, "v1"), { kind: "InferenceService", name: "wisdom" });
        assert.deepEqual(workloadOf(release, "v2"), { kind: "CanaryPredictor", name: "wisdom/v2" });
    });

    it("an unreachable or refusing cluster is unknown, never Ready, and the reason carries no address", async () => {
        const dead = clusterReadiness(kubeConfigFor({ kubeconfig: kubeconfig("http://127.0.0.1:1") }));
        await assert.rejects(dead("InferenceService", "models", "wisdom-1"), (e: unknown) => {
            assert.ok(e instanceof ReadinessUnknownError);
            assert.match(e.message, /could not be read from the cluster/);
            assert.ok(!e.message.includes("127.0.0.1"), e.message);
            return true;
        });
        const api = await fakeApiServer(() => ({ status: 403 }));
        try {
            const forbidden = clusterReadiness(kubeConfigFor({ kubeconfig: kubeconfig(api.url) }));
            await assert.rejects(forbidden("Deployment", "web", "web-1"), /HTTP 403/);
        } finally {
            await api.close();
        }
    });

    it("a server that never answers is unknown after the timeout", async () => {
        const server = http.createServer(() => undefined);
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        const { port } = server.address() as AddressInfo;
        try {
            const probe = clusterReadiness(kubeConfigFor({ kubeconfig: kubeconfig(`http://127.0.0.1:${port}`) }), 200);
            await assert.rejects(probe("InferenceService", "m", "w"), /no answer within 0.2s/);
        } finally {
            server.closeAllConnections();
            server.close();
        }
    });

    it("takes the kubeconfig from a path, the document itself or KUBECONFIG, and honours the context", () => {
        const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "kubeconfig-")), "config");
        fs.writeFileSync(file, kubeconfig("http://127.0.0.1:7"));
        assert.equal(kubeConfigFor({ kubeconfig: file }).getCurrentCluster()?.server, "http://127.0.0.1:7");
        assert.equal(
            kubeConfigFor({ kubeconfig: kubeconfig("http://127.0.0.1:8") }).getCurrentCluster()?.server,
            "http://127.0.0.1:8",
        );
        assert.equal(kubeConfigFor({ kubeconfigEnv: `${file}:` }).getCurrentCluster()?.server, "http://127.0.0.1:7");
        assert.equal(
            kubeConfigFor({ kubeconfig: file, context: "other" }).getCurrentCluster()?.server,
            "http://127.0.0.1:9",
        );
    });
});

describe("reading the live routing objects", () => {
    it("reads an HTTPRoute and a VirtualService at their API paths; 404 is absent; a refusal names the kind", async () => {
        const route = { spec: { rules: [] } };
        const api = await fakeApiServer((url) => {
            if (url === "/apis/gateway.networking.k8s.io/v1/namespaces/ns/httproutes/app") {
                return { status: 200, body: route };
            }
            if (url.endsWith("/virtualservices/locked")) return { status: 403 };
            return { status: 404 };
        });
        try {
            const kc = kubeConfigFor({ kubeconfig: kubeconfig(api.url) });
            assert.deepEqual(await readHttpRoute(kc, "ns", "app"), route);
            assert.equal(await readVirtualService(kc, "ns", "app"), undefined);
            await assert.rejects(readVirtualService(kc, "ns", "locked"), (e: unknown) => {
                assert.ok(e instanceof ReadinessUnknownError);
                assert.match(e.message, /^VirtualService ns\/locked could not be read from the cluster/);
                return true;
            });
            assert.deepEqual(
                api.seen.map((line) => line.split(" ")[1]),
                [
                    "/apis/gateway.networking.k8s.io/v1/namespaces/ns/httproutes/app",
                    "/apis/networking.istio.io/v1/namespaces/ns/virtualservices/app",
                    "/apis/networking.istio.io/v1/namespaces/ns/virtualservices/locked",
                ],
            );
        } finally {
            await api.close();
        }
    });
});

describe("live weights of an HTTPRoute (Gateway API back-end)", () => {
    const routeOf = (args: unknown, key: string) =>
        manifestOf(plan(args, key), `HTTPRoute/${key}`) as unknown as LiveHttpRoute;

    it("reads the percent per version from the rule that matches every request, as planned", () => {
        const blueGreen = routeOf(
            httpbin([appVersion({ weight: 3 }), appVersion({ weight: 1 })], { routing: { backend: "gateway-api" } }),
            "httpbin",
        );
        assert.deepEqual({ ...liveRouteWeights(blueGreen) }, { "httpbin-0": 75, "httpbin-1": 25 });
        const canary = routeOf(
            httpbin([appVersion(), appVersion()], { strategy: "canary", routing: { backend: "gateway-api" } }),
            "httpbin",
        );
        assert.deepEqual({ ...liveRouteWeights(canary) }, { "httpbin-0": 100 });
    });

    it("applies Gateway API's default weight of 1, and is undefined without a catch-all rule or version header", () => {
        const backend = (version: string, weight?: number) => ({
            ...(weight === undefined ? {} : { weight }),
            filters: [
                {
                    type: "ResponseHeaderModifier",
                    responseHeaderModifier: { set: [{ name: "app-version", value: version }] },
                },
            ],
        });
        assert.deepEqual(
            { ...liveRouteWeights({ spec: { rules: [{ backendRefs: [backend("a"), backend("b")] }] } }) },
            { a: 50, b: 50 },
        );
        assert.equal(
            liveRouteWeights({
                spec: {
                    rules: [{ matches: [{ headers: [{ name: "x", value: "1" }] }], backendRefs: [backend("a", 100)] }],
                },
            }),
            undefined,
        );
        assert.equal(liveRouteWeights({ spec: { rules: [{ backendRefs: [{ weight: 100 }] }] } }), undefined);
    });
});
