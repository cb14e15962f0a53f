#!/usr/bin/env bash
# The main job: the cifar-kd reproduction suite's quick report (a smoke test of the whole pipeline, a few
# minutes on two CPU cores): trains the ResNet56 teacher, then the ResNet20 student alone and with Hinton
# KD, FitNets and DKD for one short epoch each, and writes the report with the published anchors.
# Arguments go to `report` (e.g. `--device cuda`, `--progress plain`). The full report (three seeds, about
# half an hour on two cores): dotnet run -c Release --project experiments -- report cifar-kd
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/install-deps.sh
dotnet run -c Release --project experiments -- report cifar-kd --quick "$@"
echo
echo "report: $(pwd)/experiments/cifar-kd/report-quick/report.md (curves.svg, results.json beside it); runs under $(pwd)/runs-quick/"
