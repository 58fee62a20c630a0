#!/usr/bin/python3
"""`jetcnn summary` against PyTorch: the lecture's Keras model and DeepTop, shapes and
parameter counts computed by torch on the same architecture (not pasted from slides)."""
import re
import subprocess
import sys

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:
    sys.exit(f"FAIL: needs Debian's python3-torch ({e})")

jetcnn, configs = sys.argv[1], sys.argv[2]


class SamePad(nn.Module):
    """Keras/PyTorch 'same' padding for stride 1: the odd extra row/column at bottom/right."""
    def __init__(self, f):
        super().__init__()
        self.lo, self.hi = (f - 1) // 2, (f - 1) - (f - 1) // 2

    def forward(self, x):
        return F.pad(x, (self.lo, self.hi, self.lo, self.hi))


def table(cfg):
    out = subprocess.run([jetcnn, "summary", cfg], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"FAIL: jetcnn summary {cfg} exited {out.returncode}: {out.stderr}")
    rows = []
    for line in out.stdout.splitlines():
        m = re.match(r"\s*layer\d\d \S+ \(.*?\)\s+\(None, ([\d, ]+)\)\s+([\d,]+)", line)
        if m:
            rows.append((tuple(int(v) for v in m.group(1).split(",")), int(m.group(2).replace(",", ""))))
    total = re.search(r"Total params: ([\d,]+)", out.stdout)
    return rows, int(total.group(1).replace(",", "")) if total else None


def torch_rows(model, input_chw, implicit_flatten=False):
    rows, x = [], torch.zeros(1, *input_chw)
    for m in model:
        x = m(x)
        if isinstance(m, (nn.ReLU, SamePad)) or (implicit_flatten and isinstance(m, nn.Flatten)):
            continue
        shape = tuple(x.shape[1:])
        keras = (shape[1], shape[2], shape[0]) if len(shape) == 3 else shape
        rows.append((keras, sum(p.numel() for p in m.parameters())))
    return rows, sum(p.numel() for p in model.parameters())


lecture = nn.Sequential(
    nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(), nn.Linear(1024, 64), nn.ReLU(), nn.Linear(64, 10))
deeptop = nn.Sequential(
    SamePad(4), nn.Conv2d(1, 8, 4), nn.ReLU(), SamePad(4), nn.Conv2d(8, 8, 4), nn.ReLU(), nn.MaxPool2d(2),
    SamePad(4), nn.Conv2d(8, 8, 4), nn.ReLU(), SamePad(4), nn.Conv2d(8, 8, 4), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(800, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
    nn.Linear(64, 2))

failures = 0
# deeptop.cfg feeds [dense] from [maxpool] directly: jetcnn flattens implicitly.
for name, model, chw, implicit in (("lecture", lecture, (3, 32, 32), False), ("deeptop", deeptop, (1, 40, 40), True)):
    got_rows, got_total = table(f"{configs}/{name}.cfg")
    want_rows, want_total = torch_rows(model, chw, implicit)
    if got_rows != want_rows or got_total != want_total:
        failures += 1
        print(f"FAIL {name}:\n  jetcnn {got_rows} total {got_total}\n  torch  {want_rows} total {want_total}")
    else:
        print(f"ok {name}: {len(got_rows)} layers, total params {got_total:,}")

# The lecture's own (mis-added) total must not appear: 896+18496+36928+65600+650.
if table(f"{configs}/lecture.cfg")[1] != 896 + 18496 + 36928 + 65600 + 650:
    failures += 1
    print("FAIL lecture total is not the sum of the layer parameters")
sys.exit(1 if failures else 0)
