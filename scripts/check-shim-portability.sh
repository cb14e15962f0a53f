#!/usr/bin/env bash
# Compiles the libtorch shim against newer libtorch releases and NCCL without a GPU or a pip torch: the GPU build
# (scripts/gpu-build.sh) uses PyTorch's libtorch 2.x, whose C++ API (and, from some release on, required C++ standard)
# differs from Debian 12's 1.13 here. For each Debian suite named (default: trixie, libtorch 2.6; sid, the newest), it
# fetches that suite's libtorch-dev, Gloo, NCCL and CUDA headers into a cache (about 1 GB a suite, downloaded once;
# nothing is installed: apt-get runs on a private package list) and checks with g++ -fsyntax-only -Werror, in the C++
# standard the shim's CMakeLists.txt picks for that libtorch:
#   1. every shim source, with Gloo;
#   2. the process groups with NCCL;
# and once, the process groups with NCCL against the libtorch installed here (1.13).
# It compiles, it does not link or run: the GPU checks themselves need a GPU machine (docs/scale-out.md).
#   bash scripts/check-shim-portability.sh [--suite NAME]... [CACHE_DIR]   (default: ~/.cache/distill/shim-portability)
set -euo pipefail
suites=()
cache_arg=""
while [ $# -gt 0 ]; do
  case "$1" in
    --suite) suites+=("$2"); shift 2 ;;
    *) cache_arg="$1"; shift ;;
  esac
done
[ ${#suites[@]} -gt 0 ] || suites=(trixie sid)
cache="$(realpath -m "${cache_arg:-${XDG_CACHE_HOME:-$HOME/.cache}/distill/shim-portability}")"
cd "$(dirname "$0")/.."

packages=(libtorch-dev libgloo-dev libnccl-dev nvidia-cuda-dev libcu++-dev)
# Fetches a suite's headers into $cache/$suite/root once.
fetch() {
  local suite="$1" dir="$cache/$1"
  [ -f "$dir/root/.complete" ] && return 0
  rm -rf "$dir" && mkdir -p "$dir/lists/partial" "$dir/archives/partial" "$dir/debs" "$dir/root"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main contrib non-free" > "$dir/sources.list"
  local apt=(-o "Dir::Etc::SourceList=$dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null" -o "Dir::State::Lists=$dir/lists"
             -o "Dir::Cache::Archives=$dir/archives" -o "Dir::State::Status=/dev/null" -o "Debug::NoLocking=1"
             -o "APT::Sandbox::User=$(id -un)")
  echo "check-shim-portability: fetching Debian $suite's ${packages[*]} into $dir"
  apt-get "${apt[@]}" update -qq
  (cd "$dir/debs" && apt-get "${apt[@]}" download -qq "${packages[@]}")
  for deb in "$dir"/debs/*.deb; do dpkg -x "$deb" "$dir/root"; done
  # Only the headers are needed: drop the CUDA toolkit's libraries and tools.
  rm -rf "$dir/root/usr/lib/x86_64-linux-gnu/"*.a "$dir/root/usr/bin" "$dir/debs" "$dir/archives"
  touch "$dir/root/.complete"
}

# Debian's CPU libtorch does not ship the header CMake generates for a CUDA build of c10; its one macro is supplied here.
stub="$cache/stub"
mkdir -p "$stub/c10/cuda/impl"
printf '#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n' > "$stub/c10/cuda/impl/cuda_cmake_macros.h"

# The standard CMakeLists.txt picks: C++20 where ATen.h demands it.
standard() { grep -q 'C++20 or later' "$1/ATen/ATen.h" && echo c++20 || echo c++17; }
version() {
  local header="$1/torch/headeronly/version.h"
  [ -f "$header" ] || header="$1/torch/csrc/api/include/torch/version.h"
  awk '/define TORCH_VERSION_(MAJOR|MINOR|PATCH) / { printf "%s%s", dot, $3; dot = "." }' "$header"
}

shim=src/Distill.Torch/native
common=(-fsyntax-only -Wall -Wno-unused-parameter -Werror -D_GLIBCXX_USE_CXX11_ABI=1 -DDISTILL_TORCH_BUILDING=1
        -DUSE_DISTRIBUTED -DUSE_C10D_GLOO -DDISTILL_WITH_GLOO=1 -I"$shim/include")
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

for suite in "${suites[@]}"; do
  fetch "$suite"
  include="$cache/$suite/root/usr/include"
  std="$(standard "$include")"
  at="libtorch $(version "$include") ($suite, $std)"
  flags=("${common[@]}" -std="$std" -isystem "$stub" -isystem "$include/torch/csrc/api/include" -isystem "$include")
  for source in "$shim"/src/*.cpp; do
    check "$(basename "$source") on $at" "${flags[@]}" -DDISTILL_WITH_NCCL=0 "$source"
  done
  check "distributed.cpp with NCCL on $at" "${flags[@]}" "${nccl[@]}" "$shim/src/distributed.cpp"
done
# The installed libtorch's headers first; CUDA's and NCCL's from the first suite's cache, after the system's.
check "distributed.cpp with NCCL on the installed libtorch $(version /usr/include)" "${common[@]}" -std="$(standard /usr/include)" \
  -isystem "$stub" -isystem /usr/include/torch/csrc/api/include -idirafter "$cache/${suites[0]}/root/usr/include" "${nccl[@]}" \
  "$shim/src/distributed.cpp"
wait
failed=0
for n in "${!labels[@]}"; do
  if [ -f "$logs/$n.ok" ]; then echo "  ok    ${labels[$n]}"; else echo "  FAIL  ${labels[$n]}"; cat "$logs/$n.log"; failed=1; fi
done
exit $failed
