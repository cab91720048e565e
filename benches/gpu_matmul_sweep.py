"""Matmul tile sweep over the products of the G4 and G5 steps, against PyTorch CUDA.

Each variant (EMBER_GPU_MATMUL tile, EMBER_GPU_MATMUL_SPLIT split-K target) runs in its own
process; ember's GPU milliseconds per product come from EMBER_GPU_PROFILE timestamps, PyTorch's
from CUDA events. Run on a lent GPU machine: `python3 benches/gpu_matmul_sweep.py`.
"""
import os, subprocess, sys, json
SHAPES = [  # (batch, m, k, n, a transposed, b transposed): what G4 and G5 multiply
    (1, 4096, 1024, 1024, False, True), (1, 1024, 4096, 1024, True, False), (1, 4096, 1024, 1024, False, False),
    (1, 8192, 256, 768, False, True), (1, 8192, 256, 256, False, True), (1, 8192, 256, 1024, False, True),
    (1, 8192, 1024, 256, False, True), (1, 768, 8192, 256, True, False), (1, 8192, 768, 256, False, False),
    (128, 256, 64, 256, False, True), (128, 256, 256, 64, False, False), (128, 256, 256, 64, True, False),
]
def operands(fw, dev, bt, m, k, n, ta, tb):
    import numpy as np
    r = np.random.default_rng(0)
    a = fw.tensor(r.standard_normal((bt, k, m) if ta else (bt, m, k), dtype=np.float32), device=dev)
    b = fw.tensor(r.standard_normal((bt, n, k) if tb else (bt, k, n), dtype=np.float32), device=dev)
    a = a.transpose(1, 2) if ta else a
    b = b.transpose(1, 2) if tb else b
    if bt == 1:
        a, b = a[0], b[0]
    return a, b
if len(sys.argv) > 1 and sys.argv[1] == "child":
    os.environ["EMBER_GPU_PROFILE"] = "1"
    import ember
    out = []
    for sh in SHAPES:
        a, b = operands(ember, "gpu", *sh)
        a @ b; ember.gpu.synchronize(); ember.gpu._profile(reset=True)
        for _ in range(5): a @ b
        ember.gpu.synchronize()
        ms = sum(r[2] for r in ember.gpu._profile(reset=True)) / 5
        out.append(ms)
    print(json.dumps(out))
    sys.exit()
import torch
torch.backends.cuda.matmul.allow_tf32 = False
tt = []
for sh in SHAPES:
    a, b = operands(torch, "cuda", *sh)
    for _ in range(3): a @ b
    torch.cuda.synchronize()
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    e0.record()
    for _ in range(20): a @ b
    e1.record(); torch.cuda.synchronize()
    tt.append(e0.elapsed_time(e1) / 20)
rows = {"torch": tt}
VARIANTS = {"auto": ("", "384"), "s768": ("", "768"), "s1536": ("", "1536"), "128x8": ("128x8", "384"), "64x16": ("64x16", "384")}
for name, (v, split) in VARIANTS.items():
    env = dict(os.environ, EMBER_GPU_MATMUL=v, EMBER_GPU_MATMUL_SPLIT=split)
    p = subprocess.run([sys.executable, __file__, "child"], env=env, capture_output=True, text=True, timeout=120)
    rows[name] = json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else [float("nan")] * len(SHAPES)
    if p.returncode: print(name, p.stderr[-800:])
print("shape".ljust(34) + "".join(k.rjust(9) for k in rows) + "   TFLOP/s torch / best ember")
for i, sh in enumerate(SHAPES):
    bt, m, k, n = sh[:4]
    fl = 2 * bt * m * k * n
    best = min(rows[k2][i] for k2 in rows if k2 != "torch")
    print(str(sh).ljust(34) + "".join(f"{rows[k2][i]:9.3f}" for k2 in rows) + f"   {fl/rows['torch'][i]/1e9:.1f} / {fl/best/1e9:.1f}")
