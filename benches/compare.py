"""ember vs PyTorch vs NumPy: the workloads of shared/BENCHMARKS.md in one run, one table.

Every number that matters is a ratio measured in the same run on the same machine (these
machines are shared and noisy), so this script times ember, PyTorch and NumPy side by side and
prints, per workload: the value for each, ember/PyTorch, the target from BENCHMARKS.md, and
whether it is met. PyTorch is optional: without it its column is left out. A workload whose
pieces ember does not have yet shows "n/a (reason)" and the run goes on.

Run it from the repository root, with OpenBLAS' core-type and L2-size overrides set aside so
that NumPy runs its best kernel (only here, in the benchmark command; never in tests or CI):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benches/compare.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benches/compare.py --quick --only C1,C4
    ... python benches/compare.py --json results.json

Use `PYTHONPATH=python` (or an installed wheel) so that `import ember` finds the package.

CPU workloads C1-C10 always run. The GPU section (G1, G2, G3, G6) runs only when
`ember.gpu.is_available()` exists and returns True (ember's device "gpu"); PyTorch's column
there is CUDA with TF32 off, when `torch.cuda.is_available()`. A software adapter (lavapipe,
llvmpipe) is skipped with a note, since no GPU target applies to it; `--gpu` runs it anyway.
G6's target is absolute (µs of host time per op), the others are ratios to PyTorch.

Options: --quick (fewer repeats and epochs; a full pass in well under a minute),
--only C1,C4,G1 (a selection of workload ids), --json PATH (the results, with the n/a
reasons, as JSON). Set EMBER_BENCH_TRACE=1 to print the traceback of each n/a cell.

Method: micro workloads (C1-C5, G1-G3, G6) are timed in batches long enough for the clock,
after a warmup, and report the best batch (the least disturbed by the other tenants); C8 is
the median of single steps; C6/C7 time whole training runs; C9 and C10 run fresh
subprocesses. Each workload is written once against a framework module `fw` (ember or torch)
so that the same code measures both.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np

HEADERS = {"ember": "ember", "torch": "PyTorch", "numpy": "NumPy"}


# ----------------------------------------------------------------------------- settings


class Settings:
    """Repeat counts; --quick shrinks them so a full pass takes well under a minute."""

    def __init__(self, quick: bool):
        self.quick = quick
        self.min_time = 0.05 if quick else 0.2  # seconds per timed batch
        self.repeats = 3 if quick else 7  # timed batches; the best is reported
        self.c6_epochs = 5 if quick else 20  # 20 and 10 are what BENCHMARKS.md quotes
        self.c7_epochs = 3 if quick else 10
        self.c8_steps = 5 if quick else 20
        self.import_runs = 3 if quick else 5


# ----------------------------------------------------------------------------- timing


def best_time(fn, s: Settings, sync=None) -> float:
    """Best seconds per call of fn(), timed in batches of at least s.min_time.

    A batch, not a single call, is timed so that sub-microsecond calls are measurable; sync()
    (for GPUs) runs once at the end of each batch so queued work is counted but a readback
    per call is not.
    """
    fn()  # warmup: first-call costs (pipeline compiles, allocator growth) are not the subject
    if sync:
        sync()
    n = 1
    while True:  # calibrate the batch size, as timeit.autorange does
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        if sync:
            sync()
        dt = time.perf_counter() - t0
        if dt >= s.min_time:
            break
        n = max(n * 2, int(n * s.min_time / max(dt, 1e-9) * 1.2))
    best = dt / n
    for _ in range(s.repeats - 1):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        if sync:
            sync()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def loop_time(body, s: Settings, n: int) -> float:
    """Best seconds per iteration of a Python loop of n iterations around body().

    For C4/C5/G6 the loop itself is part of the workload (a user's loop), so it is timed as
    one piece rather than through best_time's per-call lambda, which would add a frame.
    """
    body(10)
    best = float("inf")
    for _ in range(s.repeats):
        t0 = time.perf_counter()
        body(n)
        best = min(best, (time.perf_counter() - t0) / n)
    return best


# ----------------------------------------------------------------------------- frameworks


def load_frameworks():
    """Import ember and torch; return ({name: module or None}, {name: reason it is missing})."""
    mods, why = {"numpy": np}, {}
    try:
        import ember  # noqa: F401

        # an empty python/ember directory imports as a namespace package: that is no ember
        if getattr(ember, "__file__", None) is None:
            raise ImportError("ember is an empty namespace package (no __init__.py yet)")
        mods["ember"] = ember
    except Exception as e:  # a missing native core is an ImportError; anything else too
        mods["ember"] = None
        why["ember"] = f"import ember failed: {type(e).__name__}: {e}"
    try:
        import torch

        # all cores, as BENCHMARKS.md says; torch's default may be fewer
        torch.set_num_threads(os.cpu_count() or 1)
        mods["torch"] = torch
    except Exception as e:
        mods["torch"] = None
        why["torch"] = f"import torch failed: {type(e).__name__}: {e}"
    return mods, why


def to_fw(fw, arr: np.ndarray, device: str | None = None):
    """A framework tensor holding a copy of arr, on device when given."""
    t = fw.from_numpy(np.ascontiguousarray(arr))
    return t.to(device) if device else t


def leaf(fw, arr: np.ndarray):
    """A tensor that requires grad, by whichever spelling the framework has."""
    try:
        return fw.tensor(arr, requires_grad=True)
    except (AttributeError, TypeError):
        return fw.from_numpy(arr.copy()).requires_grad_(True)


def no_grad(fw):
    ng = getattr(fw, "no_grad", None)
    return ng() if ng else contextlib.nullcontext()


def seed(fw, value: int = 0):
    ms = getattr(fw, "manual_seed", None)
    if ms:
        ms(value)


# ----------------------------------------------------------------------------- CPU workloads


def c1_matmul(fw, n: int, s: Settings) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    if fw is np:
        t = best_time(lambda: np.matmul(a, b), s)
    else:
        x, y = to_fw(fw, a), to_fw(fw, b)
        t = best_time(lambda: x @ y, s)
    return 2.0 * n**3 / t / 1e9


N_BIG = 16 * 1024 * 1024


def c2_add(fw, s: Settings, notes: list) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal(N_BIG, dtype=np.float32)
    b = rng.standard_normal(N_BIG, dtype=np.float32)
    if fw is np:
        c = np.empty_like(a)
        t = best_time(lambda: np.add(a, b, out=c), s)
    else:
        x, y = to_fw(fw, a), to_fw(fw, b)
        z = to_fw(fw, np.empty_like(a))
        try:
            fw.add(x, y, out=z)
            t = best_time(lambda: fw.add(x, y, out=z), s)
        except (AttributeError, TypeError, NotImplementedError):
            # no out= yet: time the allocating form, and say so, since it also pays for a
            # fresh 64 MB output on every call
            notes.append(f"C2 {fw.__name__}: add(out=) missing, timed `a + b` (allocates)")
            t = best_time(lambda: x + y, s)
    return 3 * 4 * N_BIG / t / 1e9


def c2_add_alloc(fw, s: Settings) -> float:
    """`a + b` with a fresh output each call: like for like while ember has no out=."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal(N_BIG, dtype=np.float32)
    b = rng.standard_normal(N_BIG, dtype=np.float32)
    x, y = (a, b) if fw is np else (to_fw(fw, a), to_fw(fw, b))
    t = best_time(lambda: x + y, s)
    return 3 * 4 * N_BIG / t / 1e9


def c3_sum(fw, s: Settings) -> float:
    a = np.random.default_rng(0).standard_normal(N_BIG, dtype=np.float32)
    if fw is np:
        t = best_time(lambda: np.sum(a), s)
    else:
        x = to_fw(fw, a)
        t = best_time(lambda: x.sum(), s)
    return 4 * N_BIG / t / 1e9


def c4_tiny_add(fw, s: Settings) -> float:
    n = 20_000 if s.quick else 100_000
    a0 = np.array([1.5], dtype=np.float32)
    b0 = np.array([2.5], dtype=np.float32)
    if fw is np:
        a, b = a0, b0
        ctx = contextlib.nullcontext()
    else:
        a, b = to_fw(fw, a0), to_fw(fw, b0)
        ctx = no_grad(fw)

    def body(k):
        for _ in range(k):
            a + b

    with ctx:
        return loop_time(body, s, n) * 1e6


def c5_tiny_backward(fw, s: Settings) -> float:
    n = 2_000 if s.quick else 10_000
    a = leaf(fw, np.array([1.5], dtype=np.float32))
    b = leaf(fw, np.array([2.5], dtype=np.float32))

    def body(k):
        for _ in range(k):
            (a * b + a).sum().backward()

    return loop_time(body, s, n) * 1e6


def digits_data():
    """sklearn's digits as (Xtrain, ytrain, Xtest, ytest): X/16 float32, y int64, 80/20."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    perm = np.random.default_rng(0).permutation(len(X))
    X, y = X[perm], y[perm]
    n_test = len(X) // 5
    return X[n_test:], y[n_test:], X[:n_test], y[:n_test]


def mlp_digits(fw):
    nn = fw.nn
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))


def cnn_digits(fw):
    nn = fw.nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 10),
    )


def train_digits(fw, data, make_model, image: bool, epochs: int):
    """Train with Adam (lr 1e-3), batch 32, cross entropy; return (samples/s, test accuracy).

    Batches are converted from NumPy with from_numpy every step in both frameworks: that is
    how a small-data loop commonly feeds a model, and it needs no indexing API beyond it.
    """
    Xtr, ytr, Xte, yte = data
    if image:
        Xtr, Xte = Xtr.reshape(-1, 1, 8, 8), Xte.reshape(-1, 1, 8, 8)
    seed(fw, 0)
    model = make_model(fw)
    opt = fw.optim.Adam(model.parameters(), lr=1e-3)
    ce = fw.nn.functional.cross_entropy
    rng = np.random.default_rng(0)
    bs = 32
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = rng.permutation(len(Xtr))
        for i in range(0, len(Xtr), bs):
            idx = perm[i : i + bs]
            xb, yb = fw.from_numpy(Xtr[idx]), fw.from_numpy(ytr[idx])
            opt.zero_grad()
            loss = ce(model(xb), yb)
            loss.backward()
            opt.step()
    dt = time.perf_counter() - t0
    with no_grad(fw):
        pred = model(fw.from_numpy(np.ascontiguousarray(Xte))).numpy().argmax(1)
    return epochs * len(Xtr) / dt, float((pred == yte).mean())


def c8_big_mlp(fw, s: Settings, batch: int = 256, device: str | None = None, sync=None) -> float:
    nn = fw.nn
    seed(fw, 0)
    model = nn.Sequential(
        nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10)
    )
    if device:
        model = model.to(device)
    opt = fw.optim.SGD(model.parameters(), lr=0.01)
    rng = np.random.default_rng(0)
    x = to_fw(fw, rng.standard_normal((batch, 1024), dtype=np.float32), device)
    y = to_fw(fw, rng.integers(0, 10, batch).astype(np.int64), device)
    ce = fw.nn.functional.cross_entropy

    def step():
        opt.zero_grad()
        ce(model(x), y).backward()
        opt.step()

    for _ in range(3):  # warmup
        step()
    times = []
    for _ in range(s.c8_steps):
        t0 = time.perf_counter()
        step()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


# C9 and C10 run in fresh interpreters so that nothing this process has imported or allocated
# counts. The C9 child loads the digits from an .npz, not from sklearn, so that sklearn's own
# imports (scipy, ...) do not inflate both numbers alike and blur the ratio.


def c9_child(name: str, data_path: str, epochs: int) -> None:
    """Entry point of the C9 subprocess: run C6 with framework `name`, print peak RSS (MB)."""
    d = np.load(data_path)
    data = (d["Xtr"], d["ytr"], d["Xte"], d["yte"])
    if name != "none":  # "none" measures the interpreter + NumPy baseline
        if name == "torch":
            import torch as fw

            fw.set_num_threads(os.cpu_count() or 1)
        else:
            import ember as fw
        train_digits(fw, data, mlp_digits, False, epochs)
    print(json.dumps({"maxrss_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    VmHWM first: ru_maxrss survives execve on Linux, and subprocess starts children with
    vfork, so a child's ru_maxrss can report the parent's peak instead of its own.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    # ru_maxrss is in KiB on Linux, bytes on macOS
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def c9_peak_rss(name: str, data_path: str, s: Settings) -> float:
    cmd = [sys.executable, os.path.abspath(__file__), "--_c9-child", name, data_path,
           str(s.c6_epochs)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"child exited {r.returncode}: {r.stderr.strip().splitlines()[-1:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])["maxrss_mb"]


def c10_import(name: str, s: Settings) -> float:
    code = f"import time; t = time.perf_counter(); import {name}; print(time.perf_counter() - t)"
    times = []
    for _ in range(s.import_runs):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(r.stderr.strip().splitlines()[-1])
        times.append(float(r.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


# ----------------------------------------------------------------------------- GPU workloads


SOFTWARE_ADAPTERS = ("llvmpipe", "lavapipe", "swiftshader", "softpipe", "warp")


def gpu_adapter_name(gpu) -> str:
    """The adapter's description, by whichever name ember exposes it ("" if none)."""
    for attr in ("adapter_info", "get_device_name", "device_name", "adapter_name", "info"):
        f = getattr(gpu, attr, None)
        if f is None:
            continue
        try:
            return str(f() if callable(f) else f)
        except Exception:
            continue
    return ""


def gpu_setup(mods, force: bool, notes: list):
    """{name: (module, device, sync)} for the frameworks with a usable GPU; {} when ember has none.

    A software adapter (lavapipe in CI) is skipped unless forced: it is for correctness only,
    no GPU target applies to it, and G1 at N=8192 would run for many minutes there.
    """
    out = {}
    ember = mods.get("ember")
    gpu = getattr(ember, "gpu", None) if ember else None
    if gpu is None and ember is not None:
        try:
            import importlib

            gpu = importlib.import_module("ember.gpu")
        except Exception:
            gpu = None
    try:
        ok = bool(gpu is not None and callable(getattr(gpu, "is_available", None))
                  and gpu.is_available())
    except Exception:
        ok = False
    if not ok:
        return {}
    name = gpu_adapter_name(gpu)
    if not force and any(w in name.lower() for w in SOFTWARE_ADAPTERS):
        notes.append(f"GPU section skipped: software adapter ({name}); --gpu runs it anyway")
        return {}
    sync_fn = getattr(gpu, "synchronize", None) or getattr(ember, "synchronize", None)
    out["ember"] = (ember, "gpu", sync_fn)
    torch = mods.get("torch")
    if torch is not None and torch.cuda.is_available():
        # BENCHMARKS.md compares against CUDA with TF32 off: full float32 on both sides
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        out["torch"] = (torch, "cuda", torch.cuda.synchronize)
    return out


def readback_sync(fw, dev):
    """A sync for an ember without gpu.synchronize(): record one tiny op and read it back.

    The queue runs in order, so waiting for this op waits for everything recorded before it,
    at the cost of one 4-byte readback per timed batch rather than a large reduction.
    """
    z = to_fw(fw, np.zeros(1, np.float32), dev)
    return lambda: (z + z).item()


def g1_matmul(fw, dev, sync, n, s):
    rng = np.random.default_rng(0)
    a = to_fw(fw, rng.standard_normal((n, n), dtype=np.float32), dev)
    b = to_fw(fw, rng.standard_normal((n, n), dtype=np.float32), dev)
    t = best_time(lambda: a @ b, s, sync or readback_sync(fw, dev))
    return 2.0 * n**3 / t / 1e12


def g2_add(fw, dev, sync, s):
    n = 64 * 1024 * 1024
    rng = np.random.default_rng(0)
    a = to_fw(fw, rng.standard_normal(n, dtype=np.float32), dev)
    b = to_fw(fw, rng.standard_normal(n, dtype=np.float32), dev)
    t = best_time(lambda: a + b, s, sync or readback_sync(fw, dev))
    return 3 * 4 * n / t / 1e9


def g3_rows(fw, dev, sync, op, s):
    x = to_fw(fw, np.random.default_rng(0).standard_normal((4096, 4096), dtype=np.float32), dev)
    if op == "sum":
        fn, bytes_moved = (lambda: x.sum(dim=-1)), 4 * 4096 * 4096
    else:
        sm = fw.nn.functional.softmax
        fn, bytes_moved = (lambda: sm(x, dim=-1)), 8 * 4096 * 4096  # read + write
    t = best_time(fn, s, sync or readback_sync(fw, dev))
    return bytes_moved / t / 1e9


def g5_transformer(fw, dev, sync, s):
    """One train step of a 4-layer encoder (d 256, 4 heads, ff 1024) on [32, 256, 256], Adam."""
    nn = fw.nn
    seed(fw, 0)
    layer = nn.TransformerEncoderLayer(256, 4, dim_feedforward=1024, dropout=0.0, batch_first=True)
    model = nn.TransformerEncoder(layer, 4).to(dev)
    opt = fw.optim.Adam(model.parameters(), lr=1e-4)
    rng = np.random.default_rng(0)
    x = to_fw(fw, rng.standard_normal((32, 256, 256), dtype=np.float32), dev)

    def step():
        opt.zero_grad()
        (model(x) ** 2).mean().backward()
        opt.step()

    for _ in range(2):
        step()
    drain = sync or readback_sync(fw, dev)
    drain()
    times = []
    for _ in range(3 if s.quick else 10):
        t0 = time.perf_counter()
        step()
        drain()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def g6_record(fw, dev, sync, s):
    """Host µs to record one small op; the queue is drained only after the timed loop."""
    n = 2_000 if s.quick else 10_000
    a = to_fw(fw, np.ones(1024, np.float32), dev)
    b = to_fw(fw, np.ones(1024, np.float32), dev)
    drain = sync or readback_sync(fw, dev)

    def body(k):
        for _ in range(k):
            a + b

    body(100)
    drain()
    best = float("inf")
    for _ in range(s.repeats):
        t0 = time.perf_counter()
        body(n)
        best = min(best, (time.perf_counter() - t0) / n)
        drain()
    return best * 1e6


# ----------------------------------------------------------------------------- table


class Row:
    def __init__(self, wid, label, unit, lower=False, target=None, absolute=False):
        # absolute: the target bounds ember's own value (G6's µs), not a ratio to PyTorch
        self.id, self.label, self.unit, self.lower, self.target = wid, label, unit, lower, target
        self.absolute = absolute
        self.cells: dict[str, float | str] = {}

    def ratio(self, other: str) -> float | None:
        e, o = self.cells.get("ember"), self.cells.get(other)
        if isinstance(e, (int, float)) and isinstance(o, (int, float)) and o:
            return e / o
        return None

    def verdict(self) -> str:
        r = self.cells.get("ember") if self.absolute else self.ratio("torch")
        if not isinstance(r, (int, float)):
            r = None
        if r is None or self.target is None:
            return ""
        return "ok" if (r <= self.target if self.lower else r >= self.target) else "MISS"

    def as_json(self):
        return {"id": self.id, "label": self.label, "unit": self.unit,
                "lower_is_better": self.lower, "target": self.target,
                "target_is_absolute": self.absolute, **self.cells,
                "ratio_torch": self.ratio("torch"), "ratio_numpy": self.ratio("numpy"),
                "verdict": self.verdict()}


def fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v if len(v) <= 34 else v[:31] + "..."
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def print_table(title, rows, columns, out=sys.stdout):
    head = ["workload", "unit", *[HEADERS[c] for c in columns]]
    if "torch" in columns:
        head += ["ember/PyTorch", "target", "met"]
    if "numpy" in columns:
        head += ["ember/NumPy"]
    body = []
    for r in rows:
        line = [f"{r.id} {r.label}", r.unit + (" ↓" if r.lower else ""),
                *[fmt(r.cells.get(c)) for c in columns]]
        if "torch" in columns:
            rt = r.ratio("torch")
            tgt = "" if r.target is None else ("≤ " if r.lower else "≥ ") + f"{r.target:.2f}"
            if r.absolute and r.target is not None:
                tgt = f"{tgt.split('.')[0]} {r.unit}"
            line += [fmt(rt) if rt is not None else "", tgt, r.verdict()]
        if "numpy" in columns:
            rn = r.ratio("numpy")
            line += [fmt(rn) if rn is not None else ""]
        body.append(line)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    print(f"\n{title}", file=out)
    for i, line in enumerate([head, *body]):
        cells = [str(x).ljust(w) if j < 2 else str(x).rjust(w) for j, (x, w) in
                 enumerate(zip(line, widths))]
        print("  ".join(cells).rstrip(), file=out)
        if i == 0:
            print("  ".join("-" * w for w in widths), file=out)


# ----------------------------------------------------------------------------- driver


def run_cell(rows, fw_name, thunk, failures):
    """Fill rows[*].cells[fw_name] with thunk()'s value(s), or 'n/a (reason)' on failure."""
    t0 = time.perf_counter()
    try:
        vals = thunk()
        vals = vals if isinstance(vals, tuple) else (vals,)
        for r, v in zip(rows, vals):
            r.cells[fw_name] = v
        shown = ", ".join(fmt(v) for v in vals)
    except Exception as e:
        reason = f"{type(e).__name__}: {e}".splitlines()[0]
        for r in rows:
            r.cells[fw_name] = f"n/a ({short_reason(e)})"
        failures.append((rows[0].id, fw_name, reason))
        if os.environ.get("EMBER_BENCH_TRACE"):
            traceback.print_exc()
        shown = "n/a"
    # progress goes to stderr as each cell finishes, so a crash still leaves what ran
    print(f"  {rows[0].id:<4} {fw_name:<6} {shown}  ({time.perf_counter() - t0:.1f}s)",
          file=sys.stderr, flush=True)


def short_reason(e: Exception) -> str:
    """A cell-sized reason; the full message is listed under the table."""
    m = re.search(r"has no attribute '(\w+)'", str(e))
    if m:
        return f"no {m.group(1)}"
    text = str(e).splitlines()[0] if str(e) else ""
    m = re.search(r"AttributeError: .*has no attribute '(\w+)'", text)
    if m:  # a child process's AttributeError, relayed in a RuntimeError
        return f"no {m.group(1)}"
    return f"{type(e).__name__}" + (f": {text[:20]}" if text else "")


def load_line(when: str) -> str:
    """The load average, with a warning when other work competes for the cores.

    Thread pools that spin (OpenMP in PyTorch, OpenBLAS) slow down many times over when
    another process holds a core, so a busy machine skews ratios, not just absolute numbers.
    """
    load = os.getloadavg()[0]
    busy = load > 0.5 * (os.cpu_count() or 1)
    return f"{when}: 1-min load average {load:.2f}" + (
        " (busy: other work competes for the cores; ratios may be skewed)" if busy else "")


def environment_report(mods):
    lines = [f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, "
             f"numpy {np.__version__}"]
    for name in ("ember", "torch"):
        m = mods.get(name)
        if m is not None:
            extra = f", {m.get_num_threads()} threads" if name == "torch" else ""
            lines.append(f"{name} {getattr(m, '__version__', '?')}{extra}")
    try:
        from threadpoolctl import threadpool_info

        for p in threadpool_info():
            if "numpy" in p.get("filepath", "") or p.get("user_api") == "blas":
                lines.append(f"numpy BLAS: {p.get('internal_api')} {p.get('version')} "
                             f"{p.get('architecture', '')} threads={p.get('num_threads')} "
                             f"({os.path.basename(p.get('filepath', ''))})")
    except ImportError:
        pass
    if hasattr(os, "getloadavg"):
        lines.append(load_line("load at start"))
    set_vars = [v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v in os.environ]
    if set_vars:
        lines.append(f"warning: {', '.join(set_vars)} set; NumPy may not run its best kernel "
                     "(run under `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`)")
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats and epochs")
    p.add_argument("--only", help="comma-separated workload ids, e.g. C1,C4,G1")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--gpu", action="store_true",
                   help="run the GPU section even on a software adapter (lavapipe)")
    p.add_argument("--_c9-child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args._c9_child:
        c9_child(args._c9_child[0], args._c9_child[1], int(args._c9_child[2]))
        return 0

    faulthandler.enable()  # a native crash in a young core still prints where it happened
    s = Settings(args.quick)
    only = {w.strip().upper() for w in args.only.split(",")} if args.only else None

    def want(wid):
        return only is None or wid in only

    mods, missing = load_frameworks()
    env_lines = environment_report(mods)
    print("\n".join(env_lines), flush=True)
    for name, reason in missing.items():
        print(f"{name}: {reason}", file=sys.stderr)

    ember, torch = mods["ember"], mods["torch"]
    fws = ("numpy", "torch", "ember")  # ember last: if it crashes, the rest has been printed
    notes: list[str] = []
    failures: list[tuple[str, str, str]] = []
    rows: list[Row] = []

    def cell(rs, name, thunk):
        if name == "torch" and torch is None:
            return
        if name == "ember" and ember is None:
            for r in rs:
                r.cells["ember"] = "n/a (not importable)"
            return
        run_cell(rs, name, thunk, failures)

    def fw_of(name):
        return mods[name]

    if want("C1"):
        for n in (256, 1024, 2048):
            r = Row("C1", f"matmul N={n}", "GFLOP/s", target=1.0)
            rows.append(r)
            for name in fws:
                cell([r], name, lambda name=name: c1_matmul(fw_of(name), n, s))
    if want("C2"):
        r = Row("C2", "add 16M -> out", "GB/s", target=1.0)
        rows.append(r)
        for name in fws:
            cell([r], name, lambda name=name: c2_add(fw_of(name), s, notes))
        r = Row("C2", "  a + b (new output)", "GB/s")
        rows.append(r)
        for name in fws:
            cell([r], name, lambda name=name: c2_add_alloc(fw_of(name), s))
    if want("C3"):
        r = Row("C3", "sum 16M", "GB/s", target=1.0)
        rows.append(r)
        for name in fws:
            cell([r], name, lambda name=name: c3_sum(fw_of(name), s))
    if want("C4"):
        r = Row("C4", "a+b 1-elem, no grad", "µs/op", lower=True, target=0.5)
        rows.append(r)
        for name in fws:
            cell([r], name, lambda name=name: c4_tiny_add(fw_of(name), s))
    if want("C5"):
        r = Row("C5", "(a*b+a).sum().backward()", "µs/iter", lower=True, target=0.33)
        rows.append(r)
        for name in ("torch", "ember"):
            cell([r], name, lambda name=name: c5_tiny_backward(fw_of(name), s))
    data = None
    if want("C6") or want("C7") or want("C9"):
        try:
            data = digits_data()
        except Exception as e:
            notes.append(f"digits data unavailable ({type(e).__name__}: {e}); C6, C7, C9 skipped")
    if data is not None and want("C6"):
        r = Row("C6", f"MLP digits ({s.c6_epochs} ep)", "samples/s", target=1.5)
        ra = Row("C6", "  test accuracy", "")
        rows += [r, ra]
        for name in ("torch", "ember"):
            cell([r, ra], name, lambda name=name: train_digits(
                fw_of(name), data, mlp_digits, False, s.c6_epochs))
    if data is not None and want("C7"):
        r = Row("C7", f"CNN digits ({s.c7_epochs} ep)", "samples/s", target=1.0)
        ra = Row("C7", "  test accuracy", "")
        rows += [r, ra]
        for name in ("torch", "ember"):
            cell([r, ra], name, lambda name=name: train_digits(
                fw_of(name), data, cnn_digits, True, s.c7_epochs))
    if want("C8"):
        r = Row("C8", "MLP 1024x3 SGD step b256", "ms/step", lower=True, target=1.0)
        rows.append(r)
        for name in ("torch", "ember"):
            cell([r], name, lambda name=name: c8_big_mlp(fw_of(name), s))
    if data is not None and want("C9"):
        r = Row("C9", "peak RSS of C6 (child)", "MB", lower=True, target=1.0)
        rows.append(r)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "digits.npz")
            Xtr, ytr, Xte, yte = data
            np.savez(path, Xtr=Xtr, ytr=ytr, Xte=Xte, yte=yte)
            try:
                notes.append(f"C9 baseline (python + numpy, no framework): "
                             f"{c9_peak_rss('none', path, s):.0f} MB")
            except Exception as e:
                notes.append(f"C9 baseline failed: {e}")
            for name in ("torch", "ember"):
                cell([r], name, lambda name=name: c9_peak_rss(name, path, s))
    if want("C10"):
        r = Row("C10", "import, fresh process", "s", lower=True, target=0.1)
        rows.append(r)
        for name in ("torch", "ember"):
            cell([r], name, lambda name=name: c10_import(name, s))

    columns = ["ember"] + (["torch"] if torch is not None else []) + ["numpy"]
    print_table("CPU (float32, all cores)", rows, columns)

    # GPU: silent unless ember has a GPU; --only with no G id skips it too
    gpu_rows: list[Row] = []
    want_gpu = only is None or any(w.startswith("G") for w in only)
    gpus = gpu_setup(mods, args.gpu, notes) if want_gpu else {}
    if gpus:

        def gcell(rs, name, fn):
            if name not in gpus:
                return
            fw, dev, sync = gpus[name]
            run_cell(rs, name, lambda: fn(fw, dev, sync), failures)

        if want("G1"):
            for n in (1024, 4096, 8192):
                r = Row("G1", f"matmul N={n}", "TFLOP/s", target=None if n == 1024 else 0.5)
                gpu_rows.append(r)
                for name in ("torch", "ember"):
                    gcell([r], name, lambda fw, d, sy, n=n: g1_matmul(fw, d, sy, n, s))
        if want("G2"):
            r = Row("G2", "add 64M", "GB/s", target=0.8)
            gpu_rows.append(r)
            for name in ("torch", "ember"):
                gcell([r], name, lambda fw, d, sy: g2_add(fw, d, sy, s))
        if want("G3"):
            for op in ("sum", "softmax"):
                r = Row("G3", f"{op} rows 4096x4096", "GB/s", target=0.7)
                gpu_rows.append(r)
                for name in ("torch", "ember"):
                    gcell([r], name, lambda fw, d, sy, op=op: g3_rows(fw, d, sy, op, s))
        if want("G4"):
            r = Row("G4", "C8 train step, batch 4096", "ms", lower=True, target=1.5)
            gpu_rows.append(r)
            for name in ("torch", "ember"):
                gcell([r], name, lambda fw, d, sy: c8_big_mlp(fw, s, 4096, d, sy or readback_sync(fw, d)))
        if want("G5"):
            r = Row("G5", "transformer train step", "ms", lower=True, target=2.0)
            gpu_rows.append(r)
            for name in ("torch", "ember"):
                gcell([r], name, lambda fw, d, sy: g5_transformer(fw, d, sy, s))
        if want("G6"):
            r = Row("G6", "host µs to record a+b", "µs", lower=True, target=10, absolute=True)
            gpu_rows.append(r)
            for name in ("torch", "ember"):
                gcell([r], name, lambda fw, d, sy: g6_record(fw, d, sy, s))
        if "ember" in gpus and gpus["ember"][2] is None:
            notes.append("GPU: ember has no gpu.synchronize(); timing drains with a readback")
        gcols = ["ember"] + (["torch"] if "torch" in gpus else [])
        print_table("GPU (ember 'gpu' vs PyTorch CUDA, TF32 off)", gpu_rows, gcols)

    print("\n↓ lower is better; ratios are ember / the other in the row's unit; targets "
          "(ember / PyTorch) from shared/BENCHMARKS.md")
    if hasattr(os, "getloadavg"):
        env_lines.append(load_line("load at end"))
        print(env_lines[-1])
    for name, reason in missing.items():
        print(f"{name}: {reason}")
    for n in notes:
        print(f"note: {n}")
    if failures:
        print("n/a reasons:")
        by_reason: dict[tuple, list] = {}
        for wid, name, reason in failures:
            ids = by_reason.setdefault((name, reason), [])
            if wid not in ids:
                ids.append(wid)
        for (name, reason), ids in by_reason.items():
            print(f"  {name} {','.join(ids)}: {reason}")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": env_lines, "quick": s.quick, "missing": missing,
                       "notes": notes, "failures": [list(f) for f in failures], "cpu": [r.as_json() for r in rows],
                       "gpu": [r.as_json() for r in gpu_rows]}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
