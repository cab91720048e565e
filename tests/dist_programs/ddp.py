"""Rank program: DistributedDataParallel over N ranks, each on its 1/N slice of the global
batch, must give the parameters of one process training on the whole batch (computed here on
every rank as the reference). argv: device, then the configurations to run (all by default).
Prints OK at the end."""

import sys
from datetime import timedelta

import numpy as np

import ember
import ember.distributed as dist
from ember import nn
from ember.nn.parallel import DistributedDataParallel as DDP

device = sys.argv[1]
configs = sys.argv[2:] or ["sgd", "adam", "tiny_buckets_view", "no_sync", "unused", "static", "float32", "buffers",
                           "view_no_sync_keep", "unused_view", "comm_hook"]
dist.init_process_group("nccl", timeout=timedelta(seconds=60))
r, n = dist.get_rank(), dist.get_world_size()


class Net(nn.Module):
    def __init__(self, extra=False):
        super().__init__()
        self.a = nn.Linear(5, 16)
        self.b = nn.Linear(16, 16)
        self.head = nn.Linear(16, 3)
        self.spare = nn.Linear(16, 3) if extra else None

    def forward(self, x):
        return self.head(ember.tanh(self.b(ember.tanh(self.a(x)))))


def make(seed, dtype, extra=False):
    ember.manual_seed(seed)
    m = Net(extra)
    return (m.double() if dtype == "float64" else m).to(device)


def batches(steps, B, dtype):
    g = np.random.default_rng(7)
    for _ in range(steps):
        X = g.standard_normal((B, 5)).astype(dtype)
        Y = g.standard_normal((B, 3)).astype(dtype)
        yield ember.from_numpy(X).to(device), ember.from_numpy(Y).to(device)


def max_diff(m1, m2):
    return max(float((a.detach().cpu() - b.detach().cpu()).abs().max()) for a, b in zip(m1.parameters(), m2.parameters()))


def run(name, opt="sgd", dtype="float64", accumulate=1, extra=False, set_to_none=True, hook=None, tol=None,
        **ddp_kw):
    ember.set_default_dtype(ember.float64 if dtype == "float64" else ember.float32)
    ref = make(100, dtype, extra)       # rank 0's initial model
    mine = make(100 + r, dtype, extra)  # each rank starts elsewhere: DDP must broadcast rank 0's
    ddp = DDP(mine, **ddp_kw)
    if hook is not None:
        ddp.register_comm_hook(*hook)
    assert max_diff(ref, ddp.module) == 0, f"{name}: parameters not broadcast from rank 0"
    mk = (lambda ps: ember.optim.SGD(ps, lr=0.05, momentum=0.9)) if opt == "sgd" else (lambda ps: ember.optim.Adam(ps, lr=1e-2))
    o_ref, o_ddp = mk(ref.parameters()), mk(ddp.parameters())
    B = 6 * n
    k = B // n
    it = batches(4 * accumulate, B, dtype)
    for step in range(4):
        o_ref.zero_grad(set_to_none=set_to_none)
        o_ddp.zero_grad(set_to_none=set_to_none)
        for micro in range(accumulate):
            X, Y = next(it)
            (nn.functional.mse_loss(ref(X), Y) / accumulate).backward()
            mine_x, mine_y = X[r * k:(r + 1) * k], Y[r * k:(r + 1) * k]
            if micro < accumulate - 1:
                with ddp.no_sync():
                    (nn.functional.mse_loss(ddp(mine_x), mine_y) / accumulate).backward()
            else:
                (nn.functional.mse_loss(ddp(mine_x), mine_y) / accumulate).backward()
        o_ref.step()
        o_ddp.step()
    tol = tol or (1e-10 if dtype == "float64" else 1e-5)
    err = max_diff(ref, ddp.module)
    assert err < tol, f"rank {r} {name}: max difference {err} from one process on the whole batch"
    if extra:
        assert ddp.module.spare.weight.grad is None, f"{name}: an unused parameter got a gradient"
    assert list(ddp.state_dict())[0].startswith("module."), list(ddp.state_dict())[:3]
    return ddp


for c in configs:
    if c == "sgd":
        run(c)
    elif c == "adam":
        run(c, opt="adam")
    elif c == "tiny_buckets_view":
        ddp = run(c, bucket_cap_mb=0.0005, gradient_as_bucket_view=True)
        assert len(ddp._buckets) > 3, len(ddp._buckets)
    elif c == "no_sync":
        run(c, accumulate=3)
    elif c == "unused":
        run(c, extra=True, find_unused_parameters=True)
    elif c == "view_no_sync_keep":
        # .grad kept between steps (zeroed in place) and accumulated locally under no_sync,
        # while it is a view of its bucket
        ddp = run(c, accumulate=3, set_to_none=False, bucket_cap_mb=0.0005, gradient_as_bucket_view=True)
        p = ddp.module.a.weight
        assert any(p.grad.data_ptr() == v.data_ptr() for b in ddp._buckets for v in b.views)
    elif c == "comm_hook":
        from ember.distributed.algorithms.ddp_comm_hooks import default_hooks

        run(c, hook=(None, default_hooks.allreduce_hook), bucket_cap_mb=0.0005)
        seen = []

        def summing_hook(state, bucket):
            # a hook of its own: sum, then average in a then() callback, as PowerSGD-style
            # hooks chain their steps
            assert isinstance(bucket, dist.GradBucket) and bucket.buffer().numel() == sum(int(p.numel()) for p in bucket.parameters())
            seen.append((bucket.index(), bucket.is_last()))
            fut = dist.all_reduce(bucket.buffer(), async_op=True).get_future()
            return fut.then(lambda f: [f.value()[0] / state])

        run(c, hook=(n, summing_hook), opt="adam", bucket_cap_mb=0.0005)
        assert seen and seen[-1][1] and not seen[0][1], seen
        run(c, hook=(None, default_hooks.fp16_compress_hook), dtype="float32", tol=2e-3)
    elif c == "unused_view":
        run(c, extra=True, find_unused_parameters=True, gradient_as_bucket_view=True, set_to_none=False)
    elif c == "static":
        run(c, static_graph=True)
    elif c == "float32":
        run(c, dtype="float32", opt="adam")
    elif c == "buffers":
        # BatchNorm's running statistics are rank 0's after every forward
        ember.set_default_dtype(ember.float64)
        ember.manual_seed(r)
        m = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)).to(device)
        ddp = DDP(m)
        ddp(ember.randn(8, 4).to(device) * (r + 1)).sum().backward()
        ddp.eval()
        ddp(ember.randn(8, 4).to(device))  # broadcasts rank 0's buffers (eval mode keeps them)
        mean = m[1].running_mean.cpu()
        everyone = [None] * n
        dist.all_gather_object(everyone, mean.tolist())
        assert all(e == everyone[0] for e in everyone), everyone
    elif c == "unused_error":
        ember.set_default_dtype(ember.float64)
        ddp = DDP(make(1, "float64", extra=True))
        X = ember.randn(4, 5).to(device)
        ddp(X).sum().backward()
        try:
            ddp(X)
            raise AssertionError("an unused parameter without find_unused_parameters was accepted")
        except RuntimeError as e:
            assert "find_unused_parameters=True" in str(e) and "spare.weight" in str(e), e
    elif c == "mismatch":
        ember.set_default_dtype(ember.float64)
        try:
            DDP(nn.Linear(3, 3 + r).to(device))
            raise AssertionError("different models across ranks were accepted")
        except RuntimeError as e:
            assert "DDP expects same model across all ranks" in str(e) and "weight" in str(e), e
    else:
        raise SystemExit(f"unknown configuration {c}")

dist.destroy_process_group()
print(f"rank {r} OK", flush=True)
