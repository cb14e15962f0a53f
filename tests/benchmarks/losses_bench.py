"""The PyTorch side of the loss benchmark (tests/Distill.Losses.Benchmarks).

Run by the C# benchmark in the same session with Debian's python3-torch (the same libtorch 1.13.1) and
the same thread count. Each case is written in plain PyTorch the way a researcher would write the loss
(no attempt to be clever), on inputs of the same shapes and distributions as the C# case of the same
name. The C# benchmark runs it with --serve and alternates its own rounds with this side's, case by
case, so both are measured under the same machine load. Standalone (without --serve) it prints one JSON
object: {"torch", "threads", "allocator", "cases": {name: {median, min, iterations, value} | {error}}}.
"value" is the loss on the freshly seeded inputs (for a forward-only case, a scalar summary of its
result); both sides draw their inputs from the same libtorch generator in the same order, so the C# side
compares it with its own to check the two compute the same thing. Both sides pin the same glibc malloc
policy (see fix_allocator_policy) unless --default-malloc is given.

To add a loss: one function below, decorated with @case("<name of the C# case>"), that builds the
inputs and returns the step to time (a callable; `backward(loss_fn, *inputs)` makes one from a loss,
`forward(fn)` one without backward from a function returning a scalar summary).

  /usr/bin/python3 losses_bench.py --threads 2 --rounds 7 --warmup 3 --round-ms 200 --cases hinton_kd,oim_loss
  /usr/bin/python3 losses_bench.py --threads 2 --serve     (what the C# program runs)
"""
import argparse
import ctypes
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


# ---- classic baselines (continued) -------------------------------------------------------------------

@case("fitnet_mse")
def fitnet_mse():
    # A CIFAR hint layer (64 images, 128 x 16 x 16) after the student's regressor; nn.MSELoss.
    s = torch.randn(64, 128, 16, 16).requires_grad_()
    t = torch.randn(64, 128, 16, 16)
    return backward(lambda: F.mse_loss(s, t), s)


@case("cross_entropy")
def cross_entropy():
    s = (torch.randn(256, 1000) * 3).requires_grad_()
    y = torch.randint(0, 1000, (256,))
    return backward(lambda: F.cross_entropy(s, y, label_smoothing=0.1), s)


# Wide-ResNet groups on CIFAR (AT paper: WRN-16-1 student, WRN-16-2 teacher): channels, spatial size.
WRN_GROUPS = [(16, 32, 32), (32, 64, 16), (64, 128, 8)]


def at(x):
    # attention-transfer's at(): channel mean of x^2, flattened, L2-normalised per sample
    return F.normalize(x.pow(2).mean(1).view(x.size(0), -1))


def at_loss(x, y):
    return (at(x) - at(y)).pow(2).mean()


@case("attention_transfer")
def attention_transfer():
    s, t = [], []
    for cs, ct, hw in WRN_GROUPS:
        s.append(torch.randn(128, cs, hw, hw).requires_grad_())
        t.append(torch.randn(128, ct, hw, hw))
    return backward(lambda: sum(at_loss(x, y) for x, y in zip(s, t)), *s)


@case("embedding_distill")
def embedding_distill():
    # The GKD repo's HintLoss: MSELoss(sum)(normalize(s), normalize(t)) / (T * B), T = 2.
    s = torch.randn(128, 512).requires_grad_()
    t = torch.randn(128, 512)
    mse = torch.nn.MSELoss(reduction="sum")
    return backward(lambda: mse(F.normalize(s), F.normalize(t)) / (2 * s.shape[0]), s)


@case("cosine_embedding_distill")
def cosine_embedding_distill():
    s = torch.randn(128, 512).requires_grad_()
    t = torch.randn(128, 512)
    return backward(lambda: (1 - F.cosine_similarity(s, t, dim=1)).mean(), s)


def two_bins(p, mask):
    # [mass on the mask, mass off it] per row, as the DKD/GKD releases build it
    return torch.cat([(p * mask).sum(1, keepdim=True), (p * (1 - mask)).sum(1, keepdim=True)], dim=1)


def dkd_loss(zs, zt, y, alpha, beta, T):
    # mdistiller's DKD: target/non-target bins, then the non-target classes with the target pushed down by 1000
    gt = torch.zeros_like(zs).scatter_(1, y.unsqueeze(1), 1)
    ps = two_bins(F.softmax(zs / T, dim=1), gt)
    pt = two_bins(F.softmax(zt / T, dim=1), gt)
    tckd = F.kl_div(torch.log(ps), pt, reduction="sum") * T ** 2 / y.shape[0]
    pt2 = F.softmax(zt / T - 1000.0 * gt, dim=1)
    ls2 = F.log_softmax(zs / T - 1000.0 * gt, dim=1)
    nckd = F.kl_div(ls2, pt2, reduction="sum") * T ** 2 / y.shape[0]
    return alpha * tckd + beta * nckd


@case("dkd")
def dkd():
    # ImageNet setting of mdistiller (alpha 0.5, beta 0.5, T 1)
    s = (torch.randn(256, 1000) * 3).requires_grad_()
    t = torch.randn(256, 1000) * 3
    y = torch.randint(0, 1000, (256,))
    return backward(lambda: dkd_loss(s, t, y, 0.5, 0.5, 1.0), s)


# ---- GKD (face recognition) ------------------------------------------------------------------------

def face_logits(batch, classes, margin=20.0):
    """Margin-style logits: the labelled class stands out of N(0, 3^2) noise, as in a trained face model."""
    y = torch.randint(0, classes, (batch,))
    target = torch.zeros(batch, classes).scatter_(1, y.unsqueeze(1), margin)
    s = (torch.randn(batch, classes) * 3 + target).requires_grad_()
    t = torch.randn(batch, classes) * 3 + target
    return s, t, y


def grouped_kd(zs, zt, hard, alpha, beta, T):
    # WisonZ/GKD gkd_loss_student_base given the primary-group mask (lambda = 0: no secondary term)
    nhard = 1 - hard
    ps = two_bins(F.softmax(zs / T, dim=1), hard)
    pt = two_bins(F.softmax(zt / T, dim=1), hard)
    bkd = F.kl_div(torch.log(ps), pt, reduction="sum") * T ** 2 / zs.shape[0]
    pt_hard = F.softmax(zt / T - 1000.0 * nhard, dim=1)
    ls_hard = F.log_softmax(zs / T - 1000.0 * nhard, dim=1)
    pkd = F.kl_div(ls_hard, pt_hard, reduction="sum") * T ** 2 / zs.shape[0]
    return alpha * bkd + beta * pkd


def topn_mask(logits, y, n):
    # the released selection: the target forced to the top, full sort, first n indices
    select = logits.scatter(1, y.unsqueeze(1), 999999)
    top = select.sort(descending=True, dim=1)[1][:, :n]
    return torch.zeros_like(logits).scatter(1, top, 1)


def gkd_topk_case(batch, classes, n):
    s, t, y = face_logits(batch, classes)
    return backward(lambda: grouped_kd(s, t, topn_mask(s, y, n), 1.0, 8.0, 4.0), s)


@case("gkd_topk")
def gkd_topk():
    return gkd_topk_case(128, 10000, 1000)


@case("gkd_topk_face")
def gkd_topk_face():
    return gkd_topk_case(64, 85742, 10000)


@case("gkd_adaptive")
def gkd_adaptive():
    s, t, y = face_logits(128, 10000)
    rate = 0.93

    def loss():
        # gkd_adaptive.py: the batch's summed softmax decides n (loop of host checks, step 100)
        prob = torch.sum(F.softmax(s, dim=1), dim=0).sort(descending=True)[0]
        n = prob.shape[0]
        for idx in range(1, prob.shape[0], 100):
            if torch.sum(prob[:idx], dim=0) >= rate * s.shape[0]:
                n = idx
                break
        return grouped_kd(s, t, topn_mask(s, y, n), 1.0, 4.0, 4.0)
    return backward(loss, s)


@case("gkd_cumprob")
def gkd_cumprob():
    s, t, y = face_logits(128, 10000)
    T, threshold = 4.0, 0.93

    def loss():
        # the paper's wording: the shortest prefix of the teacher's sorted softened prediction reaching 0.93
        with torch.no_grad():
            p, order = F.softmax(t / T, dim=1).sort(dim=1, descending=True)
            before = p.double().cumsum(1) - p.double()
            hard = torch.zeros_like(t).scatter(1, order, (before < threshold).float())
        return grouped_kd(s, t, hard, 1.0, 8.0, T)
    return backward(loss, s)


# ---- DeFeat and Global Knowledge (detection) -------------------------------------------------------

STRIDES = [4, 8, 16, 32, 64]
# COCO images padded to 800 x 1344 (Global Knowledge's setting), P2..P6
COCO_LEVELS = [(200, 336), (100, 168), (50, 84), (25, 42), (13, 21)]


def random_boxes(count, width, height):
    u = torch.rand(count, 4)
    x1 = u[:, 0] * (width - 100)
    y1 = u[:, 1] * (height - 100)
    x2 = (x1 + 24 + u[:, 2] * (width * 0.65)).clamp(max=width - 1)
    y2 = (y1 + 24 + u[:, 3] * (height * 0.65)).clamp(max=height - 1)
    return torch.stack([x1, y1, x2, y2], dim=1)


def map_roi_levels(rois, num_levels):
    scale = torch.sqrt((rois[:, 2] - rois[:, 0] + 1) * (rois[:, 3] - rois[:, 1] + 1))
    return torch.floor(torch.log2(scale / 56 + 1e-6)).clamp(min=0, max=num_levels - 1).long()


def gt_masks(boxes, sizes, weights=None):
    """get_gt_mask of DeFeat / Global Knowledge: every box on its level, 1 (or its weight) on its cells."""
    masks = [torch.zeros(len(boxes), h, w) for h, w in sizes]
    for n, b in enumerate(boxes):
        levels = map_roi_levels(b, len(sizes))
        for i in range(b.shape[0]):
            lvl = int(levels[i])
            h, w = sizes[lvl]
            g = b[i] / STRIDES[lvl]
            lx, rx = max(int(g[0]), 0), min(int(g[2]), w)
            ly, ry = max(int(g[1]), 0), min(int(g[3]), h)
            v = 1.0 if weights is None else float(weights[n][i])
            if lx == rx or ly == ry:
                masks[lvl][n, ly, lx] = max(float(masks[lvl][n, ly, lx]), v)
            else:
                masks[lvl][n, ly:ry, lx:rx] = v
    return masks


@case("defeat_feature")
def defeat_feature():
    # VOC 600 x 1000, batch 2, 4 GT boxes per image; masks built once, outside the timed step
    s = [torch.randn(2, 256, h, w).requires_grad_() for h, w in FPN_LEVELS]
    t = [torch.randn(2, 256, h, w) for h, w in FPN_LEVELS]
    masks = gt_masks([random_boxes(4, 1000, 600) for _ in range(2)], FPN_LEVELS)

    def loss():
        # DeFeat's 'neck-decouple' loop (the mask broadcast over channels instead of repeated)
        obj, bg = 0.0, 0.0
        for a, b, m in zip(s, t, masks):
            m = m.unsqueeze(1)
            c = a.size(1)
            diff = torch.pow(a - b, 2)
            obj = obj + (diff * m).sum() / max(1.0, m.sum() * c * 2)
            bg = bg + (diff * (1 - m)).sum() / max(1.0, (1 - m).sum() * c * 2)
        return 3.0 * obj / len(s) + 12.0 * bg / len(s)
    return backward(loss, *s)


def kl_rows_masked(y, teacher_scores, mask, T=1.0):
    # DeFeat's KLDivergenceLoss with a mask
    if mask.sum() == 0:
        return torch.zeros(())
    p = F.log_softmax(y / T, dim=1)[mask]
    q = F.softmax(teacher_scores / T, dim=1)[mask]
    return F.kl_div(p, q, reduction="none").sum() / mask.sum() * T ** 2


@case("defeat_cls")
def defeat_cls():
    # 512 sampled RoIs (25 % positive), 80 classes + background
    s = (torch.randn(512, 81) * 2).requires_grad_()
    t = torch.randn(512, 81) * 2
    u = torch.rand(512)
    labels = torch.where(u < 0.25, torch.randint(0, 80, (512,)), torch.full((512,), 80))
    return backward(lambda: 2.0 * kl_rows_masked(s, t, labels < 80) + 2.0 * kl_rows_masked(s, t, labels == 80), s)


def template_box_distance(box, template):
    return F.normalize(box).mm(F.normalize(template).t())


@case("global_knowledge_loss")
def global_knowledge_loss():
    # one FPN level: 256 positive instances x 256-d against 80 classes x 10 prototypes
    s = torch.randn(256, 256).requires_grad_()
    t = torch.randn(256, 256)
    ps = torch.randn(800, 256)
    pt = torch.randn(800, 256)
    w = torch.rand(256)

    def loss():
        # r2i_om_loss: cosines to all prototypes scaled by the robust weights, smooth L1, factor 5
        st = template_box_distance(s, ps) * w.unsqueeze(1)
        tt = template_box_distance(t, pt) * w.unsqueeze(1)
        return F.smooth_l1_loss(st, tt, reduction="mean") * 5.0 * 1.0
    return backward(loss, s)


@case("gk_point_kd")
def gk_point_kd():
    # COCO 800 x 1344, batch 2, 7 boxes per image with robust weights; weight masks built once
    s = [torch.randn(2, 256, h, w).requires_grad_() for h, w in COCO_LEVELS]
    t = [torch.randn(2, 256, h, w) for h, w in COCO_LEVELS]
    boxes, weights = [], []
    for _ in range(2):
        boxes.append(random_boxes(7, 1333, 800))
        weights.append(1 - 0.3 * torch.rand(7))
    masks = gt_masks(boxes, COCO_LEVELS, weights)

    def loss():
        # KDLoss 'decouple' per level (fg normalised by the weight sum, bg by the count), levels averaged
        total = 0.0
        for a, b, m in zip(s, t, masks):
            m = m.unsqueeze(1)
            onehot = (m > 0).float()
            c = a.size(1)
            diff = torch.pow(a - b, 2)
            fg = (diff * m).sum() / max(1.0, m.sum() * c * 2) * 1.0
            bg = (diff * (1 - onehot)).sum() / max(1.0, (1 - onehot).sum() * c * 2) * 4.0
            total = total + fg + bg
        return total / len(s)
    return backward(loss, *s)


@case("gk_soft_kd")
def gk_soft_kd():
    # 256 positive RoIs x 81 classes, T = 2, robust weights
    s = (torch.randn(256, 81) * 2).requires_grad_()
    t = torch.randn(256, 81) * 2
    w = 1 - 0.3 * torch.rand(256)
    T = 2.0

    def loss():
        # mmdet's knowledge_distillation_kl_div_loss, weighted, mean over RoIs
        target = F.softmax(t / T, dim=1)
        kd = F.kl_div(F.log_softmax(s / T, dim=1), target, reduction="none").mean(1) * (T * T)
        return (kd * w).mean()
    return backward(loss, s)


def forward(fn):
    """A step without backward whose result summarises what it computed (to compare with the C# side)."""
    def step():
        fn()
    step.loss_fn = fn
    return step


def pgm_prototypes(xs, xt, num_prototypes=10, alpha=10.0):
    """PGM (_generate_prototypes_single) in float64 on the CPU. The release forms the (K, D, N) residual
    errors explicitly; at the closed-form weights the objective of atom k equals
    sum_n (|r_s|^2 + |r_t|^2 - a w_s - b w_t) (unit atoms), so the pick minimises -sum_n (a w_s + b w_t)."""
    a = F.normalize(xs.double())
    b = F.normalize(xt.double())
    density_a = torch.exp(-1 * torch.pow((1 - a.mm(a.t())) / 0.1, 2)).sum(1)
    density_b = torch.exp(-1 * torch.pow((1 - b.mm(b.t())) / 0.1, 2)).sum(1)
    middle = int(len(density_a) * 0.4)
    gamma = torch.where((density_a > density_a.sort().values[middle]) & (density_b > density_b.sort().values[middle]))[0]
    pa, pb = a[gamma], b[gamma]
    ra, rb = a.clone(), b.clone()
    picks = []
    for _ in range(num_prototypes):
        inner_a = pa.mm(ra.t())
        inner_b = pb.mm(rb.t())
        w_a = (alpha * (inner_a + inner_b) + inner_a) / (1 + 2 * alpha)
        w_b = (alpha * (inner_a + inner_b) + inner_b) / (1 + 2 * alpha)
        k = torch.argmin(-(inner_a * w_a + inner_b * w_b).sum(1))
        picks.append(gamma[k])
        ra = ra - w_a[k].unsqueeze(1) * pa[k].unsqueeze(0)
        rb = rb - w_b[k].unsqueeze(1) * pb[k].unsqueeze(0)
    return torch.stack(picks)


def pgm_inputs(n=800, dim=256, modes=5):
    """Box-pooled features of one class: a few modes, instance-dependent spread, paired student/teacher."""
    modes_s = torch.randn(modes, dim)
    modes_t = torch.randn(modes, dim)
    assign = torch.randint(0, modes, (n,))
    spread = 0.3 + 0.4 * torch.rand(n, 1)
    xs = modes_s[assign] + spread * torch.randn(n, dim)
    xt = modes_t[assign] + spread * torch.randn(n, dim)
    return xs, xt


@case("pgm_select_prototypes")
def pgm_select_prototypes():
    xs, xt = pgm_inputs()
    weights = torch.arange(1, 11, dtype=torch.float64)
    # summary of the picks (order-sensitive): sum_k (k + 1) * index_k
    return forward(lambda: (pgm_prototypes(xs, xt).double() * weights).sum())




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


def fix_allocator_policy():
    """The glibc malloc policy the C# side pins too (Allocator in Program.cs): every block from the heap
    (no mmap) and the heap never trimmed, so that no case times page faults that depend on what ran before
    it."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        # M_MMAP_MAX = -4 set to 0, M_TRIM_THRESHOLD = -1 set to -1 (never); mallopt returns 1 on success
        if libc.mallopt(-4, 0) == 1 and libc.mallopt(-1, -1) == 1:
            return "heap only (no mmap), never trimmed"
        return "mallopt refused (left as is)"
    except (OSError, AttributeError):
        return "no mallopt (left as is)"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--serve", action="store_true", help="answer the C# benchmark's commands on stdin")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--round-ms", type=float, default=200)
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--default-malloc", action="store_true", help="leave glibc's malloc policy as it is")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    allocator = "glibc defaults" if a.default_malloc else fix_allocator_policy()
    if a.serve:
        print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "allocator": allocator}), flush=True)
        serve()
        return
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "allocator": allocator,
           "cases": standalone([c for c in a.cases.split(",") if c], a.rounds, a.warmup, a.round_ms)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
