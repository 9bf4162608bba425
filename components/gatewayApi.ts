/**
 * The Gateway API routing back-end (`routing.backend: gateway-api`): the rules of the app's
 * HTTPRoute (gateway.networking.k8s.io/v1, standard channel v1.6.1) for a validated release and
 * its traffic table. Pure: no Pulumi imports, no I/O.
 *
 * What the standard channel can express, and what Istio (its most common implementation here)
 * implements, decide the shape:
 * - Weights are written for every backendRef, as the integer percentages of the traffic table
 *   (they sum to exactly 100; 0 stays 0, never left to the default weight of 1).
 * - The per-version model path rewrite is a rule-level URLRewrite: a backendRef-level URLRewrite
 *   is an Extended feature that Istio refuses ("unsupported filter type"), so a KServe release
 *   routes one served version per rule, and a weighted KServe split is refused at validation.
 * - URLRewrite paths are ReplacePrefixMatch (with exactly one PathPrefix match per rule) or
 *   ReplaceFullPath: no regex. KServe's v2 paths (`/v2/models/<app>/...`) and v1 paths under
 *   `/v1/models/<app>/` take a prefix rewrite; the v1 verbs (`/v1/models/<app>:predict`, `:explain`)
 *   are not path-element prefixes, so each takes an Exact match with a full-path rewrite.
 * - Rules are chosen by Gateway API precedence (exact path, longest prefix, most header matches,
 *   ...), not by order: a canary rule carries the same path as the primary's plus its headers, so
 *   it is the more specific one.
 */
import type { HttpMatch, StringMatch } from "./types";
import type { ResolvedRelease, ResolvedVersion } from "./validate";

/** The standard-channel limits an HTTPRoute must fit in (CRD v1.6.1). */
export const HTTP_ROUTE_LIMITS = { rules: 16, backendRefs: 16, matchesPerRoute: 128, parentRefs: 32 } as const;

/** The Service a version's requests go to on the Gateway API back-end. */
export interface BackendTarget {
    /** Service name, in the app namespace. */
    name: string;
    port: number;
}

/** A version's share of a rule: the version and its integer weight. */
interface WeightedVersion {
    version: ResolvedVersion;
    weight: number;
}

/** The methods an HTTPRouteMatch can name (upper case, exact). */
const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

type GatewayMatch = Record<string, unknown>;
type Rule = Record<string, unknown>;

const EVERY_PATH = { type: "PathPrefix", value: "/" } as const;

/** RE2 source matching exactly the strings that start with `prefix`. */
function prefixRegex(prefix: string): string {
    return `^${prefix.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&")}.*`;
}

/**
 * A string match as a Gateway API {type, value}: exact and regex map directly, a prefix becomes
 * the equivalent regular expression (Gateway API has no prefix match for headers and query
 * parameters, and its PathPrefix matches whole path elements only, unlike Istio's prefix).
 */
function valueMatch(m: StringMatch): { type: "Exact" | "RegularExpression"; value: string } {
    if (m.exact !== undefined) return { type: "Exact", value: m.exact };
    if (m.regex !== undefined) return { type: "RegularExpression", value: m.regex };
    return { type: "RegularExpression", value: prefixRegex(m.prefix ?? "") };
}

/**
 * A canary match as an HTTPRouteMatch (validation refused the parts Gateway API cannot express:
 * withoutHeaders, sourceLabels, sourceNamespace, name, a non-exact method). Lists, not maps:
 * a header named `__proto__` is just a list entry.
 */
export function gatewayMatch(m: HttpMatch): GatewayMatch {
    const out: GatewayMatch = {};
    if (m.uri) {
        out.path =
            m.uri.exact !== undefined
                ? { type: "Exact", value: m.uri.exact }
                : m.uri.prefix === "/"
                  ? { ...EVERY_PATH }
                  : valueMatch(m.uri);
    }
    if (m.headers) {
        out.headers = Object.entries(m.headers).map(([name, value]) => ({ name, ...valueMatch(value) }));
    }
    if (m.queryParams) {
        out.queryParams = Object.entries(m.queryParams).map(([name, value]) => ({ name, ...valueMatch(value) }));
    }
    if (m.method?.exact !== undefined) out.method = m.method.exact;
    return out;
}

/** The parts of a canary match Gateway API cannot express, as [field, reason] pairs. */
export function inexpressible(m: HttpMatch): [string, string][] {
    const found: [string, string][] = [];
    if (m.withoutHeaders !== undefined) found.push(["withoutHeaders", "HTTPRouteMatch has no negated header match"]);
    if (m.sourceLabels !== undefined) {
        found.push(["sourceLabels", "HTTPRouteMatch cannot select the calling workload"]);
    }
    if (m.sourceNamespace !== undefined) {
        found.push(["sourceNamespace", "HTTPRouteMatch cannot select the calling namespace"]);
    }
    if (m.name !== undefined) found.push(["name", "HTTPRouteMatch has no name"]);
    if (m.method !== undefined && (m.method.exact === undefined || !HTTP_METHODS.includes(m.method.exact))) {
        found.push(["method", `HTTPRouteMatch matches one of ${HTTP_METHODS.join(", ")} exactly`]);
    }
    return found;
}

function backendRef(target: BackendTarget, v: ResolvedVersion, weight: number): Record<string, unknown> {
    return {
        group: "",
        kind: "Service",
        name: target.name,
        port: target.port,
        weight,
        filters: [
            {
                type: "ResponseHeaderModifier",
                responseHeaderModifier: { set: [{ name: "app-version", value: v.name }] },
            },
        ],
    };
}

/** Alternatives of one rule: the canary's matches, or one that matches everything. */
function alternatives(matches: HttpMatch[]): GatewayMatch[] {
    return matches.length > 0 ? matches.map(gatewayMatch) : [{}];
}

/** A plain rule: requests matching `matches` (or every request) go to the weighted versions. */
function plainRule(
    matches: HttpMatch[],
    shares: WeightedVersion[],
    targetOf: (v: ResolvedVersion) => BackendTarget,
): Rule {
    return {
        matches: alternatives(matches).map((m) => ({ path: { ...EVERY_PATH }, ...m })),
        backendRefs: shares.map((s) => backendRef(targetOf(s.version), s.version, s.weight)),
    };
}

/**
 * The rules that deliver a KServe version's requests, rewriting the app's model name to the
 * version's: one prefix rule per alternative and protocol (ReplacePrefixMatch needs exactly one
 * PathPrefix match), one exact rule per v1 verb, and one rule for every other path.
 */
function modelRules(
    release: ResolvedRelease,
    v: ResolvedVersion,
    matches: HttpMatch[],
    targetOf: (v: ResolvedVersion) => BackendTarget,
): Rule[] {
    const refs = () => [backendRef(targetOf(v), v, 100)];
    // The model path replaces a candidate's own path condition on these rules (as with Istio).
    const headersOnly = alternatives(matches).map((m) =>
        Object.fromEntries(Object.entries(m).filter(([k]) => k !== "path")),
    );
    const rules: Rule[] = [];
    for (const protocol of ["v1", "v2"]) {
        for (const alternative of headersOnly) {
            rules.push({
                matches: [
                    { path: { type: "PathPrefix", value: `/${protocol}/models/${release.name}` }, ...alternative },
                ],
                filters: [
                    {
                        type: "URLRewrite",
                        urlRewrite: {
                            path: { type: "ReplacePrefixMatch", replacePrefixMatch: `/${protocol}/models/${v.name}` },
                        },
                    },
                ],
                backendRefs: refs(),
            });
        }
    }
    for (const verb of [":predict", ":explain"]) {
        rules.push({
            matches: headersOnly.map((alternative) => ({
                path: { type: "Exact", value: `/v1/models/${release.name}${verb}` },
                ...alternative,
            })),
            filters: [
                {
                    type: "URLRewrite",
                    urlRewrite: { path: { type: "ReplaceFullPath", replaceFullPath: `/v1/models/${v.name}${verb}` } },
                },
            ],
            backendRefs: refs(),
        });
    }
    rules.push(plainRule(matches, [{ version: v, weight: 100 }], targetOf));
    return rules;
}

/** How many rules a KServe version with `alternatives` canary matches takes. */
export function modelRuleCount(alternativeCount: number): number {
    return 2 * Math.max(1, alternativeCount) + 3;
}

/**
 * The HTTPRoute rules of a release. `percents` is the traffic table's percent per version (in
 * version order); `mirrorPercent` the mirror candidate's share.
 */
export function httpRouteRules(
    release: ResolvedRelease,
    percents: number[],
    targetOf: (v: ResolvedVersion) => BackendTarget,
): Rule[] {
    const kserve = release.environment === "kserve-raw";
    const [primary, ...candidates] = release.versions;
    const deliver = (v: ResolvedVersion, matches: HttpMatch[]) =>
        kserve
            ? modelRules(release, v, matches, targetOf)
            : [plainRule(matches, [{ version: v, weight: 100 }], targetOf)];
    switch (release.strategy) {
        case "canary":
            return [...candidates.flatMap((c) => deliver(c, c.match)), ...deliver(primary, [])];
        case "mirror": {
            const [candidate] = candidates;
            const target = targetOf(candidate);
            return [
                {
                    ...plainRule([], [{ version: primary, weight: 100 }], targetOf),
                    filters: [
                        {
                            type: "RequestMirror",
                            requestMirror: {
                                backendRef: { group: "", kind: "Service", name: target.name, port: target.port },
                                percent: candidate.mirrorPercent ?? 100,
                            },
                        },
                    ],
                },
            ];
        }
        case "blue-green": {
            if (kserve) {
                // Validation allows one served version only (the rewrite is per rule).
                const served = release.versions.find((_, i) => percents[i] > 0) ?? primary;
                return deliver(served, []);
            }
            return [
                plainRule(
                    [],
                    release.versions.map((version, i) => ({ version, weight: percents[i] })),
                    targetOf,
                ),
            ];
        }
        case "none":
            return deliver(primary, []);
        case "kserve-canary":
            // Standard mode (KServe v0.20 spec.canary): every predictor serves the model under the
            // app's name, so one weighted rule needs no rewrite. Knative's canary routes itself.
            return release.environment === "kserve-raw"
                ? [
                      plainRule(
                          [],
                          release.versions.map((version, i) => ({ version, weight: percents[i] })),
                          targetOf,
                      ),
                  ]
                : [];
    }
}

/** `<namespace>/<name>` Gateways as parentRefs, then the app's Service when attached to the mesh (GAMMA). */
export function parentRefs(release: ResolvedRelease, meshPort: number): Record<string, unknown>[] {
    const refs: Record<string, unknown>[] = release.gateways.map((g) => {
        const [namespace, name] = g.split("/");
        return { group: "gateway.networking.k8s.io", kind: "Gateway", namespace, name };
    });
    if (release.mesh) refs.push({ group: "", kind: "Service", name: release.name, port: meshPort });
    return refs;
}
