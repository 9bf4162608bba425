/**
 * Istio's own configuration analyzers (the ones `istioctl analyze` runs) against the live local
 * cluster: `istio-analyze` is a thin program on Istio's analysis packages, built by
 * scripts/engine.sh from tools/istio-analyzer. The end-to-end suite runs it after every step: an
 * error-level message fails the step, and so does any warning that is not justified below (each
 * justification is also in the README, "Istio's analyzers").
 */
import { execFile } from "node:child_process";
import * as path from "node:path";

import { LocalCluster } from "./cluster";

export interface AnalyzerMessage {
    /** Istio's message code, e.g. IST0101. */
    code: string;
    /** Error, Warning or Info. */
    level: string;
    /** The object it is about, e.g. `VirtualService seed000/model`. */
    origin: string;
    message: string;
}

/**
 * Warnings the suite accepts, by code, each with why. Anything else at Warning or Error level
 * fails the step.
 */
export const JUSTIFIED_WARNINGS: Readonly<Record<string, string>> = {};

/** Runs the analyzers on the cluster behind `kubeconfig` (one namespace, or all). */
export function analyzeIstio(bin: string, kubeconfig: string, namespace = ""): Promise<AnalyzerMessage[]> {
    return new Promise((resolve, reject) => {
        execFile(
            path.join(bin, "istio-analyze"),
            ["--kubeconfig", kubeconfig, "--namespace", namespace],
            { maxBuffer: 16 * 1024 * 1024, timeout: 120_000 },
            (error, stdout, stderr) => {
                if (error) {
                    reject(new Error(`istio-analyze failed: ${error.message}\n${stderr}`));
                    return;
                }
                const lines = stdout.split("\n").filter((line) => line.trim() !== "");
                resolve(lines.map((line) => JSON.parse(line) as AnalyzerMessage));
            },
        );
    });
}

/** The messages a step may not leave: errors, and warnings without a justification. */
export function unjustified(messages: readonly AnalyzerMessage[]): AnalyzerMessage[] {
    return messages.filter(
        (m) => m.level === "Error" || (m.level === "Warning" && JUSTIFIED_WARNINGS[m.code] === undefined),
    );
}

/**
 * The kinds whose objects decide what the analyzers report in these tests: the routing, the
 * gateways and the Services, namespaces and pods they refer to. The analyzers read more kinds
 * (sidecars, authorization policies, mesh config, webhooks...), which nothing here writes.
 */
const ANALYZED_KINDS = [
    "/apis/networking.istio.io/v1/virtualservices",
    "/apis/networking.istio.io/v1/gateways",
    "/apis/networking.istio.io/v1/serviceentries",
    "/apis/networking.istio.io/v1/destinationrules",
    "/apis/gateway.networking.k8s.io/v1/httproutes",
    "/apis/gateway.networking.k8s.io/v1/gateways",
    "/api/v1/services",
    "/api/v1/namespaces",
    "/api/v1/pods",
];

/**
 * Every object of ANALYZED_KINDS, as uid and resourceVersion: equal fingerprints mean the
 * analyzers would see the same objects, so an analysis that found nothing need not run again.
 */
export async function analyzedFingerprint(cluster: LocalCluster): Promise<string> {
    const lists = await Promise.all(
        ANALYZED_KINDS.map(async (kind) => {
            const list = await cluster.get<{ items?: { metadata: { uid: string; resourceVersion: string } }[] }>(kind);
            // A kind whose CRD is not installed lists as absent: part of the fingerprint too.
            const items = (list?.items ?? []).map((i) => `${i.metadata.uid}@${i.metadata.resourceVersion}`);
            return `${kind}:${items.sort().join(",")}`;
        }),
    );
    return lists.join("\n");
}
