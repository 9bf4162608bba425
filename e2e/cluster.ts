/**
 * A local Kubernetes control plane for the end-to-end tests and the demo: etcd and kube-apiserver
 * on loopback with free ports and a temporary directory, the real KServe, Istio and Gateway API
 * CRDs installed server-side, and a kubeconfig. Real controllers run beside it:
 * kube-controller-manager (deployments, replicasets, endpoints, endpointslices, the garbage
 * collector, namespaces, node lifecycle), kube-scheduler, and kwok, which plays the kubelet of one
 * simulated node: pods scheduled there become Running and Ready (kwok's own stages), except those
 * whose first container runs NEVER_READY_IMAGE, which stay Pending. KServe's controller is not
 * among them (its module is not served): controllerStub.ts plays it.
 */
import { ChildProcess, spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import * as fs from "node:fs";
import * as https from "node:https";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

import { parseAllDocuments, stringify } from "yaml";

import { alive, stopProcess } from "./serverProcess";

/** Where the real CRD files are: `../shared/crds` beside the checkout (never copied into it). */
export const SHARED_CRDS = path.resolve(
    process.env.MODEL_RELEASE_SHARED ?? path.join(__dirname, "..", "..", "shared"),
    "crds",
);

/**
 * The image of a container that never starts: kwok leaves its pods Pending, never Ready, as a
 * kubelet would for an image that cannot be pulled (`.invalid` is a reserved domain, so it names
 * no real registry). A version running it never becomes Ready.
 */
export const NEVER_READY_IMAGE = "model-release.invalid/never-ready:1";

/** The simulated node kwok manages (by this annotation). */
const KWOK_NODE = "kwok-node-0";
const KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node";

/** The CRD files the tests need, relative to SHARED_CRDS. */
const CRD_FILES = [
    "kserve/serving.kserve.io_inferenceservices.yaml",
    "kserve/serving.kserve.io_servingruntimes.yaml",
    "kserve/serving.kserve.io_clusterservingruntimes.yaml",
    "istio/crd-all.gen.yaml",
    // Gateway API v1.6.1, standard channel: the HTTPRoutes of routing.backend gateway-api are
    // checked by its schema and CEL rules. Only the kinds the tests create: every engine run's
    // provider downloads and parses the whole OpenAPI document, so each CRD costs CPU per run.
    "gateway-api/gateway.networking.k8s.io_httproutes.yaml",
];

export interface KubeResponse<T = unknown> {
    status: number;
    body: T;
}

/** A free loopback port (another process may take it before it is bound: callers retry). */
export async function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.unref();
        server.on("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const address = server.address() as net.AddressInfo;
            server.close(() => resolve(address.port));
        });
    });
}

function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

export class LocalCluster {
    /** Path of a kubeconfig for this cluster (token auth, loopback). */
    readonly kubeconfig: string;
    readonly server: string;
    private readonly token = "model-release-e2e-token";
    private readonly processes: ChildProcess[] = [];
    private readonly logs: string[] = [];

    private constructor(
        private readonly dir: string,
        private readonly apiPort: number,
        private readonly etcdPort: number,
        private readonly peerPort: number,
        private readonly bin: string,
    ) {
        this.server = `https://127.0.0.1:${apiPort}`;
        this.kubeconfig = path.join(dir, "kubeconfig");
    }

    /**
     * Starts etcd and kube-apiserver from `bin`, waits until ready, installs the CRDs and starts the
     * controllers with kwok's node (unless `controllers: false`).
     */
    static async start(bin: string, options: { crds?: boolean; controllers?: boolean } = {}): Promise<LocalCluster> {
        for (let attempt = 1; ; attempt++) {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "model-release-cluster-"));
            const cluster = new LocalCluster(dir, await freePort(), await freePort(), await freePort(), bin);
            try {
                await cluster.boot();
                if (options.crds ?? true) {
                    await cluster.installCrds();
                }
                if (options.controllers ?? true) {
                    await cluster.startControllers();
                }
                if ((options.crds ?? true) && (options.controllers ?? true)) {
                    await cluster.installMesh();
                }
                return cluster;
            } catch (error) {
                await cluster.stop();
                // A free port can be taken by another process (a parallel test file) before our
                // server binds it: start again on new ports.
                if (attempt < 3 && /address already in use/.test(String(error))) continue;
                throw error;
            }
        }
    }

    private spawnLogged(name: string, args: string[]): ChildProcess {
        const child = spawn(path.join(this.bin, name), args, { stdio: ["ignore", "pipe", "pipe"] });
        const keep = (chunk: Buffer) => {
            this.logs.push(`[${name}] ${chunk.toString()}`);
            if (this.logs.length > 400) this.logs.splice(0, this.logs.length - 400);
        };
        child.stdout?.on("data", keep);
        child.stderr?.on("data", keep);
        this.processes.push(child);
        return child;
    }

    /** The last lines the control plane printed, for failure messages. */
    recentLogs(lines = 40): string {
        return this.logs.join("").split("\n").slice(-lines).join("\n");
    }

    private async boot(): Promise<void> {
        const etcdUrl = `http://127.0.0.1:${this.etcdPort}`;
        const peerUrl = `http://127.0.0.1:${this.peerPort}`;
        this.spawnLogged("etcd", [
            "--name=default",
            `--data-dir=${path.join(this.dir, "etcd")}`,
            `--listen-client-urls=${etcdUrl}`,
            `--advertise-client-urls=${etcdUrl}`,
            `--listen-peer-urls=${peerUrl}`,
            `--initial-advertise-peer-urls=${peerUrl}`,
            `--initial-cluster=default=${peerUrl}`,
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ]);

        const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
        const keyFile = path.join(this.dir, "sa.key");
        fs.writeFileSync(keyFile, privateKey.export({ type: "pkcs1", format: "pem" }));
        const tokenFile = path.join(this.dir, "tokens.csv");
        fs.writeFileSync(tokenFile, `${this.token},admin,admin,"system:masters"\n`);
        const certDir = path.join(this.dir, "certs");
        fs.mkdirSync(certDir);
        this.spawnLogged("kube-apiserver", [
            `--etcd-servers=${etcdUrl}`,
            `--secure-port=${this.apiPort}`,
            "--bind-address=127.0.0.1",
            // No default route here; a loopback advertise address needs the reconciler off.
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",
            `--cert-dir=${certDir}`,
            `--service-account-issuer=https://127.0.0.1:${this.apiPort}`,
            `--service-account-key-file=${keyFile}`,
            `--service-account-signing-key-file=${keyFile}`,
            "--service-cluster-ip-range=10.0.0.0/24",
            "--authorization-mode=AlwaysAllow",
            `--token-auth-file=${tokenFile}`,
            // Pods need no service account token here (kwok runs no containers).
            "--disable-admission-plugins=ServiceAccount",
            "--allow-privileged=true",
        ]);

        fs.writeFileSync(
            this.kubeconfig,
            [
                "apiVersion: v1",
                "kind: Config",
                "clusters:",
                "- name: local",
                "  cluster:",
                `    server: ${this.server}`,
                "    insecure-skip-tls-verify: true",
                "users:",
                "- name: admin",
                "  user:",
                `    token: ${this.token}`,
                "contexts:",
                "- name: local",
                "  context: {cluster: local, user: admin, namespace: default}",
                "current-context: local",
                "",
            ].join("\n"),
        );

        const deadline = Date.now() + 120_000;
        for (;;) {
            this.assertRunning();
            try {
                const ready = await this.request("GET", "/readyz");
                const ns = await this.request("GET", "/api/v1/namespaces/default");
                if (ready.status === 200 && ns.status === 200) {
                    return;
                }
            } catch {
                // not listening yet
            }
            if (Date.now() > deadline) {
                throw new Error(`kube-apiserver did not become ready in 120s:\n${this.recentLogs()}`);
            }
            await sleep(250);
        }
    }

    /**
     * Starts kube-controller-manager, kube-scheduler and kwok, registers kwok's node and waits until
     * it is Ready and schedulable (the node lifecycle controller lifts the not-ready taint).
     */
    async startControllers(): Promise<void> {
        this.spawnLogged("kube-controller-manager", [
            `--kubeconfig=${this.kubeconfig}`,
            "--leader-elect=false",
            "--secure-port=0",
            "--use-service-account-credentials=false",
            // nodelifecycle removes the taint the API server puts on a new node once kwok reports it Ready;
            // disruption keeps PodDisruptionBudgets' status (the Standard-mode canary's readiness gates).
            "--controllers=deployment,replicaset,endpoint,endpointslice,garbagecollector,namespace,nodelifecycle,disruption",
        ]);
        this.spawnLogged("kube-scheduler", [
            `--kubeconfig=${this.kubeconfig}`,
            "--leader-elect=false",
            "--secure-port=0",
        ]);
        const stages = path.join(this.dir, "kwok-stages.yaml");
        fs.writeFileSync(stages, kwokStages(fs.readFileSync(path.join(this.bin, "kwok-stages.yaml"), "utf8")));
        this.spawnLogged("kwok", [
            `--kubeconfig=${this.kubeconfig}`,
            "--manage-all-nodes=false",
            `--manage-nodes-with-annotation-selector=${KWOK_NODE_ANNOTATION}=fake`,
            "--cidr=10.0.1.1/24",
            "--node-ip=10.0.1.1",
            `--config=${stages}`,
        ]);
        const created = await this.request("POST", "/api/v1/nodes", {
            apiVersion: "v1",
            kind: "Node",
            metadata: {
                name: KWOK_NODE,
                annotations: { [KWOK_NODE_ANNOTATION]: "fake" },
                labels: { "kubernetes.io/hostname": KWOK_NODE, type: "kwok" },
            },
        });
        if (created.status !== 201) {
            throw new Error(`registering kwok's node failed (${created.status}): ${JSON.stringify(created.body)}`);
        }
        const deadline = Date.now() + 60_000;
        for (;;) {
            this.assertRunning();
            const node = await this.get<{
                spec?: { taints?: unknown[] };
                status?: { conditions?: { type: string; status: string }[] };
            }>(`/api/v1/nodes/${KWOK_NODE}`);
            const ready = node?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
            if (ready && (node?.spec?.taints ?? []).length === 0) return;
            if (Date.now() > deadline) {
                throw new Error(`kwok's node did not become Ready and untainted in 60s:\n${this.recentLogs()}`);
            }
            await sleep(200);
        }
    }

    /**
     * What an Istio + KServe install puts in a cluster and the rendered routing refers to: the
     * ingress gateway (its pod runs on kwok's node), its Service, the knative-local-gateway
     * Service KServe's Serverless mode routes through, and net-istio's two Gateways. Istio's
     * analyzers check the releases' VirtualServices against these, as they would on a real mesh.
     */
    async installMesh(): Promise<void> {
        for (const name of ["istio-system", "knative-serving"]) await this.createNamespace(name);
        for (const object of meshObjects()) await this.apply(object);
        // The Gateways select the ingress gateway's pod: until kwok runs it, Istio's analyzers
        // would report the selector as matching nothing (IST0101).
        const deadline = Date.now() + 60_000;
        for (;;) {
            const pods = await this.get<{ items: { status?: { phase?: string } }[] }>(
                "/api/v1/namespaces/istio-system/pods?labelSelector=istio%3Dingressgateway",
            );
            if (pods?.items.some((p) => p.status?.phase === "Running")) return;
            if (Date.now() > deadline) throw new Error("the istio-ingressgateway pod did not start in 60 s");
            await sleep(100);
        }
    }

    /** Deletes one object applied with `apply`, if it exists. */
    async remove(object: MeshObject): Promise<void> {
        const res = await this.request("DELETE", this.objectPath(object));
        if (res.status >= 300 && res.status !== 404) {
            throw new Error(
                `deleting ${object.kind} ${object.metadata.name} failed (${res.status}): ${JSON.stringify(res.body)}`,
            );
        }
    }

    private objectPath(object: MeshObject): string {
        const [group, version] = object.apiVersion.includes("/")
            ? object.apiVersion.split("/")
            : ["", object.apiVersion];
        const base = group === "" ? `/api/${version}` : `/apis/${group}/${version}`;
        return `${base}/namespaces/${object.metadata.namespace}/${object.kind.toLowerCase()}s/${object.metadata.name}`;
    }

    /** Server-side applies one object (which carries apiVersion, kind, metadata.name and namespace). */
    async apply(object: MeshObject): Promise<void> {
        const [group, version] = object.apiVersion.includes("/")
            ? object.apiVersion.split("/")
            : ["", object.apiVersion];
        const base = group === "" ? `/api/${version}` : `/apis/${group}/${version}`;
        const plural = `${object.kind.toLowerCase()}s`;
        const res = await this.request(
            "PATCH",
            `${base}/namespaces/${object.metadata.namespace}/${plural}/${object.metadata.name}?fieldManager=model-release-e2e&force=true`,
            object,
            "application/apply-patch+yaml",
        );
        if (res.status >= 300) {
            throw new Error(
                `applying ${object.kind} ${object.metadata.name} failed (${res.status}): ${JSON.stringify(res.body)}`,
            );
        }
    }

    /** Throws if a control plane process has exited. */
    private assertRunning(): void {
        for (const child of this.processes) {
            if (child.exitCode !== null) {
                throw new Error(`control plane process exited (${child.exitCode}):\n${this.recentLogs()}`);
            }
        }
    }

    /** Installs the real KServe, Istio and Gateway API CRDs server-side and waits until they are established. */
    async installCrds(): Promise<string[]> {
        const names: string[] = [];
        for (const file of CRD_FILES) {
            const full = path.join(SHARED_CRDS, file);
            if (!fs.existsSync(full)) {
                throw new Error(`missing CRD file ${full}: the end-to-end tests need ../shared/crds`);
            }
            for (const doc of parseAllDocuments(fs.readFileSync(full, "utf8"))) {
                const crd = doc.toJS() as { kind?: string; metadata?: { name?: string } } | null;
                if (!crd || crd.kind !== "CustomResourceDefinition" || !crd.metadata?.name) {
                    continue;
                }
                // Server-side apply: the InferenceService CRD is too large for client-side apply.
                const res = await this.request(
                    "PATCH",
                    `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}?fieldManager=model-release-e2e&force=true`,
                    crd,
                    "application/apply-patch+yaml",
                );
                if (res.status >= 300) {
                    throw new Error(
                        `installing CRD ${crd.metadata.name} failed (${res.status}): ${JSON.stringify(res.body)}`,
                    );
                }
                names.push(crd.metadata.name);
            }
        }
        const deadline = Date.now() + 60_000;
        for (const name of names) {
            for (;;) {
                const res = await this.request<{ status?: { conditions?: { type: string; status: string }[] } }>(
                    "GET",
                    `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
                );
                if (res.body.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")) {
                    break;
                }
                if (Date.now() > deadline) {
                    throw new Error(`CRD ${name} not established in 60s`);
                }
                await sleep(100);
            }
        }
        return names;
    }

    /** A raw API request with the cluster's token. Bodies are JSON. */
    request<T = unknown>(
        method: string,
        urlPath: string,
        body?: unknown,
        contentType = "application/json",
    ): Promise<KubeResponse<T>> {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        return new Promise((resolve, reject) => {
            const req = https.request(
                {
                    host: "127.0.0.1",
                    port: this.apiPort,
                    path: urlPath,
                    method,
                    rejectUnauthorized: false,
                    headers: {
                        Authorization: `Bearer ${this.token}`,
                        Accept: "application/json",
                        ...(payload === undefined
                            ? {}
                            : { "Content-Type": contentType, "Content-Length": Buffer.byteLength(payload) }),
                    },
                },
                (res) => {
                    const chunks: Buffer[] = [];
                    res.on("data", (c: Buffer) => chunks.push(c));
                    res.on("end", () => {
                        const text = Buffer.concat(chunks).toString();
                        let parsed: unknown = text;
                        try {
                            parsed = text.length > 0 ? JSON.parse(text) : undefined;
                        } catch {
                            // plain text (e.g. /readyz)
                        }
                        resolve({ status: res.statusCode ?? 0, body: parsed as T });
                    });
                },
            );
            req.on("error", reject);
            req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${urlPath} timed out`)));
            if (payload !== undefined) req.write(payload);
            req.end();
        });
    }

    /** GETs an object; undefined when it does not exist. */
    async get<T = Record<string, unknown>>(urlPath: string): Promise<T | undefined> {
        const res = await this.request<T>("GET", urlPath);
        if (res.status === 404) return undefined;
        if (res.status !== 200) throw new Error(`GET ${urlPath}: ${res.status} ${JSON.stringify(res.body)}`);
        return res.body;
    }

    /** Creates a namespace. */
    async createNamespace(name: string): Promise<void> {
        const res = await this.request("POST", "/api/v1/namespaces", {
            apiVersion: "v1",
            kind: "Namespace",
            metadata: { name },
        });
        if (res.status !== 201 && res.status !== 409) {
            throw new Error(`creating namespace ${name}: ${res.status} ${JSON.stringify(res.body)}`);
        }
    }

    /** Kills the processes and removes the temporary directory at once (for process exit). */
    stopNow(): void {
        for (const child of this.processes) {
            if (alive(child)) child.kill("SIGKILL");
        }
        fs.rmSync(this.dir, { recursive: true, force: true });
    }

    /** Stops the processes and removes the temporary directory. */
    async stop(): Promise<void> {
        // API server first, then etcd; the waits' timers are cleared on exit (none keeps the run alive).
        for (const child of this.processes.reverse()) {
            await stopProcess(child, [
                ["SIGTERM", 5_000],
                ["SIGKILL", 5_000],
            ]);
        }
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

export interface MeshObject {
    apiVersion: string;
    kind: "Deployment" | "Service" | "Gateway";
    metadata: { name: string; namespace: string; labels?: Record<string, string> };
    spec: Record<string, unknown>;
}

const INGRESS_GATEWAY_LABELS = { app: "istio-ingressgateway", istio: "ingressgateway" };

/**
 * A gateway a platform team adds on the mesh's ingress pods, e.g. for `routing.splitGateway`: an
 * Istio Gateway accepting every host on port 80 and the Service that reaches it.
 */
export function ingressGateway(namespace: string, name: string): MeshObject[] {
    return [
        {
            apiVersion: "networking.istio.io/v1",
            kind: "Gateway",
            metadata: { name, namespace },
            spec: {
                selector: { istio: "ingressgateway" },
                servers: [{ port: { number: 8080, name: "http", protocol: "HTTP" }, hosts: ["*"] }],
            },
        },
        {
            apiVersion: "v1",
            kind: "Service",
            metadata: { name, namespace },
            spec: { selector: { istio: "ingressgateway" }, ports: [{ name: "http2", port: 80, targetPort: 8080 }] },
        },
    ];
}

/**
 * The Service ModelMesh's controller creates in a namespace it serves (`modelmesh-serving`, gRPC
 * 8033 and REST 8008, selecting its runtime pods), which seed 002's routing targets. No ModelMesh
 * runs here: it has no pods, as before a runtime has scaled up.
 */
export function modelMeshService(namespace: string): MeshObject {
    return {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "modelmesh-serving", namespace, labels: { "modelmesh-service": "modelmesh-serving" } },
        spec: {
            selector: { "modelmesh-service": "modelmesh-serving" },
            ports: [
                { name: "grpc", port: 8033, targetPort: "grpc" },
                { name: "http", port: 8008, targetPort: "http" },
            ],
        },
    };
}

/** The mesh's own objects, as Istio's and net-istio's installs name them (Istio 1.30). */
export function meshObjects(): MeshObject[] {
    const gateway = (name: string, port: number): MeshObject => ({
        apiVersion: "networking.istio.io/v1",
        kind: "Gateway",
        metadata: { name, namespace: "knative-serving" },
        spec: {
            selector: { istio: "ingressgateway" },
            servers: [{ port: { number: port, name: "http", protocol: "HTTP" }, hosts: ["*"] }],
        },
    });
    return [
        {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: { name: "istio-ingressgateway", namespace: "istio-system", labels: INGRESS_GATEWAY_LABELS },
            spec: {
                replicas: 1,
                selector: { matchLabels: INGRESS_GATEWAY_LABELS },
                template: {
                    metadata: { labels: INGRESS_GATEWAY_LABELS },
                    spec: {
                        containers: [
                            {
                                name: "istio-proxy",
                                image: "docker.io/istio/proxyv2:1.30.3",
                                ports: [8080, 8443, 8081].map((containerPort) => ({ containerPort })),
                            },
                        ],
                    },
                },
            },
        },
        {
            apiVersion: "v1",
            kind: "Service",
            metadata: { name: "istio-ingressgateway", namespace: "istio-system", labels: INGRESS_GATEWAY_LABELS },
            spec: {
                selector: INGRESS_GATEWAY_LABELS,
                ports: [
                    { name: "http2", port: 80, targetPort: 8080 },
                    { name: "https", port: 443, targetPort: 8443 },
                ],
            },
        },
        {
            apiVersion: "v1",
            kind: "Service",
            metadata: { name: "knative-local-gateway", namespace: "istio-system" },
            spec: { selector: { istio: "ingressgateway" }, ports: [{ name: "http2", port: 80, targetPort: 8081 }] },
        },
        gateway("knative-ingress-gateway", 80),
        gateway("knative-local-gateway", 8081),
    ];
}

/**
 * kwok's stages (its own node-initialize, node-heartbeat, pod-ready, pod-complete and pod-delete,
 * copied from its module by scripts/engine.sh) with one change: pod-ready skips pods whose first
 * container runs NEVER_READY_IMAGE, so those stay Pending.
 */
export function kwokStages(text: string): string {
    const docs = parseAllDocuments(text)
        .map((d) => d.toJS() as KwokStage | null)
        .filter((d): d is KwokStage => d !== null);
    const ready = docs.find((d) => d?.metadata?.name === "pod-ready");
    if (!ready?.spec?.selector?.matchExpressions) {
        throw new Error("kwok's stages have no pod-ready stage with a selector: rebuild with scripts/engine.sh");
    }
    ready.spec.selector.matchExpressions.push({
        key: ".spec.containers.[0].image",
        operator: "NotIn",
        values: [NEVER_READY_IMAGE],
    });
    return docs.map((d) => stringify(d)).join("---\n");
}

interface KwokStage {
    metadata?: { name?: string };
    spec?: { selector?: { matchExpressions?: { key: string; operator: string; values?: string[] }[] } };
}
