#!/usr/bin/env bash
# Prepares the GPU checks for a machine that has a CUDA PyTorch but no .NET (this workplace's device machines): writes
# .gpu/app.tar.xz (git-ignored) holding the runner and the KD-step and face benchmarks, each published self-contained and trimmed
# (the .NET runtime inside, only the framework code they use). The device machine then runs scripts/gpu-check.sh with
# .gpu carried beside the working tree (docs/scale-out.md):
#   bash scripts/gpu-bundle.sh
#   device run: carry [".gpu"], command "bash scripts/gpu-check.sh"
# The working tree and .gpu travel together under a 64 MiB limit; the script prints both sizes. Before it is carried, the
# bundle runs its own `env --check` here, so a trimmed-away dependency shows up on this machine rather than on the GPU's.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=.gpu
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
rm -rf "$bundle" && mkdir -p "$bundle"

publish() { dotnet publish "$1" -c Release -p:DistillDeviceBundle=true --nologo -v q -o "$stage/app/$2"; }
publish experiments/Distill.Experiments.csproj runner
publish tests/Distill.KdStep.Benchmarks/Distill.KdStep.Benchmarks.csproj kd-step
publish tests/Distill.Face.Benchmarks/Distill.Face.Benchmarks.csproj face
OMP_WAIT_POLICY=passive "$stage/app/runner/distill-experiments" env --check
# The CPU shim built here links Debian's libtorch: the device machine builds its own (scripts/gpu-build.sh). Debugger
# support and symbols are left out too.
find "$stage/app" \( -name libdistill_torch.so -o -name '*.pdb' -o -name 'libmscordaccore.so' -o -name 'libmscordbi.so' \) -delete
# One xz stream with a large window: the apps' identical runtime files cost one copy.
tar -C "$stage" -cf - app | xz -9 -T1 > "$bundle/app.tar.xz"

tree_bytes="$(git ls-files -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1 || true)"
bundle_bytes="$(du -cb "$bundle"/* | tail -1 | cut -f1)"
echo "gpu-bundle: $bundle/app.tar.xz is $((bundle_bytes / 1048576)) MiB; the tracked tree $((tree_bytes / 1048576)) MiB;" \
     "together $(((tree_bytes + bundle_bytes) / 1048576)) MiB of the 64 MiB a device call carries"
