#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager and kubectl (or the binaries named as
# arguments: the node tier adds kubelet, kube-proxy and kube-scheduler) at the versions pinned in
# go.mod, into a per-version cache outside the checkout, and prints that directory as the
# last line of stdout. Binaries already present (in the cache, or in $KUBEBUILDER_ASSETS,
# which the launcher looks in first) are not built, so only the first run on a machine
# pays for the build.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

module_version() { awk -v m="$1" '$1 == m && $2 ~ /^v/ { print $2; exit }' go.mod; }
k8s_version="$(module_version k8s.io/kubernetes)"
etcd_version="$(module_version go.etcd.io/etcd/server/v3)"
k8s_minor="$(echo "$k8s_version" | cut -d. -f2)"
cache_root="${HOPPER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hopper-operator}"
out="$cache_root/controlplane/kubernetes-$k8s_version-etcd-$etcd_version"
mkdir -p "$out"

declare -A packages=(
  [etcd]=go.etcd.io/etcd/server/v3
  [kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
  [kube-controller-manager]=k8s.io/kubernetes/cmd/kube-controller-manager
  [kubectl]=k8s.io/kubernetes/cmd/kubectl
  [kubelet]=k8s.io/kubernetes/cmd/kubelet
  [kube-proxy]=k8s.io/kubernetes/cmd/kube-proxy
  [kube-scheduler]=k8s.io/kubernetes/cmd/kube-scheduler
)
if (( $# == 0 )); then
  set -- etcd kube-apiserver kube-controller-manager kubectl
fi
for binary in "$@"; do
  if [[ -z "${packages[$binary]:-}" ]]; then
    echo "unknown binary '$binary'; known: ${!packages[*]}" >&2
    exit 2
  fi
done
version_flags="-s -w \
  -X k8s.io/component-base/version.gitVersion=$k8s_version \
  -X k8s.io/component-base/version.gitMajor=1 \
  -X k8s.io/component-base/version.gitMinor=$k8s_minor \
  -X k8s.io/component-base/version.gitTreeState=clean"

for binary in "$@"; do
  if [[ -x "$out/$binary" ]]; then
    continue
  fi
  if [[ -n "${KUBEBUILDER_ASSETS:-}" && -x "$KUBEBUILDER_ASSETS/$binary" ]]; then
    echo "using $KUBEBUILDER_ASSETS/$binary (from KUBEBUILDER_ASSETS)" >&2
    continue
  fi
  echo "building $binary $( [[ $binary == etcd ]] && echo "$etcd_version" || echo "$k8s_version") (a cold build on 2 cores takes about 11 minutes for all four; progress below)" >&2
  started=$SECONDS
  # -v names each package as it compiles: the progress a person waiting wants to see.
  log="$out/$binary.build.log"
  CGO_ENABLED=0 go build -trimpath -v -ldflags "$version_flags" \
    -o "$out/$binary.partial" "${packages[$binary]}" >"$log" 2>&1 &
  build_pid=$!
  while kill -0 "$build_pid" 2>/dev/null; do
    sleep 2
    if (( (SECONDS - started) % 30 < 2 )); then
      echo "  $binary: $(wc -l <"$log") packages compiled, $((SECONDS - started)) s" >&2
    fi
  done
  if ! wait "$build_pid"; then
    tail -n 30 "$log" >&2
    echo "go build of $binary failed; full log: $log" >&2
    exit 1
  fi
  mv "$out/$binary.partial" "$out/$binary"
  echo "built $binary in $((SECONDS - started)) s" >&2
done
echo "$out"
