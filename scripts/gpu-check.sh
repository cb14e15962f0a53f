#!/usr/bin/env bash
# The GPU checks of docs/scale-out.md, in one command for a GPU machine with a CUDA PyTorch (python3) and no .NET:
# builds the shim against PyTorch's libtorch (scripts/gpu-build.sh), then with the bundle scripts/gpu-bundle.sh wrote
# into .gpu/ (carried beside the working tree):
#   1. `env --check`: the build, arithmetic and autocast on the GPU, Gloo and NCCL process groups;
#   2. the same training run (student-resnet8, 3 epochs of 100 batches, seed 1) in fp32, bf16, fp16 (loss scaling) and
#      fp32 channels_last, each epoch's loss printed against fp32's; then Hinton KD (teacher and student) as a smoke run
#      in fp16 and channels_last;
#   3. the KD-step and face (margin head and GKD step, K = 10000 and 50000) benchmarks against PyTorch eager on the
#      same GPU (interleaved blocks).
# Everything it prints goes to $OUT/gpu-check.log, and the benchmarks' reports beside it ($OUT: the device tool's
# folder that comes back; gpu-check-out/ in the repository elsewhere). Each step has a time limit, so a hung collective
# costs minutes, not the machine's lease. Exits 1 when a step fails, after running the others.
#   bash scripts/gpu-check.sh
# GPU_CHECK_DEVICE=cpu rehearses it on a machine without a GPU: the shim already built here, every run on the CPU,
# GPU_CHECK_BATCHES (default 100) batches per epoch.
set -uo pipefail
cd "$(dirname "$0")/.."
device="${GPU_CHECK_DEVICE:-cuda}"
batches="${GPU_CHECK_BATCHES:-100}"
out="${OUT:-$PWD/gpu-check-out}"
mkdir -p "$out"
work="$(mktemp -d)"
exec {console}>&1
exec > >(tee "$out/gpu-check.log" >&"$console") 2>&1
logger=$!
# On every exit: the work folder goes, and the log is complete before the script ends.
finish() { rm -rf "$work"; exec >&- 2>&-; wait "$logger" 2>/dev/null; }
trap finish EXIT
status=0
step() { echo; echo "== $* ($(date -u +%H:%M:%S))"; }
# check LIMIT_SECONDS COMMAND...: runs it under a time limit; a failure (or the limit: exit 124) is reported and remembered.
check() { local limit="$1"; shift; timeout --kill-after=10 "$limit" "$@" || { echo "FAILED (exit $?): $*"; status=1; }; }

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
python3 -c 'import torch; print("python3:", torch.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count())' \
  || echo "python3 has no torch"
[ -f .gpu/app.tar.xz ] || { echo "no .gpu/app.tar.xz: run scripts/gpu-bundle.sh where .NET is, and carry .gpu"; exit 1; }
tar -C "$work" -xJf .gpu/app.tar.xz
# The runtime needs no ICU this way (the image may lack it); the runner formats with the invariant culture anyway.
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 OMP_WAIT_POLICY=passive
runner="$work/app/runner/distill-experiments"
bench="$work/app/kd-step/Distill.KdStep.Benchmarks"
face="$work/app/face/Distill.Face.Benchmarks"

if [ "$device" = cpu ]; then
  export DISTILL_TORCH_NATIVE="$PWD/src/Distill.Torch/native/build/libdistill_torch.so"
  python=/usr/bin/python3
else
  step "the shim against PyTorch's libtorch"
  bash scripts/gpu-build.sh || { echo "FAILED: the CUDA build of the shim"; exit 1; }
  export DISTILL_TORCH_NATIVE="$PWD/src/Distill.Torch/native/build-cuda/libdistill_torch.so"
  python="$(command -v python3)"
fi

step "env --check"
check 180 "$runner" env --check

step "student-resnet8 on $device: fp32, bf16, fp16, channels_last ($batches batches × 3 epochs, seed 1)"
runs="$work/runs"
for variant in fp32 bf16 fp16 channels_last; do
  case "$variant" in
    fp32) extra=() ;;
    channels_last) extra=(--memory-format channels_last) ;;
    *) extra=(--precision "$variant") ;;
  esac
  [ "$variant" = fp16 ] && [ "$device" = cpu ] && { echo "fp16: CUDA only (refused on the CPU), skipped in the rehearsal"; continue; }
  start=$SECONDS
  check 300 "$runner" run student-resnet8 --device "$device" --epochs 3 --max-batches "$batches" --seed 1 --out "$runs" \
    --run-name "$variant" --progress none "${extra[@]}"
  echo "$variant: $((SECONDS - start)) s"
done
check 60 python3 - "$runs/student-resnet8" <<'EOF'
import json, os, sys
root = sys.argv[1]
def losses(run):
    path = os.path.join(root, run, "metrics.jsonl")
    if not os.path.exists(path):
        return None
    rows = [json.loads(line) for line in open(path)]
    return [r["values"]["loss"] for r in rows if r.get("phase") == "train"], \
           [r["values"].get("val_top1") for r in rows if r.get("phase") == "val"]
base = losses("fp32")
if base is None:
    sys.exit("no fp32 run to compare with")
worst = 0.0
for run in ("fp32", "bf16", "fp16", "channels_last"):
    got = losses(run)
    if got is None:
        print(f"{run:14s} (not run)")
        continue
    rel = [abs(a - b) / abs(b) for a, b in zip(got[0], base[0])]
    worst = max(worst, max(rel)) if run != "fp32" else worst
    print(f"{run:14s} epoch losses {', '.join(f'{v:.4f}' for v in got[0])}   vs fp32: {', '.join(f'{r:.2%}' for r in rel)}"
          f"   val_top1 {got[1][-1] if got[1] else '?'}")
print(f"largest per-epoch loss difference from fp32: {worst:.2%} (stated tolerance 5%)")
sys.exit(0 if worst <= 0.05 else 1)
EOF

step "Hinton KD (teacher-resnet56 -> resnet8) smoke runs on $device"
fp16=(--precision fp16)
[ "$device" = cpu ] && fp16=(--precision bf16)
check 300 "$runner" run hinton-resnet56-resnet8 --device "$device" --quick --out "$work/runs-kd" --run-name mixed --progress none "${fp16[@]}"
check 300 "$runner" run hinton-resnet56-resnet8 --device "$device" --quick --out "$work/runs-kd" --run-name cl --progress none --memory-format channels_last

step "KD-step benchmark against PyTorch eager on $device"
steps=40
[ "$device" = cpu ] && steps=5
check 420 env DISTILL_PYTHON="$python" "$bench" --device "$device" --threads 4 --steps "$steps" --warmup 5 --block 5 --leak-steps 0 \
  --parts 10 --out "$out/kd-step-$device.md" --out "$out/kd-step-$device.json"

step "face benchmark against PyTorch eager on $device"
face_args=(--steps 20 --warmup 3 --head-iters 40)
[ "$device" = cpu ] && face_args=(--steps 2 --warmup 1 --head-iters 4 --classes 10000)
check 420 env DISTILL_PYTHON="$python" "$face" --device "$device" --threads 4 "${face_args[@]}" --out "$out"

step "done: $([ $status = 0 ] && echo 'every step passed' || echo 'some step FAILED')"
exit $status
