"""The PyTorch side of the tensor-engine benchmark (tests/Distill.Torch.Benchmarks).

Run by the C# benchmark in the same session, with Debian's python3-torch (the same libtorch 1.13.1),
so both sides share the library, the machine state and the thread count. Prints one JSON object.

  /usr/bin/python3 torch_engine_bench.py --threads 2 --op-iters 200000 --steps 30 --warmup 5
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def op_overhead(iters, rounds=50):
    """Per-call seconds of a small elementwise op (x + y on 4 floats), in `rounds` rounds of
    iters/rounds calls each; the caller takes the min (least disturbed) and the median."""
    x = torch.ones(4)
    y = torch.ones(4)
    n = max(1, iters // rounds)
    for _ in range(n):
        z = x + y
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            z = x + y
        out.append((time.perf_counter() - t0) / n)
    del z
    return out


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class CifarResNet(nn.Module):
    """ResNet-20 for 32x32 inputs: 16-32-64 channels, 3 blocks per stage, conv shortcuts (CRD's layout)."""

    def __init__(self, depth=20, classes=100):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, cin = [], 16
        for i, cout in enumerate([16, 32, 64]):
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(cin, cout, 2 if (b == 0 and i > 0) else 1))
                cin = cout
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


def train_step_times(steps, warmup, batch):
    torch.manual_seed(0)
    model = CifarResNet(20, 100)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 100, (batch,))
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        if i >= warmup:
            times.append(dt)
    return times, float(loss)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--op-iters", type=int, default=200000)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--only", choices=["op", "step", "all"], default="all")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    if a.only in ("op", "all"):
        out["op_seconds"] = op_overhead(a.op_iters)
    if a.only in ("step", "all"):
        times, loss = train_step_times(a.steps, a.warmup, a.batch)
        out["step_seconds"] = times
        out["final_loss"] = loss
    print(json.dumps(out))


if __name__ == "__main__":
    main()
