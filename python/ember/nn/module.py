"""``Module`` and ``Parameter``: parameters, buffers and submodules registered by attribute assignment."""

from collections import OrderedDict

from .. import _core
from ..autograd import no_grad


class Parameter(_core.Tensor):
    """A tensor that a Module registers as a parameter (``requires_grad=True`` by default)."""

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = _core.zeros(0)
        self = super().__new__(cls, data.detach())
        self.requires_grad_(requires_grad)
        return self

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce__(self):
        return (Parameter, (_core.Tensor.detach(self).clone(), self.requires_grad))



def _check_member_name(module, name, kind, table):
    """PyTorch's KeyErrors for a parameter or buffer name: a str, not empty, no ".", and not
    already an attribute of another kind."""
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
    if name == "":
        raise KeyError(f"{kind} name can't be empty string \"\"")
    if "." in name:
        raise KeyError(f"{kind} name can't contain \".\"")
    if name not in table and hasattr(module, name):
        raise KeyError(f"attribute '{name}' already exists")


class Module:
    """Base class of every layer: tracks parameters, buffers and submodules, and applies hooks."""

    training: bool

    def __init__(self, *args, **kwargs):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_backward_hooks", OrderedDict())
        object.__setattr__(self, "_backward_pre_hooks", OrderedDict())

    # ---- registration ----
    def __setattr__(self, name, value):
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self.__dict__.pop(name, None)
            self._modules.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self.__dict__.pop(name, None)
            params.pop(name, None)
            self._modules[name] = value
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' (ember.nn.Parameter or None expected)")
            params[name] = None
        elif params is not None and name in self._buffers:
            if value is not None and not isinstance(value, _core.Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' (ember.Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        _check_member_name(self, name, "parameter", self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' (ember.nn.Parameter or None required)")
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        _check_member_name(self, name, "buffer", self._buffers)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name, module):
        """Registers ``module`` (a Module or None) as the submodule ``name``, with torch's checks."""
        if not isinstance(module, Module) and module is not None:
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if not isinstance(name, str):
            raise TypeError(f"module name should be a string. Got {type(name).__name__}")
        if name == "":
            raise KeyError('module name can\'t be empty string ""')
        if "." in name:
            raise KeyError(f'module name can\'t contain ".", got: {name}')
        if name not in self._modules and name in self.__dict__:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    def register_module(self, name, module):
        """An alias of ``add_module``."""
        self.add_module(name, module)

    # ---- traversal ----
    def get_submodule(self, target=""):
        """The submodule at dotted path ``target`` ("" is the module itself)."""
        mod = self
        for item in target.split(".") if target else []:
            if item not in mod._modules:
                raise AttributeError(f"{type(mod).__name__} has no attribute `{item}`")
            mod = mod._modules[item]
            if not isinstance(mod, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return mod

    def _attr_owner(self, target):
        """The submodule that holds the attribute at dotted path ``target``, and its name, once
        the attribute exists; get_parameter and get_buffer share this walk and its error, and
        differ only in what they then check the attribute is."""
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if not hasattr(mod, name):
            raise AttributeError(f"{mod._get_name()} has no attribute `{name}`")
        return mod, name

    def get_parameter(self, target):
        """The parameter at dotted path ``target``, as torch's ``get_parameter``."""
        mod, name = self._attr_owner(target)
        param = getattr(mod, name)
        if not isinstance(param, Parameter):
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return param

    def get_buffer(self, target):
        """The buffer at dotted path ``target``, as torch's ``get_buffer``."""
        mod, name = self._attr_owner(target)
        if name not in mod._buffers:
            raise AttributeError(f"`{name}` is not a buffer")
        return mod._buffers[name]

    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        memo = set() if memo is None else memo
        if self in memo and remove_duplicate:
            return
        memo.add(self)
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            yield from m.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and m not in seen:
                seen.add(m)
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, getter, prefix="", recurse=True):
        seen = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mod_prefix, m in modules:
            for name, v in getter(m):
                if v is None or id(v) in seen:
                    continue
                seen.add(id(v))
                yield mod_prefix + ("." if mod_prefix else "") + name, v

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members(lambda m: m._parameters.items(), prefix, recurse)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members(lambda m: m._buffers.items(), prefix, recurse)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # ---- state ----
    def state_dict(self, destination=None, prefix="", keep_vars=False):
        out = OrderedDict() if destination is None else destination
        for name, p in self._parameters.items():
            if p is not None:
                out[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                out[prefix + name] = b if keep_vars else b.detach()
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(out, prefix + name + ".", keep_vars)
        return out

    def load_state_dict(self, state_dict, strict=True, assign=False):
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched = []
        with no_grad():
            for k, v in state_dict.items():
                if k not in own:
                    continue
                target = own[k]
                v = v if isinstance(v, _core.Tensor) else _core.tensor(v)
                if tuple(v.shape) != tuple(target.shape):
                    mismatched.append(f"size mismatch for {k}: copying a param with shape {tuple(v.shape)} from checkpoint, the shape in current model is {tuple(target.shape)}.")
                    continue
                target.copy_(v.to(target.dtype))
        errors = list(mismatched)
        if strict:
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        from collections import namedtuple

        return namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])(missing, unexpected)

    # ---- modes and devices ----
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    p.grad = p.grad.detach().zero_()

    def apply(self, fn):
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def _apply_to_tensors(self, convert, recurse=True):
        with no_grad():
            for m in self.modules() if recurse else [self]:
                for name, p in m._parameters.items():
                    if p is not None:
                        new = convert(p)
                        if new is not p:
                            param = Parameter(new, p.requires_grad)
                            m._parameters[name] = param
                for name, b in m._buffers.items():
                    if b is not None:
                        m._buffers[name] = convert(b)
        return self

    def to(self, *args, **kwargs):
        return self._apply_to_tensors(lambda t: t.to(*args, **kwargs) if t.is_floating_point() or not (args and isinstance(args[0], _core.dtype)) else t)

    def cpu(self):
        return self.to("cpu")

    def gpu(self, device=None):
        return self.to("gpu" if device is None else f"gpu:{device}")

    cuda = gpu

    def float(self):
        return self._apply_to_tensors(lambda t: t.float() if t.is_floating_point() else t)

    def double(self):
        return self._apply_to_tensors(lambda t: t.double() if t.is_floating_point() else t)

    def half(self):
        return self._apply_to_tensors(lambda t: t.half() if t.is_floating_point() else t)

    def bfloat16(self):
        return self._apply_to_tensors(lambda t: t.to(_core.bfloat16) if t.is_floating_point() else t)

    def to_empty(self, *, device, recurse=True):
        """Moves parameters and buffers to ``device`` without copying their values (uninitialized)."""
        from .._functions import empty_like

        return self._apply_to_tensors(lambda t: empty_like(t, device=device), recurse)

    # ---- calling ----
    def register_forward_hook(self, hook):
        key = object()
        self._forward_hooks[key] = hook
        return _RemovableHandle(self._forward_hooks, key)

    def register_forward_pre_hook(self, hook):
        key = object()
        self._forward_pre_hooks[key] = hook
        return _RemovableHandle(self._forward_pre_hooks, key)

    def register_full_backward_hook(self, hook, prepend=False):
        """``hook(module, grad_input, grad_output)`` runs once the gradients w.r.t. the module's
        positional tensor inputs are computed; it may return a replacement ``grad_input``."""
        return self._add_hook(self._get_hook_store("_backward_hooks"), hook, prepend)

    def register_full_backward_pre_hook(self, hook, prepend=False):
        """``hook(module, grad_output)`` runs when the gradients w.r.t. the module's outputs are
        computed, before the module's own backward; it may return a replacement ``grad_output``."""
        return self._add_hook(self._get_hook_store("_backward_pre_hooks"), hook, prepend)

    def _get_hook_store(self, name):
        store = self.__dict__.get(name)
        if store is None:  # a module built by an older ember (unpickled) has no store yet
            store = OrderedDict()
            object.__setattr__(self, name, store)
        return store

    @staticmethod
    def _add_hook(store, hook, prepend):
        key = object()
        store[key] = hook
        if prepend:
            store.move_to_end(key, last=False)
        return _RemovableHandle(store, key)

    def _get_name(self):
        return type(self).__name__

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args, **kwargs):
        for hook in self._forward_pre_hooks.values():
            r = hook(self, args)
            if r is not None:
                args = r if isinstance(r, tuple) else (r,)
        bw = None
        if (self.__dict__.get("_backward_hooks") or self.__dict__.get("_backward_pre_hooks")) and _core.is_grad_enabled():
            bw = _BackwardHook(self)
            args = bw.setup_input(args)
        out = self.forward(*args, **kwargs)
        for hook in self._forward_hooks.values():
            r = hook(self, args, out)
            if r is not None:
                out = r
        if bw is not None:
            out = bw.setup_output(out)
        return out

    # ---- printing ----
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {sub}")
        main = type(self).__name__ + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                main += lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"

    def __dir__(self):
        return list(super().__dir__()) + list(self._parameters) + list(self._buffers) + list(self._modules)


def _join(tensors):
    """One graph node holding ``tensors``: ``(joined, parts)`` where ``parts`` are views of
    ``joined`` shaped (and typed) as ``tensors``. A hook on ``joined`` sees every part's gradient
    at once, after all of them are accumulated."""
    if len(tensors) == 1:
        t = tensors[0]
        joined = t.view_as(t)
        return joined, [joined]
    dtypes = {t.dtype for t in tensors}
    common = tensors[0].dtype if len(dtypes) == 1 else _core.float64
    joined = _core.cat([t.reshape(-1).to(common) for t in tensors])
    parts, at = [], 0
    for t in tensors:
        n = t.numel()
        parts.append(joined[at: at + n].reshape(t.shape).to(t.dtype))
        at += n
    return joined, parts


def _split(grad, like):
    """The inverse of ``_join`` for a gradient: one piece per tensor in ``like``."""
    if len(like) == 1:
        return [grad]
    out, at = [], 0
    for t in like:
        n = t.numel()
        out.append(grad[at: at + n].reshape(t.shape).to(t.dtype))
        at += n
    return out


def _rejoin(grads, like, ref):
    """``_split``'s inverse: the pieces (``None`` read as zeros) as one gradient shaped as ``ref``."""
    grads = [_core.zeros(*t.shape, dtype=t.dtype, device=t.device) if g is None else g for g, t in zip(grads, like)]
    if len(like) == 1:
        return grads[0].to(ref.dtype)
    return _core.cat([g.reshape(-1).to(ref.dtype) for g in grads])


class _BackwardHook:
    """The full backward hooks of one call of a module: the tensor inputs and outputs pass through
    one identity node each side, and tensor hooks on those nodes see ``grad_output`` (running the
    pre-hooks) and then ``grad_input`` (running the hooks), as torch's ``BackwardHook``."""

    def __init__(self, module):
        self.module = module
        self.grad_output = None
        self.n_inputs = 0
        self.input_index = []

    def setup_input(self, args):
        self.n_inputs = len(args)
        self.input_index = [i for i, a in enumerate(args) if isinstance(a, _core.Tensor) and a.requires_grad]
        if not self.input_index:
            return args
        tensors = [args[i] for i in self.input_index]
        if len({str(t.device) for t in tensors}) > 1:
            raise RuntimeError("full backward hooks need a module's tensor inputs on one device")
        joined, parts = _join(tensors)
        self.inputs_like = tensors
        joined.register_hook(self._input_hook)
        args = list(args)
        for i, p in zip(self.input_index, parts):
            args[i] = p
        return tuple(args)

    def setup_output(self, out):
        is_tuple = isinstance(out, tuple)
        outs = out if is_tuple else (out,)
        index = [i for i, o in enumerate(outs) if isinstance(o, _core.Tensor) and o.requires_grad]
        if not index:
            return out
        tensors = [outs[i] for i in index]
        if len({str(t.device) for t in tensors}) > 1:
            raise RuntimeError("full backward hooks need a module's tensor outputs on one device")
        joined, parts = _join(tensors)
        self.n_outputs, self.output_index, self.outputs_like, self.output_ref = len(outs), index, tensors, joined
        joined.register_hook(self._output_hook)
        outs = list(outs)
        for i, p in zip(index, parts):
            outs[i] = p
        return tuple(outs) if is_tuple else outs[0]

    @staticmethod
    def _pack(pieces, index, n):
        full = [None] * n
        for i, g in zip(index, pieces):
            full[i] = g
        return tuple(full)

    @staticmethod
    def _unpack(result, index, n, what):
        if isinstance(result, _core.Tensor):
            result = (result,)
        result = tuple(result)
        if len(result) != n:
            raise RuntimeError(f"Backward hook returned an invalid number of {what} (got {len(result)}, but expected {n})")
        return [result[i] for i in index]

    def _output_hook(self, grad):
        m = self.module
        pieces = _split(grad, self.outputs_like)
        grad_output = self._pack(pieces, self.output_index, self.n_outputs)
        changed = False
        for hook in list(m._get_hook_store("_backward_pre_hooks").values()):
            r = hook(m, grad_output)
            if r is not None:
                pieces = self._unpack(r, self.output_index, self.n_outputs, "grad_output")
                grad_output = self._pack(pieces, self.output_index, self.n_outputs)
                changed = True
        self.grad_output = grad_output
        if not self.input_index:
            # no input needs a gradient: the hooks run now, with grad_input all None
            for hook in list(m._get_hook_store("_backward_hooks").values()):
                if hook(m, (None,) * self.n_inputs, grad_output) is not None:
                    raise RuntimeError("can't return a new grad_input from a backward hook when no input requires grad")
        return _rejoin(pieces, self.outputs_like, grad) if changed else None

    def _input_hook(self, grad):
        m = self.module
        pieces = _split(grad, self.inputs_like)
        grad_input = self._pack(pieces, self.input_index, self.n_inputs)
        changed = False
        for hook in list(m._get_hook_store("_backward_hooks").values()):
            r = hook(m, grad_input, self.grad_output)
            if r is not None:
                pieces = self._unpack(r, self.input_index, self.n_inputs, "grad_input")
                grad_input = self._pack(pieces, self.input_index, self.n_inputs)
                changed = True
        return _rejoin(pieces, self.inputs_like, grad) if changed else None


class _RemovableHandle:
    """Returned by hook registration; ``remove()`` unregisters the hook."""

    def __init__(self, store, key):
        self.store, self.key = store, key

    def remove(self):
        self.store.pop(self.key, None)
