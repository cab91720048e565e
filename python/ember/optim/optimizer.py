"""``Optimizer``: parameter groups, per-parameter state, ``zero_grad`` and state_dict round trips."""

from collections import defaultdict

from .. import _core


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


def _check_flags(foreach=None, fused=None, capturable=False, differentiable=False):
    """Validates PyTorch's implementation-choice keywords.

    ember's optimizer steps are already fused: each is one native call per parameter group, or
    (for the optimizers written with tensor ops) one update per parameter with no per-element
    Python loop. So ``foreach`` (None/True/False) and ``fused`` (None/True/False) choose nothing
    and every value is accepted, except ``foreach=True`` with ``fused=True``, which PyTorch also
    rejects. ``capturable`` is accepted either way: ember keeps step counts on the host and the
    update is the same. ``differentiable=True`` (autograd through the step) is not supported."""
    if fused and foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    if differentiable:
        raise NotImplementedError("ember's optimizer steps are not differentiable: differentiable=True is not supported")


def _cast_state(v, p):
    # Float state joins its parameter's dtype and device, as torch's load_state_dict does; lists
    # of tensors (LBFGS's history) are copied the same way, so the loaded state owns its tensors.
    if isinstance(v, _core.Tensor):
        return v.to(p.device).clone().to(p.dtype) if v.is_floating_point() else v
    if isinstance(v, list):
        return [_cast_state(x, p) for x in v]
    return v


class Optimizer:
    """Base class: holds ``param_groups`` (dicts of params and hyper-parameters) and ``state``."""

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        if isinstance(params, _core.Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, but got " + type(params).__name__)
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, param_group):
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, _core.Tensor) else list(params)
        for p in group["params"]:
            if not isinstance(p, _core.Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is " + type(p).__name__)
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        for k, v in self.defaults.items():
            if v is required and k not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {k}")
            group.setdefault(k, v)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    @staticmethod
    def _evaluate(closure):
        """Runs a step's closure (which recomputes the loss) with grad mode on; None without one."""
        if closure is None:
            return None
        from .._grad_mode import enable_grad

        with enable_grad():
            return closure()

    def zero_grad(self, set_to_none=True):
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        p.grad = p.grad.detach().zero_()

    def state_dict(self):
        index = {}
        groups = []
        for g in self.param_groups:
            ids = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": ids})
        state = {index[id(p)]: dict(s) for p, s in ((p, self.state[p]) for g in self.param_groups for p in g["params"]) if s}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for mine, theirs in zip(self.param_groups, groups):
            if len(mine["params"]) != len(theirs["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't match the size of optimizer's group")
        self.state = defaultdict(dict)
        for mine, theirs in zip(self.param_groups, groups):
            for p, i in zip(mine["params"], theirs["params"]):
                if i in state_dict["state"] or str(i) in state_dict["state"]:
                    s = state_dict["state"].get(i, state_dict["state"].get(str(i)))
                    self.state[p] = {k: _cast_state(v, p) for k, v in s.items()}
            mine.update({k: v for k, v in theirs.items() if k != "params"})

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k != "params":
                    lines.append(f"    {k}: {g[k]}")
        return "\n".join(lines) + "\n)"
