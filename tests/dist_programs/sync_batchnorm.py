"""Rank program: SyncBatchNorm over N ranks, each on its slice of a global batch (ranks of
unequal size), must give the output, input gradients, summed weight/bias gradients and running
statistics of one BatchNorm on the concatenated batch (computed here on every rank as the
reference), in float64 for a 2-D and a 4-D input and in float32 for a 3-D one, through
convert_sync_batchnorm. argv: device.
Prints OK at the end."""

import sys
from datetime import timedelta

import numpy as np

import ember
import ember.distributed as dist
from ember import nn

device = sys.argv[1]
dist.init_process_group("gloo", timeout=timedelta(seconds=60))
r, n = dist.get_rank(), dist.get_world_size()


def close(what, got, want, tol=1e-10):
    got = got.detach().cpu().numpy() if isinstance(got, ember.Tensor) else np.asarray(got)
    want = want.detach().cpu().numpy() if isinstance(want, ember.Tensor) else np.asarray(want)
    if got.shape != want.shape or not np.allclose(got, want, rtol=tol, atol=tol):
        raise AssertionError(f"rank {r}: {what}: max diff {np.abs(got - want).max() if got.shape == want.shape else (got.shape, want.shape)}")


def run(shape, bn_cls, dtype="float64", tol=1e-10):
    g = np.random.default_rng(7)
    sizes = [2 + k for k in range(n)]  # unequal per-rank batches
    full = (g.standard_normal((sum(sizes), *shape)) * 3 + 1).astype(dtype)
    up = g.standard_normal((sum(sizes), *shape)).astype(dtype)  # the upstream gradient: loss = sum(out * up)
    lo = sum(sizes[:r])
    c = shape[0]

    ember.manual_seed(0)
    ref = bn_cls(c).to(getattr(ember, dtype)).to(device)
    with ember.no_grad():
        ref.weight.copy_(ember.tensor(g.standard_normal(c).astype(dtype)).to(device))
        ref.bias.copy_(ember.tensor(g.standard_normal(c).astype(dtype)).to(device))
    sync = nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(bn_cls(c).to(getattr(ember, dtype))))[0].to(device)
    assert isinstance(sync, nn.SyncBatchNorm), type(sync)
    with ember.no_grad():
        sync.weight.copy_(ref.weight)
        sync.bias.copy_(ref.bias)

    xf = ember.tensor(full).to(device).requires_grad_()
    out_ref = ref(xf)
    (out_ref * ember.tensor(up).to(device)).sum().backward()

    xl = ember.tensor(full[lo: lo + sizes[r]]).to(device).requires_grad_()
    out = sync(xl)
    (out * ember.tensor(up[lo: lo + sizes[r]]).to(device)).sum().backward()

    close(f"{shape} output", out, out_ref[lo: lo + sizes[r]], tol)
    close(f"{shape} input grad", xl.grad, xf.grad[lo: lo + sizes[r]], tol)
    for name in ("weight", "bias"):
        gsum = getattr(sync, name).grad.clone()
        dist.all_reduce(gsum)  # what DDP would sum (it averages; the sum is the global gradient)
        close(f"{shape} {name} grad", gsum, getattr(ref, name).grad, tol)
    close(f"{shape} running_mean", sync.running_mean, ref.running_mean, tol)
    close(f"{shape} running_var", sync.running_var, ref.running_var, tol)
    # Eval uses the running statistics, with no collective.
    sync.eval(), ref.eval()
    close(f"{shape} eval output", sync(xl), ref(xf)[lo: lo + sizes[r]], tol)


run((3,), nn.BatchNorm1d)
run((4, 3, 5), nn.BatchNorm2d)
run((3, 6), nn.BatchNorm1d, "float32", 1e-4)
dist.destroy_process_group()
print(f"rank {r} OK", flush=True)
