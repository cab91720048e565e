"""``ember.random`` (torch.random): seeding and saving the default generator's state."""

import contextlib

from . import _core


def _gen():
    return _core.default_generator()


def manual_seed(seed):
    """Seeds the default generator (CPU and GPU tensors draw from it); returns it."""
    from . import manual_seed as _seed

    _seed(seed)
    return _gen()


def seed():
    """Seeds the default generator from the OS's entropy and returns the seed used."""
    return _gen().seed()


def initial_seed():
    return _gen().initial_seed()


def get_rng_state():
    """The default generator's state, as a tensor (a copy: later draws do not change it)."""
    return _gen().get_state().clone()


def set_rng_state(new_state):
    if not isinstance(new_state, _core.Tensor):
        raise TypeError(f"set_rng_state expects a Tensor from get_rng_state(), got {type(new_state).__name__}")
    _gen().set_state(new_state)


@contextlib.contextmanager
def fork_rng(devices=None, enabled=True, _caller="fork_rng", _devices_kw="devices", device_type="cuda"):
    """Runs the block with the default generator's state saved and restored after it, so draws
    inside leave the outer sequence as it was (ember's GPUs share that generator)."""
    if not enabled:
        yield
        return
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)
