"""``ember.jit`` (torch.jit): ``script`` and ``trace`` give back something that runs exactly as
the original, eagerly (ember has no TorchScript); what needs a serialised graph (``save``,
``.graph``, ``.code``) raises one clear error naming the missing feature."""

import copy
import functools

from .nn.module import Module

_NO_GRAPH = ("ember.jit has no TorchScript graph to {what}: a scripted or traced model runs eagerly here. "
             "Save its weights with ember.save(model.state_dict(), path) instead.")


def _no_graph(what):
    def refuse(*args, **kwargs):
        raise RuntimeError(_NO_GRAPH.format(what=what))
    return refuse


def _as_scripted(obj):
    if isinstance(obj, Module):
        scripted = copy.copy(obj)  # shares parameters and buffers, as a ScriptModule of it does
        object.__setattr__(scripted, "save", _no_graph("save"))
        return scripted
    if callable(obj):
        @functools.wraps(obj)
        def scripted(*args, **kwargs):
            return obj(*args, **kwargs)
        scripted.save = _no_graph("save")
        return scripted
    raise RuntimeError(f"ember.jit can script a Module or a function, not {type(obj).__name__}")


def script(obj, optimize=None, _frames_up=0, _rcb=None, example_inputs=None):
    return _as_scripted(obj)


def trace(func, example_inputs=None, optimize=None, check_trace=True, check_inputs=None, check_tolerance=1e-5,
          strict=True, _force_outplace=False, _module_class=None, _compilation_unit=None,
          example_kwarg_inputs=None, _store_inputs=True):
    return _as_scripted(func)


def save(m, f, _extra_files=None):
    _no_graph("save")()


def load(f, map_location=None, _extra_files=None):
    _no_graph("load")()


def ignore(drop=False, **kwargs):
    if callable(drop):
        return drop
    return lambda fn: fn


def unused(fn):
    return fn


def export(fn):
    return fn


def is_scripting():
    return False


def is_tracing():
    return False
