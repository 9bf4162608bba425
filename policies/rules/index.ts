import { Policies } from "@pulumi/policy";

import { allowedNamespaces } from "./allowedNamespaces";
import { httpRouteBackendsResolve } from "./httpRouteBackendsResolve";
import { httpRouteDefaultRule } from "./httpRouteDefaultRule";
import { httpRouteMirrorPercent } from "./httpRouteMirrorPercent";
import { httpRouteMirrorTarget } from "./httpRouteMirrorTarget";
import { httpRouteWeightRange } from "./httpRouteWeightRange";
import { httpRouteWeightSum } from "./httpRouteWeightSum";
import { isvcCanaryNames } from "./isvcCanaryNames";
import { isvcCanaryPercent } from "./isvcCanaryPercent";
import { isvcCanarySpec } from "./isvcCanarySpec";
import { isvcCanaryTrafficPercent } from "./isvcCanaryTrafficPercent";
import { isvcDeploymentMode } from "./isvcDeploymentMode";
import { isvcReadinessGate } from "./isvcReadinessGate";
import { isvcStorageUri } from "./isvcStorageUri";
import { maxCandidatePercent } from "./maxCandidatePercent";
import { noTrafficWithoutReadinessGate } from "./noTrafficWithoutReadinessGate";
import { requiredLabels } from "./requiredLabels";
import { uniqueHosts } from "./uniqueHosts";
import { vsAuthorityOnce } from "./vsAuthorityOnce";
import { vsDestinationsResolve } from "./vsDestinationsResolve";
import { vsMirrorExclusive } from "./vsMirrorExclusive";
import { vsMirrorPercentage } from "./vsMirrorPercentage";
import { vsMirrorTarget } from "./vsMirrorTarget";
import { vsRouteOrder } from "./vsRouteOrder";
import { vsSingleDestinationWeight } from "./vsSingleDestinationWeight";
import { vsWeightRange } from "./vsWeightRange";
import { vsWeightSum } from "./vsWeightSum";
import { weightConfigAgrees } from "./weightConfigAgrees";
import { weightConfigPercent } from "./weightConfigPercent";

export {
    allowedNamespaces,
    httpRouteBackendsResolve,
    httpRouteDefaultRule,
    httpRouteMirrorPercent,
    httpRouteMirrorTarget,
    httpRouteWeightRange,
    httpRouteWeightSum,
    isvcCanaryNames,
    isvcCanaryPercent,
    isvcCanarySpec,
    isvcCanaryTrafficPercent,
    isvcDeploymentMode,
    isvcReadinessGate,
    isvcStorageUri,
    maxCandidatePercent,
    noTrafficWithoutReadinessGate,
    requiredLabels,
    uniqueHosts,
    vsAuthorityOnce,
    vsDestinationsResolve,
    vsMirrorExclusive,
    vsMirrorPercentage,
    vsMirrorTarget,
    vsRouteOrder,
    vsSingleDestinationWeight,
    vsWeightRange,
    vsWeightSum,
    weightConfigAgrees,
    weightConfigPercent,
};

/**
 * Every rule of the pack, resource rules first. Resource rules run before each resource is sent to
 * the cluster; stack rules run on the whole plan, so they block in a preview (and in `pulumi up`,
 * which previews first) but only after the fact in an update run with --skip-preview.
 */
export const allPolicies: Policies = [
    vsWeightRange,
    vsWeightSum,
    vsSingleDestinationWeight,
    vsMirrorPercentage,
    vsMirrorTarget,
    vsMirrorExclusive,
    vsAuthorityOnce,
    vsRouteOrder,
    httpRouteWeightRange,
    httpRouteWeightSum,
    httpRouteMirrorPercent,
    httpRouteMirrorTarget,
    httpRouteDefaultRule,
    isvcCanaryTrafficPercent,
    isvcCanaryPercent,
    isvcCanaryNames,
    isvcCanarySpec,
    isvcDeploymentMode,
    isvcStorageUri,
    isvcReadinessGate,
    weightConfigPercent,
    maxCandidatePercent,
    allowedNamespaces,
    requiredLabels,
    vsDestinationsResolve,
    httpRouteBackendsResolve,
    weightConfigAgrees,
    noTrafficWithoutReadinessGate,
    uniqueHosts,
];
