#!/usr/bin/env bash
# The main job. Until the experiment runner lands (the cifar-kd reproduction), the main job is the
# tensor-engine benchmark: Distill against PyTorch eager on the same libtorch, side by side.
# It installs Debian's python3-torch for the PyTorch side (DISTILL_DEV_TOOLS=1).
set -euo pipefail
cd "$(dirname "$0")"
DISTILL_DEV_TOOLS=1 bash scripts/install-deps.sh
dotnet run -c Release --project tests/Distill.Torch.Benchmarks -- "$@"
