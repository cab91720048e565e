"""Per-kernel GPU time of a G5 and a G4 train step: ember vs PyTorch CUDA on the same machine.

ember's times come from EMBER_GPU_PROFILE=1 (each dispatch timed with GPU timestamps, see
rust/gpu/profile.rs), PyTorch's from torch.profiler's CUDA kernel times. Run on a lent GPU
machine: `python3 benches/gpu_profile.py` (needs torch with CUDA).
"""
import os, sys
os.environ["EMBER_GPU_PROFILE"] = "1"
import numpy as np, ember, torch
torch.backends.cuda.matmul.allow_tf32 = False

def g5(fw, dev):
    nn = fw.nn
    fw.manual_seed(0)
    layer = nn.TransformerEncoderLayer(256, 4, dim_feedforward=1024, dropout=0.0, batch_first=True)
    model = nn.TransformerEncoder(layer, 4).to(dev)
    opt = fw.optim.Adam(model.parameters(), lr=1e-4)
    x = fw.tensor(np.random.default_rng(0).standard_normal((32, 256, 256), dtype=np.float32), device=dev)
    def step():
        opt.zero_grad(); (model(x) ** 2).mean().backward(); opt.step()
    return step

def g4(fw, dev):
    nn = fw.nn
    model = nn.Sequential(nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10)).to(dev)
    opt = fw.optim.SGD(model.parameters(), lr=0.01)
    r = np.random.default_rng(0)
    x = fw.tensor(r.standard_normal((4096, 1024), dtype=np.float32), device=dev)
    y = fw.tensor(r.integers(0, 10, 4096), device=dev)
    def step():
        opt.zero_grad(); fw.nn.functional.cross_entropy(model(x), y).backward(); opt.step()
    return step

for name, make in (("G5", g5), ("G4", g4)):
    step = make(ember, "gpu")
    for _ in range(2): step()
    ember.gpu.synchronize(); ember.gpu._profile(reset=True)
    step(); ember.gpu.synchronize()
    rows = ember.gpu._profile(reset=True)
    print(f"== ember {name}: {sum(r[2] for r in rows):.3f} ms GPU over {sum(r[1] for r in rows)} dispatches")
    for k, n, ms in rows[:30]:
        print(f"{ms:8.3f} ms {n:4d}  {k[:150]}")
    step = make(torch, "cuda")
    for _ in range(2): step()
    torch.cuda.synchronize()
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CUDA]) as p:
        step(); torch.cuda.synchronize()
    ev = [e for e in p.key_averages() if e.device_time_total > 0]
    ev.sort(key=lambda e: -e.device_time_total)
    print(f"== torch {name}: {sum(e.self_device_time_total for e in ev)/1e3:.3f} ms GPU")
    for e in ev[:25]:
        print(f"{e.self_device_time_total/1e3:8.3f} ms {e.count:4d}  {e.key[:150]}")
    sys.stdout.flush()
