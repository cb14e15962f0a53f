"""The PyTorch side of the KD training-step benchmark (tests/Distill.KdStep.Benchmarks, issue 5).

One step of Hinton KD, ResNet56 -> ResNet20 (CRD's CIFAR ResNets), written the way a PyTorch user writes
it in eager mode: the teacher in eval mode under no_grad, the student in train mode, 0.1 * CE +
0.9 * T^2 * KL(softmax(t/T) || softmax(s/T)) (batchmean), backward, SGD(momentum 0.9, wd 5e-4).
The batch is a pre-made tensor (no data loading on this side).

Run it with Debian's python3-torch (/usr/bin/python3: the same libtorch 1.13.1 as Distill's shim); with --device cuda,
with a CUDA PyTorch (the C# side's DISTILL_PYTHON names it), every timed step ending with a synchronize.

Two modes:
  * standalone: prints one JSON object with per-step seconds and the process's peak RSS.
      /usr/bin/python3 kd_step_bench.py --threads 2 --steps 20 --warmup 3
  * --serve: the C# benchmark keeps this process alive and asks it for blocks of steps, interleaved
    with its own blocks, so a change in machine load falls on both sides alike. Line protocol on
    stdin/stdout, one JSON object per answer:
      "steps N" -> {"step_seconds": [...], "cpu_seconds": float (the process's CPU time over the N steps), "loss": float}
      "steps_cl N" -> the same for the channels_last step (models and batch in torch.channels_last)
      "parts N" -> {"parts": {"teacher forward": [...], ...}}  (N steps timed phase by phase)
      "rss"     -> {"vmhwm_kib": int, "vmrss_kib": int}
      "quit"    -> exits
    After set-up and warm-up it prints {"ready": true, ...}.
"""
import argparse
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from bench_server import memory_kib, send  # copied next to this script at build time


class Block(nn.Module):
    """CRD's BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); 1x1 conv + BN shortcut on a shape change."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        out += x if self.downsample is None else self.downsample(x)
        return F.relu(out)


class ResNet(nn.Module):
    """CIFAR ResNet of depth 6n+2 (16-32-64 channels), as Distill.Models.CifarResNet builds it."""

    def __init__(self, depth, classes):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        stages, cin = [], 16
        for k, cout in enumerate((16, 32, 64)):
            blocks = []
            for b in range(n):
                blocks.append(Block(cin, cout, 2 if (k > 0 and b == 0) else 1))
                cin = cout
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.fc = nn.Linear(64, classes)
        # Same initialisation as the C# model (He-normal fan_out convolutions), so the loss values are alike.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class KdStep:
    """The benchmarked step, and everything it needs, built once."""

    def __init__(self, batch, classes, size, temperature=4.0, ce_weight=0.1, kd_weight=0.9, channels_last=False, device="cpu"):
        torch.manual_seed(0)
        self.device = torch.device(device)
        self.teacher = ResNet(56, classes).eval().to(self.device)
        self.student = ResNet(20, classes).train().to(self.device)
        self.x = torch.randn(batch, 3, size, size).to(self.device)
        if channels_last:
            # PyTorch's recipe: the models' 4-D weights and the input in channels_last; the optimizer built after.
            self.teacher = self.teacher.to(memory_format=torch.channels_last)
            self.student = self.student.to(memory_format=torch.channels_last)
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.opt = torch.optim.SGD(self.student.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
        self.y = torch.randint(0, classes, (batch,)).to(self.device)
        self.t = temperature
        self.ce_weight = ce_weight
        self.kd_weight = kd_weight
        self.loss = float("nan")

    def step(self):
        # set_to_none=True frees the gradients (PyTorch 2's default; Distill's zero_grad does the same).
        self.opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            t_logits = self.teacher(self.x)
        s_logits = self.student(self.x)
        ce = F.cross_entropy(s_logits, self.y)
        kd = F.kl_div(F.log_softmax(s_logits / self.t, dim=1), F.softmax(t_logits / self.t, dim=1),
                      reduction="batchmean") * (self.t * self.t)
        loss = self.ce_weight * ce + self.kd_weight * kd
        loss.backward()
        self.opt.step()
        return loss

    PARTS = ("zero_grad", "teacher forward", "student forward", "losses", "backward", "optimizer step", "bookkeeping")

    def sync(self):
        """On a GPU a phase or step is done when its kernels are."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def parts(self):
        """One step timed phase by phase (seconds, in PARTS order); this side has no per-step bookkeeping."""
        def clock():
            self.sync()
            return time.perf_counter()
        t = [clock()]
        self.opt.zero_grad(set_to_none=True)
        t.append(clock())
        with torch.no_grad():
            t_logits = self.teacher(self.x)
        t.append(clock())
        s_logits = self.student(self.x)
        t.append(clock())
        ce = F.cross_entropy(s_logits, self.y)
        kd = F.kl_div(F.log_softmax(s_logits / self.t, dim=1), F.softmax(t_logits / self.t, dim=1),
                      reduction="batchmean") * (self.t * self.t)
        loss = self.ce_weight * ce + self.kd_weight * kd
        t.append(clock())
        loss.backward()
        t.append(clock())
        self.opt.step()
        t.append(clock())
        t.append(clock())
        return [b - a for a, b in zip(t, t[1:])]

    def timed(self, n):
        """Seconds of each of n steps (CPU: every op is synchronous; GPU: each step ends with a synchronize)."""
        times = []
        loss = None
        for _ in range(n):
            t0 = time.perf_counter()
            loss = self.step()
            self.sync()
            times.append(time.perf_counter() - t0)
        if loss is not None:
            self.loss = float(loss)
        return times


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--serve", action="store_true")
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    bench = KdStep(a.batch, a.classes, a.size, device=a.device)
    bench.timed(a.warmup)
    bench_cl = KdStep(a.batch, a.classes, a.size, channels_last=True, device=a.device) if a.serve else None
    if bench_cl is not None:
        bench_cl.timed(a.warmup)
    info = {"torch": torch.__version__, "threads": torch.get_num_threads(),
            "python": sys.version.split()[0]}
    if not a.serve:
        times = bench.timed(a.steps)
        send(dict(info, step_seconds=times, loss=bench.loss, **memory_kib()))
        return
    send(dict(info, ready=True))
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "steps":
            cpu = time.process_time()
            times = bench.timed(int(cmd[1]))
            send({"step_seconds": times, "cpu_seconds": time.process_time() - cpu, "loss": bench.loss})
        elif cmd[0] == "steps_cl":
            cpu = time.process_time()
            times = bench_cl.timed(int(cmd[1]))
            send({"step_seconds": times, "cpu_seconds": time.process_time() - cpu, "loss": bench_cl.loss})
        elif cmd[0] == "parts":
            rows = [bench.parts() for _ in range(int(cmd[1]))]
            send({"parts": {name: [r[i] for r in rows] for i, name in enumerate(KdStep.PARTS)}})
        elif cmd[0] == "rss":
            send(memory_kib())
        elif cmd[0] == "quit":
            return
        else:
            send({"error": "unknown command " + line.strip()})


if __name__ == "__main__":
    main()
