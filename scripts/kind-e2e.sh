#!/usr/bin/env bash
# End-to-end on a real cluster, for a machine with Docker and kind:
#   create a kind cluster (kind-config.yaml), build the operator image, load it into the
#   node, `kubectl apply -k manifests/`, wait for the operator Deployment, apply the
#   samples, wait for every HopperInstance to be Ready, print them.
#
# Usage: scripts/kind-e2e.sh [--keep]
#   --keep   leave the cluster running afterwards (context kind-$CLUSTER_NAME);
#            by default a cluster this script created is deleted at the end, pass or fail.
# Environment (all optional):
#   CLUSTER_NAME        kind cluster name (default: hopper)
#   IMAGE               operator image (default: ghcr.io/hopper-dev/hopper-operator:0.1.0,
#                       the image manifests/deployment.yaml runs)
#   KUBECTL             kubectl binary (default: kubectl on PATH)
#   E2E_NAMESPACE       namespace for the samples (default: hopper-e2e)
#   E2E_WORKLOAD_IMAGE  stands in for the samples' placeholder workload image
#                       (registry.example.com/..., which does not exist), so the sample
#                       with a runtime can really become Available
#                       (default: registry.k8s.io/pause:3.10.1, which ignores its args)
#   TIMEOUT             for each wait (default: 180s)
# Exits non-zero on any failure, after printing what the cluster looked like.
set -Eeuo pipefail

CLUSTER_NAME=${CLUSTER_NAME:-hopper}
IMAGE=${IMAGE:-ghcr.io/hopper-dev/hopper-operator:0.1.0}
KUBECTL=${KUBECTL:-kubectl}
E2E_NAMESPACE=${E2E_NAMESPACE:-hopper-e2e}
E2E_WORKLOAD_IMAGE=${E2E_WORKLOAD_IMAGE:-registry.k8s.io/pause:3.10.1}
TIMEOUT=${TIMEOUT:-180s}
OPERATOR_NAMESPACE=hopper-system
KEEP=false

usage() { sed -n '2,/^set -Eeuo/{/^set -Eeuo/d;s/^# \{0,1\}//;p}' "$0"; }

for arg in "$@"; do
    case "$arg" in
        --keep) KEEP=true ;;
        -h | --help) usage; exit 0 ;;
        *) echo "kind-e2e: unknown argument: $arg (see --help)" >&2; exit 2 ;;
    esac
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'kind-e2e: %s\n' "$*" >&2; exit 1; }

# -- preflight: fail fast, before anything is created ------------------------------------
command -v docker >/dev/null 2>&1 \
    || die "docker is not installed (or not on PATH); this script needs a Docker engine."
docker info >/dev/null 2>&1 \
    || die "docker is installed but its daemon does not answer ('docker info' failed): is it running, and may this user use it?"
command -v kind >/dev/null 2>&1 \
    || die "kind is not installed (or not on PATH): install kind, then run this again."
command -v "$KUBECTL" >/dev/null 2>&1 \
    || die "kubectl ('$KUBECTL') is not installed; set KUBECTL to a kubectl binary."
echo "using $(kind version), $(docker version --format 'docker {{.Server.Version}}')"

kubectl() { command "$KUBECTL" --context "kind-$CLUSTER_NAME" "$@"; }

CREATED=false
cleanup() {
    local status=$?
    if [[ $status -ne 0 ]] && kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
        log "FAILED (exit $status): what the cluster looked like"
        kubectl get nodes -o wide || true
        kubectl -n "$OPERATOR_NAMESPACE" get all || true
        kubectl -n "$OPERATOR_NAMESPACE" describe pods || true
        kubectl -n "$OPERATOR_NAMESPACE" logs deployment/hopper-operator --tail=200 || true
        kubectl -n "$E2E_NAMESPACE" get hopperinstances,deployments,pods -o wide || true
        kubectl -n "$E2E_NAMESPACE" get events --sort-by=.lastTimestamp || true
    fi
    if [[ $CREATED == true && $KEEP == false ]]; then
        log "deleting kind cluster $CLUSTER_NAME (pass --keep to leave it)"
        kind delete cluster --name "$CLUSTER_NAME" || true
    elif kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
        log "cluster $CLUSTER_NAME left running: kubectl --context kind-$CLUSTER_NAME get hopper -A"
    fi
    exit "$status"
}
trap cleanup EXIT

# -- cluster -------------------------------------------------------------------------
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
    log "reusing the existing kind cluster $CLUSTER_NAME (it will not be deleted)"
else
    log "creating kind cluster $CLUSTER_NAME"
    CREATED=true
    kind create cluster --config kind-config.yaml --name "$CLUSTER_NAME" --wait "$TIMEOUT"
fi

# -- operator image ------------------------------------------------------------------
log "building $IMAGE"
docker build -t "$IMAGE" .
log "loading $IMAGE into the node"
kind load docker-image "$IMAGE" --name "$CLUSTER_NAME"

# -- operator ------------------------------------------------------------------------
log "kubectl apply -k manifests/"
kubectl apply -k manifests/
# Polled, not `kubectl wait --for=condition=Established`: that fails at once, instead of
# waiting, while a CRD just created still has `status.conditions: null`.
established() {
    kubectl get crd/hopperinstances.hopper.dev \
        -o jsonpath='{.status.conditions[?(@.type=="Established")].status}' 2>/dev/null
}
seconds_of() { case $1 in *m) echo $((${1%m} * 60)) ;; *s) echo "${1%s}" ;; *) echo "$1" ;; esac; }
deadline=$((SECONDS + $(seconds_of "$TIMEOUT")))
until [ "$(established)" = True ]; do
    [ "$SECONDS" -lt "$deadline" ] || { log "CRD not Established after $TIMEOUT"; exit 1; }
    sleep 1
done
log "waiting for the operator Deployment to be Available"
kubectl -n "$OPERATOR_NAMESPACE" rollout status deployment/hopper-operator --timeout="$TIMEOUT"
kubectl -n "$OPERATOR_NAMESPACE" wait --for=condition=Available --timeout="$TIMEOUT" \
    deployment/hopper-operator

# -- samples -------------------------------------------------------------------------
log "applying manifests/samples into namespace $E2E_NAMESPACE (workload image: $E2E_WORKLOAD_IMAGE)"
kubectl create namespace "$E2E_NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -
samples=$(kubectl kustomize manifests/samples)
samples=$(sed -E "s#image: registry\.example\.com/[^[:space:]]+#image: ${E2E_WORKLOAD_IMAGE}#" <<<"$samples")
kubectl apply -n "$E2E_NAMESPACE" -f - <<<"$samples"

log "waiting for every HopperInstance to be Ready"
kubectl -n "$E2E_NAMESPACE" wait --for=condition=Ready hopperinstances --all --timeout="$TIMEOUT"

log "kubectl get hopper -n $E2E_NAMESPACE"
kubectl -n "$E2E_NAMESPACE" get hopper -o wide
log "PASSED"
