"""DataLoader: iterate over a dataset in (optionally shuffled) batches, loading them in the
main process or, with ``num_workers > 0``, in worker processes that prefetch ahead.

Mirrors ``torch.utils.data.DataLoader``: same arguments, defaults, validation messages and
iteration semantics. In particular, batches come out in the same order whatever
``num_workers`` is: worker ``k`` gets batches ``k, k + n, k + 2n, ...`` round-robin and the
main process puts their results back in order.

Workers start the way PyTorch's do: with ``fork`` on Linux, so a dataset or transform
defined in a function, a lambda or a notebook cell just works, and with ``spawn`` on macOS and
Windows. A start method set with ``multiprocessing.set_start_method`` is honoured, and
``multiprocessing_context=`` ("spawn", "forkserver" or a context object) picks one per loader;
those pickle the dataset, ``collate_fn`` and ``worker_init_fn``, so these must then be defined
at module level, and scripts need an ``if __name__ == "__main__":`` guard.

A forked worker is made safe by a hook ember registers at import (``os.register_at_fork``):
the child's CPU kernels run serially, since rayon's threads do not survive the fork (PyTorch
sets one thread per worker too), and using the GPU there raises ``RuntimeError``, as CUDA does
in a forked child: a Vulkan/Metal device cannot be shared across fork.

A loader can be resumed mid-epoch, as torchdata's ``StatefulDataLoader``:
``DataLoader.state_dict()`` after ``k`` batches, then ``load_state_dict()`` on a new loader
with the same dataset and arguments, which yields the rest of that epoch (and later epochs)
exactly as the first would have (see :mod:`ember.data._state` for what is recorded).
"""

import copy
import itertools
import math
import multiprocessing
import multiprocessing.context
import os
import queue
import sys
import types

from . import _collate, _state
from ._worker import (
    ExceptionWrapper,
    _DatasetKind,
    _get,
    _IterableDatasetStopIteration,
    _ResumeIteration,
    _skip,
    _stateful,
    _WithDatasetState,
    _worker_loop,
)
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, _new_seed

__all__ = ["DataLoader"]

# How long the main process blocks on the result queue before checking that the workers it
# waits for are still alive, and how long shutdown waits for a worker before terminating it.
_POLL_INTERVAL = 1.0


def _check_importable_in_workers(ctx, loader):
    """Fail early, with advice, where a non-fork worker could not rebuild what it is sent.

    Workers started by spawn / forkserver import the main module by path; an interactive
    ``__main__`` (REPL, ``python -c``, notebooks) has no file, so a dataset class or function
    defined there cannot be unpickled and the worker would die at start-up.
    """
    if ctx.get_start_method() == "fork":
        return
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    if main_file is not None and os.path.isfile(main_file):
        return
    for what, obj in (
        ("dataset", loader.dataset),
        ("collate_fn", loader.collate_fn),
        ("worker_init_fn", loader.worker_init_fn),
    ):
        module = obj.__module__ if isinstance(obj, types.FunctionType) else type(obj).__module__
        if module == "__main__":
            raise RuntimeError(
                f"DataLoader workers cannot load the {what} ({obj!r}): it is defined in an "
                f"interactive __main__, which {ctx.get_start_method()!r} workers cannot import. "
                "Define it in a module (a .py file you import), or use num_workers=0."
            )


def _default_mp_context():
    # PyTorch uses multiprocessing's default; Python 3.14 made that forkserver on Linux, but
    # PyTorch users expect fork there (closures and notebook datasets work), so fork it is
    # unless the program chose a method itself.
    chosen = multiprocessing.get_start_method(allow_none=True)
    if chosen is not None:
        return multiprocessing.get_context(chosen)
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


class _InfiniteConstantSampler(Sampler):
    """Index source for an IterableDataset: the "indices" are placeholders; the dataset's
    own iterator decides what comes next and when it ends."""

    def __iter__(self):
        while True:
            yield None


class DataLoader:
    """Combines a dataset and a sampler, and iterates over batches of the dataset.

    Args:
        dataset: a map-style :class:`~ember.data.Dataset` or an :class:`~ember.data.IterableDataset`.
        batch_size (int or None): samples per batch (default 1). ``None`` disables automatic
            batching: each sample is yielded on its own, passed through ``collate_fn``
            (default: :func:`~ember.data.default_convert`).
        shuffle (bool): reshuffle the indices at every epoch (default False).
        sampler (Sampler or iterable): the index order; exclusive with ``shuffle``.
        batch_sampler (Sampler or iterable): yields lists of indices; exclusive with
            ``batch_size``, ``shuffle``, ``sampler`` and ``drop_last``.
        num_workers (int): worker processes to load with; 0 loads in the main process.
        collate_fn (callable): merges a list of samples into a batch
            (default: :func:`~ember.data.default_collate`).
        pin_memory (bool): accepted for PyTorch compatibility; a no-op in ember.
        drop_last (bool): drop the last batch if it is smaller than ``batch_size``.
        timeout (float): with workers, seconds to wait for a batch before raising
            RuntimeError (0: wait forever). Ignored with ``num_workers=0``.
        worker_init_fn (callable): called as ``worker_init_fn(worker_id)`` in each worker,
            after seeding and before loading.
        multiprocessing_context (str or context): start method for workers (default: the
            one set with ``multiprocessing.set_start_method``, else ``fork`` on Linux and
            ``spawn`` elsewhere; see the module docstring).
        generator (ember.Generator): source of the shuffle order and of the workers' base seed.
        prefetch_factor (int): batches each worker loads in advance (default 2 with workers;
            must stay None without).
        persistent_workers (bool): keep the workers (and their dataset copies) alive between
            epochs instead of starting new ones at every ``iter()``.
        pin_memory_device (str): accepted for PyTorch compatibility; ignored.
        in_order (bool): with workers, yield batches in sampler order (default). ``False``
            yields each batch as soon as it is ready.

    :meth:`state_dict` and :meth:`load_state_dict` save and restore where the latest epoch
    stands, so that a run restarted from a checkpoint sees the same batches as one that went on.
    """

    __initialized = False

    def __init__(
        self,
        dataset,
        batch_size=1,
        shuffle=None,
        sampler=None,
        batch_sampler=None,
        num_workers=0,
        collate_fn=None,
        pin_memory=False,
        drop_last=False,
        timeout=0,
        worker_init_fn=None,
        multiprocessing_context=None,
        generator=None,
        *,
        prefetch_factor=None,
        persistent_workers=False,
        pin_memory_device="",
        in_order=True,
    ):
        if num_workers < 0:
            raise ValueError(
                "num_workers option should be non-negative; "
                "use num_workers=0 to disable multiprocessing."
            )
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "prefetch_factor option could only be specified in multiprocessing."
                "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None."
            )
        elif num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        elif prefetch_factor == 0:
            # torch fails later with a bare assert; no batch could ever be requested.
            raise ValueError("prefetch_factor option should be positive")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")

        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order

        if isinstance(dataset, IterableDataset):
            self._dataset_kind = _DatasetKind.Iterable
            # An IterableDataset decides its own order, so none of the index-order options apply.
            if shuffle not in {False, None}:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified shuffle option, "
                    f"but got shuffle={shuffle}"
                )
            elif sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified sampler option, "
                    f"but got sampler={sampler}"
                )
            elif batch_sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified batch_sampler option, "
                    f"but got batch_sampler={batch_sampler}"
                )
        else:
            shuffle = bool(shuffle)
            self._dataset_kind = _DatasetKind.Map

        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")

        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive "
                    "with batch_size, shuffle, sampler, and "
                    "drop_last"
                )
            batch_size = None
            drop_last = False
        elif batch_size is None:
            if drop_last:
                raise ValueError(
                    "batch_size=None option disables auto-batching "
                    "and is mutually exclusive with drop_last"
                )

        if sampler is None:
            if self._dataset_kind == _DatasetKind.Iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)

        if batch_size is not None and batch_sampler is None:
            # Raises torch's ValueError for batch_size <= 0 and non-bool drop_last.
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator

        if collate_fn is None:
            collate_fn = _collate.default_collate if self._auto_collation else _collate.default_convert
        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers

        self.__initialized = True
        self._iterator = None
        self._epoch = None  # the latest epoch's record, shared with its iterator (see _state)
        self._resume = None  # a loaded mid-epoch state, for the next iterator to pick up
        self._loaded = None  # what state_dict() returns between load_state_dict and iter()

    @property
    def multiprocessing_context(self):
        return self.__multiprocessing_context

    @multiprocessing_context.setter
    def multiprocessing_context(self, multiprocessing_context):
        if multiprocessing_context is not None:
            if self.num_workers > 0:
                if isinstance(multiprocessing_context, str):
                    valid_start_methods = multiprocessing.get_all_start_methods()
                    if multiprocessing_context not in valid_start_methods:
                        raise ValueError(
                            "multiprocessing_context option "
                            f"should specify a valid start method in {valid_start_methods!r}, but got "
                            f"multiprocessing_context={multiprocessing_context!r}"
                        )
                    multiprocessing_context = multiprocessing.get_context(multiprocessing_context)
                if not isinstance(multiprocessing_context, multiprocessing.context.BaseContext):
                    raise TypeError(
                        "multiprocessing_context option should be a valid context "
                        "object or a string specifying the start method, but got "
                        f"multiprocessing_context={multiprocessing_context}"
                    )
            else:
                raise ValueError(
                    "multiprocessing_context can only be used with "
                    "multi-process loading (num_workers > 0), but got "
                    f"num_workers={self.num_workers}"
                )
        self.__multiprocessing_context = multiprocessing_context

    def __setattr__(self, attr, val):
        # Changing these after construction would leave sampler / batch_sampler inconsistent.
        if self.__initialized and attr in (
            "batch_size",
            "batch_sampler",
            "sampler",
            "drop_last",
            "dataset",
            "persistent_workers",
        ):
            raise ValueError(
                f"{attr} attribute should not be set after {self.__class__.__name__} is initialized"
            )
        super().__setattr__(attr, val)

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        # What the fetchers consume: lists of indices when batching, single indices otherwise.
        if self._auto_collation:
            return self.batch_sampler
        return self.sampler

    def _get_iterator(self):
        if self.num_workers == 0:
            return _SingleProcessDataLoaderIter(self)
        return _MultiProcessingDataLoaderIter(self)

    def __iter__(self):
        if self.persistent_workers and self.num_workers > 0:
            if self._iterator is None:
                self._iterator = self._get_iterator()
            else:
                self._iterator._reset(self)
            return self._iterator
        return self._get_iterator()

    def state_dict(self):
        """Where the latest epoch stands, as plain Python data (ints, lists, dicts), for a
        checkpoint: :meth:`load_state_dict` on a new loader built with the same dataset and
        arguments makes it yield the rest of that epoch, in the same order, then the same
        later epochs. Exact with ``in_order=True`` (the default).

        An IterableDataset with ``state_dict()`` / ``load_state_dict()`` of its own is asked
        for its position (per worker, as of the last batch yielded from it); any other is
        resumed by skipping the samples each worker had yielded. Random draws an epoch makes
        from ember's *global* generator are replayed from the seeds recorded here; save and
        restore the global generator yourself for later epochs to match.
        """
        if self._epoch is None:
            return copy.deepcopy(self._loaded) if self._loaded is not None else _state.fresh(self)
        sd = _state.fresh(self)
        sd.update(copy.deepcopy(self._epoch))
        sampler = _state.random_sampler(self)
        if sampler is not None and sampler.generator is None:
            sd["sampler_seed"] = sampler._epoch_seed
        if (
            self._dataset_kind == _DatasetKind.Iterable
            and self.num_workers == 0
            and not sd["finished"]
            and _stateful(self.dataset)
        ):
            sd["dataset_state"] = copy.deepcopy(self.dataset.state_dict())
        return sd

    def load_state_dict(self, state_dict):
        """Resume from a :meth:`state_dict` of a loader built like this one: the next
        ``iter()`` yields the batches that loader had not yet yielded in its latest epoch
        (or, if that epoch had ended, starts the next one). Raises ValueError for a state
        from a differently configured loader or a malformed one."""
        _state.check(self, state_dict)
        sd = copy.deepcopy(state_dict)
        if self._iterator is not None:
            # Persistent workers are mid-stream: start fresh ones, told where to resume.
            self._iterator._shutdown_workers()
            self._iterator = None
        if sd["sampler_epoch"] is not None:
            _state.distributed_sampler(self).set_epoch(sd["sampler_epoch"])
        self._resume = None
        if sd["finished"]:
            # The next epoch is a new one, drawn from where the generators were at the end.
            _state.set_generator_states(_state.generators(self), sd["generators"])
        elif sd["base_seed"] is not None:
            self._resume = sd
        self._epoch, self._loaded = None, sd

    def __len__(self):
        if self._dataset_kind == _DatasetKind.Iterable:
            # Only an estimate: with workers, an unsharded IterableDataset yields more.
            length = len(self.dataset)
            if self.batch_size is not None:
                if self.drop_last:
                    length = length // self.batch_size
                else:
                    length = math.ceil(length / self.batch_size)
            return length
        return len(self._index_sampler)


class _BaseDataLoaderIter:
    def __init__(self, loader):
        self._dataset = loader.dataset
        self._dataset_kind = loader._dataset_kind
        self._auto_collation = loader._auto_collation
        self._drop_last = loader.drop_last
        self._index_sampler = loader._index_sampler
        self._num_workers = loader.num_workers
        self._prefetch_factor = loader.prefetch_factor
        self._timeout = loader.timeout
        self._collate_fn = loader.collate_fn
        self._persistent_workers = loader.persistent_workers
        self._in_order = loader.in_order
        self._iterable = self._dataset_kind == _DatasetKind.Iterable
        self._samples_per_batch = loader.batch_size if self._auto_collation else 1
        self._generators = _state.generators(loader)
        # Drawn for every iterator, with or without workers, so that the global RNG (or the
        # loader's generator) advances identically and shuffles match across num_workers. A
        # resumed epoch reuses the recorded one: the global RNG must not move again.
        resume = loader._resume
        self._base_seed = resume["base_seed"] if resume else _new_seed(loader.generator)
        self._start_epoch(loader)

    def __iter__(self):
        return self

    def _reset(self, loader, first_iter=False):
        if not first_iter:
            self._start_epoch(loader)

    def _start_epoch(self, loader):
        """Begin an epoch: record what its order depends on (shared with the loader, for
        ``state_dict()``); when resuming, restore that and skip the batches already yielded.
        ``self._resume`` keeps the state for the subclass to restore the dataset from."""
        resume, loader._resume = loader._resume, None
        self._resume = resume
        sampler = _state.random_sampler(loader)
        if sampler is not None:
            sampler._epoch_seed = None  # not drawn yet (it is, lazily, at the first index)
            sampler._resume_seed = resume["sampler_seed"] if resume else None
        if resume:
            _state.set_generator_states(self._generators, resume["generators"])
        dist_sampler = _state.distributed_sampler(loader)
        per_worker = self._iterable and self._num_workers > 0
        self._epoch = loader._epoch = {
            "num_yielded": 0,
            "finished": False,
            "base_seed": self._base_seed,
            "generators": _state.generator_states(self._generators),
            "sampler_epoch": None if dist_sampler is None else dist_sampler.epoch,
            "dataset_state": [None] * self._num_workers if per_worker else None,
            "worker_yielded": [0] * self._num_workers if per_worker else None,
            "next_worker": 0,
        }
        self._sampler_iter = iter(self._index_sampler)
        self._num_yielded = 0
        if resume:
            k = resume["num_yielded"]
            for _ in range(k):
                try:
                    next(self._sampler_iter)
                except StopIteration:
                    raise ValueError(
                        f"DataLoader.load_state_dict: the state has {k} batches yielded, "
                        "more than this loader's sampler gives in an epoch"
                    ) from None
            self._num_yielded = k
            for key in ("num_yielded", "dataset_state", "worker_yielded", "next_worker"):
                self._epoch[key] = copy.deepcopy(resume[key])

    def _next_index(self):
        return next(self._sampler_iter)

    def _next_data(self):
        raise NotImplementedError

    def __next__(self):
        try:
            data = self._next_data()
        except StopIteration:
            if not self._epoch["finished"]:
                # The next epoch's order is drawn from where the generators are now.
                self._epoch["finished"] = True
                self._epoch["generators"] = _state.generator_states(self._generators)
            raise
        self._num_yielded += 1
        self._epoch["num_yielded"] += 1
        return data

    def __len__(self):
        return len(self._index_sampler)

    def __getstate__(self):
        raise NotImplementedError(f"{self.__class__.__name__} cannot be pickled")


class _SingleProcessDataLoaderIter(_BaseDataLoaderIter):
    def __init__(self, loader):
        super().__init__(loader)
        resume = self._resume if self._iterable else None
        if resume and resume["dataset_state"] is not None:
            self._dataset.load_state_dict(resume["dataset_state"])
        self._dataset_fetcher = _DatasetKind.create_fetcher(
            self._dataset_kind,
            self._dataset,
            self._auto_collation,
            self._collate_fn,
            self._drop_last,
        )
        if resume and resume["dataset_state"] is None:
            _skip(self._dataset_fetcher, resume["num_yielded"] * self._samples_per_batch)

    def _next_data(self):
        index = self._next_index()  # may raise StopIteration
        return self._dataset_fetcher.fetch(index)  # may raise StopIteration


class _MultiProcessingDataLoaderIter(_BaseDataLoaderIter):
    """Feeds index batches to workers round-robin, at most ``prefetch_factor`` per worker
    outstanding, and hands results back in sampler order.

    Bookkeeping: task ``i`` is the ``i``-th batch of indices sent; ``_task_info[i]`` is
    ``(worker_id,)`` while outstanding and ``(worker_id, data)`` once it arrived early.
    ``_rcvd_idx`` is the next task to yield, ``_send_idx`` the next to send.
    """

    def __init__(self, loader):
        super().__init__(loader)
        ctx = loader.multiprocessing_context or _default_mp_context()
        _check_importable_in_workers(ctx, loader)
        self._worker_init_fn = loader.worker_init_fn
        self._workers = []
        self._index_queues = []
        self._workers_status = []
        self._worker_result_queue = ctx.Queue()
        self._workers_done_event = ctx.Event()
        self._data_queue = self._worker_result_queue
        self._shutdown = False  # from here on, __del__ has something to shut down

        # Where each worker's copy of an IterableDataset resumes (see _worker_loop).
        worker_resume = [None] * self._num_workers
        if self._iterable and self._resume:
            states = self._resume["dataset_state"] or worker_resume
            for i, (state, count) in enumerate(zip(states, self._resume["worker_yielded"])):
                if state is not None:
                    worker_resume[i] = {"dataset_state": state}
                else:
                    worker_resume[i] = {"skip": count * self._samples_per_batch}

        try:
            for i in range(self._num_workers):
                index_queue = ctx.Queue()
                # Indices left unread at shutdown must not block the main process's exit.
                index_queue.cancel_join_thread()
                w = ctx.Process(
                    target=_worker_loop,
                    args=(
                        self._dataset_kind,
                        self._dataset,
                        index_queue,
                        self._worker_result_queue,
                        self._workers_done_event,
                        self._auto_collation,
                        self._collate_fn,
                        self._drop_last,
                        self._base_seed,
                        self._worker_init_fn,
                        i,
                        self._num_workers,
                        self._persistent_workers,
                        worker_resume[i],
                    ),
                )
                w.daemon = True
                self._index_queues.append(index_queue)
                try:
                    w.start()
                except Exception as e:
                    self._index_queues.pop()
                    if ctx.get_start_method() != "fork" and hasattr(e, "add_note"):
                        can_fork = "fork" in multiprocessing.get_all_start_methods()
                        e.add_note(
                            f"DataLoader workers start with the {ctx.get_start_method()!r} method, "
                            "which pickles the dataset, collate_fn and worker_init_fn: define them "
                            "at module level (no lambdas or local classes)"
                            + (", or use multiprocessing_context='fork'." if can_fork else ".")
                        )
                    raise
                self._workers.append(w)
                self._workers_status.append(True)
        except BaseException:
            self._shutdown_workers()
            raise

        self._reset(loader, first_iter=True)

    def _reset(self, loader, first_iter=False):
        super()._reset(loader, first_iter)
        self._send_idx = 0
        self._rcvd_idx = 0
        self._task_info = {}
        self._tasks_outstanding = 0
        self._workers_status = [True] * self._num_workers
        self._workers_num_tasks = [0] * self._num_workers
        # Round-robin from the worker whose batch is due next: worker 0 in a fresh epoch,
        # the recorded one in a resumed IterableDataset epoch.
        start = self._epoch["next_worker"]
        self._worker_queue_idx_cycle = itertools.cycle(
            [(start + i) % self._num_workers for i in range(self._num_workers)]
        )
        if not first_iter:
            # Persistent workers start a new epoch: each acknowledges after finishing (and
            # sending) whatever it was still doing, so stale batches are drained here.
            for idx in range(self._num_workers):
                self._index_queues[idx].put(_ResumeIteration())
            remaining = self._num_workers
            while remaining > 0:
                return_idx, return_data = self._get_data()
                if isinstance(return_idx, _ResumeIteration):
                    assert return_data is None
                    remaining -= 1
        for _ in range(self._prefetch_factor * self._num_workers):
            self._try_put_index()

    def _try_get_data(self, timeout=_POLL_INTERVAL):
        try:
            raw = self._data_queue.get(timeout=timeout)
            return True, _get(raw)
        except Exception as e:
            # A worker that died (killed, segfault, os._exit) never answers: report it rather
            # than wait forever.
            failed_workers = [
                w
                for worker_id, w in enumerate(self._workers)
                if self._workers_status[worker_id] and not w.is_alive()
            ]
            if failed_workers:
                pids_str = ", ".join(str(w.pid) for w in failed_workers)
                raise RuntimeError(
                    f"DataLoader worker (pid(s) {pids_str}) exited unexpectedly"
                ) from e
            if isinstance(e, queue.Empty):
                return False, None
            raise

    def _get_data(self):
        if self._timeout > 0:
            success, data = self._try_get_data(self._timeout)
            if success:
                return data
            raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")
        while True:
            success, data = self._try_get_data()
            if success:
                return data

    def _next_data(self):
        while True:
            # Skip tasks already yielded (out of order) or owned by a worker that has stopped
            # (its IterableDataset copy ran out).
            while self._rcvd_idx < self._send_idx:
                info = self._task_info.get(self._rcvd_idx)
                if info is not None:
                    worker_id = info[0]
                    if len(info) == 2 or self._workers_status[worker_id]:
                        break
                    del self._task_info[self._rcvd_idx]
                self._rcvd_idx += 1
            else:
                # Nothing outstanding and the sampler is exhausted: the epoch is over.
                if not self._persistent_workers:
                    self._shutdown_workers()
                raise StopIteration

            info = self._task_info[self._rcvd_idx]
            if len(info) == 2:
                # Arrived earlier, out of order.
                del self._task_info[self._rcvd_idx]
                self._rcvd_idx += 1
                return self._process_data(info[1], info[0])

            assert not self._shutdown and self._tasks_outstanding > 0
            idx, data = self._get_data()
            self._tasks_outstanding -= 1
            if self._dataset_kind == _DatasetKind.Iterable and isinstance(
                data, _IterableDatasetStopIteration
            ):
                if self._persistent_workers:
                    self._workers_status[data.worker_id] = False
                else:
                    self._mark_worker_as_unavailable(data.worker_id)
                self._workers_num_tasks[data.worker_id] -= 1
                self._try_put_index()
                continue

            if idx == self._rcvd_idx or not self._in_order:
                worker_id = self._task_info.pop(idx)[0]
                if idx == self._rcvd_idx:
                    self._rcvd_idx += 1
                return self._process_data(data, worker_id)
            self._task_info[idx] += (data,)

    def _try_put_index(self):
        max_tasks = self._prefetch_factor * self._num_workers
        assert self._tasks_outstanding < max_tasks

        # Pick the worker before drawing the index, so an index is never drawn and dropped.
        active = sum(self._workers_status)
        for _ in range(self._num_workers):
            worker_queue_idx = next(self._worker_queue_idx_cycle)
            if self._workers_status[worker_queue_idx]:
                if self._in_order:
                    break
                # Out of order: skip a slow worker that already has its share queued.
                if self._workers_num_tasks[worker_queue_idx] < max_tasks // active:
                    break
        else:
            return  # no active worker left

        try:
            index = self._next_index()
        except StopIteration:
            return
        self._index_queues[worker_queue_idx].put((self._send_idx, index))
        self._task_info[self._send_idx] = (worker_queue_idx,)
        self._workers_num_tasks[worker_queue_idx] += 1
        self._tasks_outstanding += 1
        self._send_idx += 1

    def _process_data(self, data, worker_id):
        self._workers_num_tasks[worker_id] -= 1
        self._try_put_index()
        if isinstance(data, ExceptionWrapper):
            data.reraise()
        if isinstance(data, _WithDatasetState):
            self._epoch["dataset_state"][worker_id] = data.state
            data = data.data
        if self._epoch["worker_yielded"] is not None:
            self._epoch["worker_yielded"][worker_id] += 1
            self._epoch["next_worker"] = (worker_id + 1) % self._num_workers
        return data

    def _mark_worker_as_unavailable(self, worker_id, shutdown=False):
        # None tells the worker to leave its loop; it is sent once per worker.
        self._index_queues[worker_id].put(None)
        self._workers_status[worker_id] = False

    def _shutdown_workers(self):
        if getattr(self, "_shutdown", True):  # already done, or __init__ failed early
            return
        self._shutdown = True
        try:
            self._workers_done_event.set()
            for worker_id in range(len(self._workers)):
                if self._persistent_workers or self._workers_status[worker_id]:
                    self._mark_worker_as_unavailable(worker_id, shutdown=True)
            for w in self._workers:
                w.join(timeout=_POLL_INTERVAL)
            for q in self._index_queues:
                q.cancel_join_thread()
                q.close()
            self._worker_result_queue.close()
        finally:
            # A worker still busy in __getitem__ after the grace period is not waited for.
            for w in self._workers:
                if w.is_alive():
                    w.terminate()
                    w.join(timeout=_POLL_INTERVAL)

    def __del__(self):
        try:
            self._shutdown_workers()
        except Exception:
            # Interpreter teardown: modules may already be gone; daemon workers die with us.
            pass
