#!/usr/bin/env node
// Entry point of the `model-release` command (see automation/cli.ts). main() reports its own
// errors; this file reports what happens outside it (the TypeScript failing to load, a stray async
// error) the same way, as one line or one JSON object, never as a stack trace.
const path = require("path");

const argv = process.argv.slice(2);
const end = argv.indexOf("--");
const json = (end < 0 ? argv : argv.slice(0, end)).some((a) => a === "--json" || a.startsWith("--json="));

function fail(error) {
    const message = (error instanceof Error ? error.message : String(error)) || String(error);
    if (json) process.stdout.write(`${JSON.stringify({ error: "failed", exitCode: 1, message })}\n`);
    else process.stderr.write(`model-release: ${message}\n`);
    process.exit(1);
}

// Pulumi's inline program host adds its own handlers while a program runs and turns such an error
// into a failed preview or update; this one only acts when it is the last resort.
process.on("uncaughtException", (error) => {
    if (process.listenerCount("uncaughtException") === 1) fail(error);
});
process.on("unhandledRejection", (reason) => {
    if (process.listenerCount("unhandledRejection") === 1) fail(reason);
});

// In a checkout the TypeScript sources run through ts-node; an installed package has only the
// built library (dist/).
function cliModule() {
    const root = path.join(__dirname, "..");
    if (require("fs").existsSync(path.join(root, "automation", "cli.ts"))) {
        require("ts-node").register({ transpileOnly: true, project: path.join(root, "tsconfig.json") });
        return require("../automation/cli");
    }
    return require("../dist/automation/cli");
}

try {
    cliModule()
        .main(argv)
        .then((code) => process.exit(code), fail);
} catch (error) {
    fail(error);
}
