#!/usr/bin/python3
"""jetcnn vs PyTorch on the same cores, the same layers, batch and data in memory.

usage: bench_torch.py --build BUILD_DIR [--configs A.cfg B.cfg] [--batches 32 128 512]
                      [--threads 2] [--rounds 3] [--steps 20] [--json OUT.json] [--profile]

For every config and batch, rounds alternate a jetcnn run (BUILD_DIR/bench/jc_bench) and a
PyTorch run, each in its own process (so each has its own peak RSS), on the same jets: a
raw float32 file of `batch` uniform random images written once here. Training img/s is a
full step (forward, loss, backward, optimizer step: the config's optimizer and learning
rate); inference img/s is a forward pass with probabilities (torch: inference_mode).
The best round of each is reported (least disturbed by the machine), and the median over
rounds of the back-to-back ratio, with jetcnn's GFLOP/s as a fraction of the sgemm rate
measured by BUILD_DIR/bench/sgemm_rate.
Needs Debian's python3-torch (run with /usr/bin/python3).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def read_cfg(path):
    """Sections of a jetcnn config in order: [(name, {key: value})]."""
    sections = []
    for raw in open(path):
        line = raw.split(";")[0].strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"\[(\w+)\]", line)
        if m:
            sections.append((m.group(1), {}))
        elif "=" in line and sections:
            k, v = line.split("=", 1)
            sections[-1][1][k.strip()] = v.strip()
    return sections


def torch_model(sections):
    """A torch module equivalent to the config (the output softmax is left to the loss) and
    the [net] section: one block per section (conv without bias and BatchNorm2d/1d for
    batch_normalize = 1, a [shortcut] adds the output of the section `from` back, through a
    1x1 projection with project = 1)."""
    import torch
    import torch.nn as nn
    net = sections[0][1]
    h, w, c = (int(v) for v in net["input"].lower().split("x"))
    acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "elu": nn.ELU}
    blocks, sources, shapes, flat = [], [], [], False
    for i, (name, s) in enumerate(sections[1:]):
        last = i == len(sections) - 2
        layers, src = [], None
        bn = s.get("batch_normalize", "0") == "1"
        if name == "conv":
            k, f, st = int(s["filters"]), int(s["size"]), int(s.get("stride", 1))
            pad = s.get("pad", "valid")
            if pad == "same" and st == 1:
                layers.append(nn.Conv2d(c, k, f, padding="same", bias=not bn))
            elif pad == "same":  # explicit padding: torch's "same" refuses strides > 1
                total_h, total_w = max((-(-h // st) - 1) * st + f - h, 0), max((-(-w // st) - 1) * st + f - w, 0)
                layers.append(nn.ZeroPad2d((total_w // 2, total_w - total_w // 2, total_h // 2, total_h - total_h // 2)))
                h, w = -(-h // st), -(-w // st)
                layers.append(nn.Conv2d(c, k, f, stride=st, bias=not bn))
            else:
                p = 0 if pad == "valid" else int(pad)
                h, w = (h + 2 * p - f) // st + 1, (w + 2 * p - f) // st + 1
                layers.append(nn.Conv2d(c, k, f, stride=st, padding=p, bias=not bn))
            c = k
            if bn:
                layers.append(nn.BatchNorm2d(c, momentum=float(s.get("bn_momentum", 0.1)), eps=float(s.get("bn_epsilon", 1e-5))))
        elif name == "avgpool" and s.get("global", "0") == "1":
            layers.append(nn.AdaptiveAvgPool2d(1))
            h = w = 1
        elif name in ("maxpool", "avgpool"):
            f = int(s["size"])
            st, p = int(s.get("stride", f)), int(s.get("pad", 0))
            layers.append((nn.MaxPool2d if name == "maxpool" else nn.AvgPool2d)(f, st, p))
            h, w = (h + 2 * p - f) // st + 1, (w + 2 * p - f) // st + 1
        elif name == "flatten":
            layers.append(nn.Flatten())
            flat = True
        elif name == "dropout":
            layers.append(nn.Dropout(float(s["rate"])))
        elif name == "dense":
            if not flat:
                layers.append(nn.Flatten())
                flat = True
            n_in = c * h * w
            c, h, w = int(s["units"]), 1, 1
            layers.append(nn.Linear(n_in, c, bias=not bn))
            if bn:
                layers.append(nn.BatchNorm1d(c, momentum=float(s.get("bn_momentum", 0.1)), eps=float(s.get("bn_epsilon", 1e-5))))
        elif name == "batchnorm":
            layers.append((nn.BatchNorm2d if not flat else nn.BatchNorm1d)(
                c, momentum=float(s.get("momentum", 0.1)), eps=float(s.get("epsilon", 1e-5))))
        elif name == "shortcut":
            src = i + int(s["from"])
            c1, h1, _ = shapes[src]
            proj = nn.Conv2d(c1, c, 1, stride=-(-h1 // h)) if s.get("project", "0") == "1" else nn.Identity()
            layers.append(proj)
        else:
            raise SystemExit(f"bench_torch.py: no PyTorch equivalent for [{name}]")
        act = s.get("activation", "linear") if name in ("conv", "dense", "batchnorm", "shortcut") else "linear"
        post = []
        if act in acts:
            post.append(acts[act]())
        elif act not in ("linear", "softmax") or (act == "softmax" and not last):
            raise SystemExit(f"bench_torch.py: activation {act} not supported here")
        blocks.append(nn.ModuleList([nn.Sequential(*layers), nn.Sequential(*post)]))
        sources.append(src)
        shapes.append((c, h, w))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList(blocks)

        def forward(self, x):
            outs = []
            for (body, post), src in zip(self.blocks, sources):
                x = x + body(outs[src]) if src is not None else body(x)  # a shortcut: x + projection(earlier)
                x = post(x)
                outs.append(x)
            return torch.flatten(x, 1)

    return Net(), net


def torch_worker(a):
    import resource
    import torch
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model, net = torch_model(read_cfg(a.config))
    h, w, c = (int(v) for v in net["input"].lower().split("x"))
    x = torch.from_numpy(np.fromfile(a.input, dtype=np.float32).reshape(a.batch, c, h, w))
    y = torch.from_numpy(np.fromfile(a.labels, dtype=np.int32).astype(np.int64))
    lr = float(net.get("learning_rate", 1e-3))
    opt_name = net.get("optimizer", "adam")
    if opt_name == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    elif opt_name == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=lr)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9 if opt_name != "sgd" else 0.0)
    loss_fn = torch.nn.CrossEntropyLoss()
    out = {"threads": torch.get_num_threads(), "torch": torch.__version__}

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    if a.mode in ("train", "both"):
        model.train()
        for _ in range(a.warmup):
            train_step()
        t0 = time.perf_counter()
        for _ in range(a.steps):
            train_step()
        out["train_img_s"] = a.steps * a.batch / (time.perf_counter() - t0)
    if a.mode in ("infer", "both"):
        model.eval()
        with torch.inference_mode():
            for _ in range(a.warmup):
                torch.softmax(model(x), dim=1)
            t0 = time.perf_counter()
            for _ in range(a.steps):
                torch.softmax(model(x), dim=1)
            out["infer_img_s"] = a.steps * a.batch / (time.perf_counter() - t0)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps(out))


def run_json(cmd, env):
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"bench_torch.py: {' '.join(cmd)} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build-perf"))
    ap.add_argument("--configs", nargs="+",
                    default=[os.path.join(ROOT, "configs", n) for n in ("lecture.cfg", "deeptop.cfg", "resnet.cfg")])
    ap.add_argument("--batches", nargs="+", type=int, default=[32, 128, 512])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--micro", type=int, default=0,
                    help="jetcnn micro_batch (default: the config's rule, but batch/threads when that is smaller)")
    ap.add_argument("--json", help="write all measurements here")
    ap.add_argument("--profile", action="store_true", help="print jetcnn's per-layer profile at each batch")
    # worker mode (internal)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--labels", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="both", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return torch_worker(a)

    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    jc_bench = os.path.join(a.build, "bench", "jc_bench")
    results_load = os.getloadavg()
    sgemm = run_json([os.path.join(a.build, "bench", "sgemm_rate")], env)
    peak = sgemm["per_thread_gflop_s"]
    print(f"sgemm on {a.threads} threads: {sgemm['threaded_gflop_s']:.1f} GFLOP/s threaded, "
          f"{peak:.1f} GFLOP/s one single-threaded sgemm per thread (n = {sgemm['n']})")
    print(f"load average at the start {results_load[0]:.2f} (other processes on these cores make every number noisy)")
    rows, results = [], {"sgemm": sgemm, "runs": [], "loadavg_start": results_load}
    with tempfile.TemporaryDirectory() as tmp:
        for cfg in a.configs:
            net = read_cfg(cfg)[0][1]
            h, w, c = (int(v) for v in net["input"].lower().split("x"))
            for batch in a.batches:
                rng = np.random.default_rng(batch)
                xs, ys = os.path.join(tmp, "x.f32"), os.path.join(tmp, "y.i32")
                rng.random((batch, c, h, w), dtype=np.float32).tofile(xs)
                rng.integers(0, 2, size=batch).astype(np.int32).tofile(ys)
                micro = a.micro or min(32, max(1, batch // a.threads))
                jc_cmd = [jc_bench, cfg, "--batch", str(batch), "--micro", str(micro), "--steps", str(a.steps),
                          "--warmup", str(a.warmup), "--input", xs, "--labels", ys]
                th_cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--config", cfg, "--batch",
                          str(batch), "--input", xs, "--labels", ys, "--threads", str(a.threads), "--steps",
                          str(a.steps), "--warmup", str(a.warmup)]
                jc_runs, th_runs = [], []
                for _ in range(a.rounds):
                    jc_runs.append(run_json(jc_cmd, env))
                    th_runs.append(run_json(th_cmd, env))
                jc = {k: max(r[k] for r in jc_runs) for k in ("train_img_s", "infer_img_s", "train_gflop_s")}
                th = {k: max(r[k] for r in th_runs) for k in ("train_img_s", "infer_img_s")}
                # Ratios of each round's back-to-back pair, median: robust to load that comes and goes.
                paired = {k: statistics.median(j[k] / t[k] for j, t in zip(jc_runs, th_runs))
                          for k in ("train_img_s", "infer_img_s")}
                jc_rss, th_rss = max(r["peak_rss_mb"] for r in jc_runs), max(r["peak_rss_mb"] for r in th_runs)
                name = os.path.splitext(os.path.basename(cfg))[0]
                rows.append((name, batch, micro, jc["train_img_s"], th["train_img_s"], paired["train_img_s"],
                             jc["infer_img_s"], th["infer_img_s"], paired["infer_img_s"], jc["train_gflop_s"], jc_rss,
                             th_rss))
                results["runs"].append({"config": name, "batch": batch, "micro_batch": micro, "jetcnn": jc_runs,
                                        "torch": th_runs, "paired_median_ratio": paired})
                if a.profile:
                    prof = run_json(jc_cmd + ["--profile", "--mode", "train"], env)["profile_s_per_step"]
                    print(f"  profile {name} batch {batch}: step {prof['step_wall'] * 1e3:.2f} ms, reduce "
                          f"{prof['reduce'] * 1e3:.2f} ms, optimizer {prof['optimizer'] * 1e3:.2f} ms; "
                          "thread-ms per layer fwd/bwd:")
                    for lay in prof["layers"]:
                        print(f"    {lay['layer']:2d} {lay['kind']:13s} {lay['label']:8s} {lay['out']:9s} "
                              f"{lay['forward'] * 1e3:7.3f} {lay['backward'] * 1e3:7.3f}")
                    results["runs"][-1]["profile"] = prof
    load = os.getloadavg()
    results["loadavg_end"] = load
    print(f"\nbest of {a.rounds} rounds; 'ratio' = best jetcnn / best torch, 'paired' = median over rounds of "
          f"the back-to-back ratio; load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'model':8s} {'batch':>5s} {'micro':>5s} | {'train img/s':>11s} {'torch':>7s} {'ratio':>5s} {'paired':>6s} | "
          f"{'infer img/s':>11s} {'torch':>7s} {'ratio':>5s} {'paired':>6s} | {'GFLOP/s':>7s} {'of sgemm':>8s} | "
          f"{'RSS MB':>6s} {'torch':>6s}")
    for name, batch, micro, jt, tt, pt, ji, ti, pi, gf, jr, tr in rows:
        print(f"{name:8s} {batch:5d} {micro:5d} | {jt:11.0f} {tt:7.0f} {jt / tt:5.2f} {pt:6.2f} | {ji:11.0f} {ti:7.0f} "
              f"{ji / ti:5.2f} {pi:6.2f} | {gf:7.1f} {gf / peak:8.0%} | {jr:6.1f} {tr:6.1f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
