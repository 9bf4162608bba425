#!/usr/bin/env bash
# `npm run checks`: lint (ESLint + Prettier) on one core, and on the other the type-check of every
# TypeScript file (`npm run typecheck`: sources, tests, tools, no emit) followed by the library
# build (`npm run build:lib`: empties dist/ and emits only components/ and automation/, the
# package's JavaScript and declarations). Each one's output is printed whole when it ends, and the
# exit code is the first failure's.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
npm run --silent lint >"$out/lint" 2>&1 &
lint=$!
(
    npm run --silent typecheck >"$out/typecheck" 2>&1
    echo $? >"$out/typecheck.status"
    npm run --silent build:lib >"$out/build" 2>&1
) &
compile=$!
wait "$lint"
lint_status=$?
wait "$compile"
build_status=$?
typecheck_status=$(cat "$out/typecheck.status")
echo "== lint (eslint, prettier): exit $lint_status"
cat "$out/lint"
echo "== typecheck (tsc -p tsconfig.json --noEmit): exit $typecheck_status"
cat "$out/typecheck"
echo "== library build (tsc -p tsconfig.lib.json into an emptied dist/): exit $build_status"
cat "$out/build"
((lint_status != 0)) && exit "$lint_status"
((typecheck_status != 0)) && exit "$typecheck_status"
exit "$build_status"
