"""Post-accumulate-grad hooks, the callback queue of a backward, and a leaf used along several
edges (a tied weight): its hooks see the summed gradient once, as in PyTorch."""

import numpy as np
import pytest

import ember


def test_tied_leaf_hooks_run_once_with_the_sum(device):
    w = ember.ones(3, device=device, requires_grad=True)
    seen = []
    w.register_hook(lambda g: seen.append(("pre", g.cpu().tolist())))
    w.register_post_accumulate_grad_hook(lambda p: seen.append(("post", p.grad.cpu().tolist())))
    ((w * 2).sum() + (w * 3).sum() + (w * w).sum()).backward()
    assert seen == [("pre", [7.0] * 3), ("post", [7.0] * 3)]


def test_post_accumulate_sees_accumulated_grad(device):
    w = ember.tensor([1.0, 2.0], device=device, requires_grad=True)
    seen = []
    w.register_post_accumulate_grad_hook(lambda p: seen.append(p.grad.cpu().tolist()))
    (w * 3).sum().backward()
    (w * w).sum().backward()
    assert seen == [[3.0, 3.0], [5.0, 7.0]]
    # autograd.grad does not touch .grad, so the hook does not run
    ember.autograd.grad((w * 5).sum(), [w])
    assert len(seen) == 2


def test_post_accumulate_hook_may_replace_grad():
    w = ember.ones(2, requires_grad=True)

    def halve(p):
        p.grad = p.grad / 2

    w.register_post_accumulate_grad_hook(halve)
    (w * 4).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 2.0])


def test_post_accumulate_hook_errors():
    x = ember.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="non-leaf"):
        (x * 2).register_post_accumulate_grad_hook(lambda p: None)
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        ember.ones(2).register_post_accumulate_grad_hook(lambda p: None)

    class Boom(Exception):
        pass

    def boom(p):
        raise Boom("from the hook")

    x.register_post_accumulate_grad_hook(boom)
    with pytest.raises(Boom, match="from the hook"):
        (x * 2).sum().backward()


def test_queued_callback_runs_after_every_gradient():
    a = ember.ones(2, requires_grad=True)
    b = ember.ones(2, requires_grad=True)
    order = []

    def first(p):
        order.append("a")
        ember._core._queue_callback(lambda: order.append(("end", a.grad is not None, b.grad is not None)))

    a.register_post_accumulate_grad_hook(first)
    b.register_post_accumulate_grad_hook(lambda p: order.append("b"))
    (a * 2 + b * 3).sum().backward()
    assert order[-1] == ("end", True, True) and sorted(order[:2]) == ["a", "b"]
    with pytest.raises(RuntimeError, match="while a backward pass runs"):
        ember._core._queue_callback(lambda: None)


def test_gradient_through_a_branch_without_gradient():
    # a node that receives no gradient (max's index output) must still release its inputs
    x = ember.tensor([[1.0, 5.0], [3.0, 2.0]], requires_grad=True)
    v, i = x.max(dim=1)
    (v * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 2.0], [2.0, 0.0]])


def test_hook_registrations_return_removable_handles():
    x = ember.ones(3, requires_grad=True)
    seen = []
    grad_hook = x.register_hook(lambda g: seen.append("grad"))
    post_hook = x.register_post_accumulate_grad_hook(lambda t: seen.append("post"))
    (x * 2).sum().backward()
    assert seen == ["grad", "post"]
    grad_hook.remove()
    post_hook.remove()
    post_hook.remove()  # a second remove does nothing, as in PyTorch
    (x * 2).sum().backward()
    assert seen == ["grad", "post"]
    assert type(grad_hook).__name__ == "RemovableHandle"


def test_a_removable_handle_as_context_manager_and_released_hook():
    import gc
    import weakref

    x = ember.ones(2, requires_grad=True)
    with x.register_hook(lambda g: g * 10):
        (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [20.0, 20.0])
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [22.0, 22.0])

    class Hook:
        def __call__(self, g):
            return None

    hook = Hook()
    alive = weakref.ref(hook)
    y = ember.ones(2, requires_grad=True)
    handle = y.register_hook(hook)
    del hook
    gc.collect()
    assert alive() is not None  # the tensor holds it
    handle.remove()
    gc.collect()
    assert alive() is None  # removing it lets it go
