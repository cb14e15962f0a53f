# Design check for SyntheticDetection (not part of the test suite): can a small Faster R-CNN learn the task in a few CPU
# minutes, and does a wide one leave a narrow one behind? torchvision's FasterRCNN on a plain 5-stage CNN of width w
# (channels w, w, 2w, 4w, 8w at strides 2..32) with an FPN of 4w channels over strides 4..32, anchors 8/16/32/64 px, a
# two-layer box head of 16w units; SGD (lr 0.02, momentum 0.9, 100 warm-up steps, x0.1 for the last 20%), batches of 8,
# random flips, 128 px images as they are. Reports VOC-style AP (all-point interpolation) at IoU 0.5 and 0.75 averaged over
# the classes, and AP50 on subsets (the other objects ignored: a detection matching one counts neither way).
#
#   dotnet run -c Release --project tests/Distill.Data.Benchmarks -- export /tmp/det 3000 500
#   OMP_WAIT_POLICY=passive /usr/bin/python3 tests/Distill.Data.Benchmarks/frcnn_probe.py /tmp/det 8 800 student
#   OMP_WAIT_POLICY=passive /usr/bin/python3 tests/Distill.Data.Benchmarks/frcnn_probe.py /tmp/det 32 800 teacher
#
# Debian's python3-torch / python3-torchvision (torch 1.13, torchvision 0.14); no other package.
import sys, time, json, math, collections
import torch, torch.nn as nn, torch.nn.functional as F
import struct, numpy as np
def load_file(path):
    raw = open(path, "rb").read(); n = struct.unpack("<Q", raw[:8])[0]; header = json.loads(raw[8:8+n]); base = 8 + n; out = {}
    types = {"U8": np.uint8, "F32": np.float32, "I64": np.int64}
    for k, v in header.items():
        if k == "__metadata__": continue
        a, b = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(raw[base+a:base+b], dtype=types[v["dtype"]]).reshape(v["shape"]).copy())
    return out
import torchvision
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import TwoMLPHead, FastRCNNPredictor
from torchvision.ops import MultiScaleRoIAlign, FeaturePyramidNetwork
torch.set_num_threads(2)
torch.manual_seed(0)
data = sys.argv[1]; width = int(sys.argv[2]); iters = int(sys.argv[3]); tag = sys.argv[4]

def load(split):
    d = load_file(f"{data}/{split}.safetensors")
    counts = d["counts"].tolist(); off = 0; targets = []
    for c in counts:
        targets.append(dict(boxes=d["boxes"][off:off+c].float(), labels=d["labels"][off:off+c].long(), hard=d["hard"][off:off+c]))
        off += c
    return d["image"], targets
tr_img, tr_t = load("train"); va_img, va_t = load("val")

def block(i, o, s): return nn.Sequential(nn.Conv2d(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True),
                                          nn.Conv2d(o, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True))
class Body(nn.Module):
    def __init__(s, w):
        super().__init__()
        s.stem = block(3, w, 2)          # /2
        s.l1 = block(w, w, 2)            # /4
        s.l2 = block(w, 2*w, 2)          # /8
        s.l3 = block(2*w, 4*w, 2)        # /16
        s.l4 = block(4*w, 8*w, 2)        # /32
    def forward(s, x):
        x = s.stem(x); a = s.l1(x); b = s.l2(a); c = s.l3(b); d = s.l4(c)
        return collections.OrderedDict([("0", a), ("1", b), ("2", c), ("3", d)])
class Backbone(nn.Module):
    def __init__(s, w):
        super().__init__()
        s.body = Body(w); s.out_channels = 4*w
        s.fpn = FeaturePyramidNetwork([w, 2*w, 4*w, 8*w], 4*w)
    def forward(s, x): return s.fpn(s.body(x))
bb = Backbone(width)
anchors = AnchorGenerator(sizes=((8,), (16,), (32,), (64,)), aspect_ratios=((0.5, 1.0, 2.0),)*4)
pool = MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2)
rep = 16 * width
model = FasterRCNN(bb, num_classes=None, min_size=128, max_size=128, image_mean=[0.5]*3, image_std=[0.25]*3,
                   rpn_anchor_generator=anchors, box_roi_pool=pool, box_head=TwoMLPHead(4*width*49, rep),
                   box_predictor=FastRCNNPredictor(rep, 7), rpn_batch_size_per_image=128, box_batch_size_per_image=128,
                   box_detections_per_img=50, box_score_thresh=0.01)
params = sum(p.numel() for p in model.parameters())
opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, weight_decay=1e-4)
B = 8; t0 = time.time(); model.train()
for it in range(iters):
    lr = 0.02 * min(1, (it + 1) / 100) * (0.1 if it > 0.8 * iters else 1)
    for g in opt.param_groups: g["lr"] = lr
    idx = torch.randint(0, len(tr_t), (B,))
    imgs = [tr_img[i].float() / 255 for i in idx.tolist()]
    tg = [{"boxes": tr_t[i]["boxes"], "labels": tr_t[i]["labels"]} for i in idx.tolist()]
    for k in range(B):
        if torch.rand(()) < 0.5:
            imgs[k] = imgs[k].flip(-1); b = tg[k]["boxes"].clone(); b[:, [0, 2]] = 128 - tg[k]["boxes"][:, [2, 0]]; tg[k] = {"boxes": b, "labels": tg[k]["labels"]}
    losses = model(imgs, tg); loss = sum(losses.values())
    opt.zero_grad(); loss.backward(); opt.step()
    if it % 100 == 0: print(it, f"{loss.item():.3f}", f"{time.time()-t0:.0f}s", flush=True)
train_s = time.time() - t0

def iou(a, b):
    lt = torch.max(a[:, None, :2], b[None, :, :2]); rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clamp(min=0); inter = wh[..., 0] * wh[..., 1]
    aa = (a[:, 2]-a[:, 0])*(a[:, 3]-a[:, 1]); ab = (b[:, 2]-b[:, 0])*(b[:, 3]-b[:, 1])
    return inter / (aa[:, None] + ab[None, :] - inter)
model.eval(); dets = []
with torch.no_grad():
    for s in range(0, len(va_t), 50):
        out = model([va_img[i].float() / 255 for i in range(s, min(len(va_t), s + 50))])
        dets.extend(out)
def ap(thr, subset=None):
    aps = []
    for c in range(1, 7):
        scores, tp, npos = [], [], 0
        for d, t in zip(dets, va_t):
            gm = t["labels"] == c
            keep = gm if subset is None else gm & subset(t)
            ignore = gm & ~keep
            gb = t["boxes"][gm]; gk = keep[gm]; npos += int(gk.sum())
            m = d["labels"] == c; db = d["boxes"][m]; ds = d["scores"][m]
            order = ds.argsort(descending=True); used = torch.zeros(len(gb), dtype=torch.bool)
            for j in order.tolist():
                if len(gb) == 0: scores.append(ds[j].item()); tp.append(0); continue
                o = iou(db[j:j+1], gb)[0]; o[used] = -1; k = int(o.argmax())
                if o[k] >= thr:
                    used[k] = True
                    if not gk[k]: continue
                    scores.append(ds[j].item()); tp.append(1)
                else: scores.append(ds[j].item()); tp.append(0)
        if npos == 0: continue
        o = sorted(range(len(scores)), key=lambda i: -scores[i]); t = torch.tensor([tp[i] for i in o], dtype=torch.float)
        ctp = t.cumsum(0); cfp = (1 - t).cumsum(0); rec = ctp / npos; prec = ctp / (ctp + cfp).clamp(min=1)
        mrec = torch.cat([torch.tensor([0.]), rec, torch.tensor([1.])]); mpre = torch.cat([torch.tensor([0.]), prec, torch.tensor([0.])])
        for i in range(len(mpre) - 2, -1, -1): mpre[i] = max(mpre[i], mpre[i + 1])
        idx = (mrec[1:] != mrec[:-1]).nonzero().flatten()
        aps.append(float(((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]).sum()))
    return sum(aps) / len(aps)
res = dict(tag=tag, width=width, params=params, iters=iters, train_s=round(train_s),
           ap50=ap(0.5), ap75=ap(0.75), ap50_easy=ap(0.5, lambda t: t["hard"] == 0), ap50_hard=ap(0.5, lambda t: t["hard"] != 0),
           ap50_small=ap(0.5, lambda t: ((t["boxes"][:, 2]-t["boxes"][:, 0])*(t["boxes"][:, 3]-t["boxes"][:, 1])).sqrt() < 16))
print(json.dumps(res), flush=True)
