"""Process groups on MPI: one communicator per group, and one communication thread per group
that runs its collectives in program order while the caller goes on (backward, the next
bucket), with a deadline on every wait.

Why a thread: MPI's non-blocking collectives make no progress in the background on the
machines we measured, while a blocking collective on a second thread overlaps fully with work
on the first (mpi4py releases the GIL inside MPI calls, ember's backward releases it too).
Every collective of a group goes through its thread, so all ranks issue them in one order.
"""

from __future__ import annotations

import atexit
import os
import queue
import sys
import threading
from datetime import timedelta

from ._errors import DistBackendError

DEFAULT_TIMEOUT = timedelta(minutes=30)

# Set once a collective has missed its deadline: MPI's own shutdown would then wait forever on
# the peer that never came, so the process ends without it (see _exit_without_finalize).
_broken = threading.Event()


def _seconds(timeout) -> float:
    if timeout is None:
        return DEFAULT_TIMEOUT.total_seconds()
    if isinstance(timeout, timedelta):
        return timeout.total_seconds()
    return float(timeout)


class Work:
    """The handle of one collective or point-to-point operation (PyTorch's ``Work``): ``wait``
    blocks until it is done (or its group's deadline passes), ``is_completed`` asks."""

    def __init__(self, group: "ProcessGroup", seq: int, op: str, detail: str, outputs=None):
        self._group = group
        self._outputs = outputs  # what get_future()'s value is: the output tensors
        self._seq = seq
        self._op = op
        self._detail = detail
        self._done = threading.Event()
        self._exc: BaseException | None = None
        self._result = None
        # Set by the consistency check on the communication thread: which group ranks have
        # told this rank that they reached this collective (this rank included).
        self._arrived: list[bool] | None = None
        self._started = False

        self._watchers: list | None = None  # run once it finishes (get_future)

    def _finish(self, result=None, exc: BaseException | None = None):
        self._result = result
        self._exc = exc
        with self._group._lock:
            self._done.set()
            watchers, self._watchers = self._watchers, None
        if watchers:
            for w in watchers:
                w()

    def _when_done(self, fn):
        """Runs ``fn()`` once this finishes: at once if it has, else on the thread that
        finishes it."""
        with self._group._lock:
            if not self._done.is_set():
                if self._watchers is None:
                    self._watchers = []
                self._watchers.append(fn)
                return
        fn()

    def _future_value(self):
        return list(self._outputs) if self._outputs is not None else []

    def get_future(self):
        """A ``Future`` that completes with this operation (``torch.futures.Future``): its
        ``value()`` is the list of output tensors (``[tensor]`` for ``all_reduce``); callbacks
        chained with ``then`` run on the group's callback thread, so they may start and wait
        on collectives themselves. ``wait()`` raises as ``Work.wait`` does."""
        from ember.futures import Future

        fut = Future(_waiter=self._wait_done)

        def complete():
            fut._complete(None if self._exc else self._future_value(), self._exc,
                          runner=self._group._run_callbacks)

        self._when_done(complete)
        return fut

    def is_completed(self) -> bool:
        return self._done.is_set()

    def is_success(self) -> bool:
        return self._done.is_set() and self._exc is None

    def exception(self):
        return self._exc

    def result(self):
        self.wait()
        return self._result

    def wait(self, timeout=None) -> bool:
        self._wait_done(timeout)
        if self._exc is not None:
            raise self._exc
        return True

    def _wait_done(self, timeout=None):
        """Blocks until it finished; raises DistBackendError past the deadline."""
        if self._done.is_set():
            return
        if threading.current_thread() is self._group._thread:
            raise RuntimeError(
                f"{self._op} #{self._seq} waited on from its group's communication thread, "
                "which runs it: that would never end"
            )
        limit = self._group.timeout if timeout is None else _seconds(timeout)
        if not self._done.wait(limit):
            _broken.set()
            raise DistBackendError(
                f"[rank {self._group.global_rank}] {self._op} (#{self._seq} of "
                f"group {self._group.name}, {self._detail}) did not complete within "
                f"{limit:g} s: {self._group._blame(self)}"
            )

    def __repr__(self):
        state = "completed" if self.is_completed() else "pending"
        return f"<Work {self._op} #{self._seq} {state}>"


class _Pending:
    """A non-blocking MPI request the communication thread drives to completion."""

    __slots__ = ("request", "then")

    def __init__(self, request, then=None):
        self.request = request
        self.then = then


class ProcessGroup:
    """A set of ranks with its own communicator (``comm`` for collectives, a duplicate for
    point-to-point messages so user tags never meet internal traffic)."""

    def __init__(self, comm, world_ranks, timeout, backend: str, name: str):
        self.comm = comm
        self.p2p = comm.Dup()
        self.my_rank = comm.Get_rank()
        self.nranks = comm.Get_size()
        self.world_ranks = list(world_ranks)
        self.global_rank = self.world_ranks[self.my_rank]
        self.timeout = _seconds(timeout)
        self.backend = backend
        self.name = name
        self._seq = 0
        self._p2p_seq = 0
        # Arrival notices of the consistency check travel here, apart from user traffic.
        self.check = comm.Dup()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._running: Work | None = None  # the operation on the communication thread now
        self._callbacks: queue.SimpleQueue | None = None
        self._callback_thread: threading.Thread | None = None

    def rank(self) -> int:
        return self.my_rank

    def size(self) -> int:
        return self.nranks

    def group_rank(self, global_rank: int) -> int:
        try:
            return self.world_ranks.index(global_rank)
        except ValueError:
            raise ValueError(
                f"global rank {global_rank} is not part of group {self.name} "
                f"(ranks {self.world_ranks})"
            ) from None

    def _missing(self, work: Work) -> list[int] | None:
        """The global ranks that have not said they reached ``work`` (None: not known)."""
        arrived = work._arrived
        if arrived is None:
            return None
        return [self.world_ranks[i] for i, a in enumerate(list(arrived)) if not a]

    def _blame(self, work: Work) -> str:
        """Why ``work`` is late, as far as this rank can tell: which ranks never reached it
        (every rank that reaches a collective posts a notice to every other one)."""
        missing = self._missing(work)
        if missing:
            return (f"ranks {missing} did not reach it (they died, stalled or did not call "
                    "it; the other ranks did reach it)")
        if missing is not None:
            return ("every rank reached it, but the data exchange did not finish: a rank died "
                    "or stalled during it")
        running = self._running
        if running is not None and running is not work and not running._done.is_set():
            missing = self._missing(running)
            ahead = f"{running._op} #{running._seq}"
            if missing:
                return (f"it is queued behind {ahead}, which ranks {missing} did not reach "
                        "(they died, stalled or did not call it)")
            return f"it is queued behind {ahead}, which has not finished"
        if not work._started and running is None:
            return "it never started on this rank's communication thread"
        return "another rank died, stalled or did not call it"

    def _run_callbacks(self, fn):
        """Runs ``fn()`` on this group's callback thread (started on first use): future
        callbacks run there, in completion order, off the communication thread."""
        with self._lock:
            if self._callback_thread is None:
                self._callbacks = queue.SimpleQueue()
                self._callback_thread = threading.Thread(
                    target=_serve_callbacks, args=(self._callbacks,),
                    name=f"ember-callbacks-{self.name}", daemon=True,
                )
                self._callback_thread.start()
        self._callbacks.put(fn)

    def submit(self, op: str, detail: str, fn, collective: bool = True, outputs=None) -> Work:
        """Queues ``fn(work)`` (run on the communication thread; it returns a result or a
        ``_Pending`` request) and returns the Work. Collectives are numbered in order (every
        rank counts the same); point-to-point messages have numbers of their own."""
        with self._lock:
            if collective:
                self._seq += 1
                seq = self._seq
            else:
                self._p2p_seq += 1
                seq = self._p2p_seq
            work = Work(self, seq, op, detail, outputs)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name=f"ember-comm-{self.name}", daemon=True
                )
                self._thread.start()
            self._queue.put((work, fn))
        return work

    def _serve(self):
        outstanding: list[tuple[Work, _Pending]] = []
        while True:
            try:
                item = self._queue.get(timeout=2e-4) if outstanding else self._queue.get()
            except queue.Empty:
                item = None
            if item is not None:
                if item is _STOP:
                    return
                work, fn = item
                self._running = work
                work._started = True
                try:
                    r = fn(work)
                except BaseException as e:  # noqa: BLE001 - handed to the waiter as is
                    work._finish(exc=e)
                    continue
                finally:
                    self._running = None
                if isinstance(r, _Pending):
                    outstanding.append((work, r))
                else:
                    work._finish(r)
            still = []
            for work, p in outstanding:
                try:
                    done = p.request.Test()
                    if done:
                        work._finish(p.then() if p.then else None)
                    else:
                        still.append((work, p))
                except BaseException as e:  # noqa: BLE001
                    work._finish(exc=e)
            outstanding = still

    def stop(self):
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=self.timeout)
            self._thread = None
        if self._callback_thread is not None:
            self._callbacks.put(_STOP)
            if threading.current_thread() is not self._callback_thread:
                self._callback_thread.join(timeout=self.timeout)
            self._callback_thread = None

    def __repr__(self):
        return f"<ProcessGroup {self.name} rank {self.my_rank} of {self.nranks} ({self.backend})>"


_STOP = object()


def _serve_callbacks(q: queue.SimpleQueue):
    from ember import futures

    def run_pending(event):
        # A callback waits on a future: run the callbacks queued behind it meanwhile.
        try:
            item = q.get(timeout=1e-3)
        except queue.Empty:
            return
        if item is _STOP:
            q.put(_STOP)
            event.wait()
            return
        _call(item)

    futures._local.run_pending = run_pending
    while True:
        item = q.get()
        if item is _STOP:
            return
        _call(item)


def _call(fn):
    try:
        fn()
    except BaseException as e:  # noqa: BLE001 - one failing callback must not stop the thread
        print(f"ember.distributed: a future callback raised {type(e).__name__}: {e}", file=sys.stderr)


def _exit_without_finalize():
    # Runs before mpi4py's finalize (atexit is last-in first-out, and this is registered after
    # MPI started): a job whose collective timed out must end, not wait in MPI_Finalize for a
    # rank that is gone.
    if _broken.is_set():
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(1)


_guard_installed = False


def install_exit_guard():
    global _guard_installed
    if not _guard_installed:
        _guard_installed = True
        atexit.register(_exit_without_finalize)
