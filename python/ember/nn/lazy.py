"""``LazyLinear`` and ``UninitializedParameter``: a Linear whose ``in_features`` comes from the
first input, as PyTorch's lazy modules (after the first forward the module *is* a ``Linear``)."""

from .. import _core
from . import functional as F
from .linear import Linear
from .module import Module, Parameter


class UninitializedParameter(Parameter):
    """A parameter with no shape yet (an empty placeholder until ``materialize``)."""

    cls_to_become = Parameter

    def __new__(cls, requires_grad=True, device=None, dtype=None):
        return super().__new__(cls, _core.empty(0, dtype=dtype, device=device), requires_grad)

    def __repr__(self):
        return "<UninitializedParameter>"

    def __reduce__(self):
        return (UninitializedParameter, (self.requires_grad,))


def is_lazy(param):
    return isinstance(param, UninitializedParameter)


class LazyLinear(Linear):
    """``Linear(in_features, out_features)`` with ``in_features`` inferred from ``input.shape[-1]``
    at the first call; the weight and bias are then allocated and initialised as Linear's, and the
    module's class becomes ``Linear``. Loading a state_dict into it materialises the shapes."""

    cls_to_become = Linear

    def __init__(self, out_features, bias=True, device=None, dtype=None):
        Module.__init__(self)
        self.in_features, self.out_features = 0, out_features
        self._lazy_factory = {"device": device, "dtype": dtype}
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)
        else:
            self.register_parameter("bias", None)

    def has_uninitialized_params(self):
        return any(is_lazy(p) for p in self._parameters.values() if p is not None)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def _materialize(self, in_features):
        kw = self._lazy_factory
        self.in_features = in_features
        self.weight = Parameter(_core.empty(self.out_features, in_features, **kw))
        if self.bias is not None:
            self.bias = Parameter(_core.empty(self.out_features, **kw))
        self.reset_parameters()
        del self._lazy_factory
        self.__class__ = self.cls_to_become

    def initialize_parameters(self, input):
        if self.has_uninitialized_params():
            if input.dim() == 0:
                raise RuntimeError("LazyLinear: the input must have at least one dimension")
            self._materialize(input.shape[-1])

    def forward(self, input):
        self.initialize_parameters(input)
        return F.linear(input, self.weight, self.bias)

    def load_state_dict(self, state_dict, strict=True, assign=False):
        w = state_dict.get("weight") if hasattr(state_dict, "get") else None
        if self.has_uninitialized_params() and w is not None and len(w.shape) == 2:
            self._materialize(w.shape[1])
        return Module.load_state_dict(self, state_dict, strict, assign)
