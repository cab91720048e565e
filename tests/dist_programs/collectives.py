"""Rank program: every collective and point-to-point call against NumPy, for each dtype and
reduce op, on the device given as argv[1]. Every rank can compute every rank's input (seeded
by rank), so each checks its own result against the reference. Prints OK at the end."""

import sys
from datetime import timedelta

import numpy as np

import ember
import ember.distributed as dist

device = sys.argv[1]
dist.init_process_group("gloo", timeout=timedelta(seconds=60))
r, n = dist.get_rank(), dist.get_world_size()
assert dist.is_initialized() and dist.get_backend() == "gloo"

DTYPES = ["float32", "float64", "float16", "bfloat16", "int32", "int64", "bool"]


def data(rank, dtype, shape=(3, 4)):
    g = np.random.default_rng(1000 + rank)
    if dtype == "bool":
        return g.random(shape) < 0.5
    if dtype.startswith("int"):
        return g.integers(-5, 6, shape).astype(dtype)
    v = g.integers(-8, 9, shape) / 4.0  # exact in every float dtype, sums too
    return v.astype("float32" if dtype == "bfloat16" else dtype)


def to_ember(a, dtype):
    t = ember.from_numpy(np.array(a, copy=True))  # from_numpy shares memory: keep the references intact
    if dtype == "bfloat16":
        t = t.to(ember.bfloat16)
    return t.to(device)


def back(t):
    if t.dtype == ember.bfloat16:
        t = t.float()
    return t.cpu().numpy()


def check(what, got, want):
    got = back(got)
    if not np.array_equal(got, np.asarray(want, dtype=got.dtype)):
        raise AssertionError(f"rank {r}: {what}: got {got}, want {want}")


REF = {
    "SUM": lambda xs: np.sum(xs, axis=0) if xs[0].dtype != bool else np.any(xs, axis=0),
    "PRODUCT": lambda xs: np.prod(xs, axis=0) if xs[0].dtype != bool else np.all(xs, axis=0),
    "MIN": lambda xs: np.min(xs, axis=0),
    "MAX": lambda xs: np.max(xs, axis=0),
    "AVG": lambda xs: np.sum(xs, axis=0) / len(xs),
    "BAND": lambda xs: np.bitwise_and.reduce(xs, axis=0),
    "BOR": lambda xs: np.bitwise_or.reduce(xs, axis=0),
    "BXOR": lambda xs: np.bitwise_xor.reduce(xs, axis=0),
}

for dtype in DTYPES:
    everyone = [data(k, dtype) for k in range(n)]
    mine = everyone[r]
    ops = ["SUM", "PRODUCT", "MIN", "MAX"]
    if dtype.startswith("float"):
        ops.append("AVG")
    if dtype.startswith("int") or dtype == "bool":
        ops += ["BAND", "BOR", "BXOR"]
    for op in ops:
        t = to_ember(mine, dtype)
        dist.all_reduce(t, op=getattr(dist.ReduceOp, op))
        check(f"all_reduce {op} {dtype}", t, REF[op](np.stack(everyone)))
        t = to_ember(mine, dtype)
        dist.reduce(t, dst=n - 1, op=getattr(dist.ReduceOp, op))
        if r == n - 1:
            check(f"reduce {op} {dtype}", t, REF[op](np.stack(everyone)))
    # a non-contiguous (transposed) tensor is reduced in place too
    t = to_ember(mine, dtype).t()
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    check(f"all_reduce strided {dtype}", t, np.max(np.stack(everyone), axis=0).T)

    t = to_ember(mine, dtype)
    dist.broadcast(t, src=1)
    check(f"broadcast {dtype}", t, everyone[1])

    outs = [to_ember(np.zeros_like(mine), dtype) for _ in range(n)]
    dist.all_gather(outs, to_ember(mine, dtype))
    for k in range(n):
        check(f"all_gather[{k}] {dtype}", outs[k], everyone[k])

    out = to_ember(np.zeros((n * 3, 4), mine.dtype), dtype)
    dist.all_gather_into_tensor(out, to_ember(mine, dtype))
    check(f"all_gather_into_tensor {dtype}", out, np.concatenate(everyone))

    big = [data(k, dtype, (n * 2, 4)) for k in range(n)]
    out = to_ember(np.zeros((2, 4), mine.dtype), dtype)
    op = dist.ReduceOp.MAX
    dist.reduce_scatter_tensor(out, to_ember(big[r], dtype), op=op)
    check(f"reduce_scatter_tensor {dtype}", out, np.max(np.stack(big), axis=0)[2 * r:2 * r + 2])

    lst = [to_ember(np.zeros_like(mine), dtype) for _ in range(n)] if r == 0 else None
    dist.gather(to_ember(mine, dtype), lst, dst=0)
    if r == 0:
        for k in range(n):
            check(f"gather[{k}] {dtype}", lst[k], everyone[k])

    parts = [data(100 + k, dtype) for k in range(n)]
    out = to_ember(np.zeros_like(mine), dtype)
    dist.scatter(out, [to_ember(p, dtype) for p in parts] if r == 0 else None, src=0)
    check(f"scatter {dtype}", out, parts[r])

    # all_to_all_single with uneven splits: rank i sends i+j+1 rows to rank j
    rows_to = [r + j + 1 for j in range(n)]
    rows_from = [i + r + 1 for i in range(n)]
    inp = np.concatenate([data(10 * r + j, dtype, (rows_to[j], 2)) for j in range(n)])
    want = np.concatenate([data(10 * i + r, dtype, (rows_from[i], 2)) for i in range(n)])
    out = to_ember(np.zeros_like(want), dtype)
    dist.all_to_all_single(out, to_ember(inp, dtype), output_split_sizes=rows_from, input_split_sizes=rows_to)
    check(f"all_to_all_single {dtype}", out, want)

    # ring of point-to-point messages, posted both ways before waiting (no deadlock)
    right, left = (r + 1) % n, (r - 1) % n
    got = to_ember(np.zeros_like(mine), dtype)
    works = [dist.isend(to_ember(mine, dtype), dst=right), dist.irecv(got, src=left)]
    for w in works:
        w.wait()
    assert works[1].is_completed()
    check(f"isend/irecv {dtype}", got, everyone[left])

# blocking send/recv with any source, and the sender's rank returned
if r == 0:
    for _ in range(n - 1):
        t = ember.zeros(2, dtype=ember.int64).to(device)
        src = dist.recv(t)
        check("recv any source", t, [src, src * 10])
else:
    dist.send(ember.tensor([r, r * 10]).to(device), dst=0)

# async all_reduce returns a Work
t = ember.ones(1000).to(device) * (r + 1)
w = dist.all_reduce(t, async_op=True)
assert w.wait() is True and w.is_completed()
check("async all_reduce", t, np.full(1000, n * (n + 1) / 2))

# objects
objs = [None] * n
dist.all_gather_object(objs, {"rank": r, "sq": r * r})
assert objs == [{"rank": k, "sq": k * k} for k in range(n)], objs
lst = [r, "x"] if r == 0 else [None, None]
dist.broadcast_object_list(lst, src=0)
assert lst == [0, "x"], lst

# a sub-group of ranks 0 and 1; the others are not members
sub = dist.new_group([0, 1])
if r in (0, 1):
    t = ember.tensor([r + 1.0]).to(device)
    dist.all_reduce(t, group=sub)
    check("sub-group all_reduce", t, [3.0])
    assert dist.get_world_size(sub) == 2 and dist.get_rank(sub) == r
else:
    assert sub is dist.GroupMember.NON_GROUP_MEMBER and dist.get_rank(sub) == -1

# mismatched calls raise on every rank, and the group goes on working
try:
    dist.all_reduce(ember.ones(2 + r).to(device))
    raise AssertionError("mismatched shapes were accepted")
except RuntimeError as e:
    assert "mismatch" in str(e) and "shape=[2]" in str(e) and "shape=[3]" in str(e), e
try:
    dist.all_reduce(ember.ones(2, dtype=ember.float64 if r == 0 else ember.float32).to(device))
    raise AssertionError("mismatched dtypes were accepted")
except RuntimeError as e:
    assert "float64" in str(e) and "float32" in str(e), e
if r == 1:
    try:
        dist.recv(ember.zeros(3).to(device), src=0)
        raise AssertionError("a message of the wrong size was accepted")
    except RuntimeError as e:
        assert "sent 5 elements" in str(e), e
elif r == 0:
    dist.send(ember.zeros(5).to(device), dst=1)
dist.barrier()
t = ember.ones(3).to(device)
dist.all_reduce(t)
check("after errors", t, [n] * 3)

# the DistributedSampler learns its rank and replica count from the process group
from ember.utils.data.distributed import DistributedSampler  # noqa: E402

sampler = DistributedSampler(list(range(10)), shuffle=True, seed=3)
assert sampler.num_replicas == n and sampler.rank == r
sampler.set_epoch(1)
shares = [None] * n
dist.all_gather_object(shares, list(sampler))
flat = sorted(i for s in shares for i in s)
assert set(flat) == set(range(10)) and len(flat) == n * -(-10 // n), shares

dist.destroy_process_group()
assert not dist.is_initialized()
print(f"rank {r} OK", flush=True)
