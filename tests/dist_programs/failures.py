"""Rank program: a rank that stalls, dies or skips a collective; the others must raise a
DistBackendError naming the op within the group's timeout (3 s here), and the job must end.
argv: the mode (stall, kill, skip)."""

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
    if mode == "stall":
        time.sleep(120)
    elif mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif mode == "skip":
        sys.exit(0)
try:
    dist.all_reduce(t)
except dist.DistBackendError as e:
    print(f"rank {r} raised: {e}", flush=True)
    raise
print(f"rank {r} was not stopped", flush=True)
