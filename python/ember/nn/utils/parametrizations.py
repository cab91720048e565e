"""``ember.nn.utils.parametrizations``: ready-made parametrizations, as
``torch.nn.utils.parametrizations`` (registered through :mod:`.parametrize`)."""

from ..module import Module
from . import parametrize

__all__ = ["weight_norm"]


def _norm_except_dim(v, dim):
    """The 2-norm of ``v`` over every dim but ``dim`` (kept as size-1 dims); ``dim=-1`` is the
    whole tensor's norm, as torch's ``norm_except_dim``."""
    if dim == -1:
        return v.pow(2).sum().sqrt()
    dims = [d for d in range(v.dim()) if d != dim]
    return v.pow(2).sum(dims, keepdim=True).sqrt() if dims else v.abs()


class _WeightNorm(Module):
    def __init__(self, dim=0):
        super().__init__()
        if dim is None:
            dim = -1
        self.dim = dim

    def forward(self, weight_g, weight_v):
        return weight_v * (weight_g / _norm_except_dim(weight_v, self.dim))

    def right_inverse(self, weight):
        weight_g = _norm_except_dim(weight, self.dim)
        weight_v = weight
        return weight_g, weight_v


def weight_norm(module, name="weight", dim=0):
    """Reparametrizes ``module.<name>`` as ``g * v / ||v||`` (the norm over every dim but
    ``dim``): ``parametrizations.<name>.original0`` is ``g``, ``original1`` is ``v``."""
    _weight_norm = _WeightNorm(dim)
    parametrize.register_parametrization(module, name, _weight_norm, unsafe=True)

    return module
