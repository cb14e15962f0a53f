#!/usr/bin/python3
"""Compares the float tensors of two Distill checkpoints (safetensors; a run directory picks its latest pair).

    /usr/bin/python3 scripts/compare-checkpoints.py RUN_OR_FILE_A RUN_OR_FILE_B [--prefix student.]

Prints, for the tensors whose names start with the prefix, the largest absolute difference, the largest difference
relative to the tensor's own scale (max |a - b| / max |a|), and the tensor it occurs in. Needs numpy (Debian's python3-numpy, /usr/bin/python3).
"""
import glob
import json
import os
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16}


def checkpoint(path):
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "**", "ckpt-*.safetensors"), recursive=True))
        if not files:
            sys.exit(f"no ckpt-*.safetensors under {path}")
        path = files[-1]
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] not in DTYPES:
            continue
        start, end = info["data_offsets"]
        out[name] = np.frombuffer(data[start:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"]).astype(np.float64)
    return path, out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    prefix = sys.argv[sys.argv.index("--prefix") + 1] if "--prefix" in sys.argv else ""
    if prefix:
        args = [a for a in args if a != prefix]
    (pa, a), (pb, b) = checkpoint(args[0]), checkpoint(args[1])
    names = sorted(k for k in a if k.startswith(prefix) and k in b)
    worst_abs = max(((np.abs(a[k] - b[k]).max(), k) for k in names), default=(0.0, "-"))
    worst_rel = max(((np.abs(a[k] - b[k]).max() / max(np.abs(a[k]).max(), 1e-12), k) for k in names), default=(0.0, "-"))
    print(f"{pa}\n{pb}\n{len(names)} tensors compared (prefix '{prefix}'); only in one: {len(set(a) ^ set(b))}")
    print(f"largest |a - b|: {worst_abs[0]:.3e} ({worst_abs[1]})")
    print(f"largest |a - b| / max |a|: {worst_rel[0]:.3e} ({worst_rel[1]})")


if __name__ == "__main__":
    main()
