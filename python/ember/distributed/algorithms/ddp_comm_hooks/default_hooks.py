"""PyTorch's default DDP communication hooks: ``allreduce_hook`` (what DDP does without a
hook: average the bucket) and ``fp16_compress_hook`` (average it rounded to float16; ember's
MPI reductions of 16-bit floats travel as float32, so it saves no bytes here, it only runs
ported code unchanged)."""

from __future__ import annotations

import ember
import ember.distributed as dist


def _group(process_group):
    return process_group if process_group is not None else dist.group.WORLD


def allreduce_hook(process_group, bucket):
    """Averages the bucket across ``process_group`` (None: the default group)."""
    g = _group(process_group)
    buf = bucket.buffer()
    buf.div_(dist.get_world_size(g))
    return dist.all_reduce(buf, group=g, async_op=True).get_future().then(lambda f: f.value()[0])


def fp16_compress_hook(process_group, bucket):
    """Averages the bucket rounded to float16, back in its own dtype."""
    g = _group(process_group)
    buf = bucket.buffer()
    half = (buf / dist.get_world_size(g)).to(ember.float16)

    def back(fut):
        out = fut.value()[0]
        with ember.no_grad():
            buf.copy_(out.to(buf.dtype))
        return buf

    return dist.all_reduce(half, group=g, async_op=True).get_future().then(back)
