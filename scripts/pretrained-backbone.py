"""Writes torchvision's ImageNet weights of a ResNet as the .safetensors state dict a Distill experiment's `init:` loads.

    python3 scripts/pretrained-backbone.py resnet50                  # torchvision's IMAGENET1K_V1 (downloads once)
    python3 scripts/pretrained-backbone.py resnet101 --pth r101.pth  # a state dict saved with torch.save

The names stay PyTorch's (conv1.weight, layer1.0.bn1.running_mean, fc.weight, ...); `init: { backbone.body: FILE }` loads
every tensor the detector's body has and leaves out the classifier and num_batches_tracked. Needs torch and torchvision
(Debian: python3-torch, python3-torchvision); writes data/pretrained/<arch>.safetensors unless --out says otherwise.
"""
import argparse
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "python"))
from safetensors_io import save  # noqa: E402  (the repository's own writer; Debian has no python3-safetensors)

ARCHS = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("arch", choices=ARCHS)
parser.add_argument("--pth", help="a state dict saved with torch.save (default: torchvision's IMAGENET1K_V1 weights)")
parser.add_argument("--out", help="the .safetensors file to write (default: data/pretrained/<arch>.safetensors)")
args = parser.parse_args()

if args.pth:
    state = torch.load(args.pth, map_location="cpu")
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    # A checkpoint of a DataParallel model names everything module.*: the backbone's names do not.
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    source = args.pth
else:
    state = getattr(torchvision.models, args.arch)(weights="IMAGENET1K_V1").state_dict()
    source = f"torchvision {torchvision.__version__} {args.arch} IMAGENET1K_V1"

# The file must fit the architecture: a wrong --pth fails here, not in the middle of a run.
getattr(torchvision.models, args.arch)().load_state_dict(state, strict=True)

out = args.out or os.path.join("data", "pretrained", f"{args.arch}.safetensors")
os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
temp = out + ".tmp"
save({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, temp, {"source": source, "arch": args.arch})
os.replace(temp, out)
print(f"{out}: {len(state)} tensors from {source}")
