"""``ember.multiprocessing`` (torch.multiprocessing): the standard module's API, PyTorch's
sharing-strategy switches, and ``spawn`` for one process per rank. ember's CPU tensors pickle by
value, so nothing else needs registering."""

import multiprocessing as _mp
from multiprocessing import *  # noqa: F401,F403

_strategy = ["file_descriptor"]


def get_all_sharing_strategies():
    return {"file_descriptor", "file_system"}


def get_sharing_strategy():
    return _strategy[0]


def set_sharing_strategy(new_strategy):
    if new_strategy not in get_all_sharing_strategies():
        raise ValueError(f"Unknown sharing strategy {new_strategy!r}: expected one of {sorted(get_all_sharing_strategies())}")
    _strategy[0] = new_strategy


class ProcessRaisedException(Exception):
    """A spawned process raised: its index and the traceback it printed."""

    def __init__(self, msg, error_index, error_pid):
        super().__init__(msg)
        self.error_index, self.pid = error_index, error_pid


class ProcessExitedException(Exception):
    def __init__(self, msg, error_index, error_pid, exit_code, signal_name=None):
        super().__init__(msg)
        self.error_index, self.pid, self.exit_code, self.signal_name = error_index, error_pid, exit_code, signal_name


def _run(fn, i, args, errors):
    import traceback

    try:
        fn(i, *args)
    except KeyboardInterrupt:
        pass
    except Exception:
        errors.put((i, traceback.format_exc()))
        raise SystemExit(1)


class ProcessContext:
    def __init__(self, processes, errors):
        self.processes, self.error_queue = processes, errors

    def pids(self):
        return [p.pid for p in self.processes]

    def join(self, timeout=None):
        """Waits until every process has ended (True), or one failed: then the rest are
        terminated and its error raised; False when ``timeout`` passes first."""
        import time
        from multiprocessing.connection import wait

        deadline = None if timeout is None else time.monotonic() + timeout
        alive = [p for p in self.processes if p.exitcode is None]
        while alive and not any(p.exitcode not in (0, None) for p in self.processes):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = wait([p.sentinel for p in alive], timeout=left)
            if not ready:
                return False
            for p in [p for p in alive if p.sentinel in ready]:
                p.join()
                alive.remove(p)
        failed = [(i, p) for i, p in enumerate(self.processes) if p.exitcode not in (0, None)]
        if not failed:
            return True
        for p in self.processes:
            if p.is_alive():
                p.terminate()
        if not self.error_queue.empty():
            i, tb = self.error_queue.get()
            raise ProcessRaisedException(f"\n\n-- Process {i} terminated with the following error:\n{tb}", i,
                                         self.processes[i].pid)
        i, p = failed[0]
        raise ProcessExitedException(f"process {i} terminated with exit code {p.exitcode}", i, p.pid, p.exitcode)


def start_processes(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    ctx = _mp.get_context(start_method)
    errors = ctx.SimpleQueue()
    processes = [ctx.Process(target=_run, args=(fn, i, args, errors), daemon=daemon) for i in range(nprocs)]
    for p in processes:
        p.start()
    context = ProcessContext(processes, errors)
    if not join:
        return context
    context.join()
    return None


def spawn(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """Runs ``fn(i, *args)`` in ``nprocs`` new processes, as ``torch.multiprocessing.spawn``."""
    return start_processes(fn, args, nprocs, join, daemon, start_method)
