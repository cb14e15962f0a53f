"""The PyTorch side of the loss benchmark (tests/Distill.Losses.Benchmarks).

Run by the C# benchmark in the same session with Debian's python3-torch (the same libtorch 1.13.1) and
the same thread count. Each case is written in plain PyTorch the way a researcher would write the loss
(no attempt to be clever), on inputs of the same shapes and distributions as the C# case of the same
name. The C# benchmark runs it with --serve and alternates its own rounds with this side's, case by
case, so both are measured under the same machine load. Standalone (without --serve) it prints one JSON
object: {"torch", "threads", "cases": {name: {median, min, iterations, value} | {error}}}. "value" is the
loss on the freshly seeded inputs; both sides draw their inputs from the same libtorch generator in the
same order, so the C# side compares it with its own to check the two compute the same thing.

To add a loss: one function below, decorated with @case("<name of the C# case>"), that builds the
inputs and returns the step to time (a callable; `backward(loss_fn, *inputs)` makes one from a loss).

  /usr/bin/python3 losses_bench.py --threads 2 --rounds 7 --warmup 3 --round-ms 200 --cases hinton_kd,oim_loss
  /usr/bin/python3 losses_bench.py --threads 2 --serve     (what the C# program runs)
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F


CASES = {}


def case(name):
    """Registers a case under the name of its C# twin in tests/Distill.Losses.Benchmarks/Cases.cs."""
    def register(setup):
        assert name not in CASES, name
        CASES[name] = setup
        return setup
    return register


def backward(loss_fn, *inputs):
    """A step that is forward + backward, dropping the input gradients after it (as the C# side does)."""
    def step():
        loss_fn().backward()
        for t in inputs:
            if t.requires_grad:
                t.grad = None
    step.loss_fn = loss_fn
    return step


# ---- classic ---------------------------------------------------------------------------------------

@case("hinton_kd")
def hinton_kd():
    s = (torch.randn(128, 1000) * 3).requires_grad_()
    t = torch.randn(128, 1000) * 3
    T = 4.0
    return backward(lambda: F.kl_div(F.log_softmax(s / T, dim=1), F.softmax(t / T, dim=1), reduction="batchmean") * T * T, s)


# ---- person search ---------------------------------------------------------------------------------

def oim_inputs():
    n, d, identities, q = 256, 256, 5532, 5000
    x = torch.randn(n, d).requires_grad_()
    u = torch.rand(n)
    ids = torch.randint(0, identities, (n,))
    # One ignore index for unlabelled persons and background, as OIM code uses.
    labels = torch.where(u < 0.4, ids, torch.full_like(ids, -1))
    lut = F.normalize(torch.randn(identities, d), dim=1)
    cq = F.normalize(torch.randn(q, d), dim=1)
    return x, labels, lut, cq


def oim_loss_step(x, labels, lut, cq, scalar=10.0):
    x_hat = F.normalize(x, dim=1)
    logits = torch.cat([x_hat.mm(lut.t()), x_hat.mm(cq.t())], dim=1) * scalar
    return F.cross_entropy(logits, labels, ignore_index=-1)


@case("oim_loss")
def oim_loss():
    x, labels, lut, cq = oim_inputs()
    return backward(lambda: oim_loss_step(x, labels, lut, cq), x)


@case("lut_id_distill")
def lut_id_distill():
    x, labels, teacher_lut, cq = oim_inputs()
    return backward(lambda: oim_loss_step(x, labels, teacher_lut, cq), x)


@case("oim_update")
def oim_update():
    x, labels, lut, cq = oim_inputs()
    x = x.detach()
    u = torch.rand(x.shape[0])
    labels = torch.where(labels >= 0, labels, torch.where(u < 0.5, torch.full_like(labels, -1), torch.full_like(labels, -2)))
    state = {"header": 0}

    def step():
        # The OIM reference implementation's update loop (run in its backward pass).
        with torch.no_grad():
            inputs = F.normalize(x, dim=1)
            for xi, y in zip(inputs, labels.tolist()):
                if y >= 0:
                    lut[y] = 0.5 * lut[y] + 0.5 * xi
                    lut[y] /= lut[y].norm()
                elif y == -1:
                    cq[state["header"]] = xi
                    state["header"] = (state["header"] + 1) % cq.size(0)
    return step


def chen_soft(s, t, bg_weight=1.5, T=1.0):
    w = torch.ones(s.size(1))
    w[-1] = bg_weight
    return -(w * F.softmax(t / T, dim=1) * F.log_softmax(s / T, dim=1)).sum(dim=1).mean()


@case("chen_soft_ce")
def chen_soft_ce():
    s = (torch.randn(512, 81) * 2).requires_grad_()
    t = torch.randn(512, 81) * 2
    return backward(lambda: chen_soft(s, t), s)


@case("chen_cls_distill")
def chen_cls_distill():
    s = (torch.randn(512, 81) * 2).requires_grad_()
    t = torch.randn(512, 81) * 2
    y = torch.randint(0, 81, (512,))
    mu = 0.5
    return backward(lambda: mu * F.cross_entropy(s, y) + (1 - mu) * chen_soft(s, t), s)


@case("teacher_bounded_l2")
def teacher_bounded_l2():
    y = torch.randn(512, 4)
    s = (y + torch.randn(512, 4) * 0.5).requires_grad_()
    t = y + torch.randn(512, 4) * 0.5
    m = 0.0

    def loss():
        es = ((s - y) ** 2).sum(dim=1)
        et = ((t - y) ** 2).sum(dim=1)
        return (es * (es + m > et).float()).mean()
    return backward(loss, s)


FPN_LEVELS = [(150, 250), (75, 125), (38, 63), (19, 32), (10, 16)]


@case("hint_l2")
def hint_l2():
    s = [torch.randn(2, 256, h, w).requires_grad_() for h, w in FPN_LEVELS]
    t = [torch.randn(2, 256, h, w) for h, w in FPN_LEVELS]
    return backward(lambda: sum(F.mse_loss(a, b) for a, b in zip(s, t)), *s)




# ---- timing (the same procedure as Runner in tests/Distill.Losses.Benchmarks/Program.cs) -------------

class Runner:
    """One case's inputs and step: warm-up, a calibration step, then timed rounds."""

    def __init__(self, name, warmup):
        torch.manual_seed(0)
        self.step = CASES[name]()
        # The loss on the fresh inputs: the C# side, seeded alike, checks that it computes the same.
        self.value = float(self.step.loss_fn()) if hasattr(self.step, "loss_fn") else None
        for _ in range(warmup):
            self.step()
        t0 = time.perf_counter()
        self.step()
        self.step_seconds = time.perf_counter() - t0

    def round(self, iterations):
        t0 = time.perf_counter()
        for _ in range(iterations):
            self.step()
        return (time.perf_counter() - t0) / iterations


def serve():
    """Line protocol used by the C# benchmark, so that its rounds and ours alternate under the same load:
    'setup NAME WARMUP' -> {"step_seconds", "value"} or {"error"}; 'round ITERATIONS' -> {"seconds_per_step"}; 'quit'."""
    runner = None
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            break
        if words[0] == "setup":
            runner = None
            if words[1] not in CASES:
                reply = {"error": "no Python case"}
            else:
                runner = Runner(words[1], int(words[2]))
                reply = {"step_seconds": runner.step_seconds, "value": runner.value}
        elif words[0] == "round" and runner is not None:
            reply = {"seconds_per_step": runner.round(int(words[1]))}
        else:
            reply = {"error": f"unexpected command {line.strip()!r}"}
        print(json.dumps(reply), flush=True)


def standalone(names, rounds, warmup, round_ms):
    """The same measurement without the C# side: median and min seconds per step of each case."""
    out = {}
    for name in names:
        if name not in CASES:
            out[name] = {"error": "no Python case"}
            continue
        runner = Runner(name, warmup)
        iterations = int(min(max(round_ms / 1e3 / runner.step_seconds, 1), 10000))
        per_step = [runner.round(iterations) for _ in range(rounds)]
        out[name] = {"median": statistics.median(per_step), "min": min(per_step), "iterations": iterations, "value": runner.value}
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--serve", action="store_true", help="answer the C# benchmark's commands on stdin")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--round-ms", type=float, default=200)
    p.add_argument("--cases", default=",".join(CASES))
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.serve:
        print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
        serve()
        return
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(),
           "cases": standalone([c for c in a.cases.split(",") if c], a.rounds, a.warmup, a.round_ms)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
