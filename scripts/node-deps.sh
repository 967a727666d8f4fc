#!/usr/bin/env bash
# Installs, from Debian's archive, what the node tier (a real kubelet on this machine) and the
# local image build need: containerd, runc and the CNI plugins to run pods, iptables and
# conntrack for kube-proxy, mmdebstrap for the base root filesystem and buildah to build the
# Dockerfile without a daemon. Idempotent: when every package is installed it does nothing
# (no `apt-get update`), so it costs a fraction of a second on every run after the first.
# Needs root (apt); refuses otherwise. Debian/Ubuntu only.
set -euo pipefail

packages=(
  containerd runc containernetworking-plugins
  iptables conntrack iproute2 util-linux
  mmdebstrap buildah
)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$package")
done
if (( ${#missing[@]} == 0 )); then
  exit 0
fi
if (( EUID != 0 )); then
  echo "node-deps: not root, so cannot install ${missing[*]} (the node tier needs root anyway)" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "node-deps: no apt-get: install ${missing[*]} with this system's package manager" >&2
  exit 1
fi
echo "node-deps: installing ${missing[*]} from Debian" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends: buildah and containerd recommend a desktop's worth of extras.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
