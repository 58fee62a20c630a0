#!/usr/bin/python3
"""jetcnn against independent references computed here, never pasted.

  reference_torch.py lecture --driver JC_REFERENCE --workdir DIR
      The lecture's worked examples (6x6 image and vertical-edge filter: valid, padding 1,
      stride 2; max and average pooling of the 4x4 example) through jetcnn's layers, the
      expected values computed with plain numpy loops and cross-checked with torch.
  reference_torch.py layers --driver JC_REFERENCE --workdir DIR
      Conv over a grid of (F, S, P, C, K) incl. `same` with even F, both pools, dense,
      every activation, maxout, dropout (inference), batch norm (training: batch statistics
      and one running-statistics update; inference: running statistics, and the folded
      inference net), shortcuts, global pooling, both loss heads and the three shipped models:
      forward outputs, input gradients and weight gradients vs PyTorch (float64).
  reference_torch.py train --jetcnn JETCNN --configs DIR --workdir DIR
      5 training steps of configs/lecture.cfg and configs/deeptop.cfg with SGD+momentum and
      with Adam: `jetcnn train --init` from the torch initial weights ends with torch's
      weights; also Nesterov, AdamW, weight decay, several micro-batches per step and
      normalize = sum; configs/resnet.cfg (shortcuts, batch norm over micro-batches; with ELU
      for ReLU, see cmd_train) and a net whose last micro-batch holds one jet: weights and
      running statistics.

Relative error of a layer's output or gradient: max|jetcnn - torch| / max|torch| < 1e-4;
of trained weights: ||jetcnn - torch||_2 / ||torch||_2 < 1e-4 per tensor (see norm_err), and
the 5-step update itself within 1e-3 of (torch's update + 1e-3 |w|).
The comparison is shown to fail on a perturbed copy before it is trusted, and the train
check is shown to fail against torch after 4 steps instead of 5.
"""
import argparse
import itertools
import math
import os
import subprocess
import sys

try:
    import h5py
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # a missing module is a failure, never a silent skip
    sys.exit(f"FAIL: reference_torch.py needs Debian's python3-torch, python3-h5py, python3-numpy "
             f"(run with /usr/bin/python3): {e}")

TOL = 1e-4
HERE = os.path.dirname(os.path.abspath(__file__))
failures = []
n_checks = 0


def check(cond, what):
    global n_checks
    n_checks += 1
    if not cond:
        print("FAIL " + what)
        failures.append(what)
    return cond


def rel_err(got, ref):
    got = np.asarray(got, np.float64)
    ref = np.asarray(ref, np.float64)
    if got.shape != ref.shape:
        return math.inf
    scale = np.max(np.abs(ref)) if ref.size else 0.0
    diff = np.max(np.abs(got - ref)) if ref.size else 0.0
    if not np.all(np.isfinite(got)):
        return math.inf
    return diff / scale if scale > 0 else diff


def norm_err(got, ref):
    """||got - ref||_2 / ||ref||_2: the relative error of a whole tensor. Used for trained
    weights: Adam divides each gradient by its own RMS, so an element whose gradient is
    ~epsilon (1e-8) moves by float32 rounding noise; PyTorch's own float32 Adam differs from
    its float64 Adam by ~1e-4 of max|w| in such elements of the lecture model."""
    got = np.asarray(got, np.float64)
    ref = np.asarray(ref, np.float64)
    if got.shape != ref.shape or not np.all(np.isfinite(got)):
        return math.inf
    scale = np.linalg.norm(ref)
    return np.linalg.norm(got - ref) / scale if scale > 0 else np.linalg.norm(got)


def compare(got, ref, what, tol=TOL, scale=0.0):
    """Relative error of got. A tensor below 1e-6 of `scale` (a gradient that is 0 in exact
    arithmetic, as a conv bias before a batch norm in training) is compared to scale instead."""
    ref = np.asarray(ref, np.float64)
    if ref.size and np.max(np.abs(ref)) < 1e-6 * scale:
        d = np.max(np.abs(np.asarray(got, np.float64) - ref)) if np.shape(got) == ref.shape else math.inf
        return check(d / scale < tol, f"{what}: error {d:.3g} of the case's scale {scale:.3g} (tolerance {tol:g})")
    e = rel_err(got, ref)
    return check(e < tol, f"{what}: relative error {e:.3g} (tolerance {tol:g})")


def self_test_compare():
    """The comparison must reject a 2*TOL error in one element and a wrong shape."""
    ref = np.linspace(-1, 2, 30).reshape(5, 6)
    bad = ref.copy()
    bad[3, 4] += 2 * TOL * np.max(np.abs(ref))
    if rel_err(bad, ref) < TOL or rel_err(ref[:4], ref) < TOL or rel_err(ref * np.nan, ref) < TOL:
        sys.exit("FAIL: the comparison accepts a wrong tensor; refusing to run")
    if norm_err(bad * (1 + 2 * TOL), ref) < TOL or norm_err(ref[:4], ref) < TOL:
        sys.exit("FAIL: the norm-wise comparison accepts a wrong tensor; refusing to run")
    if rel_err(ref.astype(np.float32), ref) >= TOL:
        sys.exit("FAIL: the comparison rejects float32 rounding; refusing to run")


# ---------------------------------------------------------------------------------------
# Config text -> torch model (an independent reading of docs/config.md)

def parse_config(text):
    """[(name, {key: value})] in file order; ';' and '#' comments."""
    sections = []
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            sections.append((line.strip("[]").strip(), {}))
        else:
            k, v = line.split("=", 1)
            sections[-1][1][k.strip()] = v.strip()
    return sections


def input_shape(net):
    dims = [int(v) for v in net["input"].lower().replace(" ", "").split("x")]
    h, w = dims[0], dims[1]
    c = dims[2] if len(dims) > 2 else 1
    return c, h, w


def same_pads(size, f, s):
    out = -(-size // s)
    total = max((out - 1) * s + f - size, 0)
    return total // 2, total - total // 2


def act_fn(name, opts):
    slope = float(opts.get("slope", 0.1))
    alpha = float(opts.get("alpha", 1.0))
    return {
        "linear": lambda x: x,
        "relu": F.relu,
        "leaky": lambda x: F.leaky_relu(x, slope),
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "elu": lambda x: F.elu(x, alpha),
        "softmax": lambda x: torch.softmax(x, dim=1),
    }[name]


class TorchNet:
    """The model a jetcnn config describes, as a list of torch functions over the section
    graph. weights[NN] holds the parameter tensors of layer section NN by their checkpoint
    names (kernel, bias, bn_scale, bn_shift), state[NN] its running statistics
    (bn_running_mean, bn_running_var). The final softmax/sigmoid is the loss head, so
    logits() stops before it, as jetcnn does."""

    def __init__(self, text):
        secs = parse_config(text)
        self.net = secs[0][1]
        self.shape = input_shape(self.net)
        self.param_shapes = {}  # idx -> {name: shape}, in initialisation order
        self.state_shapes = {}  # idx -> {name: shape}
        c, h, w = self.shape
        out_shapes = {}  # idx -> (c, h, w) of the section's output
        ops = []

        def batchnorm(idx, opts, prefix):
            self.param_shapes.setdefault(idx, {}).update(bn_scale=(c,), bn_shift=(c,))
            self.state_shapes[idx] = dict(bn_running_mean=(c,), bn_running_var=(c,))
            ops.append(("bn", idx, (float(opts.get(prefix + "momentum", 0.1)), float(opts.get(prefix + "epsilon", 1e-5)))))

        for idx, (name, opts) in enumerate(secs[1:]):
            bn = opts.get("batch_normalize", "0") == "1"
            if name == "conv":
                k, f, s = int(opts["filters"]), int(opts["size"]), int(opts.get("stride", 1))
                pad = opts.get("pad", "valid")
                if pad == "same":
                    ph, pw = same_pads(h, f, s), same_pads(w, f, s)
                elif pad == "valid":
                    ph = pw = (0, 0)
                else:
                    ph = pw = (int(pad), int(pad))
                self.param_shapes[idx] = dict(kernel=(k, c, f, f)) if bn else dict(kernel=(k, c, f, f), bias=(k,))
                ops.append(("conv", idx, (s, ph, pw)))
                h = (h + sum(ph) - f) // s + 1
                w = (w + sum(pw) - f) // s + 1
                c = k
            elif name == "avgpool" and opts.get("global", "0") == "1":
                ops.append(("gap", idx, None))
                h = w = 1
            elif name in ("maxpool", "avgpool"):
                f = int(opts["size"])
                s, p = int(opts.get("stride", f)), int(opts.get("pad", 0))
                ops.append((name, idx, (f, s, p)))
                h, w = (h + 2 * p - f) // s + 1, (w + 2 * p - f) // s + 1
            elif name == "dense":
                units = int(opts["units"])
                self.param_shapes[idx] = dict(kernel=(units, c * h * w)) if bn else dict(kernel=(units, c * h * w),
                                                                                         bias=(units,))
                ops.append(("dense", idx, None))
                c, h, w = units, 1, 1
            elif name == "flatten":
                ops.append(("flatten", idx, None))
                c, h, w = c * h * w, 1, 1
            elif name == "maxout":
                k = int(opts["pieces"])
                ops.append(("maxout", idx, k))
                c //= k
            elif name == "dropout":
                ops.append(("dropout", idx, None))
            elif name == "activation":
                ops.append(("act", idx, (opts["activation"], opts)))
            elif name == "batchnorm":
                batchnorm(idx, opts, "")
            elif name == "shortcut":
                src = idx + int(opts["from"])
                c1, h1, w1 = out_shapes[src]
                stride = None
                if opts.get("project", "0") == "1":  # a 1x1 convolution, stride ceil(I/O)
                    stride = -(-h1 // h)
                    self.param_shapes[idx] = dict(kernel=(c, c1, 1, 1), bias=(c,))
                ops.append(("shortcut", idx, (src, stride)))
            else:
                raise ValueError(f"unknown section [{name}]")
            if bn:
                batchnorm(idx, opts, "bn_")
            if name in ("conv", "dense", "batchnorm", "shortcut") and opts.get("activation", "linear") != "linear":
                ops.append(("act", idx, (opts["activation"], opts)))
            out_shapes[idx] = (c, h, w)
        self.head = None
        if ops and ops[-1][0] == "act" and ops[-1][2][0] in ("softmax", "sigmoid"):
            self.head = ops[-1][2][0]
            ops = ops[:-1]
        if self.head is None:
            self.head = "sigmoid" if c * h * w == 1 else "softmax"
        self.ops = ops
        self.n_logits = c * h * w

    def init_weights(self, rng):
        """PyTorch-style uniform(+-1/sqrt(fan_in)) kernels and biases, float32 values; batch
        norms get a random scale in [0.5, 1.5] and shift in [-0.5, 0.5] (not 1 and 0: a test
        must see them), running means in [-0.5, 0.5], variances in [0.5, 1.5].
        Returns (weights, state)."""
        out, state = {}, {}
        for idx, shapes in self.param_shapes.items():
            out[idx] = {}
            for name, shape in shapes.items():
                if name in ("kernel", "bias"):
                    bound = 1.0 / math.sqrt(int(np.prod(shapes["kernel"][1:])))
                    v = rng.uniform(-bound, bound, shape)
                else:
                    v = rng.uniform(0.5, 1.5, shape) if name == "bn_scale" else rng.uniform(-0.5, 0.5, shape)
                out[idx][name] = v.astype(np.float32)
        for idx, shapes in self.state_shapes.items():
            state[idx] = {name: (rng.uniform(-0.5, 0.5, shape) if name == "bn_running_mean" else
                                 rng.uniform(0.5, 1.5, shape)).astype(np.float32) for name, shape in shapes.items()}
        return out, state

    def logits(self, x, weights, state=None, training=False):
        """x (n,C,H,W) tensor; weights {idx: {name: tensor}}; state {idx: {name: tensor}}
        (running statistics, updated in place by batch norms in training mode). Training:
        batch norm over the n samples; with one value per channel (n*H*W = 1) y = shift and
        the running statistics stay (jetcnn's rule; PyTorch raises)."""
        outs = {}
        for kind, idx, arg in self.ops:
            if kind == "conv":
                s, (pt, pb), (pl, pr) = arg
                x = F.conv2d(F.pad(x, (pl, pr, pt, pb)), weights[idx]["kernel"], weights[idx].get("bias"), stride=s)
            elif kind == "maxpool":
                f, s, p = arg
                x = F.max_pool2d(x, f, s, p)
            elif kind == "avgpool":
                f, s, p = arg
                x = F.avg_pool2d(x, f, s, p, count_include_pad=True)
            elif kind == "gap":
                x = F.adaptive_avg_pool2d(x, 1)
            elif kind == "dense":
                x = F.linear(torch.flatten(x, 1), weights[idx]["kernel"], weights[idx].get("bias"))
            elif kind == "flatten":
                x = torch.flatten(x, 1)
            elif kind == "maxout":
                n, c, h, w = x.shape if x.dim() == 4 else (*x.shape, 1, 1)
                x = x.reshape(n, c // arg, arg, h, w).amax(2)
            elif kind == "dropout":
                pass  # inference
            elif kind == "bn":
                momentum, eps = arg
                wt, st = weights[idx], (state or {}).get(idx, {})
                rm, rv = st.get("bn_running_mean"), st.get("bn_running_var")
                shape = (1, -1) + (1,) * (x.dim() - 2)
                if training and x.numel() // x.shape[1] == 1:
                    x = x * 0 + wt["bn_shift"].reshape(shape)
                else:
                    x = F.batch_norm(x, rm, rv, wt["bn_scale"], wt["bn_shift"], training, momentum, eps)
            elif kind == "shortcut":
                src, stride = arg
                x1 = outs[src]
                if stride is not None:
                    x1 = F.conv2d(x1, weights[idx]["kernel"], weights[idx]["bias"], stride=stride)
                x = x + x1
            elif kind == "act":
                name, opts = arg
                x = act_fn(name, opts)(x)
            outs[idx] = x
        return torch.flatten(x, 1)

    def loss(self, logits, labels):
        if self.head == "sigmoid":
            return F.binary_cross_entropy_with_logits(logits[:, 0], labels.to(logits.dtype))
        return F.cross_entropy(logits, labels)


def tensors(arrays, grad=False):
    """{idx: {name: array}} -> {idx: {name: float64 tensor}}."""
    return {i: {k: torch.tensor(v, dtype=torch.float64, requires_grad=grad) for k, v in d.items()}
            for i, d in arrays.items()}


# ---------------------------------------------------------------------------------------
# Cases through the C driver

def write_tensors(g, weights, state=None):
    """weights and state {idx: {name: array}} as g/weights/layerNN/name (checkpoint layout)."""
    for arrays in (weights, state or {}):
        for idx, d in arrays.items():
            for name, v in d.items():
                g[f"weights/layer{idx:02d}/{name}"] = v


def run_driver(driver, workdir, cases):
    """cases: {name: dict(config, x, weights, state=None, training=False, dlogits=None,
    labels=None)}; returns the driver's output file (h5py.File, open)."""
    os.makedirs(workdir, exist_ok=True)
    inp, out = os.path.join(workdir, "cases.h5"), os.path.join(workdir, "jetcnn.h5")
    with h5py.File(inp, "w") as f:
        for name, c in cases.items():
            g = f.create_group(name)
            g.attrs["config"] = c["config"]
            g.attrs["training"] = "1" if c.get("training") else "0"
            g["x"] = c["x"].astype(np.float32)
            write_tensors(g, c["weights"], c.get("state"))
            if c.get("dlogits") is not None:
                g["dlogits"] = c["dlogits"].astype(np.float32)
            if c.get("labels") is not None:
                g["labels"] = c["labels"].astype(np.int32)
    if os.path.exists(out):
        os.remove(out)
    r = subprocess.run([driver, inp, out], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAIL: {driver} exited {r.returncode}: {r.stderr.strip()[-2000:]}")
    f = h5py.File(out, "r")
    missing = sorted(set(cases) - set(f.keys()))
    if missing:
        sys.exit(f"FAIL: the driver wrote no result for cases {missing}")
    return f


def torch_reference(c):
    """Forward, loss and gradients of case c in float64; the state after the forward pass."""
    tn = TorchNet(c["config"])
    x = torch.tensor(c["x"], dtype=torch.float64, requires_grad=True)
    ws, st = tensors(c["weights"], grad=True), tensors(c.get("state") or {})
    y = tn.logits(x, ws, st, training=bool(c.get("training")))
    loss = None
    if c.get("labels") is not None:
        loss = tn.loss(y, torch.tensor(c["labels"], dtype=torch.long))
    y.retain_grad()
    if c.get("dlogits") is not None:
        y.backward(torch.tensor(c["dlogits"], dtype=torch.float64))
    else:
        loss.backward()
    return tn, y, loss, x.grad, ws, st


def compare_case(name, c, res):
    tn, y, loss, dx, ws, st = torch_reference(c)
    ok = check(tn.n_logits == res["y"].shape[1], f"{name}: {res['y'].shape[1]} logits, torch {tn.n_logits}")
    ok &= compare(res["y"][()], y.detach().numpy(), f"{name}: forward")
    ok &= compare(res["dx"][()], dx.numpy(), f"{name}: input gradient")
    grads = {(idx, part): (t.grad.numpy() if t.grad is not None else np.zeros(t.shape))  # None: unused (0)
             for idx, d in ws.items() for part, t in d.items()}
    scale = max([np.max(np.abs(g)) for g in grads.values() if g.size] + [0.0])
    for (idx, part), g in grads.items():
        ok &= compare(res[f"grads/layer{idx:02d}/{part}"][()], g, f"{name}: layer{idx:02d} {part} gradient", scale=scale)
    if c.get("training"):  # one PyTorch update of the running statistics from this batch
        for idx, d in st.items():
            for part, t in d.items():
                ok &= compare(res[f"state/layer{idx:02d}/{part}"][()], t.numpy(), f"{name}: layer{idx:02d} {part} after one batch")
    else:  # the inference net, batch norm folded into the layer before it
        ok &= compare(res["y_folded"][()], y.detach().numpy(), f"{name}: forward of the inference net (folded)")
    if loss is not None:
        ok &= compare(res["loss"][()], [loss.item()], f"{name}: loss ({tn.head} head)")
        if c.get("dlogits") is None:
            ok &= compare(res["dlogits_loss"][()], y.grad.numpy(), f"{name}: dloss/dlogits")
    return ok


def make_case(config, rng, n=3, labels=False, weight_scale=1.0, x=None, training=False):
    tn = TorchNet(config)
    w, state = tn.init_weights(rng)
    if weight_scale != 1.0:
        w = {i: {k: (v * weight_scale).astype(np.float32) for k, v in d.items()} for i, d in w.items()}
    c = dict(config=config, weights=w, state=state, training=training)
    c["x"] = x if x is not None else rng.standard_normal((n, *tn.shape)).astype(np.float32)
    n = c["x"].shape[0]
    if labels:
        k = 2 if tn.head == "sigmoid" else tn.n_logits
        c["labels"] = rng.integers(0, k, n).astype(np.int32)
    else:
        c["dlogits"] = rng.standard_normal((n, tn.n_logits)).astype(np.float32)
    return c


def net_section(h, w, c, n=3):
    return f"[net]\ninput = {h}x{w}x{c}\nbatch = {n}\n"


# ---------------------------------------------------------------------------------------
def cmd_lecture(a):
    image = np.array([[1, 2, 3, 1, 3, 5], [2, 2, 5, 4, 2, 5], [0, 6, 9, 6, 2, 2],
                      [2, 0, 1, 9, 4, 0], [5, 5, 4, 6, 7, 6], [6, 1, 3, 7, 1, 5]], np.float32)
    edge = np.array([[1, 0, -1]] * 3, np.float32)
    pool_in = np.array([[1, 3, 2, 1], [2, 9, 1, 1], [1, 3, 2, 3], [5, 6, 1, 2]], np.float32)

    def conv_loops(img, ker, pad, stride):
        """Cross-correlation as the slides (and Keras, PyTorch) define it, plain loops."""
        p = np.pad(img, pad)
        f = ker.shape[0]
        o = (p.shape[0] - f) // stride + 1  # O = floor((I + 2P - F) / S) + 1
        out = np.zeros((o, o))
        for i in range(o):
            for j in range(o):
                out[i, j] = np.sum(p[i * stride:i * stride + f, j * stride:j * stride + f] * ker)
        return out

    def pool_loops(img, f, s, reduce):
        o = (img.shape[0] - f) // s + 1
        return np.array([[reduce(img[i * s:i * s + f, j * s:j * s + f]) for j in range(o)] for i in range(o)])

    cases, expected = {}, {}
    for name, pad, stride in (("conv_valid", 0, 1), ("conv_pad1", 1, 1), ("conv_stride2", 0, 2),
                              ("conv_pad1_stride2", 1, 2)):
        cfg = net_section(6, 6, 1, 1) + f"[conv]\nfilters = 1\nsize = 3\nstride = {stride}\npad = {pad}\n[flatten]\n"
        ref = conv_loops(image, edge, pad, stride)
        t = F.conv2d(torch.tensor(image)[None, None], torch.tensor(edge)[None, None], stride=stride, padding=pad)
        check(np.array_equal(t[0, 0].numpy(), ref), f"lecture {name}: numpy loops and torch agree")
        w = {0: dict(kernel=edge[None, None].copy(), bias=np.zeros(1, np.float32))}
        cases[name] = dict(config=cfg, weights=w, x=image[None, None], dlogits=np.ones((1, ref.size), np.float32))
        expected[name] = ref
    for name, reduce, torch_pool in (("maxpool", np.max, F.max_pool2d), ("avgpool", np.mean, F.avg_pool2d)):
        cfg = net_section(4, 4, 1, 1) + f"[{name}]\nsize = 2\nstride = 2\n[flatten]\n"
        ref = pool_loops(pool_in, 2, 2, reduce)
        t = torch_pool(torch.tensor(pool_in)[None, None], 2, 2)
        check(np.array_equal(t[0, 0].numpy(), ref), f"lecture {name}: numpy loops and torch agree")
        cases[name] = dict(config=cfg, weights={}, x=pool_in[None, None], dlogits=np.ones((1, ref.size), np.float32))
        expected[name] = ref
    res = run_driver(a.driver, a.workdir, cases)
    for name, ref in expected.items():
        y = res[name]["y"][()]
        if check(y.size == ref.size, f"lecture {name}: output {y.size} values, expected {ref.shape}"):
            got = y.reshape(ref.shape)
            check(np.allclose(got, ref, rtol=0, atol=1e-5), f"lecture {name}: jetcnn gives\n{got}\nexpected\n{ref}")
            print(f"lecture {name}: {ref.shape[0]}x{ref.shape[1]} output\n{got}")
    # The one gradient everybody can check by hand: avg pooling spreads 1/4 to each cell.
    check(np.allclose(res["avgpool"]["dx"][()], 0.25), "lecture avgpool: input gradient 1/4 everywhere")
    mp_dx = res["maxpool"]["dx"][()][0, 0]
    check(np.array_equal(mp_dx != 0, pool_in == pool_loops(pool_in, 2, 2, np.max).repeat(2, 0).repeat(2, 1)),
          "lecture maxpool: gradient only at each window's maximum")
    res.close()


def cmd_layers(a):
    rng = np.random.default_rng(2024)
    cases = {}

    def add(name, cfg, **kw):
        cases[name] = make_case(cfg, rng, **kw)

    # Conv over (F, S, P, C, K) on odd and non-square inputs; 'same' with even F puts the
    # odd extra padding at the bottom/right.
    shapes = [(7, 9), (8, 8), (5, 6), (9, 7), (6, 11)]
    for i, (f, s, p, (c, k)) in enumerate(itertools.product((1, 2, 3, 4, 5), (1, 2, 3), ("valid", 1, 2, "same"),
                                                            ((1, 1), (3, 4)))):
        h, w = shapes[i % len(shapes)]
        pad = 0 if p in ("valid", "same") else p
        if p != "same" and (h + 2 * pad < f or w + 2 * pad < f):
            continue
        add(f"conv_F{f}_S{s}_P{p}_C{c}_K{k}_{h}x{w}",
            net_section(h, w, c) + f"[conv]\nfilters = {k}\nsize = {f}\nstride = {s}\npad = {p}\n[flatten]\n")
    add("conv_fused_relu", net_section(6, 7, 2) + "[conv]\nfilters = 3\nsize = 3\npad = same\nactivation = relu\n[flatten]\n")
    # Strides > 1 with more than 16 filters (resnet.cfg's stage entries).
    for f, s, p in ((3, 2, "same"), (3, 2, 1), (2, 3, "valid"), (4, 2, 2)):
        add(f"conv_strided_F{f}_S{s}_P{p}_K20", net_section(9, 7, 3, 5) +
            f"[conv]\nfilters = 20\nsize = {f}\nstride = {s}\npad = {p}\nactivation = relu\n[flatten]\n", n=5)
    add("conv_strided_bn_train", net_section(8, 8, 4, 4) + "[conv]\nfilters = 24\nsize = 3\nstride = 2\npad = same\n"
        "batch_normalize = 1\nactivation = relu\n[flatten]\n", n=4, training=True)
    add("conv_fused_softmax_channels",
        net_section(5, 5, 2) + "[conv]\nfilters = 4\nsize = 2\nstride = 2\npad = same\nactivation = softmax\n[flatten]\n")

    # Pools: stride != size, padding up to size/2, odd sizes.
    for kind in ("maxpool", "avgpool"):
        for f, s, p in itertools.product((1, 2, 3, 4), (1, 2, 3), (0, 1, 2)):
            if 2 * p > f:
                continue
            h, w = (7, 9) if (f + s + p) % 2 else (8, 5)
            add(f"{kind}_F{f}_S{s}_P{p}_{h}x{w}",
                net_section(h, w, 2) + f"[{kind}]\nsize = {f}\nstride = {s}\npad = {p}\n[flatten]\n")

    # Dense on an image (Flatten order) and on a vector.
    add("dense_from_image", net_section(3, 4, 2) + "[dense]\nunits = 5\n")
    add("dense_flatten_dense", net_section(3, 3, 3) + "[flatten]\n[dense]\nunits = 7\nactivation = tanh\n[dense]\nunits = 4\n")

    # Every activation, on an image (softmax over channels) and after a dense layer.
    acts = [("relu", ""), ("leaky", ""), ("leaky", "slope = 0.25\n"), ("sigmoid", ""), ("tanh", ""),
            ("elu", ""), ("elu", "alpha = 0.5\n"), ("softmax", ""), ("linear", "")]
    for i, (act, extra) in enumerate(acts):
        add(f"act_{i}_{act}_image", net_section(4, 5, 3) + f"[activation]\nactivation = {act}\n{extra}[flatten]\n")
        add(f"act_{i}_{act}_dense",
            net_section(2, 3, 2) + f"[dense]\nunits = 6\n[activation]\nactivation = {act}\n{extra}[dense]\nunits = 3\n")
    add("maxout_2", net_section(3, 4, 6) + "[maxout]\npieces = 2\n[flatten]\n")
    add("maxout_3_dense", net_section(2, 2, 2) + "[dense]\nunits = 9\n[maxout]\npieces = 3\n[dense]\nunits = 2\n")
    add("dropout_inference", net_section(3, 3, 2) + "[dropout]\nrate = 0.5\n[flatten]\n")

    # Loss heads: loss, dloss/dlogits and everything below it, from labels.
    head_nets = {
        "softmax3": "[dense]\nunits = 3\nactivation = softmax\n",
        "linear2_softmax_ce": "[dense]\nunits = 2\n",
        "sigmoid1": "[dense]\nunits = 1\nactivation = sigmoid\n",
        "linear1_bce": "[dense]\nunits = 1\n",
        "act_section_softmax": "[dense]\nunits = 4\n[activation]\nactivation = softmax\n",
    }
    for name, body in head_nets.items():
        add(f"loss_{name}", net_section(3, 3, 2, 8) + body, n=8, labels=True)
        add(f"loss_{name}_large_logits", net_section(3, 3, 2, 8) + body, n=8, labels=True, weight_scale=300.0)

    # Batch norm: training (batch statistics of the case's samples, one micro-batch; the
    # running statistics after one update), inference (running statistics; the inference net
    # folds a norm into the conv/dense before it, or keeps it as a scale and shift when a ReLU
    # is between, another layer reads that output, or it reads the input), keys, one jet.
    bn_conv = net_section(6, 7, 2, 4) + "[conv]\nfilters = 3\nsize = 3\npad = same\nbatch_normalize = 1\nactivation = relu\n[flatten]\n"
    add("bn_conv_relu_train", bn_conv, n=4, training=True)
    add("bn_conv_relu_eval", bn_conv, n=4)
    bn_dense = (net_section(3, 3, 2, 6) + "[dense]\nunits = 5\nbatch_normalize = 1\nbn_momentum = 0.3\nbn_epsilon = 0.001\n"
                "activation = tanh\n[dense]\nunits = 3\n")
    add("bn_dense_keys_train", bn_dense, n=6, training=True, labels=True)
    add("bn_dense_keys_eval", bn_dense, n=6, labels=True)
    bn_section = net_section(5, 4, 3) + "[conv]\nfilters = 4\nsize = 2\n[batchnorm]\nmomentum = 0.05\nepsilon = 0.01\nactivation = relu\n[flatten]\n"
    add("bn_section_train", bn_section, training=True)
    add("bn_section_eval_folded", bn_section)
    add("bn_after_relu_eval", net_section(5, 4, 3) + "[conv]\nfilters = 4\nsize = 2\nactivation = relu\n[batchnorm]\n[flatten]\n")
    add("bn_output_read_twice_eval",
        net_section(5, 4, 3) + "[conv]\nfilters = 3\nsize = 3\npad = same\n[batchnorm]\n[shortcut]\nfrom = -2\n[flatten]\n")
    add("bn_on_input_eval", net_section(5, 4, 3) + "[batchnorm]\n[conv]\nfilters = 2\nsize = 3\n[flatten]\n")
    add("bn_on_input_train", net_section(5, 4, 3) + "[batchnorm]\n[conv]\nfilters = 2\nsize = 3\n[flatten]\n", training=True)
    add("bn_one_jet_train", net_section(2, 3, 2, 1) + "[dense]\nunits = 4\nbatch_normalize = 1\n[dense]\nunits = 2\n", n=1,
        training=True, labels=True)

    # Shortcuts: identity (an output read twice: its gradient is the sum), 1x1 projections with
    # stride 2 (odd sizes) and 1, one output added to itself, fused ReLUs next to max pooling
    # (whose masked-gradient shortcut must not apply to an output read twice).
    add("shortcut_identity_relu", net_section(6, 5, 3) + "[conv]\nfilters = 3\nsize = 3\npad = same\nactivation = relu\n"
        "[conv]\nfilters = 3\nsize = 3\npad = same\n[shortcut]\nfrom = -2\nactivation = relu\n[flatten]\n")
    add("shortcut_project_s2_9x7", net_section(9, 7, 2) + "[conv]\nfilters = 4\nsize = 3\npad = same\nactivation = relu\n"
        "[conv]\nfilters = 6\nsize = 3\nstride = 2\npad = same\n[shortcut]\nfrom = -2\nproject = 1\nactivation = relu\n[flatten]\n")
    add("shortcut_project_s1", net_section(4, 4, 3) + "[conv]\nfilters = 3\nsize = 1\n[conv]\nfilters = 5\nsize = 3\npad = 1\n"
        "[shortcut]\nfrom = -2\nproject = 1\n[flatten]\n")
    add("shortcut_from_minus1", net_section(4, 5, 2) + "[conv]\nfilters = 2\nsize = 3\n[shortcut]\nfrom = -1\n[flatten]\n")
    add("shortcut_relu_read_by_pool_and_add", net_section(6, 6, 2) + "[conv]\nfilters = 4\nsize = 3\npad = same\n"
        "activation = relu\n[maxpool]\nsize = 3\nstride = 1\npad = 1\n[shortcut]\nfrom = -2\nactivation = relu\n"
        "[maxpool]\nsize = 2\n[flatten]\n")
    add("gap", net_section(5, 6, 3) + "[avgpool]\nglobal = 1\n[flatten]\n")
    add("gap_dense", net_section(4, 4, 2) + "[conv]\nfilters = 5\nsize = 3\n[avgpool]\nglobal = 1\n[dense]\nunits = 3\n")

    # The shipped models, forward/backward of the mean loss on a few jets (the residual one in
    # training and in inference).
    for cfg_name in ("lecture", "deeptop", "resnet"):
        text = open(os.path.join(HERE, "..", "configs", f"{cfg_name}.cfg")).read()
        add(f"model_{cfg_name}", text, n=4, labels=True)
    add("model_resnet_train", open(os.path.join(HERE, "..", "configs", "resnet.cfg")).read(), n=4, labels=True,
        training=True)

    res = run_driver(a.driver, a.workdir, cases)
    n_ok = sum(bool(compare_case(name, c, res[name])) for name, c in cases.items())
    print(f"{n_ok}/{len(cases)} layer cases agree with PyTorch")
    res.close()


# ---------------------------------------------------------------------------------------
def write_checkpoint(path, text, weights, state=None):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "jetcnn-1"
        f.attrs["config"] = text
        write_tensors(f, weights, state)


def torch_train(tn, weights, state, x, labels, batch, micro, steps, run):
    """`steps` steps of mean-loss training in float64 with torch.optim, as run describes.
    With batch norm the loss of each step is summed over its micro-batches of `micro` jets
    (statistics and one running-statistics update per micro-batch, in order). Returns the
    trained (weights, state)."""
    ws, st = tensors(weights, grad=True), tensors(state)
    params = [p for d in ws.values() for p in d.values()]
    lr, wd = run["lr"], run.get("wd", 0.0)
    opt = {
        "momentum": lambda: torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd),
        "nesterov": lambda: torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=wd),
        "adam": lambda: torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd),
        "adamw": lambda: torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd),
    }[run["optimizer"]]()
    xt, yt = torch.tensor(x, dtype=torch.float64), torch.tensor(labels, dtype=torch.long)
    if run.get("normalize") == "sum":  # each image divided by its pixel sum
        xt = xt / xt.sum(dim=(1, 2, 3), keepdim=True)
    xt = xt * run.get("input_scale", 1.0)
    for s in range(steps):
        opt.zero_grad()
        xb, yb = xt[s * batch:(s + 1) * batch], yt[s * batch:(s + 1) * batch]
        if not st:
            loss = tn.loss(tn.logits(xb, ws), yb)
            loss.backward()
        for m in range(0, len(xb) if st else 0, micro):
            loss = tn.loss(tn.logits(xb[m:m + micro], ws, st, training=True), yb[m:m + micro])
            (loss * len(xb[m:m + micro]) / len(xb)).backward()
        opt.step()
    return ({i: {k: v.detach().numpy() for k, v in d.items()} for i, d in ws.items()},
            {i: {k: v.numpy() for k, v in d.items()} for i, d in st.items()})


# A small net with batch norm after a conv, after a dense layer (bn_ keys) and as a section
# of its own (keys), for a file whose last micro-batch holds one jet (157 = 4 * 32 + 29 =
# 4 * 39 + 1): that micro-batch's dense norms see one value per channel.
BN_TAIL_CFG = """[net]
input = 40x40x1
batch = 32
[conv]
filters = 4
size = 4
stride = 2
pad = same
batch_normalize = 1
activation = relu
[maxpool]
size = 2
[dense]
units = 8
batch_normalize = 1
bn_momentum = 0.3
activation = relu
[batchnorm]
momentum = 0.05
epsilon = 0.001
[dense]
units = 2
"""


def cmd_train(a):
    os.makedirs(a.workdir, exist_ok=True)
    batch, steps = 32, 5
    # The four required runs, then the other optimizers, weight decay, several
    # micro-batches per step and per-image normalisation; the residual model with batch norm
    # over micro-batches (weights and running statistics), and a short last micro-batch.
    runs = [dict(cfg="lecture", optimizer="momentum", lr=0.05), dict(cfg="lecture", optimizer="adam", lr=1e-3),
            dict(cfg="deeptop", optimizer="momentum", lr=0.05), dict(cfg="deeptop", optimizer="adam", lr=1e-3),
            dict(cfg="deeptop", optimizer="nesterov", lr=0.05, wd=1e-3, micro=8),
            # input_scale = H*W keeps the pixels O(1): with sums of 1 (pixels ~6e-4) the conv
            # outputs before max pooling are so nearly tied that float32 rounding (torch's
            # too) picks other maxima than float64, and Adam magnifies the first layer's
            # resulting gradient noise to ~1e-3 of its update.
            dict(cfg="deeptop", optimizer="adamw", lr=1e-3, wd=0.05, micro=16, normalize="sum", input_scale=1600),
            dict(cfg="lecture", optimizer="adam", lr=1e-3, wd=1e-3, micro=4),
            # resnet.cfg with ELU for ReLU ("smooth"): with ReLU after batch norm (outputs of
            # unit spread, many near 0) and Winograd's float32 rounding (3x3 convs with 16+
            # channels), a few ReLU inputs fall on the other side of 0 than in float64 by chance
            # of the toy data: up to 1e-2 of the update apart, which says nothing about the
            # arithmetic (float32 PyTorch with direct convolutions misses them). The ReLU paths
            # are checked layer by layer (cmd_layers: model_resnet_train). Adam, which turns a
            # gradient element of ~1e-6 into a full step of either sign, is checked on bn_tail.
            dict(cfg="resnet", optimizer="momentum", lr=0.05, micro=16, normalize="sum", input_scale=1600, smooth=True),
            dict(cfg="resnet", optimizer="nesterov", lr=0.01, wd=1e-3, micro=8, normalize="sum", input_scale=1600,
                 smooth=True),
            dict(cfg="bn_tail", text=BN_TAIL_CFG, optimizer="adamw", lr=1e-3, wd=0.05, micro=4, n=157)]
    data_files = {}
    for run in runs:
        cfg_name, optimizer, lr = run["cfg"], run["optimizer"], run["lr"]
        micro = run.get("micro", batch)
        tag = f"{cfg_name}_{optimizer}" + (f"_micro{micro}" if micro != batch else "")
        cfg_path = os.path.join(a.configs, f"{cfg_name}.cfg")
        if "text" in run:
            cfg_path = os.path.join(a.workdir, f"{cfg_name}.cfg")
            with open(cfg_path, "w") as f:
                f.write(run["text"])
        text = open(cfg_path).read()
        if run.get("smooth"):
            text = text.replace("activation = relu", "activation = elu")
            cfg_path = os.path.join(a.workdir, f"{cfg_name}_elu.cfg")
            tag += "_elu"
            with open(cfg_path, "w") as f:
                f.write(text)
        tn = TorchNet(text)
        c, h, w = tn.shape
        classes = 2 if tn.head == "sigmoid" else tn.n_logits
        n_jets = run.get("n", batch * steps)
        data = os.path.join(a.workdir, f"{cfg_name}_{n_jets}.h5")
        if data not in data_files:
            subprocess.run([sys.executable, os.path.join(HERE, "tools", "toy_data.py"), data, "--n",
                            str(n_jets), "--shape", f"{h}x{w}x{c}", "--classes", str(classes), "--seed", "7"],
                           check=True)
            with h5py.File(data, "r") as f:
                images, labels = f["images"][()], f["labels"][()]
            data_files[data] = (images.transpose(0, 3, 1, 2) if images.ndim == 4 else images[:, None], labels)
        x, labels = data_files[data]  # NCHW (the file is channels-last)
        w0, s0 = tn.init_weights(np.random.default_rng(11))
        ckpt = os.path.join(a.workdir, f"{tag}_init.h5")
        write_checkpoint(ckpt, text, w0, s0)
        out = os.path.join(a.workdir, tag)
        cmd = [a.jetcnn, "train", cfg_path, "--train", data, "--out", out, "--init", ckpt, "--force"]
        for kv in ("epochs=1", "shuffle=0", f"normalize={run.get('normalize', 'none')}",
                   f"input_scale={run.get('input_scale', 1)}",
                   f"batch={batch}", f"micro_batch={micro}", f"optimizer={optimizer}", f"learning_rate={lr}",
                   "momentum=0.9", "beta1=0.9", "beta2=0.999", "epsilon=1e-8", f"weight_decay={run.get('wd', 0)}",
                   "schedule=constant", "warmup_epochs=0"):
            cmd += ["--set", kv]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if not check(r.returncode == 0, f"{tag}: jetcnn train exits 0 (got {r.returncode}: {r.stderr.strip()[-500:]})"):
            continue
        with h5py.File(os.path.join(out, "checkpoint.h5"), "r") as f:
            got = {i: {k: f[f"weights/layer{i:02d}/{k}"][()] for k in d} for i, d in w0.items()}
            got_state = {i: {k: f[f"weights/layer{i:02d}/{k}"][()] for k in d} for i, d in s0.items()}
            check(int(f["state/step"][0]) == steps, f"{tag}: {steps} optimizer steps recorded")
        ref, ref_state = torch_train(tn, w0, s0, x, labels, batch, micro, steps, run)
        worst, worst_update, moved = 0.0, 0.0, 0.0
        for i in w0:
            for part in w0[i]:
                e = norm_err(got[i][part], ref[i][part])
                update = np.linalg.norm(ref[i][part] - w0[i][part].astype(np.float64))
                # The update must agree to 1e-3 of its own size, up to float32 rounding of
                # the weights themselves (an update of 1e-5 |w| is rounded at ~1e-7 |w|).
                eu = e * np.linalg.norm(ref[i][part]) / (update + 1e-3 * np.linalg.norm(ref[i][part]))
                worst, worst_update = max(worst, e), max(worst_update, eu)
                moved = max(moved, norm_err(w0[i][part], ref[i][part]))
                check(e < TOL, f"{tag}: layer{i:02d} {part} after {steps} steps: relative error {e:.3g} (< {TOL:g})")
                check(eu < 10 * TOL, f"{tag}: layer{i:02d} {part}: the {steps}-step update differs from torch's "
                      f"by {eu:.3g} of (its size + 1e-3 |w|) (< {10 * TOL:g})")
        # The running statistics: one PyTorch update per micro-batch, in order.
        worst_state, moved_state = 0.0, 0.0
        for i in s0:
            for part in s0[i]:
                e = norm_err(got_state[i][part], ref_state[i][part])
                worst_state, moved_state = max(worst_state, e), max(moved_state, norm_err(s0[i][part], ref_state[i][part]))
                check(e < TOL, f"{tag}: layer{i:02d} {part} after {steps} steps: relative error {e:.3g} (< {TOL:g})")
        if s0:
            check(moved_state > 100 * TOL, f"{tag}: the running statistics moved by {moved_state:.3g} relative")
        # Training must have moved the weights far beyond the tolerance, and one step less
        # must be told apart: otherwise the comparison proves nothing.
        check(moved > 100 * TOL, f"{tag}: the weights moved by {moved:.3g} relative (> {100 * TOL:g})")
        short, short_state = torch_train(tn, w0, s0, x, labels, batch, micro, steps - 1, run)
        sensitive = max(norm_err(got[i][k], short[i][k]) for i in w0 for k in w0[i])
        check(sensitive > 10 * TOL, f"{tag}: {steps - 1} torch steps differ from jetcnn's {steps} ({sensitive:.3g})")
        if s0:
            sensitive = max(norm_err(got_state[i][k], short_state[i][k]) for i in s0 for k in s0[i])
            check(sensitive > 10 * TOL, f"{tag}: running statistics of {steps - 1} torch steps differ from jetcnn's "
                  f"{steps} ({sensitive:.3g})")
        stats = f"{worst_state:.3g} of the running statistics " if s0 else ""
        print(f"{tag}: relative error {worst:.3g} of the weights, {worst_update:.3g} of the update, {stats}"
              f"after {steps} steps (most-moved tensor moved {moved:.3g})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("lecture", "layers", "train"))
    ap.add_argument("--driver", help="the jc_reference executable (lecture, layers)")
    ap.add_argument("--jetcnn", help="the jetcnn executable (train)")
    ap.add_argument("--configs", help="the configs/ directory (train)")
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    need = {"lecture": ("driver",), "layers": ("driver",), "train": ("jetcnn", "configs")}[a.what]
    for opt in need:
        if not getattr(a, opt):
            ap.error(f"{a.what} needs --{opt}")
    torch.set_num_threads(2)
    self_test_compare()
    {"lecture": cmd_lecture, "layers": cmd_layers, "train": cmd_train}[a.what](a)
    if n_checks == 0:
        sys.exit("FAIL: no checks ran")
    print(f"{n_checks - len(failures)}/{n_checks} checks passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
