"""The PyTorch side of the detection training-step benchmark (tests/Distill.DetectionStep.Benchmarks, issue 12).

A frozen Faster R-CNN FPN teacher and a trained student (torchvision 0.14's FasterRCNN, built from torchvision's
classes over a GroupNorm body that reproduces Distill's "small" backbone layer for layer and name for name) plus
DeFeat's decoupled feature term over P2..P6 through one 3x3 adapter per level, written the way a PyTorch user
writes it in eager mode:

    opt.zero_grad(set_to_none=True)
    with torch.no_grad(): teacher features = teacher.backbone(teacher.transform(images).tensors)
    student: transform -> backbone (FPN) -> rpn(..., targets) -> roi_heads(..., targets)   (GeneralizedRCNN.forward's
             sequence, spelled out because DeFeat needs the student's FPN levels)
    loss = the four detector losses + defeat_feature(adapters(student levels), teacher levels, masks)
    loss.backward(); opt.step()                                  (SGD lr 0.02, momentum 0.9, wd 1e-4)

The weights and the batch come from the C# program (safetensors, --state), so both sides start from identical
values and compute the same first-step losses. Run with Debian's python3-torch + python3-torchvision
(/usr/bin/python3: the same libtorch 1.13.1 as Distill's shim).

--serve: line protocol on stdin/stdout, one JSON object per answer:
    "first SEED" -> {"losses": [objectness, rpn_box_reg, classifier, box_reg, defeat_feature]} (manual_seed(SEED), one step)
    "steps N"    -> {"step_seconds": [...], "cpu_seconds": float}
    "parts N"    -> {"parts": [[seconds per phase], ...]} (N steps timed phase by phase, PARTS order)
    "check N"    -> {"losses": [...]} (the losses of the N-th step from the initial weights)
  steps, parts and check first reset the student and adapters to the initial weights and zero the momentum buffers.
    "nms N"      -> {"nms_seconds": [...]} (N rounds of batched_nms over the 8 images' RPN NMS inputs, timed alone)
    "rss"        -> {"vmhwm_kib": int, "vmrss_kib": int}
    "quit"       -> exits
After loading it prints {"ready": true, ...}.
"""
import argparse
import collections
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.roi_heads import fastrcnn_loss
from torchvision.models.detection.rpn import RPNHead, concat_box_prediction_layers
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402  (the project's own reader, copied next to this script at build time)
from bench_server import memory_kib, send  # noqa: E402  (copied next to this script at build time, like safetensors_io)

CLASSES = 6
SIZE = 128
STRIDES = (4, 8, 16, 32, 64)


def group_norm(channels):
    """Distill's SmallBackbone.Norm: the largest group count <= 32 that divides the channels, >= 4 channels a group."""
    g = 32
    while g > 1 and (channels % g != 0 or channels // g < 4):
        g -= 1
    return nn.GroupNorm(g, channels)


class SmallBlock(nn.Module):
    """relu(gn2(conv2(relu(gn1(conv1 x)))) + downsample(x)), conv1 at stride 2 (Distill's SmallBackbone.SmallBlock)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False)
        self.gn1 = group_norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.gn2 = group_norm(cout)
        self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=2, bias=False), group_norm(cout))

    def forward(self, x):
        y = F.relu(self.gn1(self.conv1(x)), inplace=True)
        y = self.gn2(self.conv2(y))
        return F.relu(y + self.downsample(x), inplace=True)


class SmallBody(nn.Module):
    """Distill's "small" body: 3x3 stride-2 stem (conv1, gn1) then layer1..layer4 (strides 4..32, width * 2^(k-1)).
    The children are in execution order, which torchvision's IntermediateLayerGetter (inside BackboneWithFPN) runs."""

    def __init__(self, width):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, stride=2, padding=1, bias=False)
        self.gn1 = group_norm(width)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = SmallBlock(width, width)
        self.layer2 = SmallBlock(width, 2 * width)
        self.layer3 = SmallBlock(2 * width, 4 * width)
        self.layer4 = SmallBlock(4 * width, 8 * width)


def faster_rcnn(width, fpn_channels, representation):
    body = SmallBody(width)
    backbone = BackboneWithFPN(body, {"layer1": "0", "layer2": "1", "layer3": "2", "layer4": "3"},
                               [width, 2 * width, 4 * width, 8 * width], fpn_channels, extra_blocks=LastLevelMaxPool())
    anchors = AnchorGenerator(sizes=((8,), (16,), (32,), (64,), (128,)), aspect_ratios=((0.5, 1.0, 2.0),) * 5)
    return FasterRCNN(
        backbone, num_classes=None, min_size=SIZE, max_size=SIZE,
        image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],
        rpn_anchor_generator=anchors, rpn_head=RPNHead(fpn_channels, 3),
        rpn_pre_nms_top_n_train=600, rpn_post_nms_top_n_train=300, rpn_batch_size_per_image=128,
        box_roi_pool=MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2),
        box_head=TwoMLPHead(fpn_channels * 7 * 7, representation),
        box_predictor=FastRCNNPredictor(representation, CLASSES + 1),
        box_batch_size_per_image=128)


def defeat_gt_masks(boxes, strides, sizes):
    """DeFeat's object masks (Distill.Losses.DeFeat.defeat_gt_masks; the released get_gt_mask): each box on the level of
    mmdet's RoI rule, lvl = floor(log2(sqrt((w+1)(h+1)) / 56 + 1e-6)) clamped to the levels; on that level the cells
    [int(y1/s):min(int(y2/s),H), int(x1/s):min(int(x2/s),W)] are 1; a box empty in cells marks the cell (ly, lx)."""
    n = len(boxes)
    masks = [torch.zeros(n, h, w) for h, w in sizes]
    counts = [len(b) for b in boxes]
    allb = torch.cat(boxes, 0)
    if allb.numel() == 0:
        return masks
    w = allb[:, 2] - allb[:, 0] + 1
    h = allb[:, 3] - allb[:, 1] + 1
    lvl = ((w * h).sqrt() / 56 + 1e-6).log2().floor().clamp(0, len(strides) - 1).long()
    stride = torch.tensor(strides, dtype=torch.float64).to(allb.dtype)[lvl]
    cells = (allb / stride.unsqueeze(1)).long().tolist()
    lvl = lvl.tolist()
    i = 0
    for img in range(n):
        for _ in range(counts[img]):
            l = lvl[i]
            mh, mw = sizes[l]
            x1, y1, x2, y2 = cells[i]
            lx, ly = max(x1, 0), max(y1, 0)
            rx, ry = max(min(x2, mw), 0), max(min(y2, mh), 0)
            if lx == rx or ly == ry:
                masks[l][img, min(ly, mh - 1), min(lx, mw - 1)] = 1
            else:
                masks[l][img, ly:ry, lx:rx] = 1
            i += 1
    return masks


def defeat_feature(student, teacher, masks, alpha_obj=3.0, alpha_bg=12.0):
    """DeFeat's decoupled neck imitation (the released code's normalisation): per level E = (s - t)^2,
    Lobj = sum(M E) / max(1, 2 C sum M), Lbg = sum((1 - M) E) / max(1, 2 C sum(1 - M)); alpha_obj * mean Lobj +
    alpha_bg * mean Lbg over the levels."""
    obj = bg = 0
    for s, t, m in zip(student, teacher, masks):
        e = (s - t.detach()).pow(2).sum(1)
        c2 = 2.0 * s.shape[1]
        obj = obj + (e * m).sum() / (m.sum() * c2).clamp(min=1)
        bg = bg + (e * (1 - m)).sum() / ((1 - m).sum() * c2).clamp(min=1)
    levels = len(student)
    return obj * (alpha_obj / levels) + bg * (alpha_bg / levels)


PARTS = ("zero_grad", "teacher backbone+FPN (no_grad)", "student transform + backbone+FPN", "RPN head + anchors + decode",
         "RPN proposal filtering (top-k, clip, NMS)", "RPN target assignment (match + encode)",
         "RPN loss (sampling + BCE + smooth L1)", "RoI target assignment (match + sample + encode)",
         "RoI head (RoIAlign + MLP + predictor)", "RoI loss", "DeFeat term (masks + adapters + loss)", "backward",
         "optimizer step")


class DetectionStep:
    def __init__(self, state_path):
        state, _ = safetensors_io.load(state_path)
        self.teacher = faster_rcnn(32, 64, 256)
        self.student = faster_rcnn(8, 32, 128)
        self.adapters = nn.ModuleList([nn.Conv2d(32, 64, 3, padding=1) for _ in STRIDES])
        for prefix, module in (("teacher.", self.teacher), ("student.", self.student), ("adapters.", self.adapters)):
            sd = collections.OrderedDict((k[len(prefix):], v) for k, v in state.items() if k.startswith(prefix))
            module.load_state_dict(sd, strict=True)
        # The trained modules' initial state, for reset() before every block.
        self.initial = {k: v.clone() for k, v in state.items() if k.startswith("student.") or k.startswith("adapters.")}
        self.teacher.eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.student.train()
        self.adapters.train()
        self.opt = torch.optim.SGD(list(self.student.parameters()) + list(self.adapters.parameters()),
                                   lr=0.02, momentum=0.9, weight_decay=1e-4)
        images = state["images"]
        n = images.shape[0]
        # A list of [3, H, W] images and of target dicts, as torchvision's detection models take them.
        self.images = [images[i] for i in range(n)]
        self.boxes = [state["boxes.%d" % i] for i in range(n)]
        self.targets = [{"boxes": state["boxes.%d" % i], "labels": state["labels.%d" % i]} for i in range(n)]
        # The RPN's NMS inputs for the initial student (Distill's DistillSide.NmsInputs), to time batched_nms alone.
        self.nms_inputs = [(state["nms.boxes.%d" % i], state["nms.scores.%d" % i], state["nms.levels.%d" % i]) for i in range(n)]

    def nms(self, reps):
        """Seconds of each of reps rounds of torchvision.ops.batched_nms (IoU 0.7) over the images' RPN NMS inputs."""
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            for b, s, l in self.nms_inputs:
                torchvision.ops.batched_nms(b, s, l, 0.7)
            times.append(time.perf_counter() - t0)
        return times

    def reset(self):
        """Back to the shared initial weights with zeroed momentum buffers (SGD's update from a zero buffer equals its
        first-step update), before every block, as the C# side does: from scratch at lr 0.02 this student diverges to
        NaN within about ten steps, after which a step's cost means nothing."""
        with torch.no_grad():
            for prefix, module in (("student.", self.student), ("adapters.", self.adapters)):
                for k, v in module.state_dict().items():
                    v.copy_(self.initial[prefix + k])
        for st in self.opt.state.values():
            if st.get("momentum_buffer") is not None:
                st["momentum_buffer"].zero_()

    def teacher_levels(self):
        with torch.no_grad():
            batch, _ = self.teacher.transform(self.images)
            return list(self.teacher.backbone(batch.tensors).values())

    def feature_term(self, levels, teacher_levels):
        masks = defeat_gt_masks(self.boxes, STRIDES, [tuple(l.shape[-2:]) for l in levels])
        return defeat_feature([a(l) for a, l in zip(self.adapters, levels)], teacher_levels, masks)

    def step(self):
        self.opt.zero_grad(set_to_none=True)
        t_levels = self.teacher_levels()
        s = self.student
        images, targets = s.transform(self.images, self.targets)
        features = s.backbone(images.tensors)
        proposals, rpn_losses = s.rpn(images, features, targets)
        _, roi_losses = s.roi_heads(features, proposals, images.image_sizes, targets)
        feature = self.feature_term(list(features.values()), t_levels)
        losses = [rpn_losses["loss_objectness"], rpn_losses["loss_rpn_box_reg"], roi_losses["loss_classifier"],
                  roi_losses["loss_box_reg"], feature]
        total = losses[0] + losses[1] + losses[2] + losses[3] + losses[4]
        total.backward()
        self.opt.step()
        return losses

    def parts(self):
        """One step timed phase by phase (PARTS order): RegionProposalNetwork.forward and RoIHeads.forward (training)
        spelled out through their own methods, so the clock can stop between them. Computes what step() does."""
        clock = time.perf_counter
        t = [clock()]
        self.opt.zero_grad(set_to_none=True)
        t.append(clock())
        t_levels = self.teacher_levels()
        t.append(clock())
        s = self.student
        rpn = s.rpn
        images, targets = s.transform(self.images, self.targets)
        features = s.backbone(images.tensors)
        t.append(clock())
        feats = list(features.values())
        objectness, deltas = rpn.head(feats)
        anchors = rpn.anchor_generator(images, feats)
        num_images = len(anchors)
        num_per_level = [o[0].shape[0] * o[0].shape[1] * o[0].shape[2] for o in objectness]
        objectness, deltas = concat_box_prediction_layers(objectness, deltas)
        proposals = rpn.box_coder.decode(deltas.detach(), anchors).view(num_images, -1, 4)
        t.append(clock())
        boxes, _ = rpn.filter_proposals(proposals, objectness, images.image_sizes, num_per_level)
        t.append(clock())
        labels, matched = rpn.assign_targets_to_anchors(anchors, targets)
        regression_targets = rpn.box_coder.encode(matched, anchors)
        t.append(clock())
        loss_objectness, loss_rpn_box = rpn.compute_loss(objectness, deltas, labels, regression_targets)
        t.append(clock())
        heads = s.roi_heads
        rois, _, roi_labels, roi_targets = heads.select_training_samples(boxes, targets)
        t.append(clock())
        x = heads.box_head(heads.box_roi_pool(features, rois, images.image_sizes))
        class_logits, box_regression = heads.box_predictor(x)
        t.append(clock())
        loss_classifier, loss_box = fastrcnn_loss(class_logits, box_regression, roi_labels, roi_targets)
        t.append(clock())
        feature = self.feature_term(feats, t_levels)
        total = loss_objectness + loss_rpn_box + loss_classifier + loss_box + feature
        t.append(clock())
        total.backward()
        t.append(clock())
        self.opt.step()
        t.append(clock())
        return [b - a for a, b in zip(t, t[1:])]

    def timed(self, n):
        """Seconds of each of n steps, starting from the initial weights (reset, not timed)."""
        self.reset()
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            self.step()
            times.append(time.perf_counter() - t0)
        return times


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--state", required=True, help="the safetensors file the C# program exported")
    p.add_argument("--serve", action="store_true")
    p.add_argument("--steps", type=int, default=5)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    bench = DetectionStep(a.state)
    info = {"torch": torch.__version__, "torchvision": torchvision.__version__, "threads": torch.get_num_threads()}
    if not a.serve:
        torch.manual_seed(0)
        first = [float(v) for v in bench.step()]
        send(dict(info, first_losses=first, step_seconds=bench.timed(a.steps), **memory_kib()))
        return
    send(dict(info, ready=True))
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "first":
            bench.reset()
            torch.manual_seed(int(cmd[1]))
            send({"losses": [float(v) for v in bench.step()]})
        elif cmd[0] == "steps":
            cpu = time.process_time()
            times = bench.timed(int(cmd[1]))
            send({"step_seconds": times, "cpu_seconds": time.process_time() - cpu})
        elif cmd[0] == "nms":
            send({"nms_seconds": bench.nms(int(cmd[1]))})
        elif cmd[0] == "parts":
            bench.reset()
            send({"parts": [bench.parts() for _ in range(int(cmd[1]))]})
        elif cmd[0] == "check":
            bench.reset()
            losses = None
            for _ in range(int(cmd[1])):
                losses = bench.step()
            send({"losses": [float(v) for v in losses]})
        elif cmd[0] == "rss":
            send(memory_kib())
        elif cmd[0] == "quit":
            return
        else:
            send({"error": "unknown command " + line.strip()})


if __name__ == "__main__":
    main()
