#!/usr/bin/env bash
# Builds the libtorch shim against a CUDA libtorch: PyTorch's own (`pip install torch`; its torch/ directory is a
# libtorch) unless a root is given or LIBTORCH is set. Needs cmake, g++ and the CUDA toolkit PyTorch's CMake files ask
# for. Writes src/Distill.Torch/native/build-cuda/libdistill_torch.so and prints how to use it:
#   * with a .NET SDK on the machine, build everything against it (the command it prints);
#   * without one, run a build published elsewhere (dotnet publish --self-contained) with DISTILL_TORCH_NATIVE set.
#   bash scripts/gpu-build.sh [TORCH_ROOT]
set -euo pipefail
cd "$(dirname "$0")/.."
root="${1:-${LIBTORCH:-}}"
if [ -z "$root" ]; then
  root="$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null)" || {
    echo "gpu-build: no libtorch: pass its root, set LIBTORCH, or pip install torch" >&2; exit 1; }
fi
if [ ! -f "$root/share/cmake/Torch/TorchConfig.cmake" ]; then
  echo "gpu-build: $root is not a libtorch (no share/cmake/Torch/TorchConfig.cmake)" >&2; exit 1
fi
build=src/Distill.Torch/native/build-cuda
cmake -S src/Distill.Torch/native -B "$build" -DCMAKE_BUILD_TYPE=Release -DTorch_DIR="$root/share/cmake/Torch"
cmake --build "$build" -j "$(nproc)"
echo "gpu-build: built $PWD/$build/libdistill_torch.so against $root"
echo "  with a .NET SDK here: dotnet build Dsl.sln -c Release -p:TorchDir=$root/share/cmake/Torch -p:NativeShimBuildDir=$PWD/$build/"
echo "  with a published build: export DISTILL_TORCH_NATIVE=$PWD/$build/libdistill_torch.so"
