#!/usr/bin/env bash
# Builds, or reuses, the engine pieces the end-to-end tests and the demo run on, from the pinned
# Go modules under tools/ (the Go module proxy is the only source reachable here):
#   pulumi                          Pulumi CLI, same release as the @pulumi/pulumi npm package
#   pulumi-resource-kubernetes      Kubernetes provider, same release as @pulumi/kubernetes
#   pulumi-analyzer-policy-nodejs   starts a Node.js policy pack (the engine's fallback when no
#                                   pulumi-language-nodejs is installed; see README)
#   kube-apiserver, etcd            the local control plane
#   kube-controller-manager, kube-scheduler, kwok
#                                   real controllers beside it: Deployments roll out through
#                                   ReplicaSets and Pods on kwok's simulated node
#   istio-analyze                   Istio's configuration analyzers (what `istioctl analyze` runs),
#                                   a thin program of ours on Istio 1.30's analysis packages
# Binaries go to a cache outside the checkout, keyed by the pinned versions, so a fresh clone
# (CI) reuses them; Go's module and build caches are reused the same way. The controllers have a
# cache directory and key of their own (linked into the engine's bin directory), so adding or
# moving one does not rebuild the engine; so has the analyzer.
#
# Usage: scripts/engine.sh            build what is missing, print progress, then the bin dir
#        scripts/engine.sh --bin      print the bin dir only (exit 1 if anything is missing)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${MODEL_RELEASE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/model-release}

PULUMI_VERSION=3.248.0
KUBERNETES_PROVIDER_VERSION=4.25.0
KUBERNETES_VERSION=1.35.4
ETCD_VERSION=3.6.14

# The cache keys cover what the binaries are built from: the pinned modules and versions.
ENGINE_TOOLS=(etcd kube-apiserver kubernetes-provider pulumi)
CONTROLLER_TOOLS=(kube-controllers kwok)
key_of() { # key_of <version line> <tool dir>...
    local line=$1 dir
    shift
    {
        for dir in "$@"; do cat "$ROOT/tools/$dir/go.mod"; done
        for dir in "$@"; do cat "$ROOT/tools/$dir/go.sum"; done
        echo "$line"
    } | sha256sum | cut -c1-12
}
KEY=$(key_of "$PULUMI_VERSION $KUBERNETES_PROVIDER_VERSION $KUBERNETES_VERSION $ETCD_VERSION" "${ENGINE_TOOLS[@]}")
BIN="$CACHE/engine-$KEY/bin"
CONTROLLERS_BIN="$CACHE/controllers-$(key_of "$KUBERNETES_VERSION" "${CONTROLLER_TOOLS[@]}")/bin"
# The analyzer is our own program: its source is part of its key.
ANALYZER_BIN="$CACHE/analyzer-$(key_of "$(cat "$ROOT/tools/istio-analyzer/main.go")" istio-analyzer)/bin"
PIECES=(pulumi pulumi-resource-kubernetes pulumi-analyzer-policy-nodejs kube-apiserver etcd
    kube-controller-manager kube-scheduler kwok istio-analyze)

# Where a piece is built; pieces built outside $BIN are linked into it, and a link left from an
# older key must not count as built.
out_of() {
    case $1 in
    kube-controller-manager | kube-scheduler | kwok) echo "$CONTROLLERS_BIN" ;;
    istio-analyze) echo "$ANALYZER_BIN" ;;
    *) echo "$BIN" ;;
    esac
}

missing() {
    local piece
    for piece in "${PIECES[@]}"; do
        [[ -x "$BIN/$piece" && -x "$(out_of "$piece")/$piece" ]] || echo "$piece"
    done
    [[ -f "$BIN/kwok-stages.yaml" ]] || echo "kwok-stages.yaml"
}

if [[ "${1:-}" == "--bin" ]]; then
    if [[ -n "$(missing)" ]]; then
        echo "engine pieces missing in $BIN: $(missing | tr '\n' ' ')(run scripts/engine.sh)" >&2
        exit 1
    fi
    echo "$BIN"
    exit 0
fi

log() { echo "[engine] $*" >&2; }
fail() {
    echo "[engine] ERROR: $*" >&2
    exit 1
}

command -v go >/dev/null || fail "Go is not installed; the engine is built from Go modules (Go >= 1.26 needed)"
command -v node >/dev/null || fail "Node.js is not installed"

# The npm packages the tests run must be exactly the versions built here (the Pulumi SDKs are
# pinned as devDependencies; the published package asks for them as peer ranges).
npm_version() {
    node -p "const p = require('$ROOT/package.json'); (p.devDependencies || {})['$1'] || (p.dependencies || {})['$1']"
}
[[ "$(npm_version @pulumi/pulumi)" == "$PULUMI_VERSION" ]] ||
    fail "package.json pins @pulumi/pulumi $(npm_version @pulumi/pulumi) but the engine builds $PULUMI_VERSION"
[[ "$(npm_version @pulumi/kubernetes)" == "$KUBERNETES_PROVIDER_VERSION" ]] ||
    fail "package.json pins @pulumi/kubernetes $(npm_version @pulumi/kubernetes) but the engine builds $KUBERNETES_PROVIDER_VERSION"

mkdir -p "$BIN" "$CONTROLLERS_BIN" "$ANALYZER_BIN"
# The end-to-end workers each run this script at start: one builds, the others wait here and
# then find everything cached (no two builds write the same binary).
exec 9>"$CACHE/.build.lock"
flock 9
export CGO_ENABLED=0 GOFLAGS=-mod=mod
START=$(date +%s)

# Cold build times measured on 2 cores with an empty Go cache, alone .. with other work running.
declare -A ESTIMATE=(
    [pulumi]="4.5-7 min"
    [pulumi-resource-kubernetes]="12-18 min"
    [kube-apiserver]="6-9 min"
    [etcd]="0.5-1 min"
    [kube-controller-manager]="2-4 min after kube-apiserver"
    [kube-scheduler]="0.2-1 min after kube-controller-manager"
    [kwok]="3.5-6 min"
    [istio-analyze]="5-8 min"
)
TO_BUILD=()
for piece in pulumi pulumi-resource-kubernetes kube-apiserver etcd kube-controller-manager kube-scheduler kwok istio-analyze; do
    [[ -x "$(out_of "$piece")/$piece" ]] || TO_BUILD+=("$piece")
done
if ((${#TO_BUILD[@]} > 0)); then
    log "to build: ${TO_BUILD[*]}; a cold build of all eight takes 35-50 min on 2 cores (cached in $BIN afterwards)"
fi
BUILT=0

build() { # build <piece> <module dir> <package> <ldflags>   (into out_of <piece>)
    local piece=$1 dir=$2 pkg=$3 ldflags=$4 out t0
    out=$(out_of "$piece")
    if [[ -x "$out/$piece" ]]; then
        [[ "$out" == "$BIN" ]] || ln -sfn "$out/$piece" "$BIN/$piece"
        log "$piece: cached"
        return
    fi
    t0=$(date +%s)
    BUILT=$((BUILT + 1))
    log "$piece ($BUILT of ${#TO_BUILD[@]}): building $pkg, about ${ESTIMATE[$piece]:-a few min} cold"
    (cd "$ROOT/tools/$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$out/$piece.tmp" "$pkg") &
    local build_pid=$! waited=0
    # A line a minute, so a long build is visibly alive.
    while kill -0 "$build_pid" 2>/dev/null; do
        sleep 5
        waited=$((waited + 5))
        if ((waited % 60 == 0)) && kill -0 "$build_pid" 2>/dev/null; then
            log "$piece: still building, $((waited / 60)) min so far (about ${ESTIMATE[$piece]:-a few min})"
        fi
    done
    wait "$build_pid" || fail "$piece: go build failed (is the Go module proxy reachable?)"
    mv "$out/$piece.tmp" "$out/$piece"
    [[ "$out" == "$BIN" ]] || ln -sfn "$out/$piece" "$BIN/$piece"
    log "$piece: built in $(($(date +%s) - t0))s ($(($(date +%s) - START))s since the start)"
}

# 1. Pulumi CLI. The version must be linked in: the Automation API parses `pulumi version`.
if [[ ! -x "$BIN/pulumi" ]] && command -v pulumi >/dev/null && [[ "$(pulumi version 2>/dev/null)" == "v$PULUMI_VERSION" ]]; then
    log "pulumi: using $(command -v pulumi) (v$PULUMI_VERSION)"
    ln -sf "$(command -v pulumi)" "$BIN/pulumi"
fi
build pulumi pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION"

# 2. Kubernetes provider. Its module zip lacks two gitignored files that main.go embeds
# (schema-embed.json, terraform-mapping-embed.json); they are the committed schema.json with the
# version set and terraform-mapping.json minified, written here into a copy of the module.
if [[ ! -x "$BIN/pulumi-resource-kubernetes" ]]; then
    module=$(sed -n 's/^require \(github.com\/pulumi\/pulumi-kubernetes\/provider\/v4\) \(.*\)$/\1@\2/p' "$ROOT/tools/kubernetes-provider/go.mod")
    [[ -n "$module" ]] || fail "cannot read the provider version from tools/kubernetes-provider/go.mod"
    log "pulumi-resource-kubernetes: preparing $module"
    dir=$(cd "$ROOT/tools/kubernetes-provider" && GOFLAGS= go mod download -json "$module" | node -p 'JSON.parse(require("fs").readFileSync(0, "utf8")).Dir') ||
        fail "cannot download $module from the Go module proxy"
    src="$ROOT/tools/kubernetes-provider/provider-src"
    rm -rf "$src"
    cp -r "$dir" "$src"
    chmod -R u+w "$src"
    (cd "$src/cmd/pulumi-resource-kubernetes" && KUBERNETES_PROVIDER_VERSION=$KUBERNETES_PROVIDER_VERSION node -e '
        const fs = require("fs");
        const schema = JSON.parse(fs.readFileSync("schema.json", "utf8"));
        schema.version = process.env.KUBERNETES_PROVIDER_VERSION;
        fs.writeFileSync("schema-embed.json", JSON.stringify(schema));
        const mapping = JSON.parse(fs.readFileSync("terraform-mapping.json", "utf8"));
        fs.writeFileSync("terraform-mapping-embed.json", JSON.stringify(mapping));
    ')
fi
build pulumi-resource-kubernetes kubernetes-provider github.com/pulumi/pulumi-kubernetes/provider/v4/cmd/pulumi-resource-kubernetes \
    "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$KUBERNETES_PROVIDER_VERSION"

# 3. Policy pack launcher: the engine runs `pulumi-analyzer-policy-nodejs <engine> .` in the
# pack directory when no Node.js language host is installed; the pack's own @pulumi/pulumi
# provides the runner.
if [[ ! -x "$BIN/pulumi-analyzer-policy-nodejs" ]]; then
    cat >"$BIN/pulumi-analyzer-policy-nodejs" <<'SHIM'
#!/bin/sh
# Starts the Node.js policy pack in the current directory (written by scripts/engine.sh).
runner=$(node -e "process.stdout.write(require.resolve('@pulumi/pulumi/cmd/run-policy-pack'))") || exit 1
exec node "$runner" "$@"
SHIM
    chmod +x "$BIN/pulumi-analyzer-policy-nodejs"
    log "pulumi-analyzer-policy-nodejs: written"
fi

# 4. kube-apiserver, with its version linked in: the provider reads it to pick behaviour.
minor=${KUBERNETES_VERSION#*.}
minor=${minor%%.*}
k8s_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    k8s_ldflags+=" -X $pkg.gitVersion=v$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    k8s_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
build kube-apiserver kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$k8s_ldflags"

# 5. etcd.
build etcd etcd go.etcd.io/etcd/server/v3 ""

# 6. Real controllers: kube-controller-manager and kube-scheduler from the same Kubernetes release
# as kube-apiserver (same version ldflags), and kwok, whose simulated node runs their pods.
build kube-controller-manager kube-controllers k8s.io/kubernetes/cmd/kube-controller-manager "$k8s_ldflags"
build kube-scheduler kube-controllers k8s.io/kubernetes/cmd/kube-scheduler "$k8s_ldflags"
build kwok kwok sigs.k8s.io/kwok/cmd/kwok ""

# kwok's stages, from its module: a node that becomes Ready and keeps a heartbeat, pods that become
# Ready, complete and are deleted (e2e/cluster.ts adds the one exception, NEVER_READY_IMAGE).
if [[ ! -f "$CONTROLLERS_BIN/kwok-stages.yaml" ]]; then
    module=$(sed -n 's/^require \(sigs.k8s.io\/kwok\) \(.*\)$/\1@\2/p' "$ROOT/tools/kwok/go.mod")
    [[ -n "$module" ]] || fail "cannot read the kwok version from tools/kwok/go.mod"
    dir=$(cd "$ROOT/tools/kwok" && GOFLAGS= go mod download -json "$module" | node -p 'JSON.parse(require("fs").readFileSync(0, "utf8")).Dir') ||
        fail "cannot download $module from the Go module proxy"
    for stage in node/fast/node-initialize node/heartbeat/node-heartbeat pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
        cat "$dir/kustomize/stage/$stage.yaml"
        echo "---"
    done >"$CONTROLLERS_BIN/kwok-stages.yaml.tmp"
    mv "$CONTROLLERS_BIN/kwok-stages.yaml.tmp" "$CONTROLLERS_BIN/kwok-stages.yaml"
    log "kwok-stages.yaml: written from $module"
fi
ln -sfn "$CONTROLLERS_BIN/kwok-stages.yaml" "$BIN/kwok-stages.yaml"

# 7. Istio's analyzers, run by the end-to-end suite against the live cluster after every step.
build istio-analyze istio-analyzer . ""

log "ready in $(($(date +%s) - START))s: $BIN (pulumi v$PULUMI_VERSION, kubernetes provider v$KUBERNETES_PROVIDER_VERSION, kube-apiserver v$KUBERNETES_VERSION, etcd v$ETCD_VERSION)"
echo "$BIN"
