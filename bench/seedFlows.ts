/**
 * The seed tutorials as sequences of stack configs, one per config edit, each flow in its own
 * namespace. Benchmark 5 applies them on the real engine and counts what each edit changes.
 */
import { ReleaseArgs, ReleaseConfig } from "../components/types";
import {
    S3_MODEL,
    appVersion,
    httpbin,
    modelVersion,
    sklearnIris,
    wisdom,
    wisdomModelMesh,
} from "../tests/components/fixtures";

export interface SeedStep {
    /** The edit, as the tutorial names it. */
    title: string;
    /** The whole `releases` config after the edit. */
    releases: Record<string, ReleaseConfig>;
}

export interface SeedFlow {
    seed: string;
    title: string;
    namespace: string;
    steps: SeedStep[];
}

const IRIS_MODEL_1 = "gs://kfserving-examples/models/sklearn/1.0/model";
const IRIS_MODEL_2 = "gs://kfserving-examples/models/sklearn/1.0/model-2";

/** The five seed tutorials (003 and 004 are two editions of one KServe tutorial). */
export function seedFlows(namespacePrefix: string): SeedFlow[] {
    const ns = (seed: string) => `${namespacePrefix}-${seed.replace("/", "-")}`;
    const w = (versions: ReturnType<typeof modelVersion>[]) => ({
        wisdom: wisdom(versions, { namespace: ns("000") }),
    });
    // No kubelet on the local control plane: Deployments are gated on Available (set by the stub).
    const h = (versions: ReturnType<typeof appVersion>[]) => ({
        httpbin: httpbin(versions, { namespace: ns("001"), readiness: { deployment: "available" } }),
    });
    const v1 = { labels: { "app.kubernetes.io/version": "v1" } };
    const mm = (strategy: "none" | "canary", labels: string[]) => ({
        wisdom: wisdomModelMesh(
            labels.map((l) => ({ storageUri: S3_MODEL, labels: { "app.kubernetes.io/version": l } })),
            { namespace: ns("002"), strategy },
        ),
    });
    const iris = (storageUri: string, extra: Partial<ReleaseArgs> = {}) => ({
        "sklearn-iris": sklearnIris(storageUri, { namespace: ns("003/004"), ...extra }),
    });
    return [
        {
            seed: "000",
            title: "KServe blue-green (wisdom)",
            namespace: ns("000"),
            steps: [
                { title: "deploy v0", releases: w([modelVersion("v0")]) },
                { title: "add candidate v1", releases: w([modelVersion("v0"), modelVersion("v1")]) },
                {
                    title: "weights 30/70",
                    releases: w([modelVersion("v0", { weight: 30 }), modelVersion("v1", { weight: 70 })]),
                },
                { title: "promote v1", releases: w([modelVersion("v1")]) },
            ],
        },
        {
            seed: "001",
            title: "Deployment blue-green (httpbin)",
            namespace: ns("001"),
            steps: [
                { title: "initialize primary", releases: h([appVersion()]) },
                { title: "add candidate", releases: h([appVersion(), appVersion(v1)]) },
                {
                    title: "weights 20/80",
                    releases: h([appVersion({ weight: 20 }), appVersion({ weight: 80, ...v1 })]),
                },
                { title: "promote", releases: h([appVersion(v1)]) },
            ],
        },
        {
            seed: "002",
            title: "ModelMesh canary by header (wisdom)",
            namespace: ns("002"),
            steps: [
                { title: "deploy primary", releases: mm("none", ["v1"]) },
                { title: "add canary (traffic: test)", releases: mm("canary", ["v1", "v2"]) },
                { title: "promote v2", releases: mm("none", ["v2"]) },
            ],
        },
        {
            seed: "003/004",
            title: "KServe canaryTrafficPercent (sklearn-iris)",
            namespace: ns("003/004"),
            steps: [
                { title: "first model", releases: iris(IRIS_MODEL_1) },
                { title: "canary 10% to model-2", releases: iris(IRIS_MODEL_2, { canaryTrafficPercent: 10 }) },
                { title: "promote", releases: iris(IRIS_MODEL_2) },
                { title: "pin previous (0%)", releases: iris(IRIS_MODEL_2, { canaryTrafficPercent: 0 }) },
                {
                    title: "tag routing, 10%",
                    releases: iris(IRIS_MODEL_2, { canaryTrafficPercent: 10, tagRouting: true }),
                },
            ],
        },
    ];
}
