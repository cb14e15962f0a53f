"""The PyTorch side of the face-recognition distillation benchmark (tests/Distill.Face.Benchmarks, issue 6).

Started by the C# benchmark with Debian's python3-torch (the same libtorch 1.13.1) as a worker: it reads one JSON
command per line on stdin and answers one JSON line on stdout, so the two sides can run their timed blocks in
turns (a change in the machine's load falls on both alike). Commands:

  {"cmd": "setup_head", "classes": K, "batch": B, "dim": D}  -> {"check": {...}}
  {"cmd": "setup_step", "classes": K, "batch": B, "batches": P, "n": N, "depth": .., "width": .., "teacher_embedding": ..,
   "scale": .., "student_embedding": .., "size": ..}    -> {"check": {...}, "params": ...}
  {"cmd": "run", "case": C, "n": N}  -> {"seconds": [...], "cpu_seconds": [...], "value": ...}   C: head_logits | head_margin | head_train | step
  {"cmd": "rss"}                      -> {"vmhwm_kb": ..., "vmrss_kb": ...}
  {"cmd": "quit"}                     -> {"vmhwm_kb": ..., "vmrss_kb": ...}

What each case computes (the C# side computes the same with its own code):
* head_logits: F.linear(F.normalize(emb), F.normalize(W)) * s under no_grad: emb (B, D), W (K, D).
* head_margin: GKD's CosineMarginProduct (margin/CosineMarginProduct.py) under no_grad:
  cos = F.linear(F.normalize(emb), F.normalize(W)); one_hot = zeros_like(cos).scatter_(1, label, 1);
  s * (cos - one_hot * m), s = 64, m = 0.4.
* head_train: head_margin with gradients + F.cross_entropy + backward (grads of W and emb; both set to None first).
* step: one GKD training step in eager PyTorch: teacher IResNet (depth, width, embedding, size from the command) in
  eval mode under no_grad, student MobileFaceNet (scale, embedding, size) in train mode, CosFace heads
  (CosineMarginProduct, s 64, m 0.4) on both;
  loss = CE(student margin logits) + GKD(student, teacher margin logits; T 4, alpha 1, beta 8, top-n by the student
  logits with the target forced in), SGD(lr 0.1, momentum 0.9, wd 5e-4), zero_grad(set_to_none=True).

Weights and inputs come from a formula both sides evaluate with the same libtorch ops (frac(sin(i*a + b)*43758.5453)),
so the two sides start from identical values and the first results (the "check" values) must agree.

Run by hand:  printf '{"cmd":"setup_head","classes":10000,"batch":128,"dim":512}\n{"cmd":"run","case":"head_logits","n":5}\n' \
                | /usr/bin/python3 tests/benchmarks/face_bench.py --threads 2 [--default-malloc]
"""
import argparse
import ctypes
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---- deterministic values (repeated in tests/Distill.Face.Benchmarks/Formula.cs) ---------------------------

def formula(n, a, b):
    """n values in [-1, 1): frac(sin(i*a + b) * 43758.5453) * 2 - 1, computed in float64 (in place, as the C# side)."""
    y = torch.arange(n, dtype=torch.float64).mul_(a).add_(b).sin_().mul_(43758.5453)
    y.sub_(torch.floor(y))
    return y.mul_(2).sub_(1)


def formula_weights(model):
    """Every floating state_dict entry j from the formula: weights (dim >= 2) u*sqrt(3/fan_in), running_var
    0.75 + 0.25u, running_mean 0.1u, other weights 1 + 0.2u, biases 0.1u (as tests/fixtures/python/make_models.py)."""
    with torch.no_grad():
        for j, (key, value) in enumerate(model.state_dict(keep_vars=True).items()):
            if not value.is_floating_point():
                continue
            n = value.numel()
            u = formula(n, 0.9, 1.3 * j)
            if value.dim() >= 2:
                v = u.mul_(math.sqrt(3.0 / (n // value.shape[0])))
            elif key.endswith("running_var"):
                v = u.mul_(0.25).add_(0.75)
            elif key.endswith("running_mean"):
                v = u.mul_(0.1)
            elif key.endswith("weight"):
                v = u.mul_(0.2).add_(1.0)
            else:
                v = u.mul_(0.1)
            value.copy_(v.view(value.shape))  # copy_ converts to the entry's dtype
            del u, v


def images(batch, size, i):
    return formula(batch * 3 * size * size, 0.7, 2.9 * (i + 1)).to(torch.float32).reshape(batch, 3, size, size)


def labels(batch, classes, i):
    return (torch.arange(batch, dtype=torch.int64) * 7919 + i * 104729) % classes


# ---- GKD's CosineMarginProduct ------------------------------------------------------------------------------

class CosineMarginProduct(nn.Module):
    def __init__(self, in_feature, out_feature, s=64.0, m=0.4):
        super().__init__()
        self.s = s
        self.m = m
        self.weight = nn.Parameter(torch.empty(out_feature, in_feature))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, x, label):
        cosine = F.linear(F.normalize(x), F.normalize(self.weight))
        one_hot = torch.zeros_like(cosine)
        one_hot.scatter_(1, label.view(-1, 1), 1.0)
        return self.s * (cosine - one_hot * self.m)


# ---- insightface's IResNet and MobileFaceNet (with a stage-1 width and an input size, as our models) --------

class IBasicBlock(nn.Module):
    def __init__(self, cin, cout, stride, downsample):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.prelu = nn.PReLU(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample = downsample

    def forward(self, x):
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (x if self.downsample is None else self.downsample(x))


class IResNet(nn.Module):
    BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 14, 3), 100: (3, 13, 30, 3)}

    def __init__(self, depth, classes, embedding, width, size, s=64.0, m=0.4):
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.prelu = nn.PReLU(width)
        self.layer1 = self._layer(width, self.BLOCKS[depth][0])
        self.layer2 = self._layer(2 * width, self.BLOCKS[depth][1])
        self.layer3 = self._layer(4 * width, self.BLOCKS[depth][2])
        self.layer4 = self._layer(8 * width, self.BLOCKS[depth][3])
        self.bn2 = nn.BatchNorm2d(8 * width)
        self.dropout = nn.Dropout(p=0.0, inplace=True)
        side = (size + 15) // 16
        self.fc = nn.Linear(8 * width * side * side, embedding)
        self.features = nn.BatchNorm1d(embedding)
        self.head = CosineMarginProduct(embedding, classes, s, m)
        self.features.weight.requires_grad = False

    def _layer(self, planes, n):
        down = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, 2, bias=False), nn.BatchNorm2d(planes))
        blocks = [IBasicBlock(self.inplanes, planes, 2, down)]
        blocks += [IBasicBlock(planes, planes, 1, None) for _ in range(1, n)]
        self.inplanes = planes
        return nn.Sequential(*blocks)

    def forward(self, x, label):
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.features(self.fc(self.dropout(torch.flatten(self.bn2(x), 1))))
        return self.head(x, label)


class ConvBlock(nn.Module):
    def __init__(self, cin, cout, k, stride, pad, groups=1):
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(cin, cout, k, stride, pad, groups=groups, bias=False),
                                    nn.BatchNorm2d(cout), nn.PReLU(cout))

    def forward(self, x):
        return self.layers(x)


class LinearBlock(nn.Module):
    def __init__(self, cin, cout, k, stride, pad, groups=1):
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(cin, cout, k, stride, pad, groups=groups, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return self.layers(x)


class DepthWise(nn.Module):
    def __init__(self, cin, cout, residual, stride, hidden):
        super().__init__()
        self.residual = residual
        self.layers = nn.Sequential(ConvBlock(cin, hidden, 1, 1, 0), ConvBlock(hidden, hidden, 3, stride, 1, groups=hidden),
                                    LinearBlock(hidden, cout, 1, 1, 0))

    def forward(self, x):
        return x + self.layers(x) if self.residual else self.layers(x)


class Residual(nn.Module):
    def __init__(self, c, n, hidden):
        super().__init__()
        self.layers = nn.Sequential(*[DepthWise(c, c, True, 1, hidden) for _ in range(n)])

    def forward(self, x):
        return self.layers(x)


class GDC(nn.Module):
    def __init__(self, embedding, kernel):
        super().__init__()
        self.layers = nn.Sequential(LinearBlock(512, 512, kernel, 1, 0, groups=512), nn.Flatten(),
                                    nn.Linear(512, embedding, bias=False), nn.BatchNorm1d(embedding))

    def forward(self, x):
        return self.layers(x)


class MobileFaceNet(nn.Module):
    def __init__(self, classes, embedding=512, scale=2, size=112, s=64.0, m=0.4, blocks=(1, 4, 6, 2)):
        super().__init__()
        c1, c2 = 64 * scale, 128 * scale
        self.layers = nn.Sequential(
            ConvBlock(3, c1, 3, 2, 1),
            ConvBlock(c1, c1, 3, 1, 1, groups=64) if blocks[0] == 1 else Residual(c1, blocks[0], 128),
            DepthWise(c1, c1, False, 2, 128), Residual(c1, blocks[1], 128),
            DepthWise(c1, c2, False, 2, 256), Residual(c2, blocks[2], 256),
            DepthWise(c2, c2, False, 2, 512), Residual(c2, blocks[3], 256))
        self.conv_sep = ConvBlock(c2, 512, 1, 1, 0)
        self.features = GDC(embedding, (size + 15) // 16)
        self.head = CosineMarginProduct(embedding, classes, s, m)

    def forward(self, x, label):
        return self.head(self.features(self.conv_sep(self.layers(x))), label)


# ---- GKD loss (WisonZ/GKD distillation/gkd.py, gkd_loss_student_base) ---------------------------------------

def cat_mask(t, mask1, mask2):
    return torch.cat([(t * mask1).sum(dim=1, keepdim=True), (t * mask2).sum(dim=1, keepdim=True)], dim=1)


def gkd_loss(logits_student, logits_teacher, target, alpha, beta, temperature, n):
    """The released loss: the primary group is the top-n classes by the student's logits with the target forced
    in (the release sets its logit to 999999 and sorts; topk(sorted=False) selects the same set, faster); BKD on
    the two group masses, PKD within the primary group by the -1000*mask trick; no secondary term (lambda 0)."""
    forced = logits_student.detach().scatter(1, target.view(-1, 1), 999999.0)
    index = forced.topk(n, dim=1, sorted=False).indices
    hcm_mask = torch.zeros_like(logits_student).scatter_(1, index, 1.0)
    other_mask = 1.0 - hcm_mask
    pred_student = F.softmax(logits_student / temperature, dim=1)
    pred_teacher = F.softmax(logits_teacher / temperature, dim=1)
    pred_student = cat_mask(pred_student, hcm_mask, other_mask)
    pred_teacher = cat_mask(pred_teacher, hcm_mask, other_mask)
    log_pred_student = torch.log(pred_student)
    bkd = F.kl_div(log_pred_student, pred_teacher, reduction="sum") * temperature ** 2 / target.shape[0]
    pred_teacher_part2 = F.softmax(logits_teacher / temperature - 1000.0 * other_mask, dim=1)
    log_pred_student_part2 = F.log_softmax(logits_student / temperature - 1000.0 * other_mask, dim=1)
    pkd = F.kl_div(log_pred_student_part2, pred_teacher_part2, reduction="sum") * temperature ** 2 / target.shape[0]
    return alpha * bkd + beta * pkd


# ---- the worker ---------------------------------------------------------------------------------------------

class Worker:
    def __init__(self, device="cpu"):
        self.cases = {}
        self.device = torch.device(device)

    def sync(self):
        """On a GPU an iteration is done when its kernels are."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def setup_head(self, classes, batch, dim):
        head = CosineMarginProduct(dim, classes)
        with torch.no_grad():
            head.weight.copy_(formula(classes * dim, 0.61, 0.5).to(torch.float32).reshape(classes, dim))
        head = head.to(self.device)
        emb = formula(batch * dim, 0.37, 1.7).to(torch.float32).reshape(batch, dim).to(self.device).requires_grad_()
        label = labels(batch, classes, 0).to(self.device)
        s = head.s

        def logits():
            with torch.no_grad():
                return F.linear(F.normalize(emb), F.normalize(head.weight)) * s

        def margin():
            with torch.no_grad():
                return head(emb, label)

        def train():
            head.weight.grad = None
            emb.grad = None
            loss = F.cross_entropy(head(emb, label), label)
            loss.backward()
            return loss

        self.cases = {"head_logits": logits, "head_margin": margin, "head_train": train}
        train()
        return {"check": {
            "logits_abs": logits().double().abs().sum().item(),
            "margin_abs": margin().double().abs().sum().item(),
            "ce": train().item(),
            "grad_weight_abs": head.weight.grad.double().abs().sum().item(),
            "grad_embedding_abs": emb.grad.double().abs().sum().item(),
        }}

    def setup_step(self, classes, batch, batches, n, depth, width, teacher_embedding, scale, student_embedding, size):
        teacher = IResNet(depth, classes, teacher_embedding, width, size)
        student = MobileFaceNet(classes, student_embedding, scale, size)
        formula_weights(teacher)
        formula_weights(student)
        teacher = teacher.to(self.device)
        student = student.to(self.device)
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        student.train()
        optimizer = torch.optim.SGD(student.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        data = [(images(batch, size, i).to(self.device), labels(batch, classes, i).to(self.device)) for i in range(batches)]
        counter = [0]

        def loss_of(x, y):
            with torch.no_grad():
                t = teacher(x, y)
            s = student(x, y)
            ce = F.cross_entropy(s, y)
            kd = gkd_loss(s, t, y, 1.0, 8.0, 4.0, n)
            return ce, kd

        def step():
            x, y = data[counter[0] % len(data)]
            counter[0] += 1
            optimizer.zero_grad(set_to_none=True)
            ce, kd = loss_of(x, y)
            loss = ce + kd
            loss.backward()
            optimizer.step()
            return loss

        # the check: the first batch's terms in evaluation mode (no batch statistics), before any step
        student.eval()
        with torch.no_grad():
            ce, kd = loss_of(*data[0])
        student.train()
        self.cases = {"step": step}
        return {"check": {"ce": ce.item(), "gkd": kd.item()},
                "params": sum(p.numel() for p in student.parameters())}

    def run(self, case, n):
        fn = self.cases[case]
        seconds = []
        cpu_seconds = []
        value = None
        for _ in range(n):
            c0 = time.process_time()
            t0 = time.perf_counter()
            value = fn()
            self.sync()
            seconds.append(time.perf_counter() - t0)
            cpu_seconds.append(time.process_time() - c0)
        v = float(value.double().sum().item()) if value is not None else None
        return {"seconds": seconds, "cpu_seconds": cpu_seconds, "value": v}


def rss():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmHWM:", "VmRSS:")):
                out[line.split(":")[0].lower() + "_kb"] = int(line.split()[1])
    return out


def fix_allocator_policy():
    """The glibc malloc policy the C# side pins too (Allocator in Program.cs, as the loss benchmark does): every
    block from the heap (no mmap) and the heap never trimmed."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        # M_MMAP_MAX = -4 set to 0, M_TRIM_THRESHOLD = -1 set to -1 (never); mallopt returns 1 on success
        if libc.mallopt(-4, 0) == 1 and libc.mallopt(-1, -1) == 1:
            return "heap only (no mmap), never trimmed"
        return "mallopt refused (left as is)"
    except (OSError, AttributeError):
        return "no mallopt (left as is)"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--default-malloc", action="store_true", help="leave glibc's malloc policy as it is")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (each timed iteration then ends with a synchronize)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    allocator = "glibc defaults" if args.default_malloc else fix_allocator_policy()
    worker = Worker(args.device)
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(), "allocator": allocator,
                      "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "libgomp default")}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        try:
            cmd = command["cmd"]
            if cmd == "quit":
                print(json.dumps(rss()), flush=True)
                return
            if cmd == "setup_head":
                reply = worker.setup_head(command["classes"], command["batch"], command["dim"])
            elif cmd == "setup_step":
                reply = worker.setup_step(command["classes"], command["batch"], command["batches"], command["n"], command["depth"],
                                          command["width"], command["teacher_embedding"], command["scale"],
                                          command["student_embedding"], command["size"])
            elif cmd == "run":
                reply = worker.run(command["case"], command["n"])
            elif cmd == "rss":
                reply = rss()
            else:
                reply = {"error": f"unknown command {cmd}"}
        except Exception as e:  # the C# side prints the message and carries on with its own numbers
            reply = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
