// Benchmark 6's baseline pack: the analyzer's start-up and the engine's per-resource analyzer
// calls, with rules that do nothing, so `this pack / this one` is the cost of the rules alone.
// Plain JavaScript, so the engine starts it without compiling (like policies/bin/).
"use strict";
const { PolicyPack } = require("@pulumi/policy");

new PolicyPack("model-release-bench-noop", {
    policies: [
        {
            name: "noop",
            description: "Looks at every resource and reports nothing.",
            enforcementLevel: "mandatory",
            validateResource: () => undefined,
        },
    ],
});
