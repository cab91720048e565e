"""What runs inside a DataLoader worker process, and what it shares with the main process:
the fetchers that turn indices into batches, :func:`get_worker_info`, the wrapper that
carries an exception (with its traceback text) back to the main process, and the worker
loop itself.

Mirrors ``torch.utils.data._utils.worker`` and ``fetch``.
"""

import itertools
import os
import pickle
import queue
import random
import sys
import traceback

import numpy as np

import ember

__all__ = ["WorkerInfo", "get_worker_info"]

# How often (seconds) an idle worker wakes up to check that the main process is alive and
# has not asked it to stop. Shorter than torch's 5 s: at shutdown the main process waits
# about this long for a worker that missed its stop message (see _worker_loop).
MP_STATUS_CHECK_INTERVAL = 0.5


class WorkerInfo:
    """Facts about the current worker: ``id``, ``num_workers``, ``seed`` and ``dataset``
    (this worker's own copy). Read-only once created."""

    __initialized = False

    def __init__(self, **kwargs):
        for k, v in kwargs.items():
            setattr(self, k, v)
        self.__keys = tuple(kwargs.keys())
        self.__initialized = True

    def __setattr__(self, key, val):
        if self.__initialized:
            raise RuntimeError(
                f"Cannot assign attributes to {self.__class__.__name__} objects"
            )
        return super().__setattr__(key, val)

    def __repr__(self):
        items = [f"{k}={getattr(self, k)}" for k in self.__keys]
        return f"{self.__class__.__name__}({', '.join(items)})"


_worker_info = None


def get_worker_info():
    """The :class:`WorkerInfo` of the current DataLoader worker, or ``None`` in the main
    process.

    Use it in ``IterableDataset.__iter__`` (or ``worker_init_fn``) to give each worker its
    own shard of the data: ``info.dataset`` is the worker's copy of the dataset, and
    ``info.seed`` is the seed ember, ``random`` and NumPy were seeded with in that worker.
    """
    return _worker_info


class ExceptionWrapper:
    """Carries an exception across processes: its type and its formatted traceback."""

    def __init__(self, exc_info=None, where="in background"):
        if exc_info is None:
            exc_info = sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self):
        """Raise the exception again, with the original traceback text in the message."""
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            # KeyError repr()s its message, which would print the traceback on one line.
            msg = _KeyErrorMessage(msg)
        try:
            exception = self.exc_type(msg)
        except Exception:
            # The exception type needs other constructor arguments; keep the message at least.
            raise RuntimeError(msg) from None
        raise exception


class _KeyErrorMessage(str):
    def __repr__(self):
        return self


class _IterableDatasetStopIteration:
    """Sent by a worker whose copy of an IterableDataset is exhausted."""

    def __init__(self, worker_id):
        self.worker_id = worker_id


class _ResumeIteration:
    """Sent to persistent workers at the start of a new epoch; echoed back as the ack."""


class _WithDatasetState:
    """A worker's batch together with its IterableDataset copy's ``state_dict()`` right after
    loading it: the main process keeps the state of the last batch it *yielded* from each
    worker, since workers run ahead (prefetch)."""

    def __init__(self, data, state):
        self.data = data
        self.state = state


def _stateful(dataset):
    """Whether a dataset saves and restores its own position (torchdata's protocol)."""
    return callable(getattr(dataset, "state_dict", None)) and callable(
        getattr(dataset, "load_state_dict", None)
    )


def _skip(fetcher, n):
    """Fast-forward an IterableDataset's fetcher by ``n`` samples, without collating them."""
    for _ in itertools.islice(fetcher.dataset_iter, n):
        pass


class _DatasetKind:
    Map = 0
    Iterable = 1

    @staticmethod
    def create_fetcher(kind, dataset, auto_collation, collate_fn, drop_last):
        if kind == _DatasetKind.Map:
            return _MapDatasetFetcher(dataset, auto_collation, collate_fn, drop_last)
        return _IterableDatasetFetcher(dataset, auto_collation, collate_fn, drop_last)


class _BaseDatasetFetcher:
    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last


class _IterableDatasetFetcher(_BaseDatasetFetcher):
    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        super().__init__(dataset, auto_collation, collate_fn, drop_last)
        self.dataset_iter = iter(dataset)
        self.ended = False

    def fetch(self, possibly_batched_index):
        if self.ended:
            raise StopIteration
        if self.auto_collation:
            # The "indices" are placeholders; only how many of them there are matters.
            data = []
            for _ in possibly_batched_index:
                try:
                    data.append(next(self.dataset_iter))
                except StopIteration:
                    self.ended = True
                    break
            if len(data) == 0 or (self.drop_last and len(data) < len(possibly_batched_index)):
                raise StopIteration
        else:
            data = next(self.dataset_iter)
        return self.collate_fn(data)


class _MapDatasetFetcher(_BaseDatasetFetcher):
    def fetch(self, possibly_batched_index):
        if self.auto_collation:
            getitems = getattr(self.dataset, "__getitems__", None)
            if callable(getitems):
                data = getitems(possibly_batched_index)
            else:
                data = [self.dataset[idx] for idx in possibly_batched_index]
        else:
            data = self.dataset[possibly_batched_index]
        return self.collate_fn(data)


def _seed_worker(seed, worker_id):
    """Seed every RNG a dataset might use, differently in every worker and epoch."""
    random.seed(seed)
    ember.manual_seed(seed)
    # SeedSequence mixes worker id and base seed, so neighbouring seeds give unrelated NumPy
    # streams (the classic "every worker draws the same numpy augmentations" bug).
    base_seed = seed - worker_id
    np.random.seed(np.random.SeedSequence([worker_id, base_seed % 2**64]).generate_state(4))


class _ParentWatchdog:
    """Tells a worker whether the process that started it is still alive."""

    def __init__(self):
        self.parent_pid = os.getppid()
        self.alive = True

    def is_alive(self):
        if self.alive:
            # Once the parent dies the worker is re-parented, so getppid() changes.
            self.alive = os.getppid() == self.parent_pid
        return self.alive


def _put(data_queue, item, worker_id):
    """Serialise ``item`` here, then queue the bytes.

    multiprocessing.Queue pickles in a background thread and only prints a pickling error,
    dropping the item, which would leave the main process waiting forever. Pickling first
    turns an unpicklable batch into an exception the main process re-raises.
    """
    try:
        payload = pickle.dumps(item, pickle.HIGHEST_PROTOCOL)
    except Exception:
        idx, data = item
        wrapper = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
        if isinstance(data, ExceptionWrapper):
            # The original exception's class itself cannot be pickled (e.g. defined in a
            # function): keep its traceback text under a RuntimeError.
            wrapper.exc_type = RuntimeError
            wrapper.exc_msg = data.exc_msg
        payload = pickle.dumps((idx, wrapper), pickle.HIGHEST_PROTOCOL)
    data_queue.put(payload)


def _get(payload):
    """Inverse of :func:`_put`, run in the main process."""
    return pickle.loads(payload)


def _worker_loop(
    dataset_kind,
    dataset,
    index_queue,
    data_queue,
    done_event,
    auto_collation,
    collate_fn,
    drop_last,
    base_seed,
    init_fn,
    worker_id,
    num_workers,
    persistent_workers,
    resume=None,
):
    """Body of a worker process: take ``(task_idx, indices)`` from ``index_queue``, put
    ``(task_idx, batch or ExceptionWrapper)`` on ``data_queue``, until told to stop (None).

    ``resume`` (IterableDataset only, from ``DataLoader.load_state_dict``) says where this
    worker's copy of the stream stood: ``{"dataset_state": ...}`` for a dataset that restores
    itself, else ``{"skip": n}`` samples already yielded.
    """
    global _worker_info
    try:
        # As PyTorch does: one intra-op thread per worker, so num_workers processes do not
        # each start a pool the size of the machine (a forked worker is serial already).
        ember.set_num_threads(1)
        seed = base_seed + worker_id
        _seed_worker(seed, worker_id)
        _worker_info = WorkerInfo(
            id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset
        )

        init_exception = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            if resume and "dataset_state" in resume:
                dataset.load_state_dict(resume["dataset_state"])
            fetcher = _DatasetKind.create_fetcher(
                dataset_kind, dataset, auto_collation, collate_fn, drop_last
            )
            if resume and resume.get("skip"):
                _skip(fetcher, resume["skip"])
        except Exception:
            # Reported with this worker's first batch, so the user sees it where they iterate.
            init_exception = ExceptionWrapper(
                where=f"in DataLoader worker process {worker_id}"
            )

        # For an IterableDataset: once exhausted, ignore further index requests until the
        # next epoch (persistent workers) or shutdown.
        iteration_end = False
        watchdog = _ParentWatchdog()
        send_state = dataset_kind == _DatasetKind.Iterable and _stateful(dataset)

        while watchdog.is_alive():
            try:
                r = index_queue.get(timeout=MP_STATUS_CHECK_INTERVAL)
            except queue.Empty:
                # The stop message (None) can be lost when the main process's iterator is
                # freed by the cyclic garbage collector: the index queue's feeder thread may
                # be finalized before the iterator's __del__ puts None. The event cannot be
                # lost, so it is checked too.
                if done_event.is_set():
                    break
                continue
            if isinstance(r, _ResumeIteration):
                # New epoch for a persistent worker: acknowledge, then start over.
                _put(data_queue, (r, None), worker_id)
                iteration_end = False
                # A fresh fetcher restarts an IterableDataset's iterator.
                fetcher = _DatasetKind.create_fetcher(
                    dataset_kind, dataset, auto_collation, collate_fn, drop_last
                )
                continue
            if r is None:
                # The main process asked us to stop.
                break
            if done_event.is_set() or iteration_end:
                # Shutting down, or nothing left to yield: drain without working.
                continue
            idx, index = r
            data = None
            if init_exception is not None:
                data = init_exception
                init_exception = None
            else:
                try:
                    data = fetcher.fetch(index)
                    if send_state:
                        data = _WithDatasetState(data, dataset.state_dict())
                except Exception as e:
                    if isinstance(e, StopIteration) and dataset_kind == _DatasetKind.Iterable:
                        data = _IterableDatasetStopIteration(worker_id)
                        iteration_end = True
                    else:
                        data = ExceptionWrapper(
                            where=f"in DataLoader worker process {worker_id}"
                        )
            _put(data_queue, (idx, data), worker_id)
            del data, idx, index, r  # do not keep a batch alive while waiting for the next
    except KeyboardInterrupt:
        # The main process handles Ctrl-C; a worker just goes away quietly.
        pass
    if done_event.is_set():
        # Nobody will read what is still buffered: do not block exit flushing it.
        data_queue.cancel_join_thread()
        data_queue.close()
