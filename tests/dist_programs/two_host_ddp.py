"""Rank program for the two-host test (tests/test_distributed_two_host.py), started by
``python -m ember.distributed.run``: DistributedDataParallel over the ranks, each training a
small MLP on its slice of the global batch, must give the parameters of one process training on
the whole batch (float64, 1e-10), and every rank must hold the same parameters. Each rank
reports its host name; rank 0 checks that no two ranks share one, so the job really spanned
machines (``--one-host-ok`` lifts that check, to try it on one machine). Prints "rank K on HOST OK" on each rank and "hosts: ..." on rank 0."""

import os
import socket
import sys
from datetime import timedelta

import numpy as np

import ember
import ember.distributed as dist
from ember import nn
from ember.nn.parallel import DistributedDataParallel as DDP

ember.set_default_dtype(ember.float64)
dist.init_process_group("nccl", timeout=timedelta(seconds=60))
r, n = dist.get_rank(), dist.get_world_size()
assert int(os.environ["RANK"]) == r and int(os.environ["WORLD_SIZE"]) == n, os.environ
host = socket.gethostname()
one_host_ok = "--one-host-ok" in sys.argv[1:]  # to try the arithmetic on one machine


def mlp(seed):
    ember.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 2)).double()


def flat(m):
    return np.concatenate([p.detach().cpu().numpy().ravel() for p in m.parameters()])


ref = mlp(1)            # rank 0's start: the one-process reference
ddp = DDP(mlp(1 + r))   # every rank starts elsewhere; DDP broadcasts rank 0's parameters
assert np.array_equal(flat(ref), flat(ddp.module)), f"rank {r}: parameters not broadcast from rank 0"
opt_ref = ember.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
opt = ember.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
k = 8
g = np.random.default_rng(3)
for step in range(5):
    X = ember.from_numpy(g.standard_normal((k * n, 6)))
    Y = ember.from_numpy(g.standard_normal((k * n, 2)))
    opt_ref.zero_grad()
    nn.functional.mse_loss(ref(X), Y).backward()
    opt_ref.step()
    opt.zero_grad()
    nn.functional.mse_loss(ddp(X[r * k:(r + 1) * k]), Y[r * k:(r + 1) * k]).backward()
    opt.step()

mine = flat(ddp.module)
assert not np.array_equal(mine, flat(mlp(1))), "training did not move the parameters"
everyone = [None] * n
dist.all_gather_object(everyone, (host, mine.tolist()))
problems = []
if r == 0:
    hosts = [h for h, _ in everyone]
    if len(set(hosts)) != n and not one_host_ok:
        problems.append(f"ranks share a host: {hosts}")
    for q, (_, p) in enumerate(everyone):
        err = float(np.abs(np.asarray(p) - flat(ref)).max())
        if not err < 1e-10:
            problems.append(f"rank {q}: max difference {err} from one process on the whole batch")
        if not np.array_equal(np.asarray(p), mine):
            problems.append(f"rank {q}'s parameters differ from rank 0's")
    print("hosts:", " ".join(hosts), flush=True)
verdict = [problems]
dist.broadcast_object_list(verdict, src=0)  # every rank ends the same way, none left waiting
dist.destroy_process_group()
assert not verdict[0], "; ".join(verdict[0])
print(f"rank {r} on {host} OK", flush=True)
