"""``ember.autograd``: gradients of tensors, computed by the native tape (``grad``, ``backward``, ``gradcheck``)."""

from .. import _core
from .._grad_mode import no_grad, enable_grad, set_grad_enabled
from .gradcheck import gradcheck

__all__ = ["grad", "backward", "gradcheck", "no_grad", "enable_grad", "set_grad_enabled"]


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False):
    """Accumulates d(tensors)/d(leaves) into each leaf's ``.grad``."""
    _core._backward(tensors, grad_tensors, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Returns d(outputs)/d(inputs) as a tuple, leaving ``.grad`` untouched."""
    return _core._grad(outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused)
