// The model-release policy pack. Rules live in rules/, one per file, so tests import them without
// starting the pack's server (constructing a PolicyPack serves it).
import { PolicyPack } from "@pulumi/policy";

import { allPolicies } from "./rules";

new PolicyPack("model-release", { policies: allPolicies });
