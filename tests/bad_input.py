#!/usr/bin/python3
"""Bad input, table-driven: malformed configs, HDF5 files and command lines.

Every case builds its own inputs in a fresh directory, runs one jetcnn command (directly, or
under `mpiexec -np P` with --np P) and checks that
  - it finished within its timeout (no hang, also not across ranks),
  - it was not killed by a signal (no core dump: return code >= 0, not 134/139, and no
    "received signal" report from Open MPI),
  - the exit code is the documented one (2 usage/config, 3 input data, 4 output),
  - stderr holds the expected message fragment (naming FILE:LINE, or file and dataset)
    exactly once (rank 0 prints, not every rank); for inputs that must be accepted (exit
    code 0) stdout holds the fragment and stderr no error,
  - files that existed before (a checkpoint, a scores file) are byte-identical afterwards,
    and no temporary "*.tmp" file is left behind.

usage: bad_input.py --jetcnn BIN --workdir DIR [--np P --mpiexec MPIEXEC] [--only SUBSTR] [--list]
"""
import argparse
import hashlib
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time

import numpy as np

try:
    import h5py
except ImportError as e:  # a missing dependency is a failure, never a silent skip
    sys.exit(f"bad_input.py: needs Debian's python3-h5py ({e})")

# ---------------------------------------------------------------------------------------------
# Fixtures: a tiny model and a valid data file; each case derives its broken variant.

H, W = 8, 8
N_JETS = 32

TINY_CFG = """\
[net]
input = 8x8x1
batch = 8
micro_batch = 4
epochs = 1
optimizer = sgd
learning_rate = 0.01
shuffle = 0
seed = 1

[conv]
filters = 2
size = 3
pad = same
activation = relu

[dense]
units = 2
activation = softmax
"""


def write_jets(path, n=N_JETS, shape=(H, W), images=None, labels=None, dtype=np.float32, label_dtype=np.int32,
               skip=()):
    """Write a jets file; `images`/`labels` override the generated arrays, `skip` drops datasets."""
    rng = np.random.default_rng(7)
    if images is None:
        images = rng.exponential(0.1, size=(n,) + tuple(shape)).astype(dtype)
    if labels is None:
        labels = (np.arange(n) % 2).astype(label_dtype)
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "jetcnn-jets-1"
        if "images" not in skip:
            f["images"] = images
        if "labels" not in skip:
            f["labels"] = labels
        f["jet_mass"] = np.linspace(10, 200, len(labels) if hasattr(labels, "__len__") else n).astype(np.float32)


def cfg_with(text, old, new):
    assert old in text, old
    return text.replace(old, new, 1)


def line_of(text, needle):
    """1-based line number of the first line of text containing needle."""
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


class Ctx:
    """What a case's setup sees: its own directory and the shared valid fixtures."""

    def __init__(self, case_dir, base):
        self.dir = case_dir
        self.base = base
        self.guard = []      # files that must be byte-identical afterwards
        self.out_dirs = [case_dir]
        self.env = {}          # extra environment of every rank
        self.rank1_args = None  # rank 1's own argv after "jetcnn" (tests/tools/on_rank1.sh)
        self.rank1_env = {}     # extra environment of rank 1 only

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, data):
        p = self.path(name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
        return p

    def cfg(self, text, name="model.cfg"):
        return self.write(name, text)

    def jets(self, name="jets.h5", **kw):
        p = self.path(name)
        write_jets(p, **kw)
        return p

    @property
    def good_cfg(self):
        return os.path.join(self.base, "tiny.cfg")

    @property
    def good_h5(self):
        return os.path.join(self.base, "good.h5")

    @property
    def ckpt(self):
        return os.path.join(self.base, "run", "checkpoint.h5")

    def existing_run(self, name="run"):
        """A run directory holding a checkpoint from an earlier good run (must survive)."""
        d = self.path(name)
        os.makedirs(d)
        shutil.copy(self.ckpt, os.path.join(d, "checkpoint.h5"))
        self.guard.append(os.path.join(d, "checkpoint.h5"))
        self.out_dirs.append(d)
        return d

    def edited_ckpt(self, edit, name="ckpt.h5"):
        """A copy of the good checkpoint changed by edit(h5py.File)."""
        p = self.path(name)
        shutil.copy(self.ckpt, p)
        with h5py.File(p, "a") as f:
            edit(f)
        return p

    def predict(self, ckpt, data=None):
        """predict ckpt over data (default: the good file) onto an existing scores file."""
        return ["predict", ckpt, "--data", data or self.good_h5, "--out", self.existing_scores()]

    def existing_scores(self, name="scores.h5"):
        """A scores file from an earlier good predict (must survive)."""
        p = self.path(name)
        shutil.copy(os.path.join(self.base, "scores.h5"), p)
        self.guard.append(p)
        return p


def mount_tmpfs(path, size):
    """Mount a tiny tmpfs at path (needs root); True on success."""
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path], capture_output=True)
    return r.returncode == 0


def fill_up(path):
    """Fill the file system of directory path completely."""
    try:
        with open(os.path.join(path, "filler"), "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
    except OSError:  # ENOSPC: full, as wanted
        pass


# ---------------------------------------------------------------------------------------------
# The table: (name, setup(ctx) -> argv after "jetcnn", exit code, message fragment (regex)).
# Fragments are regular expressions; {dir} is replaced by the case directory.

CASES = []


def case(name, code, fragment, timeout=60, needs=None, mpi_only=False, errors_per_rank=False):
    """mpi_only: the case needs 2 ranks (runs with --np >= 2 only). errors_per_rank: every rank
    prints its own error (a failure before MPI exists), so 1..P 'jetcnn: error:' lines."""
    def register(setup):
        CASES.append(dict(name=name, setup=setup, code=code, fragment=fragment, timeout=timeout, needs=needs,
                          mpi_only=mpi_only, errors_per_rank=errors_per_rank))
        return setup
    return register


def summary(ctx, text):
    return ["summary", ctx.cfg(text)]


def train(ctx, cfg, data, *extra, out=None):
    return ["train", cfg, "--train", data, "--out", out or ctx.path("out"), *extra]


# ---- config files ----
@case("cfg_missing_file", 2, r"nope\.cfg: cannot open config: No such file")
def _(ctx):
    return ["summary", ctx.path("nope.cfg")]


@case("cfg_empty", 2, r"model\.cfg:1: empty config")
def _(ctx):
    return summary(ctx, "")


@case("cfg_only_comments", 2, r"model\.cfg:1: empty config")
def _(ctx):
    return summary(ctx, "; nothing here\n# nor here\n\n")


@case("cfg_binary_garbage", 2, r"model\.cfg: binary file \(NUL bytes\)")
def _(ctx):
    return ["summary", ctx.write("model.cfg", bytes(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8)))]


@case("cfg_control_chars", 2, r"model\.cfg:3: binary or control character")
def _(ctx):
    return summary(ctx, "[net]\ninput = 8x8x1\nbatch = \x01\x02\x1b[31m\n")


@case("cfg_one_megabyte_line", 2, r"model\.cfg:2: line too long \(1048576 characters")
def _(ctx):
    return summary(ctx, "[net]\n" + "x" * (1 << 20) + "\n")


@case("cfg_longer_than_4MiB", 2, r"model\.cfg: config larger than 4 MiB")
def _(ctx):
    return summary(ctx, TINY_CFG + ("; padding padding padding\n" * 200000))


@case("cfg_unknown_section", 2, r"model\.cfg:{line}: unknown section \[convolution\]")
def _(ctx):
    text = cfg_with(TINY_CFG, "[conv]", "[convolution]")
    ctx.fmt = dict(line=line_of(text, "[convolution]"))
    return summary(ctx, text)


@case("cfg_unknown_key", 2, r"model\.cfg:{line}: unknown key 'filterz' in \[conv\]")
def _(ctx):
    text = cfg_with(TINY_CFG, "filters = 2", "filterz = 2")
    ctx.fmt = dict(line=line_of(text, "filterz"))
    return summary(ctx, text)


@case("cfg_duplicate_key", 2, r"model\.cfg:{line}: duplicate key 'filters' in \[conv\]")
def _(ctx):
    text = cfg_with(TINY_CFG, "filters = 2", "filters = 2\nfilters = 3")
    ctx.fmt = dict(line=line_of(text, "filters = 3"))
    return summary(ctx, text)


@case("cfg_second_net", 2, r"model\.cfg:{line}: second \[net\] section")
def _(ctx):
    text = TINY_CFG + "\n[net]\ninput = 8x8x1\n"
    ctx.fmt = dict(line=len(text.splitlines()) - 1)
    return summary(ctx, text)


@case("cfg_syntax_error", 2, r"model\.cfg:{line}: syntax error")
def _(ctx):
    text = cfg_with(TINY_CFG, "filters = 2", "filters 2")
    ctx.fmt = dict(line=line_of(text, "filters 2"))
    return summary(ctx, text)


@case("cfg_empty_value", 2, r"model\.cfg:{line}: key 'filters' has an empty value")
def _(ctx):
    text = cfg_with(TINY_CFG, "filters = 2", "filters =")
    ctx.fmt = dict(line=line_of(text, "filters ="))
    return summary(ctx, text)


@case("cfg_key_outside_section", 2, r"model\.cfg:1: key 'input' outside any section")
def _(ctx):
    return summary(ctx, "input = 8x8x1\n" + TINY_CFG)


@case("cfg_string_for_number", 2, r"model\.cfg:{line}: filters = 'eight' is not an integer")
def _(ctx):
    text = cfg_with(TINY_CFG, "filters = 2", "filters = eight")
    ctx.fmt = dict(line=line_of(text, "eight"))
    return summary(ctx, text)


@case("cfg_fraction_for_integer", 2, r"model\.cfg:{line}: units = '2\.5' is not an integer")
def _(ctx):
    text = cfg_with(TINY_CFG, "units = 2", "units = 2.5")
    ctx.fmt = dict(line=line_of(text, "2.5"))
    return summary(ctx, text)


@case("cfg_nan_learning_rate", 2, r"model\.cfg:{line}: learning_rate = 'nan' is not a number")
def _(ctx):
    text = cfg_with(TINY_CFG, "learning_rate = 0.01", "learning_rate = nan")
    ctx.fmt = dict(line=line_of(text, "learning_rate"))
    return summary(ctx, text)


@case("cfg_negative_batch", 2, r"model\.cfg:{line}: batch = -8 is out of range")
def _(ctx):
    text = cfg_with(TINY_CFG, "batch = 8", "batch = -8")
    ctx.fmt = dict(line=line_of(text, "batch = -8"))
    return summary(ctx, text)


@case("cfg_zero_filters", 2, r"model\.cfg:{line}: filters = 0 is out of range")
def _(ctx):
    text = cfg_with(TINY_CFG, "filters = 2", "filters = 0")
    ctx.fmt = dict(line=line_of(text, "filters = 0"))
    return summary(ctx, text)


@case("cfg_huge_filters", 2, r"model\.cfg:{line}: filters = 99999999999999999999 is out of range")
def _(ctx):
    text = cfg_with(TINY_CFG, "filters = 2", "filters = 99999999999999999999")
    ctx.fmt = dict(line=line_of(text, "filters = 9"))
    return summary(ctx, text)


@case("cfg_huge_epochs", 2, r"model\.cfg:{line}: epochs = 10000000000 is out of range \[1, 1000000\]")
def _(ctx):
    text = cfg_with(TINY_CFG, "epochs = 1", "epochs = 10000000000")
    ctx.fmt = dict(line=line_of(text, "epochs"))
    return summary(ctx, text)


@case("cfg_zero_input", 2, r"model\.cfg:2: input = '0x8x1' is not H x W x C")
def _(ctx):
    return summary(ctx, cfg_with(TINY_CFG, "input = 8x8x1", "input = 0x8x1"))


@case("cfg_input_not_a_shape", 2, r"model\.cfg:2: input = '8 by 8' is not H x W x C")
def _(ctx):
    return summary(ctx, cfg_with(TINY_CFG, "input = 8x8x1", "input = 8 by 8"))


@case("cfg_kernel_larger_than_input", 2, r"model\.cfg:{line}: \[conv\] kernel 9x9 does not fit the 8x8 input")
def _(ctx):
    text = cfg_with(cfg_with(TINY_CFG, "size = 3", "size = 9"), "pad = same", "pad = valid")
    ctx.fmt = dict(line=line_of(text, "size = 9"))
    return summary(ctx, text)


@case("cfg_pool_larger_than_input", 2, r"model\.cfg:{line}: \[maxpool\] window 16x16 does not fit")
def _(ctx):
    text = cfg_with(TINY_CFG, "[dense]", "[maxpool]\nsize = 16\n\n[dense]")
    ctx.fmt = dict(line=line_of(text, "size = 16"))
    return summary(ctx, text)


@case("cfg_stride_zero", 2, r"model\.cfg:{line}: stride = 0 is out of range")
def _(ctx):
    text = cfg_with(TINY_CFG, "size = 3", "size = 3\nstride = 0")
    ctx.fmt = dict(line=line_of(text, "stride = 0"))
    return summary(ctx, text)


@case("cfg_negative_pad", 2, r"model\.cfg:{line}: pad = -1 is out of range")
def _(ctx):
    text = cfg_with(TINY_CFG, "pad = same", "pad = -1")
    ctx.fmt = dict(line=line_of(text, "pad = -1"))
    return summary(ctx, text)


@case("cfg_missing_net", 2, r"model\.cfg:1: the first section must be \[net\], found \[conv\]")
def _(ctx):
    return summary(ctx, TINY_CFG[TINY_CFG.index("[conv]"):])


@case("cfg_missing_required_key", 2, r"model\.cfg:1: \[net\] needs key 'batch'")
def _(ctx):
    return summary(ctx, cfg_with(TINY_CFG, "batch = 8\n", ""))


@case("cfg_no_layers", 2, r"model\.cfg:1: no layers after \[net\]: the model needs an output layer")
def _(ctx):
    return summary(ctx, TINY_CFG[:TINY_CFG.index("[conv]")])


@case("cfg_missing_output_layer", 2, r"model\.cfg:{line}: the output layer gives a 8x8x2 image")
def _(ctx):
    text = cfg_with(TINY_CFG[:TINY_CFG.index("[dense]")], "activation = relu\n", "")
    ctx.fmt = dict(line=line_of(text, "[conv]"))
    return summary(ctx, text)


@case("cfg_output_relu", 2, r"model\.cfg:{line}: the output layer's activation must be softmax, sigmoid or linear")
def _(ctx):
    text = TINY_CFG + "\n[activation]\nactivation = relu\n"
    ctx.fmt = dict(line=len(text.splitlines()))  # the key "activation = relu" on the last line
    return summary(ctx, text)


@case("cfg_softmax_one_unit", 2, r"model\.cfg:{line}: a softmax output needs at least 2 units")
def _(ctx):
    text = cfg_with(TINY_CFG, "units = 2", "units = 1")
    ctx.fmt = dict(line=line_of(text, "[dense]"))
    return summary(ctx, text)


@case("cfg_micro_batch_not_dividing", 2, r"model\.cfg:{line}: micro_batch = 3 does not divide batch = 8")
def _(ctx):
    text = cfg_with(TINY_CFG, "micro_batch = 4", "micro_batch = 3")
    ctx.fmt = dict(line=line_of(text, "micro_batch"))
    return summary(ctx, text)


@case("cfg_unknown_optimizer", 2, r"model\.cfg:{line}: optimizer = 'adamx' is not one of sgd")
def _(ctx):
    text = cfg_with(TINY_CFG, "optimizer = sgd", "optimizer = adamx")
    ctx.fmt = dict(line=line_of(text, "adamx"))
    return summary(ctx, text)


@case("cfg_too_many_layers", 2, r"model\.cfg:\d+: 101 layers; at most 100")
def _(ctx):
    return summary(ctx, TINY_CFG + "\n[dropout]\nrate = 0.1\n" * 99)


@case("cfg_classes_vs_labels", 3, r"jets\.h5: dataset /labels: jet 2 has label 2, outside 0\.\.1 \(the model has 2 classes\)")
def _(ctx):
    labels = (np.arange(N_JETS) % 4).astype(np.int32)  # four classes in the file, two in the model
    return train(ctx, ctx.good_cfg, ctx.jets(labels=labels))


# ---- residual layers: a shortcut's `from` and shapes, global pooling, batch norm keys ----
RES_TAIL = """
[conv]
filters = 4
size = 3
stride = 2
pad = same
batch_normalize = 1

[shortcut]
from = -2
project = 1
activation = relu

[avgpool]
global = 1

[dense]
units = 2
"""


RES_CFG = TINY_CFG.replace("[dense]\nunits = 2\nactivation = softmax\n", "") + RES_TAIL


@case("cfg_shortcut_from_positive", 2, r"model\.cfg:{line}: \[shortcut\] from = 2 must be negative")
def _(ctx):
    text = cfg_with(RES_CFG, "from = -2", "from = 2")
    ctx.fmt = dict(line=line_of(text, "from = 2"))
    return summary(ctx, text)


@case("cfg_shortcut_from_before_first", 2,
      r"model\.cfg:{line}: \[shortcut\] from = -3 reaches before the first layer section \(this is layer02")
def _(ctx):
    text = cfg_with(RES_CFG, "from = -2", "from = -3")
    ctx.fmt = dict(line=line_of(text, "from = -3"))
    return summary(ctx, text)


@case("cfg_shortcut_shapes_differ", 2,
      r"model\.cfg:{line}: \[shortcut\] from = -2 adds the output of layer00 \(8x8x2\) to that of layer01 "
      r"\(4x4x4\): the shapes differ")
def _(ctx):
    text = cfg_with(RES_CFG, "project = 1\n", "")
    ctx.fmt = dict(line=line_of(text, "from = -2"))
    return summary(ctx, text)


@case("cfg_shortcut_no_stride_fits", 2,
      r"model\.cfg:{line}: \[shortcut\] from = -2: no 1x1 projection with one stride maps the 8x8 output of layer00 "
      r"onto the 7x7 output of layer01")
def _(ctx):
    text = cfg_with(RES_CFG,
                    "size = 3\nstride = 2\npad = same", "size = 2\nstride = 1\npad = valid")
    ctx.fmt = dict(line=line_of(text, "from = -2"))
    return summary(ctx, text)


@case("cfg_global_pool_with_size", 2, r"model\.cfg:{line}: \[avgpool\] global = 1 averages the whole 4x4 plane; drop 'size'")
def _(ctx):
    text = cfg_with(RES_CFG, "global = 1", "global = 1\nsize = 2")
    ctx.fmt = dict(line=line_of(text, "size = 2"))
    return summary(ctx, text)


@case("cfg_batch_normalize_not_here", 2, r"model\.cfg:{line}: unknown key 'batch_normalize' in \[avgpool\]")
def _(ctx):
    text = cfg_with(RES_CFG, "global = 1",
                    "global = 1\nbatch_normalize = 1")
    ctx.fmt = dict(line=[i for i, l in enumerate(text.splitlines(), 1) if l == "batch_normalize = 1"][-1])
    return summary(ctx, text)


@case("cfg_batchnorm_momentum_range", 2, r"model\.cfg:{line}: bn_momentum = 1\.5 is out of range")
def _(ctx):
    text = cfg_with(RES_CFG, "batch_normalize = 1",
                    "batch_normalize = 1\nbn_momentum = 1.5")
    ctx.fmt = dict(line=line_of(text, "bn_momentum"))
    return summary(ctx, text)


# ---- --set overrides ----
@case("set_unknown_key", 2, r"--set nosuch=1: unknown \[net\] key 'nosuch'")
def _(ctx):
    return train(ctx, ctx.good_cfg, ctx.good_h5, "--set", "nosuch=1")


@case("set_without_equals", 2, r"--set epochs: expected KEY=VALUE")
def _(ctx):
    return train(ctx, ctx.good_cfg, ctx.good_h5, "--set", "epochs")


@case("set_out_of_range", 2, r"--set epochs: epochs = -1 is out of range")
def _(ctx):
    return train(ctx, ctx.good_cfg, ctx.good_h5, "--set", "epochs=-1")


@case("set_empty_value", 2, r"--set batch=: empty value")
def _(ctx):
    return ["summary", ctx.good_cfg, "--set", "batch="]


# ---- issue 13: config edges (text encodings, file kinds, numbers near the top of a range) ----
@case("cfg_utf8_bom_accepted", 0, r"Total params: ")
def _(ctx):
    return ["summary", ctx.write("model.cfg", b"\xef\xbb\xbf" + TINY_CFG.encode())]


@case("cfg_cr_only_line_endings", 2, r"model\.cfg:1: line ends with a lone carriage return \(CR-only line endings")
def _(ctx):
    return ["summary", ctx.write("model.cfg", TINY_CFG.replace("\n", "\r").encode())]


@case("cfg_crlf_line_endings_accepted", 0, r"Total params: ")
def _(ctx):
    return ["summary", ctx.write("model.cfg", TINY_CFG.replace("\n", "\r\n").encode())]


@case("cfg_is_a_directory", 2, r"adir\.cfg: is a directory, not a config file")
def _(ctx):
    os.makedirs(ctx.path("adir.cfg"))
    return ["summary", ctx.path("adir.cfg")]


@case("cfg_is_a_fifo", 2, r"fifo\.cfg: is not a regular file \(a pipe, device or socket\)", timeout=20)
def _(ctx):
    os.mkfifo(ctx.path("fifo.cfg"))
    return ["summary", ctx.path("fifo.cfg")]


@case("cfg_key_on_section_line", 2, r"model\.cfg:{line}: text after the section header \[dense\]: 'units = 2'")
def _(ctx):
    text = cfg_with(TINY_CFG, "[dense]\nunits = 2", "[dense] units = 2")
    ctx.fmt = dict(line=line_of(text, "[dense]"))
    return summary(ctx, text)


@case("cfg_learning_rate_underflows", 2, r"model\.cfg:{line}: learning_rate = 1e-400 is too small for a double "
      r"\(it underflows to 0\)")
def _(ctx):
    text = cfg_with(TINY_CFG, "learning_rate = 0.01", "learning_rate = 1e-400")
    ctx.fmt = dict(line=line_of(text, "learning_rate"))
    return summary(ctx, text)


@case("cfg_learning_rate_overflows", 2, r"model\.cfg:{line}: learning_rate = 1e400 is too large for a double")
def _(ctx):
    text = cfg_with(TINY_CFG, "learning_rate = 0.01", "learning_rate = 1e400")
    ctx.fmt = dict(line=line_of(text, "learning_rate"))
    return summary(ctx, text)


@case("set_names_the_override_not_line_0", 2, r"--set micro_batch: micro_batch = 3 does not divide batch = 8")
def _(ctx):
    return ["summary", ctx.good_cfg, "--set", "micro_batch=3"]


@case("cfg_input_values_overflow_int", 2, r"model\.cfg:2: input = '65536x65536x65536' has 281474976710656 values "
      r"per jet; at most 2147483647")
def _(ctx):
    return summary(ctx, cfg_with(TINY_CFG, "input = 8x8x1", "input = 65536x65536x65536"))


@case("cfg_input_just_over_int", 2, r"model\.cfg:2: input = '46341x46341' has 2147488281 values per jet")
def _(ctx):
    text = cfg_with(TINY_CFG, "input = 8x8x1", "input = 46341x46341")
    return summary(ctx, cfg_with(text, "[conv]", "[flatten]\n\n[conv]"))


@case("cfg_conv_output_overflows_int", 2, r"model\.cfg:{line}: \[conv\] produces 4294791200 values per jet "
      r"\(46340x46340x2\)")
def _(ctx):
    text = cfg_with(cfg_with(TINY_CFG, "input = 8x8x1", "input = 46340x46340"), "size = 3", "size = 1")
    ctx.fmt = dict(line=line_of(text, "[conv]"))
    return summary(ctx, text)


# ---- HDF5 input files ----
@case("h5_missing_file", 3, r"nope\.h5: cannot open: No such file")
def _(ctx):
    return train(ctx, ctx.good_cfg, ctx.path("nope.h5"))


@case("h5_directory", 3, r"adir: is a directory, not an HDF5 file")
def _(ctx):
    os.makedirs(ctx.path("adir"))
    return train(ctx, ctx.good_cfg, ctx.path("adir"))


@case("h5_not_hdf5", 3, r"jets\.h5: not an HDF5 file")
def _(ctx):
    return train(ctx, ctx.good_cfg, ctx.write("jets.h5", "images,labels\n1,2\n"))


@case("h5_empty_file", 3, r"jets\.h5: not an HDF5 file")
def _(ctx):
    return train(ctx, ctx.good_cfg, ctx.write("jets.h5", b""))


@case("h5_truncated", 3, r"jets\.h5: (not an HDF5 file|cannot open HDF5 file|cannot read)")
def _(ctx):
    data = open(ctx.good_h5, "rb").read()
    return train(ctx, ctx.good_cfg, ctx.write("jets.h5", data[: len(data) // 2]))


@case("h5_missing_images", 3, r"jets\.h5: dataset images is missing")
def _(ctx):
    return train(ctx, ctx.good_cfg, ctx.jets(skip=("images",)))


@case("h5_missing_labels", 3, r"jets\.h5: dataset labels is missing")
def _(ctx):
    return train(ctx, ctx.good_cfg, ctx.jets(skip=("labels",)))


@case("h5_images_is_group", 3, r"jets\.h5: (cannot open dataset images|dataset images)")
def _(ctx):
    p = ctx.jets(skip=("images",))
    with h5py.File(p, "a") as f:
        f.create_group("images")
    return train(ctx, ctx.good_cfg, p)


@case("h5_images_rank2", 3, r"jets\.h5: dataset /images has rank 2; expected \(N,H,W\)")
def _(ctx):
    return train(ctx, ctx.good_cfg, ctx.jets(images=np.zeros((N_JETS, H * W), np.float32)))


@case("h5_images_rank5", 3, r"jets\.h5: dataset images has rank 5")
def _(ctx):
    return train(ctx, ctx.good_cfg, ctx.jets(images=np.zeros((N_JETS, H, W, 1, 1), np.float32)))


@case("h5_images_int_dtype", 3, r"jets\.h5: dataset /images must hold floating-point pixels")
def _(ctx):
    return train(ctx, ctx.good_cfg, ctx.jets(images=np.ones((N_JETS, H, W), np.int32)))


@case("h5_images_string_dtype", 3, r"jets\.h5: dataset /images must hold floating-point pixels")
def _(ctx):
    return train(ctx, ctx.good_cfg, ctx.jets(images=np.array([b"jet"] * N_JETS)))


@case("h5_labels_float_dtype", 3, r"jets\.h5: dataset /labels must be integer")
def _(ctx):
    return train(ctx, ctx.good_cfg, ctx.jets(labels=(np.arange(N_JETS) % 2).astype(np.float32)))


@case("h5_labels_rank2", 3, r"jets\.h5: dataset /labels has rank 2; expected \(N\)")
def _(ctx):
    return train(ctx, ctx.good_cfg, ctx.jets(labels=np.zeros((N_JETS, 1), np.int32)))


@case("h5_n_mismatch", 3, r"jets\.h5: dataset /labels has 31 entries but /images has 32 jets")
def _(ctx):
    return train(ctx, ctx.good_cfg, ctx.jets(labels=(np.arange(N_JETS - 1) % 2).astype(np.int32)))


@case("h5_zero_jets", 3, r"jets\.h5: dataset /images holds zero jets")
def _(ctx):
    return train(ctx, ctx.good_cfg, ctx.jets(n=0, labels=np.zeros(0, np.int32)))


@case("h5_negative_label", 3, r"jets\.h5: dataset /labels: jet 5 has label -1, outside 0\.\.1")
def _(ctx):
    labels = (np.arange(N_JETS) % 2).astype(np.int32)
    labels[5] = -1
    return train(ctx, ctx.good_cfg, ctx.jets(labels=labels))


@case("h5_label_beyond_int32", 3, r"jets\.h5: dataset /labels: jet 2 has label")
def _(ctx):
    labels = (np.arange(N_JETS) % 2).astype(np.int64)
    labels[2] = 1 << 40  # converted to int32 by HDF5: must still be caught as out of range
    return train(ctx, ctx.good_cfg, ctx.jets(labels=labels))


@case("h5_nan_pixels", 3, r"jets\.h5: dataset /images: jet 9 has a non-finite pixel \(NaN or Inf\)")
def _(ctx):
    images = np.random.default_rng(1).exponential(0.1, (N_JETS, H, W)).astype(np.float32)
    images[9, 3, 4] = np.nan
    return train(ctx, ctx.good_cfg, ctx.jets(images=images), "--force", out=ctx.existing_run())


def damaged_layout(ctx, dataset, layout, declared):
    """A jets file whose `dataset` has `layout` ("compact" or "contiguous") storage, with the
    byte count in its layout message (version 3) replaced by `declared`. HDF5 1.10.8 trusts
    a compact count and copies that many bytes on a read (from NULL when it is 0: found by
    fuzz_h5input)."""
    p = ctx.path("jets.h5")
    rng = np.random.default_rng(7)
    arrays = {"images": rng.exponential(0.1, (N_JETS, H, W)).astype(np.float32),
              "labels": (np.arange(N_JETS) % 2).astype(np.int32)}
    with h5py.File(p, "w") as f:
        f.attrs["format"] = "jetcnn-jets-1"
        for name, a in arrays.items():
            dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            dcpl.set_layout(h5py.h5d.COMPACT if name == dataset and layout == "compact" else h5py.h5d.CONTIGUOUS)
            ds = h5py.h5d.create(f.id, name.encode(), h5py.h5t.py_create(a.dtype), h5py.h5s.create_simple(a.shape),
                                 dcpl=dcpl)
            ds.write(h5py.h5s.ALL, h5py.h5s.ALL, a)
            if name == dataset and layout == "contiguous":
                address = ds.get_offset()
    data = bytearray(open(p, "rb").read())
    size = arrays[dataset].nbytes
    if layout == "compact":   # version 3, class 0, 2-byte size, then the data itself
        message = bytes([3, 0]) + struct.pack("<H", size) + arrays[dataset].tobytes()[:16]
        field, width = 2, "<H"
    else:                     # version 3, class 1, 8-byte address, 8-byte size
        message = bytes([3, 1]) + struct.pack("<QQ", address, size)
        field, width = 10, "<Q"
    at = data.find(message)
    assert at >= 0 and data.find(message, at + 1) < 0, "layout message not found exactly once"
    data[at + field: at + field + struct.calcsize(width)] = struct.pack(width, declared)
    return ctx.write("jets.h5", bytes(data))


# (dataset, layout, declared bytes, what the message says): 32 jets of 8x8 float32 = 8192
# bytes of /images, 32 int32 = 128 bytes of /labels.
for _name, _dataset, _layout, _declared, _says in [
        ("h5_compact_labels_no_storage", "labels", "compact", 0, "compact storage holds 0 bytes but its shape and type need 128"),
        ("h5_compact_labels_short", "labels", "compact", 8, "compact storage holds 8 bytes but its shape and type need 128"),
        ("h5_compact_images_short", "images", "compact", 4096, "compact storage holds 4096 bytes but its shape and type need 8192"),
        ("h5_contiguous_images_short", "images", "contiguous", 100, "contiguous storage holds 100 bytes but its shape and type need 8192"),
        ("h5_contiguous_labels_huge", "labels", "contiguous", 1 << 62, "contiguous storage holds 4611686018427387904 bytes")]:
    case(_name, 3, rf"jets\.h5: dataset {_dataset} is damaged: its {_says}")(
        lambda ctx, d=_dataset, l=_layout, n=_declared: train(ctx, ctx.good_cfg, damaged_layout(ctx, d, l, n)))


# With shuffle = 0, batch 8 and micro_batch 4, step 0 gives jets 0-3 to rank 0 and 4-7 to rank 1
# of two: the NaN in jet 6 is read by rank 1 only, and rank 0 must not hang waiting for it.
@case("h5_nan_only_rank1_reads", 3, r"jets\.h5: dataset /images: jet 6 has a non-finite pixel")
def _(ctx):
    images = np.random.default_rng(1).exponential(0.1, (N_JETS, H, W)).astype(np.float32)
    images[6, 0, 0] = np.nan
    return train(ctx, ctx.good_cfg, ctx.jets(images=images))


@case("h5_inf_in_validation", 3, r"val\.h5: dataset /images: jet 30 has a non-finite pixel")
def _(ctx):
    images = np.random.default_rng(1).exponential(0.1, (N_JETS, H, W)).astype(np.float32)
    images[30, 7, 7] = np.inf
    return train(ctx, ctx.good_cfg, ctx.good_h5, "--val", ctx.jets("val.h5", images=images))


@case("h5_image_shape_mismatch", 3, r"jets\.h5: dataset /images has shape \(32,10,10\) but the config input is 8x8x1")
def _(ctx):
    return train(ctx, ctx.good_cfg, ctx.jets(shape=(10, 10)))


@case("h5_channels_mismatch", 3, r"jets\.h5: dataset /images has shape \(32,8,8,3\) but the config input is 8x8x1")
def _(ctx):
    return train(ctx, ctx.good_cfg, ctx.jets(shape=(H, W, 3)))


@case("h5_bad_validation_file", 3, r"val\.h5: dataset labels is missing")
def _(ctx):
    return train(ctx, ctx.good_cfg, ctx.good_h5, "--val", ctx.jets("val.h5", skip=("labels",)))


# ---- checkpoints given to predict and --init ----
@case("ckpt_not_hdf5", 3, r"ckpt\.h5: not an HDF5 file")
def _(ctx):
    return ctx.predict(ctx.write("ckpt.h5", "not a checkpoint\n"))


@case("ckpt_truncated", 3, r"ckpt\.h5: (not an HDF5 file|cannot open|cannot read)")
def _(ctx):
    data = open(ctx.ckpt, "rb").read()
    return ctx.predict(ctx.write("ckpt.h5", data[: len(data) // 2]))


@case("ckpt_is_a_data_file", 3, r"good\.h5: format is 'jetcnn-jets-1', expected 'jetcnn-1'")
def _(ctx):
    return ctx.predict(ctx.good_h5)


@case("ckpt_without_format", 3, r"ckpt\.h5: not a jetcnn-1 file: attribute 'format' is missing")
def _(ctx):
    def edit(f):
        del f.attrs["format"]
    return ctx.predict(ctx.edited_ckpt(edit))


@case("ckpt_wrong_kernel_shape", 3, r"ckpt\.h5: dataset /weights/layer00/kernel has shape \(2,1,5,5\) but the config expects \(2,1,3,3\)")
def _(ctx):
    def edit(f):
        del f["weights/layer00/kernel"]
        f["weights/layer00/kernel"] = np.zeros((2, 1, 5, 5), np.float32)
    return ctx.predict(ctx.edited_ckpt(edit))


@case("ckpt_missing_weights", 3, r"ckpt\.h5: dataset /weights/layer01/kernel is missing")
def _(ctx):
    def edit(f):
        del f["weights/layer01"]
    return ctx.predict(ctx.edited_ckpt(edit))


@case("ckpt_bad_config_attr", 2, r"ckpt\.h5:{line}: unknown key 'filterz' in \[conv\]")
def _(ctx):
    def edit(f):
        text = f.attrs["config"]
        text = cfg_with(text.decode() if isinstance(text, bytes) else text, "filters = 2", "filterz = 2")
        f.attrs["config"] = text
        ctx.fmt = dict(line=line_of(text, "filterz"))
    return ctx.predict(ctx.edited_ckpt(edit))


@case("predict_data_wrong_shape", 3, r"jets\.h5: dataset /images has shape \(32,10,10\)")
def _(ctx):
    return ctx.predict(ctx.ckpt, ctx.jets(shape=(10, 10)))


@case("predict_nan_pixels", 3, r"jets\.h5: dataset /images: jet 17 has a non-finite pixel")
def _(ctx):
    images = np.random.default_rng(1).exponential(0.1, (N_JETS, H, W)).astype(np.float32)
    images[17, 2, 2] = np.nan
    return ctx.predict(ctx.ckpt, ctx.jets(images=images))


@case("init_other_architecture", 3, r"checkpoint\.h5: dataset /weights/layer00/kernel has shape \(2,1,3,3\) but the config expects \(4,1,3,3\)")
def _(ctx):
    cfg = ctx.cfg(cfg_with(TINY_CFG, "filters = 2", "filters = 4"))
    return train(ctx, cfg, ctx.good_h5, "--init", ctx.ckpt)


# ---- command lines ----
@case("cli_no_arguments", 2, r"usage: jetcnn COMMAND")
def _(ctx):
    return []


@case("cli_unknown_command", 2, r"unknown command 'trian'")
def _(ctx):
    return ["trian", ctx.good_cfg]


@case("cli_unknown_flag", 2, r"train: unknown option '--epochs'")
def _(ctx):
    return train(ctx, ctx.good_cfg, ctx.good_h5, "--epochs", "3")


@case("cli_unknown_short_flag", 2, r"predict: unknown option '-o'")
def _(ctx):
    return ["predict", ctx.ckpt, "-o", "x.h5"]


@case("cli_train_missing_config", 2, r"train: missing argument")
def _(ctx):
    return ["train", "--train", ctx.good_h5, "--out", ctx.path("out")]


@case("cli_train_missing_data", 2, r"train: --train FILE is required")
def _(ctx):
    return ["train", ctx.good_cfg, "--out", ctx.path("out")]


@case("cli_option_without_value", 2, r"train: option --out needs a value")
def _(ctx):
    return ["train", ctx.good_cfg, "--train", ctx.good_h5, "--out"]


@case("cli_extra_positional", 2, r"summary: unexpected argument 'extra\.cfg'")
def _(ctx):
    return ["summary", ctx.good_cfg, "extra.cfg"]


@case("cli_predict_missing_out", 2, r"predict: --data FILE and --out FILE are required")
def _(ctx):
    return ["predict", ctx.ckpt, "--data", ctx.good_h5]


@case("cli_flag_with_value", 2, r"train: option --force takes no value")
def _(ctx):
    return train(ctx, ctx.good_cfg, ctx.good_h5, "--force=yes")


# ---- output that cannot be written; existing output never damaged ----
@case("out_run_dir_exists", 2, r"run: run directory already holds a checkpoint; choose another --out or pass --force")
def _(ctx):
    return train(ctx, ctx.good_cfg, ctx.good_h5, out=ctx.existing_run())


@case("out_dir_under_a_file", 4, r"afile/run: cannot create run directory: Not a directory")
def _(ctx):
    ctx.write("afile", "I am a file\n")
    return train(ctx, ctx.good_cfg, ctx.good_h5, out=ctx.path("afile/run"))


@case("out_scores_dir_missing", 4, r"nodir/scores\.h5\.tmp: cannot create output file")
def _(ctx):
    return ["predict", ctx.ckpt, "--data", ctx.good_h5, "--out", ctx.path("nodir/scores.h5")]


# Disk full, portably: the writer's temporary file is a symlink to /dev/full, so every write
# fails with ENOSPC (RLIMIT_FSIZE cannot be used: Open MPI's own session and shared-memory
# files exceed any limit small enough to matter, and MPI_Init fails first).
@case("out_disk_full_predict", 4, r"scores\.h5(\.tmp)?: .*(cannot write|cannot close|cannot create)")
def _(ctx):
    out = ctx.existing_scores()
    os.symlink("/dev/full", out + ".tmp")
    return ["predict", ctx.ckpt, "--data", ctx.good_h5, "--out", out]


@case("out_disk_full_checkpoint", 4, r"checkpoint\.h5(\.tmp)?: .*(cannot write|cannot close|cannot create)|cannot write dataset")
def _(ctx):
    run = ctx.existing_run()
    os.symlink("/dev/full", os.path.join(run, "checkpoint.h5.tmp"))
    return train(ctx, ctx.good_cfg, ctx.good_h5, "--force", out=run)


# A real full file system (tmpfs of 64 KiB, filled up after the good scores file was placed).
@case("out_disk_full_tmpfs_predict", 4, r"scores\.h5(\.tmp)?: .*(cannot write|cannot close|cannot create)|cannot write dataset",
      needs="tmpfs")
def _(ctx):
    mnt = ctx.path("mnt")
    if not mount_tmpfs(mnt, "64k"):
        raise CannotRun("cannot mount a tmpfs here (needs root)")
    ctx.mounts.append(mnt)
    shutil.copy(os.path.join(ctx.base, "scores.h5"), os.path.join(mnt, "scores.h5"))
    ctx.guard.append(os.path.join(mnt, "scores.h5"))
    ctx.out_dirs.append(mnt)
    fill_up(mnt)
    return ["predict", ctx.ckpt, "--data", ctx.good_h5, "--out", os.path.join(mnt, "scores.h5")]


@case("out_disk_full_tmpfs_train", 4, r"(checkpoint\.h5(\.tmp)?|config\.cfg\.tmp|metrics\.csv): .*(cannot|failed)|cannot write dataset",
      needs="tmpfs")
def _(ctx):
    mnt = ctx.path("mnt")
    if not mount_tmpfs(mnt, "64k"):
        raise CannotRun("cannot mount a tmpfs here (needs root)")
    ctx.mounts.append(mnt)
    run = os.path.join(mnt, "run")
    os.makedirs(run)
    shutil.copy(ctx.ckpt, os.path.join(run, "checkpoint.h5"))
    ctx.guard.append(os.path.join(run, "checkpoint.h5"))
    ctx.out_dirs += [mnt, run]
    fill_up(mnt)
    return train(ctx, ctx.good_cfg, ctx.good_h5, "--force", out=run)


# ---- issue 13: input files that are not what they declare ----
@case("h5_train_on_a_fifo", 3, r"fifo\.h5: is not a regular file \(a pipe, device or socket\)", timeout=20)
def _(ctx):
    os.mkfifo(ctx.path("fifo.h5"))
    return train(ctx, ctx.good_cfg, ctx.path("fifo.h5"))


@case("h5_images_never_written", 3, r"jets\.h5: dataset images was created but never written")
def _(ctx):
    p = ctx.path("jets.h5")
    with h5py.File(p, "w") as f:
        f.create_dataset("images", (N_JETS, H, W), np.float32)  # no data: HDF5 reads zeros
        f["labels"] = (np.arange(N_JETS) % 2).astype(np.int32)
    return train(ctx, ctx.good_cfg, p)


@case("h5_images_partly_written", 3, r"jets\.h5: dataset images was created but only partly written")
def _(ctx):
    p = ctx.path("jets.h5")
    with h5py.File(p, "w") as f:
        d = f.create_dataset("images", (N_JETS, H, W), np.float32, chunks=(8, H, W))
        d[:16] = 0.5  # two of four chunks
        f["labels"] = (np.arange(N_JETS) % 2).astype(np.int32)
    return train(ctx, ctx.good_cfg, p)


@case("h5_tiny_file_declares_2e29_jets", 3, r"jets\.h5: dataset images was created but never written", timeout=30)
def _(ctx):
    p = ctx.path("jets.h5")
    with h5py.File(p, "w") as f:  # a few kB on disk; reading it as data would allocate gigabytes
        f.create_dataset("images", (1 << 29, H, W), np.float32, chunks=(64, H, W), compression="gzip")
        f.create_dataset("labels", (1 << 29,), np.int32, chunks=(4096,), compression="gzip")
    return train(ctx, ctx.good_cfg, p)


@case("h5_float64_pixel_overflows_float32", 3, r"jets\.h5: dataset /images: jet 4 has a pixel of 1e\+300, which "
      r"overflows float32")
def _(ctx):
    images = np.random.default_rng(3).exponential(0.1, size=(N_JETS, H, W))
    images[4, 2, 3] = 1e300
    return train(ctx, ctx.good_cfg, ctx.jets(images=images, dtype=np.float64))


@case("h5_uint64_label_named_as_stored", 3, r"jets\.h5: dataset /labels: jet 2 has label 9223372036854775809, "
      r"outside 0\.\.1")
def _(ctx):
    labels = (np.arange(N_JETS) % 2).astype(np.uint64)
    labels[2] = (1 << 63) + 1
    return train(ctx, ctx.good_cfg, ctx.jets(labels=labels))


@case("h5_negative_int64_label_named", 3, r"jets\.h5: dataset /labels: jet 3 has label -5000000000, outside")
def _(ctx):
    labels = (np.arange(N_JETS) % 2).astype(np.int64)
    labels[3] = -5000000000
    return train(ctx, ctx.good_cfg, ctx.jets(labels=labels))


@case("h5_filter_this_hdf5_lacks", 3, r"jets\.h5: dataset images is compressed with filter 32000 \(lzf \(h5py\)\)")
def _(ctx):
    p = ctx.path("jets.h5")
    with h5py.File(p, "w") as f:
        f.create_dataset("images", data=np.full((N_JETS, H, W), 0.1, np.float32), compression="lzf")
        f["labels"] = (np.arange(N_JETS) % 2).astype(np.int32)
    return train(ctx, ctx.good_cfg, p)


@case("ckpt_nan_weight", 3, r"ckpt\.h5: dataset /weights/layer01/kernel holds a non-finite value \(NaN at index 7\)")
def _(ctx):
    def edit(f):
        k = f["weights/layer01/kernel"]
        v = k[()]
        v.flat[7] = np.nan
        k[...] = v
    return ctx.predict(ctx.edited_ckpt(edit))


@case("ckpt_inf_weight_as_init", 3, r"ckpt\.h5: dataset /weights/layer00/bias holds a non-finite value \(Inf at index 0\)")
def _(ctx):
    def edit(f):
        b = f["weights/layer00/bias"]
        v = b[()]
        v[0] = np.inf
        b[...] = v
    return train(ctx, ctx.good_cfg, ctx.good_h5, "--init", ctx.edited_ckpt(edit))


def fill_leaving(path, free_bytes):
    """Fill the file system of directory path until about free_bytes are left."""
    st = os.statvfs(path)
    fill = st.f_bavail * st.f_frsize - free_bytes
    if fill > 0:
        with open(os.path.join(path, "filler"), "wb") as f:
            f.write(b"\0" * fill)


# ---- issue 13: the disk fills while a file is written and closed (not at creation) ----
@case("out_disk_fills_while_closing_predict", 4, r"scores\.h5\.tmp: cannot write output file: No space left on device",
      needs="tmpfs")
def _(ctx):
    mnt = ctx.path("mnt")
    if not mount_tmpfs(mnt, "1m"):
        raise CannotRun("cannot mount a tmpfs here (needs root)")
    ctx.mounts.append(mnt)
    shutil.copy(os.path.join(ctx.base, "scores.h5"), os.path.join(mnt, "scores.h5"))
    ctx.guard.append(os.path.join(mnt, "scores.h5"))
    ctx.out_dirs.append(mnt)
    fill_leaving(mnt, 4096)  # the temporary file is created; its contents do not fit
    return ["predict", ctx.ckpt, "--data", ctx.good_h5, "--out", os.path.join(mnt, "scores.h5")]


@case("out_disk_fills_while_closing_checkpoint", 4, r"checkpoint\.h5\.tmp: cannot write output file: No space left",
      needs="tmpfs")
def _(ctx):
    mnt = ctx.path("mnt")
    if not mount_tmpfs(mnt, "1m"):
        raise CannotRun("cannot mount a tmpfs here (needs root)")
    ctx.mounts.append(mnt)
    run = os.path.join(mnt, "run")
    os.makedirs(run)
    shutil.copy(ctx.ckpt, os.path.join(run, "checkpoint.h5"))
    ctx.guard.append(os.path.join(run, "checkpoint.h5"))
    ctx.out_dirs += [mnt, run]
    fill_leaving(mnt, 12288)  # config.cfg and metrics.csv fit (a page each), the checkpoint does not
    return train(ctx, ctx.good_cfg, ctx.good_h5, "--force", out=run)
# ==== cluster-core (issue 12, issue 13 "one rank fails alone"): ranks given different inputs ====
# Rank 1 is given something else than rank 0 (tests/tools/on_rank1.sh): every rank must stop
# within seconds with ONE message naming rank 1, its host and the difference; exit 2 for the
# command line and the config, 3 for input data. And the start-up CPU check (exit 1).
RANK1 = r"rank 1 \([^)]+\): "
JETCNN = None  # the jetcnn under test (set by main)


def other_jets(ctx, name, **kw):
    """A jets file of rank 1's own (another path, maybe other content)."""
    return ctx.jets(name, **kw)


@case("agree_train_file_missing_on_rank1", 3, RANK1 + r"\S*nope\.h5: cannot open: No such file", mpi_only=True)
def _(ctx):
    ctx.rank1_args = train(ctx, ctx.good_cfg, ctx.path("nope.h5"))
    return train(ctx, ctx.good_cfg, ctx.good_h5)


@case("agree_train_file_shorter_on_rank1", 3,
      RANK1 + r"the content of --train \S*short\.h5 differs from rank 0's: '/images float32 \(16,8,8\)[^']*' here, "
      r"'/images float32 \(32,8,8\)[^']*' on rank 0", mpi_only=True)
def _(ctx):
    ctx.rank1_args = train(ctx, ctx.good_cfg, other_jets(ctx, "short.h5", n=16))
    return train(ctx, ctx.good_cfg, ctx.good_h5)


@case("agree_train_labels_differ_on_rank1", 3,
      RANK1 + r"the content of --train \S*relabelled\.h5 differs from rank 0's: '/labels int32 \(32\) values [0-9a-f]+' here",
      mpi_only=True)
def _(ctx):
    ctx.rank1_args = train(ctx, ctx.good_cfg, other_jets(ctx, "relabelled.h5", labels=(np.arange(N_JETS) // 2 % 2).astype(np.int32)))
    return train(ctx, ctx.good_cfg, ctx.good_h5)


@case("agree_train_same_content_other_path", 0, r"done in ", mpi_only=True)
def _(ctx):
    """Paths may differ between nodes: a copy elsewhere with the same content trains."""
    ctx.rank1_args = train(ctx, ctx.good_cfg, shutil.copy(ctx.good_h5, ctx.path("copy.h5")))
    return train(ctx, ctx.good_cfg, ctx.good_h5)


@case("agree_train_val_missing_on_rank1", 3, RANK1 + r"\S*noval\.h5: cannot open: No such file", mpi_only=True)
def _(ctx):
    ctx.rank1_args = train(ctx, ctx.good_cfg, ctx.good_h5, "--val", ctx.path("noval.h5"))
    return train(ctx, ctx.good_cfg, ctx.good_h5, "--val", ctx.good_h5)


@case("agree_train_init_differs_on_rank1", 3,
      RANK1 + r"the content of --init \S*other\.h5 differs from rank 0's: '\d+ bytes, hash", mpi_only=True)
def _(ctx):
    other = ctx.edited_ckpt(lambda f: f["weights/layer00/kernel"].write_direct(
        np.full(f["weights/layer00/kernel"].shape, 0.5, dtype=np.float32)), name="other.h5")
    ctx.rank1_args = train(ctx, ctx.good_cfg, ctx.good_h5, "--init", other)
    return train(ctx, ctx.good_cfg, ctx.good_h5, "--init", ctx.ckpt)


@case("agree_train_set_differs_on_rank1", 2,
      RANK1 + r"the command line differs from rank 0's: '--set learning_rate=0\.02' here, '\(nothing\)' on rank 0",
      mpi_only=True)
def _(ctx):
    ctx.rank1_args = train(ctx, ctx.good_cfg, ctx.good_h5, "--set", "learning_rate=0.02")
    return train(ctx, ctx.good_cfg, ctx.good_h5)


@case("agree_train_config_content_differs_on_rank1", 2,
      RANK1 + r"the config \(with --set overrides\) differs from rank 0's: \[net\] 'learning_rate = 0\.02' here, "
      r"'learning_rate = 0\.01' on rank 0", mpi_only=True)
def _(ctx):
    ctx.rank1_args = train(ctx, ctx.cfg(cfg_with(TINY_CFG, "learning_rate = 0.01", "learning_rate = 0.02"), "rank1.cfg"),
                           ctx.good_h5)
    return train(ctx, ctx.good_cfg, ctx.good_h5)


@case("agree_train_unknown_flag_on_rank1", 2, RANK1 + r"train: unknown option '--bogus'", mpi_only=True)
def _(ctx):
    ctx.rank1_args = train(ctx, ctx.good_cfg, ctx.good_h5, "--bogus")
    return train(ctx, ctx.good_cfg, ctx.good_h5)


@case("agree_train_extra_flag_on_rank1", 2,
      RANK1 + r"the command line differs from rank 0's: '--force' here, '\(nothing\)' on rank 0", mpi_only=True)
def _(ctx):
    ctx.rank1_args = train(ctx, ctx.good_cfg, ctx.good_h5, "--force")
    return train(ctx, ctx.good_cfg, ctx.good_h5)


@case("agree_help_on_rank1_only", 2, RANK1 + r"the command line differs from rank 0's: '--help' here", mpi_only=True)
def _(ctx):
    ctx.rank1_args = ["train", "--help"]
    return train(ctx, ctx.good_cfg, ctx.good_h5)


@case("agree_other_command_on_rank1", 2,
      RANK1 + r"the command \(first argument\) differs from rank 0's: 'summary' here, 'train' on rank 0", mpi_only=True)
def _(ctx):
    ctx.rank1_args = ["summary", ctx.good_cfg]
    return train(ctx, ctx.good_cfg, ctx.good_h5)


@case("agree_no_command_on_rank1", 2, RANK1 + r"the command \(first argument\) differs from rank 0's: '\(nothing\)' here",
      mpi_only=True)
def _(ctx):
    ctx.rank1_args = []
    return ["summary", ctx.good_cfg]


@case("agree_summary_config_missing_on_rank1", 2, RANK1 + r"\S*nope\.cfg: cannot open config: No such file", mpi_only=True)
def _(ctx):
    ctx.rank1_args = ["summary", ctx.path("nope.cfg")]
    return ["summary", ctx.good_cfg]


@case("agree_predict_checkpoint_missing_on_rank1", 3, RANK1 + r"\S*nockpt\.h5: cannot open: No such file", mpi_only=True)
def _(ctx):
    ctx.rank1_args = ctx.predict(ctx.path("nockpt.h5"))
    return ctx.predict(ctx.ckpt)


@case("agree_predict_data_shorter_on_rank1", 3,
      RANK1 + r"the content of --data \S*short\.h5 differs from rank 0's: '/images float32 \(16,8,8\)", mpi_only=True)
def _(ctx):
    ctx.rank1_args = ctx.predict(ctx.ckpt, other_jets(ctx, "short.h5", n=16))
    return ctx.predict(ctx.ckpt)


@case("agree_images_input_missing_on_rank1", 3, RANK1 + r"\S*nope\.h5: cannot open: No such file", mpi_only=True)
def _(ctx):
    consts = ctx.path("consts.h5")
    with h5py.File(consts, "w") as f:
        f.attrs["format"] = "jetcnn-constituents-1"
        p = np.random.default_rng(3).exponential(10.0, size=(N_JETS, 8, 3)).astype(np.float32)
        f["constituents"] = np.concatenate([np.linalg.norm(p, axis=2, keepdims=True) + 1e-3, p], axis=2)
        f["labels"] = (np.arange(N_JETS) % 2).astype(np.int32)
    ctx.rank1_args = ["images", "--in", ctx.path("nope.h5"), "--out", ctx.path("img1.h5")]
    return ["images", "--in", consts, "--out", ctx.path("img0.h5")]


@case("agree_generate_jets_differ_on_rank1", 2,
      RANK1 + r"the command line differs from rank 0's: '--jets 200' here, '--jets 100' on rank 0", mpi_only=True)
def _(ctx):
    ctx.rank1_args = ["generate", "--jets", "200", "--out", ctx.path("gen.h5")]
    return ["generate", "--jets", "100", "--out", ctx.path("gen.h5")]


@case("agree_generate_bad_value_on_rank1", 2, RANK1 + r"the command line differs from rank 0's: '--jets abc' here",
      mpi_only=True)
def _(ctx):
    ctx.rank1_args = ["generate", "--jets", "abc", "--out", ctx.path("gen.h5")]
    return ["generate", "--jets", "100", "--out", ctx.path("gen.h5")]


def lacks_last_feature():
    """The last instruction-set feature the binary was built for (jetcnn --version)."""
    r = subprocess.run([JETCNN, "--version"], capture_output=True, text=True)
    m = re.search(r"for:.* (\S+)\s*$", r.stdout, re.M)  # the exit status may be a sanitizer's at exit
    if not m:
        raise CannotRun(f"jetcnn --version names no features (exit {r.returncode}): {r.stdout}{r.stderr[-500:]}")
    return m.group(1)


CPU_MSG = (r"this CPU cannot run this jetcnn binary \(it would stop with SIGILL\): the binary was compiled with .* "
           r"for x86-64\S*.*; this CPU \(.*, host [^)]+\) has .* and lacks {feature}\. Build jetcnn for the compute nodes")


@case("cpu_lacks_a_build_feature_all_ranks", 1, CPU_MSG, errors_per_rank=True)
def _(ctx):
    ctx.env["JETCNN_TEST_CPU_LACKS"] = feature = lacks_last_feature()
    ctx.fmt = dict(feature=re.escape(feature))
    return train(ctx, ctx.good_cfg, ctx.good_h5)


@case("cpu_lacks_a_build_feature_rank1_only", 1, CPU_MSG, mpi_only=True)
def _(ctx):
    ctx.rank1_env["JETCNN_TEST_CPU_LACKS"] = feature = lacks_last_feature()
    ctx.fmt = dict(feature=re.escape(feature))
    return train(ctx, ctx.good_cfg, ctx.good_h5)
# ==== end of cluster-core ====


class CannotRun(Exception):
    """A case that cannot run on this machine (no tmpfs without root): reported as a failure."""


# =============================================================================================
# generate / images (issue 13, house-gen): early failures on one rank only, inputs that cannot
# be opened, no room for the output, an output that is the input. A case may run its command
# through a wrapper (ctx.wrapper) that changes what the LAST rank sees: under mpiexec -np 2
# that is rank 1 alone (the others must not wait for it forever), in a single process it is
# that process (the same message, the same exit code).

def last_rank_wrapper(ctx, args_for_last=None, cwd_for_last=None):
    """A shell wrapper `wrapper JETCNN ARGS...`: on the last rank, run with args_for_last
    (a list; None: the same arguments) in directory cwd_for_last (None: the same)."""
    lines = ["#!/bin/sh", "jetcnn=$1", "shift",
             'last=$(( ${OMPI_COMM_WORLD_SIZE:-1} - 1 ))',
             'if [ "${OMPI_COMM_WORLD_RANK:-0}" = "$last" ]; then']
    if cwd_for_last:
        lines.append(f"  cd '{cwd_for_last}' || exit 99")
    if args_for_last is not None:
        lines.append("  set -- " + " ".join(f"'{a}'" for a in args_for_last))
    lines += ["fi", 'exec "$jetcnn" "$@"', ""]
    p = ctx.write("wrapper.sh", "\n".join(lines))
    os.chmod(p, 0o755)
    ctx.wrapper = p
    return p


def other_node(ctx):
    """A directory standing for another node's view: the last rank runs there."""
    d = ctx.path("node2")
    os.makedirs(d, exist_ok=True)
    ctx.out_dirs.append(d)
    return d


def constituents_file(path, n=600, m=20, nan_row=None):
    """A jetcnn-constituents-1 file of n jets with m constituent rows (one real constituent)."""
    c = np.zeros((n, m, 4), np.float32)
    c[:, 0] = [300.0, 300.0, 0.0, 0.0]
    c[:, 1] = [200.0, 0.0, 200.0, 0.0]
    if nan_row is not None:
        c[nan_row, 1, 2] = np.nan
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "jetcnn-constituents-1"
        f["constituents"] = c
        f["labels"] = (np.arange(n) % 2).astype(np.int32)
    return path


@case("gen_usage_error_on_last_rank", 2, r"--jets: 'abc' is not an integer|rank 1 \(.*\): the command line differs "
      r"from rank 0's: '--jets abc' here")
def _(ctx):
    args = ["generate", "--jets", "100", "--out", "out.h5"]
    last_rank_wrapper(ctx, args_for_last=["generate", "--jets", "abc", "--out", "out.h5"])
    return args


@case("images_usage_error_on_last_rank", 2, r"--pixels: 0 is out of range|rank 1 \(.*\): the command line differs "
      r"from rank 0's: '--pixels 0' here")
def _(ctx):
    constituents_file(ctx.path("c.h5"))
    last_rank_wrapper(ctx, args_for_last=["images", "--in", "c.h5", "--out", "o.h5", "--pixels", "0"])
    return ["images", "--in", "c.h5", "--out", "o.h5"]


@case("images_input_missing_on_last_rank", 3, r"c\.h5: cannot open: No such file or directory")
def _(ctx):
    constituents_file(ctx.path("c.h5"))
    last_rank_wrapper(ctx, cwd_for_last=other_node(ctx))
    return ["images", "--in", "c.h5", "--out", "o.h5"]


@case("images_input_unreadable_on_last_rank", 3, r"c\.h5: not an HDF5 file")
def _(ctx):
    constituents_file(ctx.path("c.h5"))
    node = other_node(ctx)
    with open(os.path.join(node, "c.h5"), "w") as f:
        f.write("a half-copied file\n")
    last_rank_wrapper(ctx, cwd_for_last=node)
    return ["images", "--in", "c.h5", "--out", "o.h5"]


@case("gen_out_dir_missing_on_last_rank", 4, r"out/jets\.h5: cannot write into out: No such file or directory")
def _(ctx):
    os.makedirs(ctx.path("out"))
    ctx.out_dirs.append(ctx.path("out"))
    last_rank_wrapper(ctx, cwd_for_last=other_node(ctx))
    return ["generate", "--jets", "100", "--out", "out/jets.h5"]


@case("images_out_is_a_directory", 4, r"o\.h5: is a directory")
def _(ctx):
    constituents_file(ctx.path("c.h5"))
    os.makedirs(ctx.path("o.h5"))
    return ["images", "--in", "c.h5", "--out", "o.h5"]


@case("images_input_is_a_fifo", 3, r"c\.h5: is not a regular file \(a pipe, device or socket\)")
def _(ctx):
    os.mkfifo(ctx.path("c.h5"))
    return ["images", "--in", "c.h5", "--out", "o.h5"]


@case("images_out_is_the_input", 2, r"c\.h5: is the same file as the input c\.h5; refusing to overwrite an input")
def _(ctx):
    ctx.guard.append(constituents_file(ctx.path("c.h5")))
    return ["images", "--in", "c.h5", "--out", "c.h5"]


@case("images_out_is_the_input_through_a_link", 2, r"link\.h5: is the same file as the input c\.h5; refusing to overwrite an input")
def _(ctx):
    ctx.guard.append(constituents_file(ctx.path("c.h5")))
    os.symlink("c.h5", ctx.path("link.h5"))
    return ["images", "--in", "c.h5", "--out", "link.h5"]


@case("images_out_tmp_is_the_input", 2, r"c\.h5: its temporary file c\.h5\.tmp is the input c\.h5\.tmp; refusing")
def _(ctx):
    src = constituents_file(ctx.path("c.h5.tmp"))
    ctx.guard.append(src)
    ctx.out_dirs.remove(ctx.dir)  # the input itself is called *.tmp
    return ["images", "--in", "c.h5.tmp", "--out", "c.h5"]


# The last jet holds a NaN: under 2 ranks only the last rank reads it, in the middle of the
# collective writes; every rank must stop, and the partial output must go.
@case("images_nan_in_last_ranks_rows", 3, r"c\.h5: /constituents row 2999 constituent 1: non-finite momentum")
def _(ctx):
    constituents_file(ctx.path("c.h5"), n=3000, nan_row=2999)
    return ["images", "--in", "c.h5", "--out", "o.h5"]


# No room: refused before anything is written (a 1 MiB tmpfs; 10,000 jets need ~20 MB).
@case("gen_no_room_for_output", 4, r"jets\.h5: 10000 jets need about .* GB .* but .* has .* GB free", needs="tmpfs")
def _(ctx):
    mnt = ctx.path("mnt")
    if not mount_tmpfs(mnt, "1m"):
        raise CannotRun("cannot mount a tmpfs here (needs root)")
    ctx.mounts.append(mnt)
    ctx.out_dirs.append(mnt)
    return ["generate", "--jets", "10000", "--out", os.path.join(mnt, "jets.h5")]
# ==== end of the generate / images block =====================================================


# ---------------------------------------------------------------------------------------------
# The runner.

def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def run(cmd, cwd, timeout, env=None):
    """Run cmd in its own process group; kill the whole group on timeout."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                         env=dict(os.environ, **(env or {})))
    try:
        out, err = p.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        timed_out = True
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace"), timed_out, time.monotonic() - t0


SIGNAL_DEATH = re.compile(r"received signal|exited on signal|Segmentation fault|Aborted|core dumped|"
                          r"AddressSanitizer|runtime error:")


def with_rank1(launcher, ctx):
    """The launcher with tests/tools/on_rank1.sh in front of jetcnn when rank 1 differs."""
    if ctx.rank1_args is None and not ctx.rank1_env:
        return launcher
    wrapper = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "tools", "on_rank1.sh")]
    if ctx.rank1_args is not None:
        with open(ctx.path("rank1.args"), "wb") as f:
            f.write(b"".join(a.encode() + b"\0" for a in ctx.rank1_args))
        wrapper += ["--args", ctx.path("rank1.args")]
    wrapper += [f"{k}={v}" for k, v in ctx.rank1_env.items()] + ["--"]
    return launcher[:-1] + wrapper + launcher[-1:]


def check_case(c, args, launcher, ctx):
    """Run one case; return a list of failure descriptions (empty when it passed)."""
    launcher = with_rank1(launcher, ctx)
    cmd = launcher + args
    if getattr(ctx, "wrapper", None):  # wrapper JETCNN ARGS... (see last_rank_wrapper)
        cmd = launcher[:-1] + [ctx.wrapper, launcher[-1]] + args
    before = {p: sha256(p) for p in ctx.guard}
    rc, out, err, timed_out, secs = run(cmd, ctx.dir, c["timeout"], ctx.env)
    fails = []
    frag = c["fragment"].format(**getattr(ctx, "fmt", {}), dir=re.escape(ctx.dir))
    if timed_out:
        fails.append(f"did not finish within {c['timeout']} s (hang)")
    elif rc < 0 or rc in (134, 139) or rc >= 128:
        fails.append(f"killed by a signal (return code {rc})")
    if SIGNAL_DEATH.search(err) or SIGNAL_DEATH.search(out):
        fails.append("crash report in the output")
    if not timed_out and rc != c["code"]:
        fails.append(f"exit code {rc}, expected {c['code']}")
    accepted = c["code"] == 0  # an input that must be accepted: the fragment is in stdout, no error line
    hits = re.findall(frag, out if accepted else err)
    if not hits:
        fails.append(f"{'stdout' if accepted else 'stderr'} lacks /{frag}/")
    n_errors = err.count("jetcnn: error:")
    if c["errors_per_rank"]:
        if not 1 <= n_errors <= max(1, launcher.count("-np") and int(launcher[launcher.index("-np") + 1])):
            fails.append(f"{n_errors} 'jetcnn: error:' lines, expected one per rank")
    elif accepted:
        if n_errors:
            fails.append(f"{n_errors} 'jetcnn: error:' lines in a run that must succeed")
    elif c["code"] != 2 or args:  # the bare usage message has no "error:" line
        if n_errors != 1:
            fails.append(f"{n_errors} 'jetcnn: error:' lines, expected exactly 1 (rank 0 prints)")
    for p, h in before.items():
        if not os.path.exists(p):
            fails.append(f"existing output {p} was deleted")
        elif sha256(p) != h:
            fails.append(f"existing output {p} was modified")
    for d in ctx.out_dirs:
        if os.path.isdir(d):
            left = [f for f in os.listdir(d) if f.endswith(".tmp") and not os.path.islink(os.path.join(d, f))]
            if left:
                fails.append(f"temporary files left in {d}: {left}")
    cores = [f for f in os.listdir(ctx.dir) if f == "core" or f.startswith("core.")]
    if cores:
        fails.append(f"core dump {cores}")
    if fails:
        fails.append(f"command: {' '.join(cmd)}\n      return code {rc} after {secs:.1f} s\n"
                     f"      stderr (last 1500 chars):\n{err[-1500:]}")
    return fails, secs


def make_base(base, jetcnn):
    """The valid fixtures every case starts from: config, data, a trained checkpoint, scores."""
    os.makedirs(base)
    with open(os.path.join(base, "tiny.cfg"), "w") as f:
        f.write(TINY_CFG)
    write_jets(os.path.join(base, "good.h5"))
    for cmd in (["train", "tiny.cfg", "--train", "good.h5", "--out", "run"],
                ["predict", "run/checkpoint.h5", "--data", "good.h5", "--out", "scores.h5"]):
        r = subprocess.run([jetcnn] + cmd, cwd=base, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            sys.exit(f"bad_input.py: the good fixture run failed: jetcnn {' '.join(cmd)}\n{r.stderr}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jetcnn", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--np", type=int, default=0, help="run every case under mpiexec with this many ranks")
    ap.add_argument("--mpiexec", default="mpiexec")
    ap.add_argument("--only", default="", help="run only cases whose name contains this")
    ap.add_argument("--list", action="store_true", help="print the table and exit")
    a = ap.parse_args()
    if a.list:
        for c in CASES:
            print(f"{c['name']:32s} exit {c['code']}  /{c['fragment']}/")
        print(f"{len(CASES)} cases")
        return 0
    jetcnn = os.path.abspath(a.jetcnn)
    global JETCNN
    JETCNN = jetcnn
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    launcher = [jetcnn]
    if a.np > 0:
        launcher = [a.mpiexec, "--oversubscribe", "-np", str(a.np), jetcnn]
        for var in ("OMPI_ALLOW_RUN_AS_ROOT", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"):  # CI runs as root
            os.environ.setdefault(var, "1")
    work = os.path.abspath(a.workdir)
    shutil.rmtree(work, ignore_errors=True)
    base = os.path.join(work, "base")
    make_base(base, jetcnn)
    n_fail = n_run = n_mpi_only = 0
    t_all = time.monotonic()
    for c in CASES:
        if a.only and a.only not in c["name"]:
            continue
        if c["mpi_only"] and a.np < 2:  # ranks that differ need 2 of them: the --np 2 run has these
            n_mpi_only += 1
            continue
        ctx = Ctx(os.path.join(work, c["name"]), base)
        ctx.mounts = []
        os.makedirs(ctx.dir)
        try:
            try:
                args = c["setup"](ctx)
            except CannotRun as e:  # a missing capability fails the case, never a silent skip
                n_run += 1
                n_fail += 1
                print(f"FAIL {c['name']}: cannot run it here: {e}")
                continue
            fails, secs = check_case(c, args, launcher, ctx)
        finally:
            for m in ctx.mounts:
                subprocess.run(["umount", m], capture_output=True)
        n_run += 1
        if fails:
            n_fail += 1
            print(f"FAIL {c['name']} ({secs:.1f} s)")
            for f in fails:
                print(f"    - {f}")
        else:
            print(f"ok   {c['name']} ({secs:.1f} s)")
        sys.stdout.flush()
    mode = f"mpiexec -np {a.np}" if a.np > 0 else "single process"
    print(f"\n{n_run - n_fail}/{n_run} bad-input cases passed ({mode}), "
          f"{time.monotonic() - t_all:.0f} s")
    if n_mpi_only:
        print(f"({n_mpi_only} cases of ranks given different inputs need --np >= 2; bad_input_mpi2 runs them)")
    return 1 if n_fail or n_run == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
