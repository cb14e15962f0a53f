#!/usr/bin/env bash
# The main job: distillation on real images. On Fashion-MNIST (installed from Debian's dataset-fashion-mnist), a
# ResNet8 of width 8 (20 k parameters) learns from 200 labelled images per class, alone and with Hinton KD from a
# ResNet20 teacher trained on all 60,000 images (committed: experiments/fashion-kd-small/teacher-resnet20.safetensors,
# made by the project's own run + export commands), three seeds each; the report compares both rows against the
# spread of seeds. About three minutes on two CPU cores after the build; a second run reuses the finished runs.
# Arguments go to `report` (e.g. `--device cuda`, `--progress plain`). The full-data suite with FitNets and DKD:
#   dotnet run -c Release --project experiments -- report fashion-kd
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/install-deps.sh
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
dotnet run -c Release --project experiments -- report fashion-kd-small "$@"
echo
echo "report: $(pwd)/experiments/fashion-kd-small/report/report.md (curves.svg, results.json beside it); runs under $(pwd)/runs/"
