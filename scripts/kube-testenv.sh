#!/usr/bin/env bash
# Builds the Kubernetes test control plane that internal/kubetest runs:
# kube-apiserver and kube-controller-manager from k8s.io/kubernetes, kwok
# (plays the nodes), etcd, and fetches the Gateway API standard CRDs.
#
# Everything goes into a cache outside the clone, once per version:
#
#   ${XDG_CACHE_HOME:-~/.cache}/bluegreen/kube/v1.33.13/
#     bin/{kube-apiserver,kube-controller-manager,kwok,etcd}
#     crds/gateway-api/*.yaml        (with crds/gateway-api/VERSION)
#     src/                           scratch Go module the kube binaries are built in
#     etcd-src/                      scratch Go module for etcd, only when not from Debian
#
# Idempotent: when every binary is there and reports the right version it
# does nothing (well under a second). Needs no standard input. Uses only the
# Go module proxy and, for etcd, Debian's etcd-server package (as root), else
# builds etcd from the module proxy.
#
# Environment:
#   BLUEGREEN_KUBE_CACHE  the version's cache directory (default above);
#                         internal/kubetest reads the same variable
#   BLUEGREEN_KUBE_ETCD   "debian" (default: Debian's package, else build) or
#                         "build" (always build etcd from the module proxy)
set -euo pipefail

KUBE_VERSION=v1.33.13
STAGING_VERSION=v0.33.13 # k8s.io/api, client-go, … of the same release
KWOK_VERSION=v0.7.0
ETCD_BUILD_VERSION=v3.5.21 # built only when Debian's etcd-server cannot be had
GATEWAY_API_VERSION=v1.6.3

CACHE=${BLUEGREEN_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bluegreen/kube/$KUBE_VERSION}
BIN=$CACHE/bin
CRDS=$CACHE/crds/gateway-api
ETCD_MODE=${BLUEGREEN_KUBE_ETCD:-debian}

log() { echo "kube-testenv: $*"; }
die() { echo "kube-testenv: $*" >&2; exit 1; }
# quiet LOG CMD…: runs CMD with its output (go's hundreds of "downloading"
# lines) into LOG; on failure prints LOG's end and stops.
quiet() {
  local out=$1; shift
  if ! "$@" >"$out" 2>&1; then
    tail -n 40 "$out" >&2
    die "failed: $* (whole output in $out)"
  fi
}

# The kube binaries' -X version flags (hack/lib/version.sh sets the same).
major=${KUBE_VERSION#v}; major=${major%%.*}
minor=${KUBE_VERSION#v*.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

# --- checks: each is quick and prints nothing --------------------------------

kube_ok() { # kube_ok NAME: the binary reports KUBE_VERSION
  [ -x "$BIN/$1" ] && [ "$("$BIN/$1" --version 2>/dev/null)" = "Kubernetes $KUBE_VERSION" ]
}
kwok_ok() { # the module version recorded in the binary's build info
  [ -x "$BIN/kwok" ] && go version -m "$BIN/kwok" 2>/dev/null |
    grep -Eq "^[[:space:]]+mod[[:space:]]+sigs\.k8s\.io/kwok[[:space:]]+$KWOK_VERSION([[:space:]]|$)"
}
etcd_ok() { # etcd 3.4 or later (the apiserver's minimum is 3.4)
  [ -x "$BIN/etcd" ] && "$BIN/etcd" --version 2>/dev/null | grep -Eq '^etcd Version: 3\.([4-9]|[1-9][0-9])\.'
}
crds_ok() {
  [ "$(cat "$CRDS/VERSION" 2>/dev/null)" = "$GATEWAY_API_VERSION" ] && ls "$CRDS"/*.yaml >/dev/null 2>&1
}

if kube_ok kube-apiserver && kube_ok kube-controller-manager && kwok_ok && etcd_ok && crds_ok; then
  exit 0
fi

command -v go >/dev/null 2>&1 || die "go is not on PATH"
mkdir -p "$BIN"
total_start=$(date +%s)

# --- kube-apiserver, kube-controller-manager ---------------------------------

build_kube() {
  local src=$CACHE/src start
  start=$(date +%s)
  log "building kube-apiserver and kube-controller-manager $KUBE_VERSION in $src (cold: about 7 minutes on 2 cores)"
  rm -rf "$src" && mkdir -p "$src"
  (
    cd "$src"
    export GOFLAGS=-mod=mod GOWORK=off
    # k8s.io/kubernetes's own go.mod maps its staging modules to ./staging/…;
    # a module depending on it must map each to the matching release instead.
    local kmod
    kmod=$(go list -m -f '{{.GoMod}}' "k8s.io/kubernetes@$KUBE_VERSION")
    [ -s "$kmod" ] || die "cannot read the go.mod of k8s.io/kubernetes@$KUBE_VERSION"
    local staging
    staging=$(sed -E 's/^replace[[:space:]]+//' "$kmod" |
      awk '$2 == "=>" && $3 ~ /^\.\/staging\// { print $1 }' | sort -u)
    [ -n "$staging" ] || die "no ./staging replacements found in $kmod"
    local goline
    goline=$(awk '$1 == "go" { print $2; exit }' "$kmod")
    printf 'module bluegreen.invalid/kube-testenv\n\ngo %s\n' "$goline" > go.mod
    local args=() m
    for m in $staging; do args+=("-replace=$m=$m@$STAGING_VERSION"); done
    go mod edit "${args[@]}"
    log "  $(echo "$staging" | wc -l) staging modules replaced by their $STAGING_VERSION releases"
    quiet "$src/go-get.log" go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION" \
      "k8s.io/kubernetes/cmd/kube-controller-manager@$KUBE_VERSION"
    log "  $(grep -c '^go: added' go-get.log) modules resolved in $(( $(date +%s) - start ))s; compiling"
    quiet "$src/go-build.log" go build -trimpath -ldflags "$ldflags" -o "$BIN/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
  )
  kube_ok kube-apiserver || die "built kube-apiserver does not report $KUBE_VERSION: $("$BIN/kube-apiserver" --version 2>&1 || true)"
  kube_ok kube-controller-manager || die "built kube-controller-manager does not report $KUBE_VERSION"
  log "kube-apiserver and kube-controller-manager built in $(( $(date +%s) - start ))s"
}

if kube_ok kube-apiserver && kube_ok kube-controller-manager; then
  log "kube-apiserver and kube-controller-manager $KUBE_VERSION: cached"
else
  build_kube
fi

# --- kwok ----------------------------------------------------------------------

if kwok_ok; then
  log "kwok $KWOK_VERSION: cached"
else
  start=$(date +%s)
  log "building kwok $KWOK_VERSION (cold: about 2 minutes)"
  mkdir -p "$CACHE/logs"
  GOBIN=$BIN GOWORK=off quiet "$CACHE/logs/kwok-install.log" \
    go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  kwok_ok || die "built kwok does not record sigs.k8s.io/kwok $KWOK_VERSION"
  log "kwok built in $(( $(date +%s) - start ))s"
fi

# --- etcd ----------------------------------------------------------------------

# install_etcd_debian installs Debian's etcd-server without letting it start a
# system etcd on 2379 (a policy-rc.d refusing starts, as .ci/run does).
install_etcd_debian() {
  [ "$(id -u)" = 0 ] || { log "  not root: cannot apt-get install etcd-server"; return 1; }
  command -v apt-get >/dev/null 2>&1 || { log "  no apt-get"; return 1; }
  export DEBIAN_FRONTEND=noninteractive
  local made_policy= rc=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  if ! apt-cache show etcd-server >/dev/null 2>&1; then
    log "  apt-get update"
    apt-get update -qq || rc=$?
  fi
  if [ $rc = 0 ]; then
    log "  apt-get install etcd-server"
    mkdir -p "$CACHE/logs"
    apt-get install -y -qq etcd-server >"$CACHE/logs/apt-etcd.log" 2>&1 || { rc=$?; tail -n 20 "$CACHE/logs/apt-etcd.log" >&2; }
  fi
  if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
  return $rc
}

build_etcd() {
  local src=$CACHE/etcd-src start
  start=$(date +%s)
  log "building etcd $ETCD_BUILD_VERSION from the module proxy in $src"
  rm -rf "$src" && mkdir -p "$src"
  (
    cd "$src"
    export GOFLAGS=-mod=mod GOWORK=off
    printf 'module bluegreen.invalid/etcd\n\ngo 1.23\n' > go.mod
    quiet "$src/go-get.log" go get -tool "go.etcd.io/etcd/server/v3@$ETCD_BUILD_VERSION"
    quiet "$src/go-build.log" go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
  )
  log "etcd built in $(( $(date +%s) - start ))s"
}

if etcd_ok; then
  log "etcd: cached ($("$BIN/etcd" --version | head -1))"
else
  rm -f "$BIN/etcd"
  if [ "$ETCD_MODE" = debian ]; then
    if [ ! -x /usr/bin/etcd ]; then
      log "etcd: trying Debian's etcd-server"
      install_etcd_debian || log "  etcd-server could not be installed"
    fi
    if [ -x /usr/bin/etcd ]; then
      ln -s /usr/bin/etcd "$BIN/etcd"
    fi
  fi
  if ! etcd_ok; then
    rm -f "$BIN/etcd"
    build_etcd
  fi
  etcd_ok || die "etcd at $BIN/etcd is not 3.4 or later: $("$BIN/etcd" --version 2>&1 | head -1 || true)"
  log "etcd: $("$BIN/etcd" --version | head -1) at $(readlink -f "$BIN/etcd")"
fi

# --- Gateway API CRDs ----------------------------------------------------------

if crds_ok; then
  log "Gateway API $GATEWAY_API_VERSION standard CRDs: cached"
else
  dir=$(GOFLAGS=-mod=mod GOWORK=off go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" |
    sed -nE 's/^[[:space:]]*"Dir": "(.*)",?$/\1/p')
  [ -d "$dir/config/crd/standard" ] || die "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION has no config/crd/standard (got dir '$dir')"
  rm -rf "$CRDS" && mkdir -p "$CRDS"
  cp "$dir"/config/crd/standard/*.yaml "$CRDS/"
  chmod u+w "$CRDS"/*.yaml
  echo "$GATEWAY_API_VERSION" > "$CRDS/VERSION"
  log "Gateway API $GATEWAY_API_VERSION standard CRDs: $(ls "$CRDS"/*.yaml | wc -l) files in $CRDS"
fi

log "ready in $(( $(date +%s) - total_start ))s: $BIN"
