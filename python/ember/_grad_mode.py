"""Grad-mode switches: ``no_grad``, ``enable_grad``, ``set_grad_enabled``, as context managers and decorators."""

import functools

from . import _core


class _GradMode:
    """Sets grad mode inside a ``with`` block (or a decorated function) and restores it after."""

    enabled = True

    def __init__(self, *args):
        if args and callable(args[0]) and not isinstance(args[0], (bool, int)):
            raise TypeError(f"use @{type(self).__name__}() with parentheses")

    def __enter__(self):
        self._prev = _core.is_grad_enabled()
        _core._set_grad_enabled(self.enabled)
        return self

    def __exit__(self, *exc):
        _core._set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Disables gradient recording: ops inside record no graph."""

    enabled = False


class enable_grad(_GradMode):
    """Enables gradient recording inside a ``no_grad`` region."""

    enabled = True


class inference_mode(no_grad):
    """Like ``no_grad`` (ember has no separate inference tensors)."""

    def __init__(self, mode=True):
        self.enabled = not mode


class set_grad_enabled:
    """Sets grad mode on or off; works as a function call, a context manager or a decorator."""

    def __init__(self, mode):
        self._prev = _core.is_grad_enabled()
        self.mode = bool(mode)
        _core._set_grad_enabled(self.mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _core._set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        mode = self.mode
        _core._set_grad_enabled(self._prev)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper
