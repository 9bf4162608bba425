#!/usr/bin/env node
// Entry point of the `model-release` command (see automation/cli.ts).
require("ts-node").register({ transpileOnly: true, project: require("path").join(__dirname, "..", "tsconfig.json") });
require("../automation/cli")
    .main(process.argv.slice(2))
    .then((code) => process.exit(code));
