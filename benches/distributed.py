"""Distributed benchmarks D1-D3 (shared/BENCHMARKS.md and issue 11), ratios measured in one run.

    python benches/distributed.py            # launches itself with mpiexec -n 2 (and -n 1)

D1: all_reduce of 16 MB and 64 MB float32 CPU tensors, 2 ranks, ember against mpi4py's own
    blocking Allreduce on NumPy buffers of the same size (goal: at least 0.9x).
D2: a DDP step of the C8 MLP (1024-1024-1024-10, SGD) at global batch 512: 2 ranks against 1
    rank at the same global batch, and the share of communication hidden behind backward.
D3: bytes each rank sends per DDP step, over TCP on loopback (read from /proc/net/dev), against
    the ring all-reduce bound 2(N-1)/N x gradient bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

HERE = os.path.abspath(__file__)
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def _median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def d1():
    import numpy as np
    from mpi4py import MPI

    import ember
    import ember.distributed as dist

    out = {}
    for mb in (16, 64):
        n = mb * 1024 * 1024 // 4
        t = ember.ones(n)
        a = np.ones(n, np.float32)
        ours, theirs = [], []
        for rep in range(12):  # interleaved, so both see the same machine
            dist.barrier()
            s = time.perf_counter()
            dist.all_reduce(t)
            ours.append(time.perf_counter() - s)
            MPI.COMM_WORLD.Barrier()
            s = time.perf_counter()
            MPI.COMM_WORLD.Allreduce(MPI.IN_PLACE, a, op=MPI.SUM)
            theirs.append(time.perf_counter() - s)
        out[f"D1 all_reduce {mb} MB"] = {"ember_ms": _median(ours[2:]) * 1e3, "mpi4py_ms": _median(theirs[2:]) * 1e3}
    return out


def _mlp():
    import ember
    from ember import nn

    ember.manual_seed(0)
    return nn.Sequential(nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))


def d2(world, steps=12):
    import ember
    import ember.distributed as dist
    from ember import nn
    from ember.nn.parallel import DistributedDataParallel as DDP

    B = 512 // world
    model = DDP(_mlp())
    opt = ember.optim.SGD(model.parameters(), lr=0.01)
    x = ember.randn(B, 1024)
    y = ember.randint(0, 10, (B,))

    def step(sync=True):
        opt.zero_grad()
        if sync:
            nn.functional.cross_entropy(model(x), y).backward()
        else:
            with model.no_sync():
                nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    full, local = [], []
    for i in range(steps):
        dist.barrier()
        s = time.perf_counter()
        step(True)
        full.append(time.perf_counter() - s)
        dist.barrier()
        s = time.perf_counter()
        step(False)
        local.append(time.perf_counter() - s)
    # the communication alone: every gradient bucket all-reduced with nothing else running
    grads = [p.grad.detach().reshape(-1) for p in model.parameters()]
    flat = ember.cat(grads)
    comm = []
    for i in range(steps):
        dist.barrier()
        s = time.perf_counter()
        dist.all_reduce(flat)
        comm.append(time.perf_counter() - s)
    f, l, c = _median(full[2:]), _median(local[2:]), _median(comm[2:])
    hidden = 1 - max(0.0, f - l) / c if world > 1 else None
    return {"step_ms": f * 1e3, "local_step_ms": l * 1e3, "comm_ms": c * 1e3, "hidden_share": hidden,
            "grad_bytes": int(flat.numel()) * 4, "buckets": len(model._buckets)}


def _lo_tx_bytes():
    with open("/proc/net/dev") as f:
        for line in f:
            if line.strip().startswith("lo:"):
                return int(line.split()[9])
    return 0


def d3(steps=5):
    import ember
    import ember.distributed as dist
    from ember import nn
    from ember.nn.parallel import DistributedDataParallel as DDP

    world = dist.get_world_size()
    model = DDP(_mlp())
    x = ember.randn(512 // world, 1024)
    y = ember.randint(0, 10, (512 // world,))
    nn.functional.cross_entropy(model(x), y).backward()  # warm
    dist.barrier()
    before = _lo_tx_bytes()
    for _ in range(steps):
        nn.functional.cross_entropy(model(x), y).backward()
    dist.barrier()
    sent = (_lo_tx_bytes() - before) / steps / world  # loopback counts every rank's traffic once
    grad_bytes = sum(int(p.numel()) * 4 for p in model.parameters())
    return {"sent_per_rank_MB": sent / 1e6, "ring_bound_MB": 2 * (world - 1) / world * grad_bytes / 1e6}


def rank_main(what):
    import ember.distributed as dist

    dist.init_process_group("mpi")
    r = dist.get_rank()
    res = {}
    if what == "d1":
        res = d1()
    elif what == "d2":
        res = d2(dist.get_world_size())
    elif what == "d3":
        res = d3()
    if r == 0:
        print("RESULT " + json.dumps(res), flush=True)
    dist.destroy_process_group()


def launch(n, what, extra=()):
    cmd = ["mpiexec", "-n", str(n), "--bind-to", "none", *extra, sys.executable, HERE, "--rank", what]
    env = dict(ENV, RAYON_NUM_THREADS=str(max(1, (os.cpu_count() or 1) // n)))
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"{what} on {n} ranks failed:\n{p.stdout}\n{p.stderr}")


def main():
    rows = []
    for name, v in launch(2, "d1").items():
        rows.append((name, f"{v['ember_ms']:.2f} ms", f"mpi4py {v['mpi4py_ms']:.2f} ms",
                     f"{v['mpi4py_ms'] / v['ember_ms']:.2f}x (goal >= 0.9x)"))
    one, two = launch(1, "d2"), launch(2, "d2")
    rows.append(("D2 DDP step, 1 rank, batch 512", f"{one['step_ms']:.1f} ms", "", ""))
    rows.append(("D2 DDP step, 2 ranks x 256", f"{two['step_ms']:.1f} ms",
                 f"no-comm step {two['local_step_ms']:.1f} ms, comm alone {two['comm_ms']:.1f} ms",
                 f"speedup {one['step_ms'] / two['step_ms']:.2f}x, hidden {two['hidden_share']:.0%} (goal >= 50%)"))
    d3r = launch(2, "d3", ("--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", "lo"))
    rows.append(("D3 bytes sent per rank per step (TCP)", f"{d3r['sent_per_rank_MB']:.1f} MB",
                 f"ring bound {d3r['ring_bound_MB']:.1f} MB",
                 f"{d3r['sent_per_rank_MB'] / d3r['ring_bound_MB']:.2f}x the bound"))
    for r in rows:
        print(" | ".join(x for x in r))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--rank":
        rank_main(sys.argv[2])
    else:
        main()
