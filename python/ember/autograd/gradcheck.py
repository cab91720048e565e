"""Finite-difference gradient checking in float64, as ``torch.autograd.gradcheck``."""

from .. import _core


def _flat_outputs(fn, inputs):
    out = fn(*inputs)
    return out if isinstance(out, (tuple, list)) else (out,)


def _host(t):
    import numpy as np

    return t.detach().cpu().numpy().reshape(-1).astype(np.float64)


def _perturber(x):
    """A function that reads (value None) or writes one element of ``x``'s own memory, so that
    perturbing it perturbs what func reads, on any device and through any view."""
    import numpy as np

    if x.device.type == "cpu":
        base = np.asarray(x.detach())  # a view of the tensor's memory, strided if it is

        def set_at(idx, value):
            if value is None:
                return float(base[idx])
            base[idx] = value

        return set_at
    view = x.detach()
    host = view.cpu().numpy()

    def set_at(idx, value):
        if value is None:
            return float(host[idx])
        view[idx] = value

    return set_at


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Compares the analytic Jacobian of ``func`` with central differences; True when they agree."""
    import numpy as np

    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    diff = [i for i, x in enumerate(inputs) if isinstance(x, _core.Tensor) and x.requires_grad]
    outputs = _flat_outputs(func, inputs)
    for oi, out in enumerate(outputs):
        if not out.is_floating_point():
            continue
        n_out = out.numel()
        for ii in diff:
            x = inputs[ii]
            numeric = np.zeros((n_out, x.numel()))
            set_at = _perturber(x)
            for k, idx in enumerate(np.ndindex(tuple(x.shape))):
                old = set_at(idx, None)
                set_at(idx, old + eps)
                plus = _host(_flat_outputs(func, inputs)[oi])
                set_at(idx, old - eps)
                minus = _host(_flat_outputs(func, inputs)[oi])
                set_at(idx, old)
                numeric[:, k] = (plus - minus) / (2 * eps)
            analytic = np.zeros_like(numeric)
            for j in range(n_out):
                fresh = _flat_outputs(func, inputs)[oi]
                seed = np.zeros(n_out)
                seed[j] = 1.0
                g = _core.tensor(seed.reshape(tuple(fresh.shape)), dtype=fresh.dtype).to(fresh.device)
                (gx,) = _core._grad([fresh], [x], [g], None, False, True)
                if gx is not None:
                    analytic[j] = _host(gx)
            if not np.allclose(analytic, numeric, atol=atol, rtol=rtol):
                if raise_exception:
                    worst = np.abs(analytic - numeric).max()
                    raise RuntimeError(
                        f"Jacobian mismatch for output {oi} with respect to input {ii} (max abs diff {worst:.3g}),\n"
                        f"numerical:{numeric}\nanalytical:{analytic}"
                    )
                return False
    return True
