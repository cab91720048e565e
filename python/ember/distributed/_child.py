"""What ``ember.distributed.run`` starts on each rank: sets torchrun's variables from the MPI
launcher's, then runs the user's script (or module, or program) as ``__main__``."""

from __future__ import annotations

import argparse
import os
import runpy
import sys

from ._env import launcher_ranks


def main():
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--master-addr", default="127.0.0.1")
    p.add_argument("--master-port", default="29500")
    p.add_argument("--nproc-per-node", type=int, default=1)
    p.add_argument("-m", dest="module", action="store_true")
    p.add_argument("--no-python", action="store_true")
    p.add_argument("script")
    p.add_argument("script_args", nargs=argparse.REMAINDER)
    a = p.parse_args()
    found = launcher_ranks()
    rank, world, local, local_world = found if found else (0, 1, 0, 1)
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(local),
        LOCAL_WORLD_SIZE=str(local_world),
        GROUP_RANK=str(rank // max(1, local_world)),
        MASTER_ADDR=a.master_addr,
        MASTER_PORT=str(a.master_port),
    )
    if a.no_python:
        os.execvp(a.script, [a.script, *a.script_args])
    sys.argv = [a.script, *a.script_args]
    if a.module:
        runpy.run_module(a.script, run_name="__main__", alter_sys=True)
    else:
        sys.path.insert(0, os.path.dirname(os.path.abspath(a.script)))
        runpy.run_path(a.script, run_name="__main__")


if __name__ == "__main__":
    main()
