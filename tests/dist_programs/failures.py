"""Rank program: rank 1 stalls, dies or skips a collective; the others must raise a
DistBackendError within the group's timeout (3 s here) that names the op and the rank that did
not reach it, and the job must end. argv: the mode (stall, kill, skip; queued: rank 1 stalls and the others wait on a second
collective queued behind the first; data_stall: rank 1 reaches the call, passes the check and
stalls before its data exchange)."""

import os
import signal
import sys
import time
from datetime import timedelta

import ember
import ember.distributed as dist

mode = sys.argv[1]
dist.init_process_group("gloo", timeout=timedelta(seconds=3))
r = dist.get_rank()
t = ember.ones(4, 5)
dist.all_reduce(t)  # everyone is up
if r == 1:
    if mode in ("stall", "queued"):
        time.sleep(120)
    elif mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif mode == "skip":
        sys.exit(0)
    elif mode == "data_stall":
        from ember.distributed import distributed_c10d

        def stalled_stage(*args, **kwargs):
            time.sleep(120)

        distributed_c10d.stage = stalled_stage
try:
    if mode == "queued":
        first = dist.all_reduce(t, async_op=True)
        dist.all_reduce(ember.ones(3), async_op=True).wait()
    else:
        dist.all_reduce(t)
except dist.DistBackendError as e:
    print(f"rank {r} raised: {e}", flush=True)
    if "ranks [1] did not reach it" in str(e) or "which ranks [1] did not reach" in str(e):
        print(f"rank {r} named rank 1", flush=True)
    raise
print(f"rank {r} was not stopped", flush=True)
