"""``torch.futures`` under ``import ember as torch``: ``Future``, the result of an asynchronous
operation that completes later, with ``then`` to chain work onto it (what
``Work.get_future()`` returns, and what DDP communication hooks pass around), plus
``collect_all`` and ``wait_all``.

A callback given to ``then`` or ``add_done_callback`` runs once the future completes: inline,
on the thread that completes it (``set_result``) or that adds it to an already completed
future; for a collective's future, on its process group's callback thread, so it may itself
start collectives and wait on them.
"""

from __future__ import annotations

import threading
import warnings

__all__ = ["Future", "collect_all", "wait_all"]

# Set on a thread that runs callbacks from a queue (a process group's callback thread): a
# wait there runs the queued callbacks meanwhile, so a callback may wait on another future.
_local = threading.local()


class Future:
    """A value that becomes available later (``torch.futures.Future``)."""

    def __init__(self, *, devices=None, _waiter=None):
        self._lock = threading.Lock()
        self._event = threading.Event()
        self._value = None
        self._exc: BaseException | None = None
        self._callbacks: list | None = []
        # Blocks until whatever completes this future has finished, raising where that missed
        # its deadline (a collective's Work); None for a future completed by set_result.
        self._waiter = _waiter

    # ---- state ---------------------------------------------------------------------------
    def done(self) -> bool:
        """Whether the future has a value or an exception."""
        return self._event.is_set()

    def value(self):
        """The value (raising the future's exception if it failed). Call it after ``wait()``
        or inside a callback given to ``then``."""
        if not self._event.is_set():
            raise RuntimeError(
                "Future.value() called before the future completed: call wait() first, or "
                "read it inside a callback given to then()"
            )
        if self._exc is not None:
            raise self._exc
        return self._value

    def wait(self):
        """Blocks until the future completes; returns its value or raises its exception (a
        collective's future raises DistBackendError when the collective misses its deadline)."""
        self._block()
        if self._exc is not None:
            raise self._exc
        return self._value

    def _block(self):
        if self._event.is_set():
            return
        if self._waiter is not None:
            self._waiter()
        run = getattr(_local, "run_pending", None)
        if run is None:
            self._event.wait()
        else:
            while not self._event.is_set():
                run(self._event)

    # ---- completion ----------------------------------------------------------------------
    def set_result(self, result) -> None:
        """Completes the future with ``result``; its callbacks run now, on this thread."""
        self._complete(result, None)

    def set_exception(self, result) -> None:
        """Completes the future with an exception, which ``wait`` and ``value`` raise."""
        if not isinstance(result, BaseException):
            raise TypeError(f"set_exception expects an exception, got {type(result).__name__}")
        self._complete(None, result)

    def _complete(self, value, exc, runner=None):
        with self._lock:
            if self._event.is_set():
                raise RuntimeError("Future can only be marked completed once")
            self._value = value
            self._exc = exc
            self._event.set()
            callbacks, self._callbacks = self._callbacks, None
        if callbacks:
            if runner is None:
                for cb in callbacks:
                    _invoke(cb, self)
            else:
                runner(lambda: [_invoke(cb, self) for cb in callbacks])

    # ---- chaining ------------------------------------------------------------------------
    def add_done_callback(self, callback) -> None:
        """Runs ``callback(future)`` once the future completes (now, if it has); what it
        returns is ignored, and an exception it raises is reported as a warning."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        _invoke(callback, self)

    def then(self, callback) -> "Future":
        """A new future holding ``callback(this_future)``'s return value (or the exception it
        raises) once this future completes."""
        child = Future(_waiter=self._block)

        def run(parent):
            try:
                result = callback(parent)
            except BaseException as e:  # noqa: BLE001 - the child future carries it
                child._complete(None, e)
                return
            child._complete(result, None)

        self.add_done_callback(run)
        return child

    def __repr__(self):
        if not self.done():
            return "<Future pending>"
        return f"<Future {'failed' if self._exc is not None else 'done'}>"


def _invoke(cb, fut):
    try:
        cb(fut)
    except BaseException as e:  # noqa: BLE001 - a done-callback's failure must not stop others
        warnings.warn(f"a Future callback raised {type(e).__name__}: {e}", RuntimeWarning, stacklevel=2)


def collect_all(futures) -> Future:
    """A future that completes, with the list of ``futures``, once all of them have."""
    futures = list(futures)
    out = Future(_waiter=lambda: [f._block() for f in futures])
    if not futures:
        out.set_result([])
        return out
    left = [len(futures)]
    lock = threading.Lock()

    def one(_f):
        with lock:
            left[0] -= 1
            last = left[0] == 0
        if last:
            out._complete(futures, None)

    for f in futures:
        f.add_done_callback(one)
    return out


def wait_all(futures) -> list:
    """Waits for every future; returns their values (raising the first failure)."""
    return [f.wait() for f in futures]
