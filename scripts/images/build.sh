#!/usr/bin/env bash
# Builds, without any registry or daemon, the images the node tier runs, and prints one line
# per image: "<role> <image name> <docker-archive path>", ready for `ctr images import`.
#
#   base      Debian bookworm with Python from Debian's packages (mmdebstrap), the stand-in
#             for the Dockerfile's default public base, which cannot be pulled here
#   operator  the project's own Dockerfile, built by buildah on that base
#             (--build-arg PYTHON_IMAGE=...): the very file users build with Docker
#   pause     the pod sandbox image (scripts/images/idle, a static Go program)
#   workload  the same program as a stand-in image for HopperInstance runtimes
#
# Everything is cached per content under $HOPPER_CACHE_DIR (default ~/.cache/hopper-operator)
# /images: an image whose inputs did not change is not rebuilt, so a rerun costs a hash of
# the sources. Needs root, mmdebstrap, buildah and go (scripts/node-deps.sh installs the first
# two). Build logs go to stderr.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if (( EUID != 0 )); then
  echo "images: building images needs root (buildah's storage, mmdebstrap's chroot)" >&2
  exit 1
fi
cache_root="${HOPPER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hopper-operator}"
out="$cache_root/images"
store="$out/storage"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The run root (locks, mount state) is per invocation; the store persists as the cache.
buildah() { command buildah --root "$store" --runroot "$work/run" --storage-driver overlay "$@"; }

# A short digest of some words and of the named files' paths and contents.
digest() {
  local words=$1
  shift
  {
    echo "$words"
    if (( $# > 0 )); then
      (cd "$root" && printf '%s\0' "$@" | LC_ALL=C sort -z | xargs -0 sha256sum)
    fi
  } | sha256sum | cut -c1-16
}

have_image() { buildah inspect --type image "$1" >/dev/null 2>&1; }

# Writes the image $3 (default: $2) as a docker-archive named $2 into $4 (unless that file
# exists) and prints it as the role $1.
archive() {
  local role=$1 name=$2 path=$3 source=${4:-$2}
  if [[ ! -s $path ]]; then
    buildah push --quiet "$source" "docker-archive:$path.partial.$$:$name" >&2
    mv "$path.partial.$$" "$path"
  fi
  echo "$role $name $path"
}

timed() {
  local what=$1 started=$SECONDS
  shift
  echo "images: building $what" >&2
  "$@"
  echo "images: built $what in $((SECONDS - started)) s" >&2
}

# -- base: Debian with Python from Debian, as a registry-free python:*-slim-bookworm ------
# The whole recipe is in these words, which name the image: change them, get a new base.
# Documentation, manuals and translations are dropped, as slim images do.
base_recipe=(
  --variant=apt
  --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates
  --aptopt='APT::Install-Recommends "false"'
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  bookworm
)
base_image="localhost/hopper/base:$(digest "${base_recipe[*]}")"

build_base() {
  mmdebstrap --quiet "${base_recipe[@]}" "$work/rootfs.tar" </dev/null >&2
  local container
  container=$(buildah from scratch)
  buildah add --quiet "$container" "$work/rootfs.tar" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 --cmd python3 "$container"
  buildah commit --quiet --rm "$container" "$base_image" >/dev/null
  rm -f "$work/rootfs.tar"
}
have_image "$base_image" || timed "$base_image" build_base

# -- operator: the project's Dockerfile on that base -----------------------------------
# The image name the manifests deploy, so `kubectl apply -k manifests/` runs this build.
operator_image=$(awk '$1 == "image:" { print $2; exit }' "$root/manifests/deployment.yaml")
mapfile -d '' operator_sources < <(cd "$root" && find Dockerfile .dockerignore pyproject.toml LICENSE \
  README.md operator -type f ! -path '*/__pycache__/*' ! -name '*.py[co]' \
  ! -path '*.egg-info/*' -print0)
operator_key=$(digest "$base_image $operator_image" "${operator_sources[@]}")
operator_archive="$out/operator-$operator_key.tar"
# Also tagged by content: checkouts building at once each export their own build.
operator_build="localhost/hopper/operator:$operator_key"

build_operator() {
  local trust=()
  # The build stage downloads the dependencies' wheels: it trusts what this machine
  # trusts (a company proxy's CA, say), without that entering any image layer.
  if [[ -s /etc/ssl/certs/ca-certificates.crt ]]; then
    trust=(--volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
  fi
  buildah bud --quiet --isolation chroot --pull=never --layers=false \
    --build-arg "PYTHON_IMAGE=$base_image" "${trust[@]}" \
    --tag "$operator_image" --tag "$operator_build" --file "$root/Dockerfile" "$root" >&2
}
if [[ ! -s $operator_archive ]]; then
  timed "$operator_image" build_operator
fi
archive operator "$operator_image" "$operator_archive" "$operator_build"
# Operator builds are a quarter GB each: those unused for an hour go (another checkout
# on this machine may be using a recent one).
find "$out" -maxdepth 1 -name 'operator-*.tar' ! -path "$operator_archive" -amin +60 -delete
# The archive is the cache: the build itself can go, and so can earlier ones once they are
# an hour old (a younger untagged image may be another checkout's build stage, mid-build).
if have_image "$operator_build"; then
  buildah rmi "$operator_build" >/dev/null
fi
while read -r id day time _; do
  if (( $(date -u -d "$day ${time%%.*}" +%s) < $(date +%s) - 3600 )); then
    buildah rmi "$id" >/dev/null 2>&1 || true
  fi
done < <(buildah images --all --filter dangling=true --format '{{.ID}} {{.CreatedAtRaw}}')

# -- pause and workload: one static program, two names ---------------------------------
idle_key=$(digest "$(go version)" scripts/images/idle/main.go scripts/images/idle/go.mod)
pause_image="localhost/hopper/pause:$idle_key"
workload_image="localhost/hopper/workload:$idle_key"

build_idle() {
  (cd "$here/idle" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/idle" .)
  local name container
  for name in "$pause_image" "$workload_image"; do
    container=$(buildah from scratch)
    buildah copy --quiet "$container" "$work/idle" /idle >/dev/null
    # 65535: the uid upstream's pause image runs as; any non-root uid would do.
    buildah config --entrypoint '["/idle"]' --cmd '' --user 65535:65535 "$container"
    buildah commit --quiet --rm "$container" "$name" >/dev/null
  done
}
if [[ ! -s $out/pause-$idle_key.tar || ! -s $out/workload-$idle_key.tar ]]; then
  have_image "$pause_image" && have_image "$workload_image" || timed "pause and workload" build_idle
fi
archive pause "$pause_image" "$out/pause-$idle_key.tar"
archive workload "$workload_image" "$out/workload-$idle_key.tar"
