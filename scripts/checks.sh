#!/usr/bin/env bash
# `npm run checks`: lint (ESLint + Prettier) and type-check at once, each on its own core; each
# one's output is printed whole when it ends, and the exit code is the first failure's. The
# type-check is the library build (`npm run build:lib`): one compiler pass checks every file and
# emits dist/ (the package's JavaScript and declarations) on the way.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
npm run --silent lint >"$out/lint" 2>&1 &
lint=$!
npm run --silent build:lib >"$out/typecheck" 2>&1 &
typecheck=$!
wait "$lint"
lint_status=$?
wait "$typecheck"
typecheck_status=$?
echo "== lint (eslint, prettier): exit $lint_status"
cat "$out/lint"
echo "== typecheck and library build (tsc -p tsconfig.lib.json): exit $typecheck_status"
cat "$out/typecheck"
((lint_status != 0)) && exit "$lint_status"
exit "$typecheck_status"
