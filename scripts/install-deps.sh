#!/usr/bin/env bash
# Installs what Distill needs on Debian when it is missing: libtorch (CPU, the tensor engine) and the Gloo headers
# its c10d process groups include (multi-process training), OpenBLAS
# (without it libtorch falls back to the reference BLAS, ~46x slower matmul), cmake and g++ (the shim), and
# Fashion-MNIST (dataset-fashion-mnist: the real images of the fashion-kd suite and the main job).
# Idempotent and quiet when everything is present. Set DISTILL_DEV_TOOLS=1 to also install Debian's
# python3-torch / python3-torchvision (only needed to regenerate test fixtures and run benchmarks).
set -euo pipefail

packages=(libtorch-dev libgloo-dev libopenblas0-pthread cmake g++ make dataset-fashion-mnist)
if [ "${DISTILL_DEV_TOOLS:-0}" = "1" ]; then
  packages+=(python3-torch python3-torchvision python3-numpy)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "install-deps: need root to install ${missing[*]} (run as root or install sudo)" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
