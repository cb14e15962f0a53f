#!/usr/bin/env bash
# Compiles the libtorch shim against libtorch 2.x and NCCL without a GPU or a pip torch: the GPU build
# (scripts/gpu-build.sh) uses PyTorch's libtorch 2.x, whose C++ API differs from Debian 12's 1.13 here. Fetches Debian
# 13's libtorch-dev (2.6), Gloo, NCCL and CUDA headers into a cache (about 1 GB downloaded once; nothing is installed:
# apt-get runs on a private package list) and checks, with g++ -fsyntax-only:
#   1. every shim source against libtorch 2.6, with Gloo;
#   2. the process groups with NCCL against libtorch 2.6 and CUDA 12.4's headers;
#   3. the process groups with NCCL against the libtorch installed here (1.13).
# It compiles, it does not link or run: the GPU checks themselves need a GPU machine (docs/scale-out.md).
#   bash scripts/check-shim-portability.sh [CACHE_DIR]   (default: ~/.cache/distill/shim-portability)
set -euo pipefail
cache="$(realpath -m "${1:-${XDG_CACHE_HOME:-$HOME/.cache}/distill/shim-portability}")"
cd "$(dirname "$0")/.."
root="$cache/root"
mkdir -p "$cache/state/lists/partial" "$cache/archives/partial" "$cache/debs" "$root"

packages=(libtorch-dev libgloo-dev libnccl-dev nvidia-cuda-dev libcu++-dev)
if [ ! -f "$root/.complete" ]; then
  cat > "$cache/sources.list" <<'EOF'
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main contrib non-free
EOF
  apt_options=(-o "Dir::Etc::SourceList=$cache/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
               -o "Dir::State::Lists=$cache/state/lists" -o "Dir::Cache::Archives=$cache/archives"
               -o "Dir::State::Status=/dev/null" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=$(id -un)")
  echo "check-shim-portability: fetching Debian 13's ${packages[*]} into $cache"
  apt-get "${apt_options[@]}" update -qq
  (cd "$cache/debs" && apt-get "${apt_options[@]}" download -qq "${packages[@]}")
  for deb in "$cache"/debs/*.deb; do dpkg -x "$deb" "$root"; done
  # Only the headers are needed: drop the CUDA toolkit's libraries and tools.
  rm -rf "$root/usr/lib/x86_64-linux-gnu/"*.a "$root/usr/bin" "$cache/debs"
  touch "$root/.complete"
fi

include="$root/usr/include"
# Debian's CPU libtorch does not ship the header CMake generates for a CUDA build of c10; its one macro is supplied here.
stub="$cache/stub"
mkdir -p "$stub/c10/cuda/impl"
printf '#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n' > "$stub/c10/cuda/impl/cuda_cmake_macros.h"

shim=src/Distill.Torch/native
common=(-std=c++17 -fsyntax-only -Wall -Wno-unused-parameter -Werror -D_GLIBCXX_USE_CXX11_ABI=1 -DDISTILL_TORCH_BUILDING=1
        -DUSE_DISTRIBUTED -DUSE_C10D_GLOO -DDISTILL_WITH_GLOO=1 -I"$shim/include")
torch26=(-isystem "$stub" -isystem "$include/torch/csrc/api/include" -isystem "$include")
# The installed libtorch's headers first; CUDA's and NCCL's from the cache after the system's.
torch_here=(-isystem "$stub" -isystem /usr/include/torch/csrc/api/include -idirafter "$include")
nccl=(-DDISTILL_WITH_NCCL=1 -DUSE_C10D_NCCL)

# Each check runs in the background, as many at a time as there are cores; the report lists them in order.
logs="$cache/logs"
rm -rf "$logs" && mkdir -p "$logs"
labels=()
check() {
  local label="$1"; shift
  local n=${#labels[@]}
  labels+=("$label")
  while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do wait -n || true; done
  (g++ "$@" > "$logs/$n.log" 2>&1 && touch "$logs/$n.ok") &
}
echo "check-shim-portability: libtorch $(awk '/define TORCH_VERSION_(MAJOR|MINOR|PATCH)/ { printf "%s%s", dot, $3; dot = "." }' "$include/torch/csrc/api/include/torch/version.h")"
for source in "$shim"/src/*.cpp; do
  check "$(basename "$source") on libtorch 2.6" "${common[@]}" "${torch26[@]}" -DDISTILL_WITH_NCCL=0 "$source"
done
check "distributed.cpp with NCCL on libtorch 2.6" "${common[@]}" "${torch26[@]}" "${nccl[@]}" "$shim/src/distributed.cpp"
check "distributed.cpp with NCCL on the installed libtorch" "${common[@]}" "${torch_here[@]}" "${nccl[@]}" "$shim/src/distributed.cpp"
wait
failed=0
for n in "${!labels[@]}"; do
  if [ -f "$logs/$n.ok" ]; then echo "  ok    ${labels[$n]}"; else echo "  FAIL  ${labels[$n]}"; cat "$logs/$n.log"; failed=1; fi
done
exit $failed
